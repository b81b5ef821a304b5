"""psf_model "auto": the PSF shape chosen from the data (core/psf_choice.py)."""

from __future__ import annotations

import functools

import pytest
import torch

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.core.errors import FluoGANError
from napari_fluogan.core.metrics import evaluate_pairs
from napari_fluogan.core.psf import AiryPSF
from napari_fluogan.core.psf_choice import (
    AIRY_RESIDUAL_RATIO,
    TRIAL_ITERATIONS,
    choose_psf_model,
    describe_psf_model,
)
from napari_fluogan.core.solver import choose_psf_model_for, prepare_photons

from .conftest import blinking_line_pairs

AUTO_L2 = FluoGANConfig(alpha=2.0, offset=100.0, sigma=2.0, use_critic=False, device="cpu")


def test_airy_is_chosen_only_when_it_fits_clearly_better():
    seen: list[FluoGANConfig] = []

    def fitter(residuals: dict[str, float]):
        def fit(trial: FluoGANConfig) -> float:
            seen.append(trial)
            return residuals[trial.psf_model]

        return fit

    config = FluoGANConfig(use_critic=True, cumulant_weight=1.0)
    clearly = choose_psf_model(config, fitter({"gaussian": 1.0, "airy": 0.9}))
    assert clearly.model == "airy" and clearly.residual_ratio == pytest.approx(0.9)
    barely = choose_psf_model(config, fitter({"gaussian": 1.0, "airy": 0.97}))
    assert barely.model == "gaussian"
    assert 0.9 < AIRY_RESIDUAL_RATIO < 0.97
    # the trial fits are short L2 fits without the critic or the cumulant term
    assert {t.psf_model for t in seen} == {"gaussian", "airy"}
    assert all(not t.use_critic and t.cumulant_weight == 0 for t in seen)
    assert all(t.iterations == TRIAL_ITERATIONS for t in seen)
    for run_iterations in (10, 100_000):  # trials converge, and cost the same, whatever the run
        equal = fitter({"gaussian": 1.0, "airy": 1.0})
        tie = choose_psf_model(config.replace(iterations=run_iterations), equal)
        assert tie.model == "gaussian"
        assert seen[-1].iterations == TRIAL_ITERATIONS


def test_auto_has_no_kernel_until_a_run_resolves_it():
    assert FluoGANConfig().psf_model == "auto"
    with pytest.raises(FluoGANError, match="chosen from the data"):
        FluoGANConfig().make_psf()
    with pytest.raises(FluoGANError, match="auto, gaussian, airy"):
        FluoGANConfig(psf_model="moffat")


@functools.cache
def _stack(psf_kind: str) -> tuple:
    psf = AiryPSF.with_fwhm(318.0) if psf_kind == "airy" else None
    return blinking_line_pairs((180.0,), "bright", n_frames=200, seed=0, psf=psf)


def _choice(psf_kind: str, fwhm_nm: float = 318.0):
    _, sim = _stack(psf_kind)
    photons, config = prepare_photons(sim.frames, AUTO_L2.replace(psf_fwhm_nm=fwhm_nm))
    return choose_psf_model_for(photons, config, torch.device("cpu"))


def test_auto_tells_an_airy_stack_from_a_gaussian_one():
    airy, gaussian = _choice("airy"), _choice("gaussian")
    assert airy.model == "airy" and airy.residual_ratio < 0.92
    assert gaussian.model == "gaussian" and gaussian.residual_ratio > 1.1


def test_auto_keeps_the_gaussian_on_gaussian_data_given_too_narrow_or_wide():
    for factor in (0.95, 1.05):
        choice = _choice("gaussian", 318.0 * factor)
        assert choice.model == "gaussian" and choice.residual_ratio > 1.0


def test_a_run_reports_and_keeps_the_chosen_shape():
    phantom, sim = _stack("airy")
    snap = reconstruct(sim.frames, AUTO_L2)
    assert snap.config.psf_model == "airy"  # saved resolved, so config.json reproduces it
    assert 0 < snap.info["psf_residual_ratio"] < AIRY_RESIDUAL_RATIO
    assert describe_psf_model(snap.config, snap.info).startswith("PSF airy (auto: Airy residual")
    explicit = reconstruct(sim.frames, AUTO_L2.replace(psf_model="gaussian"))
    (pair,) = evaluate_pairs(snap.x, 25.0, phantom.pairs, 318.0)
    (pair_gaussian,) = evaluate_pairs(explicit.x, 25.0, phantom.pairs, 318.0)
    assert pair.contrast > pair_gaussian.contrast + 0.05 and pair.control_contrast < 0.1
    assert explicit.info["psf_residual_ratio"] == 0.0
    assert describe_psf_model(explicit.config, explicit.info) == "PSF gaussian"


def test_the_choice_is_reused_for_the_same_frames_and_priors(monkeypatch):
    """A second run on the same ROI (a longer run, or the critic after an L2 preview)
    does not fit both shapes again; other frames, other priors or a stopped choice do."""
    from collections import OrderedDict

    from napari_fluogan.core import solver
    from napari_fluogan.core.psf_choice import PSFModelChoice

    calls: list[FluoGANConfig] = []

    def fake_choose(config, fit_residual):
        calls.append(config)
        return PSFModelChoice("airy", 1.0, 0.5 + 0.1 * len(calls))

    monkeypatch.setattr(solver, "_PSF_CHOICES", OrderedDict())
    monkeypatch.setattr(solver, "choose_psf_model", fake_choose)
    cpu = torch.device("cpu")
    _, sim = _stack("gaussian")
    photons, config = prepare_photons(sim.frames, AUTO_L2)
    first = choose_psf_model_for(photons, config, cpu)
    # the run's mode and length do not enter the trial fits: remembered
    again = choose_psf_model_for(photons, config.replace(use_critic=True, iterations=50), cpu)
    assert again is first and len(calls) == 1
    # the priors do: fitted again
    choose_psf_model_for(photons, config.replace(lambda1=config.lambda1 * 2), cpu)
    assert len(calls) == 2
    # so do other frames (one photon more in one pixel)
    changed = photons.copy()
    changed[0, 0, 0] += 1.0
    choose_psf_model_for(changed, config, cpu)
    assert len(calls) == 3
    # a choice made from fits the user stopped is not kept
    stopped = photons[:-1]
    choose_psf_model_for(stopped, config, cpu, {"stop": 1.0})
    choose_psf_model_for(stopped, config, cpu)
    assert len(calls) == 5
    assert choose_psf_model_for(stopped, config, cpu).residual_airy == pytest.approx(1.0)
    assert len(calls) == 5


def test_trial_fits_report_their_progress_and_a_reused_choice_none(monkeypatch):
    from collections import OrderedDict

    from napari_fluogan.core import solver
    from napari_fluogan.core.psf_choice import TRIAL_PROGRESS_EVERY

    monkeypatch.setattr(solver, "_PSF_CHOICES", OrderedDict())
    _, sim = _stack("gaussian")
    config = AUTO_L2.replace(iterations=5, snapshot_every=5)
    reports: list[tuple[str, int, int]] = []

    def record(*report) -> None:
        reports.append(report)

    snaps = list(solver.reconstruct_iter(sim.frames, config, on_stage=record))
    steps = list(range(0, TRIAL_ITERATIONS + 1, TRIAL_PROGRESS_EVERY))
    assert reports == [("PSF shape: gaussian fit", i, TRIAL_ITERATIONS) for i in steps] + [
        ("PSF shape: airy fit", i, TRIAL_ITERATIONS) for i in steps
    ]
    assert [s.iteration for s in snaps] == [0, 5]  # the run's own snapshots only
    reports.clear()
    list(solver.reconstruct_iter(sim.frames, config.replace(iterations=10), on_stage=record))
    assert reports == []
