"""Shared fixtures: small simulated stacks with known camera values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_fluogan.core.psf import GaussianPSF
from napari_fluogan.core.simulate import simulate_stack

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def small_truth(shape=(48, 48), seed=0, level=2.0) -> np.ndarray:
    """A sparse fine-grid ground truth: a few short lines and dots (photons)."""
    rng = np.random.default_rng(seed)
    x = np.zeros(shape, dtype=np.float32)
    x[10:38, 14:16] = level
    x[10:38, 22:24] = level
    for _ in range(6):
        i, j = rng.integers(4, shape[0] - 4, size=2)
        x[i : i + 2, j : j + 2] = level
    return x


@pytest.fixture
def small_stack() -> dict:
    """A 12 x 12 camera-pixel, 60-frame stack (L = 4) with its settings."""
    truth = small_truth()
    frames = simulate_stack(truth, GaussianPSF(318.0), 100.0, 4, 60, background_photons=1.0,
                            alpha=2.0, offset=100.0, sigma=2.0, seed=1)
    return {"frames": frames, "truth": truth, "alpha": 2.0, "offset": 100.0, "sigma": 2.0}


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (a user's clone); CI has it")
    return SHARED_DATA
