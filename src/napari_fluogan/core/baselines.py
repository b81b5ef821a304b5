"""Baseline reconstructions to compare FluoGAN against."""

from __future__ import annotations

import numpy as np


def mean_image(photons: np.ndarray) -> np.ndarray:
    """Temporal mean of a (T, H, W) stack: the widefield image."""
    return np.asarray(photons, dtype=np.float32).mean(axis=0)
