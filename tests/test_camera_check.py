"""Camera values under which the frames are quieter than photon counting are reported
(core/camera_check.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_fluogan import reconstruct
from napari_fluogan.core.camera_check import MIN_QUIETNESS, camera_warning, quietness
from napari_fluogan.core.stack import to_photons

from .conftest import BENCH_L2, blinking_line_pairs, dye_carpet_photons


@pytest.fixture(scope="module")
def pairs_adu() -> np.ndarray:
    """A dim blinking line-pair stack in ADU (gain 2, offset 100, read noise 2)."""
    _, sim = blinking_line_pairs((300.0,), regime="dim", n_frames=150, seed=2,
                                 line_length_nm=600.0, margin_nm=400.0)
    return sim.frames


def _quietness(photons: np.ndarray, read_noise_photons: float) -> float:
    frames = torch.as_tensor(photons)
    return quietness(frames.mean(0), frames.var(0), read_noise_photons, frames.shape[0])


@pytest.mark.parametrize(
    ("alpha", "offset", "sigma", "low", "high"),
    [
        (2.0, 100.0, 2.0, 0.9, 1.3),  # right: measured 1.05
        (4.0, 100.0, 2.0, 0.4, MIN_QUIETNESS),  # gain twice too high: 0.60
        (2.0, 0.0, 2.0, 0.0, 0.2),  # offset 100 ADU too low: 0.04
        (2.0, 100.0, 10.0, 0.0, 0.2),  # read noise 5 times too high: 0.08
    ],
)
def test_quietness_drops_with_wrong_camera_values(pairs_adu, alpha, offset, sigma, low, high):
    photons = to_photons(pairs_adu, alpha, offset)
    assert low < _quietness(photons, sigma / alpha) < high


def test_blinking_everywhere_is_not_taken_for_wrong_values():
    # no pixel of a dye carpet is quiet: the test is one-sided, and stays silent
    photons = dye_carpet_photons(np.random.default_rng(0), 40.0, 24, 120, 5.0)
    assert _quietness(photons, 0.0) > 1.5  # measured 1.91
    assert _quietness(photons[:2], 0.0) == 0.0  # too few frames to say


def test_the_warning():
    assert camera_warning({"quietness": 1.0}) is None
    assert camera_warning({"quietness": 0.0}) is None  # not measured
    assert camera_warning({"quietness": 1.05 * MIN_QUIETNESS}) is None
    text = camera_warning({"quietness": 0.5})
    assert text is not None and "0.50 of the variance" in text and "gain alpha" in text


def test_a_run_with_the_gain_entered_wrong_warns(pairs_adu):
    cfg = BENCH_L2.replace(psf_fwhm_nm=318.0, pixel_size_nm=100.0, iterations=2)
    right = reconstruct(pairs_adu, cfg)
    assert right.info["quietness"] > 0.9
    assert right.warnings() == []
    # the gain entered twice too high
    wrong = reconstruct(pairs_adu, cfg.replace(alpha=4.0))
    assert wrong.info["quietness"] < MIN_QUIETNESS
    (warning,) = wrong.warnings()
    assert "vary less than photon counting" in warning
