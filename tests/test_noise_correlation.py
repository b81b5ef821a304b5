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
    _correlation_at,
    correlated_noise_warning,
    neighbour_noise_correlation,
)

from .conftest import dye_carpet_photons
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


def dye_carpet(seed: int, photons_on: float, n_frames: int = 120) -> np.ndarray:
    """A 24 x 24 px field full of blinking dyes (:func:`dye_carpet_photons`, 3 photons
    of haze) in ADU (gain 2, offset 100, read noise 2)."""
    rng = np.random.default_rng(seed)
    electrons = dye_carpet_photons(rng, photons_on, 24, n_frames, 3.0)
    return np.round(100.0 + 2.0 * electrons + rng.normal(0.0, 2.0, electrons.shape)).astype(
        np.uint16
    )


@pytest.mark.parametrize("photons_on", [30.0, 100.0])
def test_a_field_full_of_blinking_dyes_is_not_taken_for_mixed_noise(photons_on):
    # inside a uniform carpet of dyes even the darkest pixels fluctuate with their
    # neighbours through the PSF: one pixel apart, the changes correlate like mixed noise
    # (0.28-0.64), but two pixels apart they still do, where mixing leaves none
    cfg = FluoGANConfig(alpha=2.0, offset=100.0, sigma=2.0, pixel_size_nm=100.0,
                        psf_fwhm_nm=318.0, use_critic=False, psf_model="gaussian",
                        iterations=2, device="cpu")
    for seed in range(3):
        frames = dye_carpet(seed, photons_on)
        changes = torch.as_tensor(np.diff(frames.astype(np.float32), axis=0))
        everywhere = torch.ones(frames.shape[1:], dtype=torch.bool)
        one_pixel = _correlation_at(changes, (changes**2).mean(dim=0), everywhere, 1)
        assert one_pixel > 0.25
        assert neighbour_noise_correlation(torch.as_tensor(frames.astype(np.float32))) < 0.1
    snap = reconstruct(frames, cfg)
    assert correlated_noise_warning(snap.info) is None
