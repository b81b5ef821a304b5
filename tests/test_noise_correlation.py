"""Noise correlated between neighbouring pixels (registered or filtered frames): found,
the camera estimate refused, a run warned (core/noise_correlation.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.core.calibrate import estimate_camera
from napari_fluogan.core.errors import FluoGANError
from napari_fluogan.core.noise_correlation import (
    MAX_CORRELATION,
    correlated_noise_warning,
    neighbour_noise_correlation,
)

from .test_defective_pixels import blinking_blobs


def mixed(raw: np.ndarray) -> np.ndarray:
    """Each pixel averaged with its right and lower neighbours, as interpolation does
    (one pixel smaller)."""
    frames = raw.astype(np.float32)
    return 0.25 * (
        frames[:, :-1, :-1] + frames[:, 1:, :-1] + frames[:, :-1, 1:] + frames[:, 1:, 1:]
    )


def test_raw_frames_are_uncorrelated_and_mixed_ones_are_not():
    raw = blinking_blobs(n_frames=120, shape=(24, 24))
    assert abs(neighbour_noise_correlation(torch.as_tensor(raw.astype(np.float32)))) < 0.05
    assert neighbour_noise_correlation(torch.as_tensor(mixed(raw))) > 0.4
    # too few frames to measure
    assert neighbour_noise_correlation(torch.as_tensor(mixed(raw)[:2])) == 0.0


def test_the_camera_is_not_estimated_from_mixed_frames():
    raw = blinking_blobs(n_frames=120, shape=(24, 24))
    estimate_camera(raw)  # raw frames: fine
    with pytest.raises(FluoGANError, match="neighbouring pixels is correlated") as error:
        estimate_camera(mixed(raw))
    assert "enter alpha, offset and sigma by hand" in str(error.value)


def test_a_run_on_mixed_frames_warns():
    cfg = FluoGANConfig(alpha=2.0, offset=100.0, sigma=2.0, pixel_size_nm=100.0,
                        psf_fwhm_nm=318.0, use_critic=False, psf_model="gaussian",
                        iterations=2, device="cpu")
    raw = blinking_blobs(n_frames=120, shape=(24, 24))
    snap = reconstruct(mixed(raw), cfg)
    assert snap.info["neighbour_noise_correlation"] > MAX_CORRELATION
    assert any("raw camera frames" in text for text in snap.warnings())
    clean = reconstruct(raw, cfg)
    assert clean.info["neighbour_noise_correlation"] < 0.05
    assert correlated_noise_warning(clean.info) is None and clean.warnings() == []
