"""The priors' unit: the light of the structure, not of the background under it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.core import solver
from napari_fluogan.core.metrics import evaluate_pairs
from napari_fluogan.core.signal_level import (
    MIN_SHARE,
    MIN_STRUCTURE_Z,
    low_quantile,
    no_structure_warning,
    structure_level,
    structure_significance,
)

from .conftest import BENCH_L2, blinking_line_pairs


def _mean_level(mean_image: torch.Tensor, dark: float | None = None) -> float:
    """The unit before: the mean image's mean, background included."""
    return float(mean_image.mean())


def test_structure_level_ignores_a_uniform_background():
    rng = np.random.default_rng(0)
    image = rng.poisson(4.0, (40, 50)).astype(np.float32)
    image[10:20, 10:30] += 100.0
    level = structure_level(torch.as_tensor(image))
    # the square adds 10 photons a pixel on average; the dark quantile sits a little
    # under the Poisson background's mean of 4
    assert 10.0 < level < 12.0
    assert structure_level(torch.as_tensor(image + 500.0)) == pytest.approx(level, rel=0.02)
    # no contrast at all: a floor, never zero
    flat = torch.full((30, 30), 7.0)
    assert structure_level(flat) == pytest.approx(MIN_SHARE * 7.0)


def test_low_quantile_matches_numpy():
    values = torch.arange(1000, dtype=torch.float32).reshape(20, 50)
    assert low_quantile(values, 0.02) == pytest.approx(np.quantile(values.numpy(), 0.02), abs=1)
    assert low_quantile(values, 0.0) == 0.0


def test_a_bright_background_leaves_the_structure_alone(monkeypatch):
    """The same 210 nm pair on the benchmark's background and on one 50 times brighter
    (about 7 times the pair's mean light per pixel): the pair stays as resolved and x
    keeps its light. With the mean level as the unit (before), the background
    strengthened the l1 prior against the pair: dip 0.43, 82 % of its light."""
    phantom, dark = blinking_line_pairs((210.0,), "bright", n_frames=200, seed=0)
    _, hazy = blinking_line_pairs((210.0,), "bright", n_frames=200, seed=0,
                                  background_factor=50.0)

    def pair_and_light(frames: np.ndarray) -> tuple[float, float]:
        x = reconstruct(frames, BENCH_L2).x
        (pair,) = evaluate_pairs(x, 25.0, phantom.pairs, 318.0)
        return pair.contrast, float(x.sum())

    dark_pair, dark_light = pair_and_light(dark.frames)
    hazy_pair, hazy_light = pair_and_light(hazy.frames)
    assert dark_pair > 0.5 and hazy_pair > 0.5  # measured 0.65, 0.60
    assert hazy_light == pytest.approx(dark_light, rel=0.05)
    monkeypatch.setattr(solver, "structure_level", _mean_level)
    before_pair, before_light = pair_and_light(hazy.frames)
    assert before_pair < 0.5 and before_light < 0.9 * dark_light


def _poisson_field(photons: np.ndarray, n_frames: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.poisson(photons, (n_frames, *photons.shape)).astype(np.float64))


@pytest.mark.parametrize("size", [16, 64])
def test_a_field_of_noise_shows_no_structure_and_a_faint_spot_does(size):
    yy, xx = np.mgrid[:size, :size]
    spot = np.exp(-((yy - size / 2) ** 2 + (xx - size / 3) ** 2) / (2 * 1.35**2))
    for seed in range(3):
        for photons in (0.5, 80.0):
            frames = _poisson_field(np.full((size, size), photons), 200, seed)
            z = structure_significance(frames.mean(0), frames.var(0), 200, 3.18)
            assert 3.0 < z < MIN_STRUCTURE_Z
        # one spot of 1 photon per frame at its peak over 1 photon of haze
        frames = _poisson_field(1.0 + spot, 200, seed)
        z = structure_significance(frames.mean(0), frames.var(0), 200, 3.18)
        assert z > 2 * MIN_STRUCTURE_Z


def test_a_run_on_noise_says_so():
    cfg = FluoGANConfig(alpha=1.0, offset=0.0, sigma=0.5, pixel_size_nm=100.0,
                        psf_fwhm_nm=318.0, use_critic=False, psf_model="gaussian",
                        iterations=2, device="cpu")
    snap = reconstruct(_poisson_field(np.full((24, 24), 20.0), 100, 0).numpy(), cfg)
    (warning,) = snap.warnings()
    assert "nothing above its noise" in warning and "x shows noise" in warning
    assert no_structure_warning({"structure_z": 40.0}) is None
