"""The fluctuation bound on the background (core/background_bound.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.core import background_bound
from napari_fluogan.core.background_bound import (
    describe_background_bound,
    even_fluctuations_warning,
    fit_fluctuation_slope,
    fluctuates_evenly,
    steady_light,
)
from napari_fluogan.core.blinking import REGIMES, simulate_blinking
from napari_fluogan.core.defective_pixels import pixel_statistics
from napari_fluogan.core.metrics import psnr
from napari_fluogan.core.phantoms import FilamentPhantom
from napari_fluogan.core.physics import PsiOperator
from napari_fluogan.core.psf import AiryPSF, GaussianPSF
from napari_fluogan.core.stack import to_photons
from napari_fluogan.core.trend import TemporalTrend

from .conftest import BENCH_CAMERA, dye_carpet_photons

FWHM_NM, PIXEL_NM, L = 318.0, 100.0, 4


def _field(psf, background: torch.Tensor, seed: int = 0):
    """Mean and variance (photons) of emitters crowded on the left, sparse on the
    right, over ``background``; fluctuation excess k * Psi^2 x (k = 20 photons)."""
    h, w = background.shape
    psi = PsiOperator(psf, PIXEL_NM, L, (h, w))
    rng = np.random.default_rng(seed)
    x = np.zeros(psi.fine_shape)
    n1, n2 = psi.fine_shape
    for _ in range(3000):  # crowded half
        x[rng.integers(n1), rng.integers(n2 // 2)] += 30.0
    for _ in range(150):  # sparse half
        x[rng.integers(n1), rng.integers(n2 // 2, n2)] += 30.0
    x = torch.as_tensor(x, dtype=torch.float32)
    emitters = psi(x)
    mean = emitters + background
    variance = mean + 20.0 * psi.forward_squared(x) + 1.0
    return mean, variance, emitters


@pytest.mark.parametrize("psf", [GaussianPSF(FWHM_NM), AiryPSF.with_fwhm(FWHM_NM)])
def test_bound_sits_above_the_background_and_far_below_the_pedestal(psf):
    h, w = 48, 64
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    background = 8.0 + 4.0 * xx / w  # a gentle haze gradient: not fluctuating
    mean, variance, emitters = _field(psf, background.float())
    steady = steady_light(mean, variance, 1.0, FWHM_NM / PIXEL_NM)
    assert steady is not None
    bound = steady.background_bound()
    assert bound is not None and bound.shape == mean.shape
    inner = (slice(6, -6), slice(6, -6))  # the blur's reach from the borders
    # it never asks b to hold less than the true background (a safe upper bound) ...
    assert bool((bound[inner] >= background[inner] - 0.5).all())
    # ... and caps it at a small multiple of it (2x plus a margin), far below the
    # crowded half's pedestal of 58 photons over a background of 8-12 (measured: 2.8x
    # the background, 36 % of the mean)
    crowded = (slice(6, -6), slice(6, w // 2 - 8))
    assert float(emitters[crowded].mean()) > 40
    assert float((bound[crowded] / background[crowded]).mean()) < 3.5
    assert float(bound[crowded].mean()) < 0.5 * float(mean[crowded].mean())


def test_no_bound_where_the_fit_cannot_be_trusted():
    h, w = 32, 32
    flat = torch.full((h, w), 50.0)
    # nothing varies: no slope to fit
    assert steady_light(flat, flat + 100.0, 1.0, 3.18) is None
    # the excess variance unrelated to the mean (noise only)
    mean, _, _ = _field(GaussianPSF(FWHM_NM), torch.full((h, w), 8.0))
    noise = torch.as_tensor(np.random.default_rng(1).normal(0, 5, (h, w)), dtype=torch.float32)
    assert steady_light(mean, mean + 1.0 + noise, 1.0, 3.18) is None
    # more light where it fluctuates less: a negative slope is no estimate
    assert steady_light(mean, mean + 1.0 + (mean.max() - mean), 1.0, 3.18) is None


def test_crowded_filaments_keep_their_light_in_x():
    """Blinking filaments crowding a 3.2 um field (Gaussian PSF, the benchmark camera):
    without the bound, b takes the blurred pedestal and x fades; with it, x keeps most
    of the light and b stays near the true background (8 photons per pixel)."""
    from napari_fluogan.core.solver import _Problem, prepare_photons

    photophysics, background = REGIMES["bright"]
    sim = simulate_blinking(
        FilamentPhantom(height_nm=3200.0, width_nm=3200.0, n_filaments=20, seed=5),
        GaussianPSF(FWHM_NM), PIXEL_NM, L, 150, density_per_nm=1.0,
        photophysics=photophysics, camera=BENCH_CAMERA, background_photons=background, seed=11,
    )
    config = FluoGANConfig(alpha=BENCH_CAMERA.gain_adu_per_e, offset=BENCH_CAMERA.offset_adu,
                           sigma=BENCH_CAMERA.read_noise_adu, use_critic=False,
                           psf_model="gaussian", psf_fwhm_nm=FWHM_NM, pixel_size_nm=PIXEL_NM,
                           iterations=400, device="cpu")
    true_light = sim.truth.sum() / (sim.truth.size / L**2)
    free = reconstruct(sim.frames, config.replace(background_bound=False))
    bounded = reconstruct(sim.frames, config)
    assert config.background_bound  # the default
    light = {name: s.x.sum() / s.b.size for name, s in (("free", free), ("bounded", bounded))}
    # measured: x keeps 78 % of the light free (b 111), 98 % bounded (b 0.7)
    assert light["free"] < 0.85 * true_light  # the failure the bound is for
    assert light["bounded"] > 0.92 * true_light
    assert bounded.b.mean() < 0.2 * free.b.mean()
    assert bounded.info["background_bound_active"] == 1.0
    assert free.info["background_bound_active"] == 0.0
    assert describe_background_bound(bounded.info) == "b capped by fluctuations"
    assert describe_background_bound(free.info) == "b uncapped"
    # b never exceeds the bound (normalised units in the engine, photons here)
    photons, resolved = prepare_photons(sim.frames, config)
    problem = _Problem(photons, resolved, torch.device("cpu"))
    assert problem.b_upper is not None
    upper = (problem.b_upper * problem.unit).numpy()
    assert (bounded.b <= upper + 1e-3 * upper.max()).all()


def _field_statistics(seed: int, dye_photons: float, haze_photons: float, n_frames: int = 200):
    """Mean and variance (photons) of a 20 x 20 px field full of blinking dyes
    (:func:`dye_carpet_photons`) over a haze that does not fluctuate."""
    rng = np.random.default_rng(seed)
    photons = torch.as_tensor(dye_carpet_photons(rng, dye_photons, 20, n_frames, haze_photons))
    return photons.mean(dim=0), photons.var(dim=0)


def test_only_a_field_full_of_dyes_fluctuates_evenly():
    for seed in range(3):
        dyes = _field_statistics(seed, 30.0, 5.0)
        assert steady_light(*dyes, 0.0, 3.18) is None  # nothing to fit
        assert fluctuates_evenly(*dyes, 0.0, 3.18, 200)
        haze = _field_statistics(seed, 0.0, 80.0)  # Poisson light only
        assert not fluctuates_evenly(*haze, 0.0, 3.18, 200)
    # where the dyes end inside the field, the bound can be fitted instead
    mean, variance = _field_statistics(0, 30.0, 5.0)
    mean, variance = mean.clone(), variance.clone()
    mean[:, 10:], variance[:, 10:] = 5.0, 5.0
    assert not fluctuates_evenly(mean, variance, 0.0, 3.18, 200)


def test_the_even_fluctuations_warning():
    assert "Draw the ROI larger" in even_fluctuations_warning({"even_fluctuations": 1.0})
    assert even_fluctuations_warning({"even_fluctuations": 0.0}) is None
    assert even_fluctuations_warning({}) is None


@pytest.fixture(scope="module")
def crowded_dim_filaments():
    """20 filaments in 3.2 um seen with 4-photon blinks (Airy, T = 300)."""
    photophysics, background = REGIMES["dim"]
    filaments = FilamentPhantom(height_nm=3200.0, width_nm=3200.0, n_filaments=20, seed=5)
    return simulate_blinking(
        filaments, AiryPSF.with_fwhm(FWHM_NM), PIXEL_NM, L, 300, density_per_nm=1.0,
        photophysics=photophysics, camera=BENCH_CAMERA, background_photons=background,
        seed=12,
    )


def test_slope_is_corrected_for_the_noise_of_the_excess(crowded_dim_filaments, monkeypatch):
    frames = crowded_dim_filaments.frames
    photons = torch.as_tensor(to_photons(frames, 2.0, 100.0))
    mean, variance, _ = pixel_statistics(photons, TemporalTrend(photons, 50), 3.18, True, None)
    fitted = fit_fluctuation_slope(mean, variance, 1.0, 3.18)
    corrected = fit_fluctuation_slope(mean, variance, 1.0, 3.18, n_frames=300)
    # 4-photon blinks: the excess is noisy, so the fitted slope is low (measured +8 %)
    assert 1.03 < corrected.slope / fitted.slope < 1.25
    # the run: b holds less of the filaments' light, x is as good or better
    cfg = FluoGANConfig(alpha=2.0, offset=100.0, sigma=2.0, pixel_size_nm=PIXEL_NM,
                        psf_fwhm_nm=FWHM_NM, use_critic=False, device="cpu")
    truth = crowded_dim_filaments.truth
    with_correction = reconstruct(frames, cfg)
    monkeypatch.setattr(background_bound, "_excess_noise_variance", lambda *_: 0.0)
    without = reconstruct(frames, cfg)
    assert with_correction.b.mean() < 0.8 * without.b.mean()  # measured 6.2 against 10.8
    assert psnr(with_correction.x, truth) > psnr(without.x, truth)  # 20.1 against 19.6 dB


def test_a_bright_field_keeps_its_slope():
    mean, variance, _ = _field(GaussianPSF(FWHM_NM), torch.full((48, 64), 8.0))
    fitted = fit_fluctuation_slope(mean, variance, 1.0, FWHM_NM / PIXEL_NM)
    corrected = fit_fluctuation_slope(mean, variance, 1.0, FWHM_NM / PIXEL_NM, n_frames=300)
    assert corrected.slope == pytest.approx(fitted.slope, rel=0.01)
