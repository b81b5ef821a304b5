"""The sample's drift: measured on the stack, and put in the model (core/drift.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_fluogan import reconstruct
from napari_fluogan.core.drift import (
    MIN_BLOCKS,
    MIN_FRAMES_PER_BLOCK,
    drift_kernel,
    drift_runs,
    estimate_drift,
)
from napari_fluogan.core.metrics import evaluate_pairs
from napari_fluogan.core.physics import BlockedPsi, PsiOperator
from napari_fluogan.core.psf import AiryPSF, GaussianPSF, psf_from_model

from .conftest import BENCH_L2, blinking_line_pairs, check_cli_switch


def linear_path_nm(extent_nm: float, n_frames: int) -> np.ndarray:
    """(T, 2): the sample moving by ``extent_nm`` along x and half that along y, centred."""
    t = np.linspace(0.0, 1.0, n_frames)
    path = extent_nm * np.stack([0.5 * t, t], axis=1)
    return path - path.mean(axis=0)


def test_a_linear_drift_is_measured_with_its_sign_and_size():
    path_nm = linear_path_nm(300.0, 200)
    _, sim = blinking_line_pairs((240.0,), n_frames=200, seed=1, drift_nm=path_nm)
    estimate = estimate_drift(sim.frames.astype(np.float64))
    assert estimate is not None and estimate.matters(3.18)
    error_nm = estimate.path_px * 100.0 - path_nm
    # along x (across the lines) to within a few nm; along y only the lines' ends tell
    assert np.sqrt((error_nm[:, 1] ** 2).mean()) < 10.0
    assert np.sqrt((error_nm[:, 0] ** 2).mean()) < 20.0
    assert estimate.extent_px[1] * 100.0 == pytest.approx(300.0, rel=0.1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_still_sample_has_no_drift_to_model(seed):
    _, sim = blinking_line_pairs((240.0,), n_frames=200, seed=seed)
    estimate = estimate_drift(sim.frames.astype(np.float64))
    assert estimate is not None
    assert not estimate.matters(3.18)
    # y runs along the lines, where only their ends tell: noisier than x
    assert estimate.extent_px[1] < 0.1 and estimate.extent_px[0] < 0.25  # camera pixels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_featureless_field_has_no_drift_to_model(seed):
    """Nothing to register: the blocks' shifts are noise of several pixels, and the
    path through them must not be taken for drift (the negative control)."""
    frames = np.random.default_rng(seed).poisson(20.0, (200, 20, 20)).astype(np.float64)
    estimate = estimate_drift(frames)
    assert estimate is not None
    assert estimate.extent_px.max() > 1.0  # the path through noise wanders
    assert not estimate.matters(3.18)


def test_too_few_frames_or_pixels_are_not_measured():
    rng = np.random.default_rng(0)
    assert estimate_drift(rng.random((MIN_FRAMES_PER_BLOCK * MIN_BLOCKS - 1, 20, 20))) is None
    assert estimate_drift(rng.random((200, 6, 20))) is None


def test_drift_kernel_is_the_paths_histogram_on_the_fine_grid():
    # half the frames at rest, half moved by (0.5, -0.25) camera px = (2, -1) fine px
    path = np.array([[0.0, 0.0]] * 5 + [[0.5, -0.25]] * 5)
    kernel = drift_kernel(path, 4)
    r = kernel.shape[0] // 2
    assert kernel.sum() == pytest.approx(1.0)
    assert kernel[r, r] == pytest.approx(0.5) and kernel[r + 2, r - 1] == pytest.approx(0.5)
    # a sub-fine-pixel shift is split so that the kernel's centroid is the path's mean
    kernel = drift_kernel(np.array([[0.1, 0.0], [0.1, 0.0]]), 4)
    rows = np.arange(kernel.shape[0]) - kernel.shape[0] // 2
    assert (kernel.sum(axis=1) * rows).sum() == pytest.approx(0.4)


@pytest.mark.parametrize("psf", [GaussianPSF(318.0), AiryPSF.with_fwhm(318.0)])
def test_psi_with_a_drift_kernel_is_the_mean_over_the_shifted_sample(psf):
    """Folded into the PSF, the path gives the mean of the shifted images, and for
    the fluctuations' variance the mean of the shifted squared kernels (not the square
    of the blurred one)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(1, 96, 96, dtype=torch.float64)
    x[:, 30:66, 30:66] = torch.rand(36, 36, generator=gen, dtype=torch.float64)
    path = np.array([[0.0, 0.0]] * 5 + [[0.5, -0.25]] * 5)
    still = PsiOperator(psf, 100.0, 4, (24, 24), dtype=torch.float64)
    moving = PsiOperator(psf, 100.0, 4, (24, 24), dtype=torch.float64,
                         drift_kernel=drift_kernel(path, 4))
    moved = torch.roll(x, (2, -1), (-2, -1))
    mean = 0.5 * (still(x) + still(moved))
    variance = 0.5 * (still.forward_squared(x) + still.forward_squared(moved))
    assert torch.allclose(moving(x), mean, atol=1e-6 * float(mean.max()))
    assert torch.allclose(moving.forward_squared(x), variance, atol=1e-6 * float(variance.max()))
    blurred_squared = PsiOperator(psf, 100.0, 4, (24, 24), dtype=torch.float64,
                                  drift_kernel=drift_kernel(np.zeros((1, 2)), 4))
    assert not torch.allclose(blurred_squared.forward_squared(x), variance, rtol=1e-3)


def test_blocked_psi_adjoint_and_bound():
    gen = torch.Generator().manual_seed(1)
    psf = GaussianPSF(318.0)
    runs = [np.array([[0.0, 0.0]]), np.array([[0.25, 0.5]]), np.array([[-0.5, 0.0]])]
    ops = [PsiOperator(psf, 100.0, 4, (10, 12), dtype=torch.float64,
                       drift_kernel=drift_kernel(p, 4)) for p in runs]
    blocked = BlockedPsi(ops, [1.2, 1.0, 0.8])
    x = torch.rand(40, 48, generator=gen, dtype=torch.float64)
    y = torch.rand(3, 10, 12, generator=gen, dtype=torch.float64)
    out = blocked(x)
    assert out.shape == (3, 10, 12)
    assert torch.allclose(out[0], 1.2 * ops[0](x)) and torch.allclose(out[2], 0.8 * ops[2](x))
    # <A x, y> / n = <x, A^T y>: the gradient of the mean of the runs' data terms
    assert float((out * y).sum()) / 3 == pytest.approx(float((x * blocked.adjoint(y)).sum()))
    assert blocked.norm_sq == pytest.approx(16.0 * (1.44 + 1.0 + 0.64) / 3)


def test_drift_runs_split_the_path_where_it_moves_far():
    sigma_px = 3.18 / 2.3548
    assert len(drift_runs(np.zeros((100, 2)), 3.18)) == 1
    steady = linear_path_nm(300.0, 100) / 100.0
    runs = drift_runs(steady, 3.18)
    assert 2 <= len(runs) <= 8
    assert np.concatenate(runs).tolist() == list(range(100))
    assert max(float(steady[idx].var(axis=0).max()) for idx in runs) <= 0.01 * sigma_px**2 * 1.5


def test_a_drifting_pair_is_resolved_when_the_drift_is_modelled():
    """A 240 nm pair whose sample moved 300 nm across the lines over the stack: the
    mean blurs it to one line; with the drift in the model the pair comes back."""
    path_nm = linear_path_nm(300.0, 200)
    phantom, sim = blinking_line_pairs((240.0,), n_frames=200, seed=2, drift_nm=path_nm)
    config = BENCH_L2.replace(iterations=300)

    def run(correct: bool):
        snap = reconstruct(sim.frames, config.replace(drift_correction=correct))
        (pair,) = evaluate_pairs(snap.x, 25.0, phantom.pairs, 318.0)
        return snap, pair

    modelled, pair = run(True)
    _, blurred = run(False)
    assert modelled.info["drift_nm"] == pytest.approx(300.0, rel=0.1)
    assert f"drift of {modelled.info['drift_nm']:.0f} nm modelled" in modelled.describe_model()
    assert blurred.contrast < 0.1  # measured 0.00
    assert pair.contrast > 0.5  # measured 0.91
    assert pair.control_contrast < 0.2  # measured 0.05


def test_a_still_stack_runs_as_before():
    _, sim = blinking_line_pairs((240.0,), n_frames=200, seed=3)
    config = BENCH_L2.replace(iterations=50)
    on = reconstruct(sim.frames, config)
    off = reconstruct(sim.frames, config.replace(drift_correction=False))
    assert on.info["drift_nm"] == 0.0
    assert "drift" not in on.describe_model()
    np.testing.assert_array_equal(on.x, off.x)


def test_cli_models_the_drift_unless_told(tmp_path, capsys):
    _, sim = blinking_line_pairs((240.0,), n_frames=160, seed=4,
                                 drift_nm=linear_path_nm(300.0, 160))
    path = tmp_path / "drifting.tif"
    tifffile.imwrite(path, sim.frames)
    check_cli_switch(path, tmp_path, capsys, "--no-drift-correction", "nm modelled",
                     "nm modelled", "drift_correction")


def test_the_critics_simulated_frames_move_with_the_sample():
    """Under drift each simulated frame is imaged where the real frame beside it saw
    the sample (its run's operator), and a bleaching stack's brightness map is measured
    against that run, so the sample's shift does not read as brightness at its edges."""
    from napari_fluogan.core.solver import _Adversary, _Problem, prepare_photons

    path_nm = linear_path_nm(300.0, 200)
    _, sim = blinking_line_pairs((240.0,), n_frames=200, seed=2, drift_nm=path_nm)
    photons, config = prepare_photons(sim.frames, BENCH_L2.replace(use_critic=True))
    problem = _Problem(photons, config, torch.device("cpu"))
    assert problem.runs is not None
    adversary = _Adversary(problem, config, torch.Generator().manual_seed(0))
    background = torch.zeros_like(problem.mean_image)
    x = problem.psi.adjoint(problem.mean_image - float(problem.mean_image.min()))
    first, last = 0, problem.n_frames - 1
    index = torch.tensor([first, last])
    _, expectation, _, _ = adversary._simulate(x, background, index, False)
    brightness = adversary._brightness(index, background)  # the dyes bleach a little
    for j, i in enumerate(index.tolist()):
        rate = x if brightness is None else x * brightness[j]
        seen = problem.runs.psi.operators[int(problem.runs.frame_run[i])](rate)
        assert torch.allclose(expectation[j], seen, rtol=1e-5)

    def centroid_x(image: torch.Tensor) -> float:
        weights = image.sum(dim=0)
        return float((weights * torch.arange(len(weights))).sum() / weights.sum())

    moved_px = centroid_x(expectation[1]) - centroid_x(expectation[0])
    # the first and last runs' centres lie (1 - 1 / n_runs) of the 3 px path apart
    n_runs = len(problem.runs.indices)
    assert moved_px == pytest.approx(3.0 * (1 - 1 / n_runs), rel=0.2)
    # the simulated frames themselves follow (20 draws of each end)
    many = torch.tensor([first] * 20 + [last] * 20)
    drawn, _, _, _ = adversary._simulate(x, background, many, False)
    assert centroid_x(drawn[20:].mean(0)) - centroid_x(drawn[:20].mean(0)) > 0.5 * moved_px

    # bleaching halves the signal over the stack: the brightness map of a frame is
    # about flat across the structure (against its run's mean; measured coefficient of
    # variation 0.10 and 0.24 at the stack's two ends), not an edge pattern of the
    # shift (against the stack's mean: 0.48 and 0.72)
    decay = np.linspace(1.0, 0.5, len(photons))[:, None, None]
    signal = np.clip(photons - float(problem.dark), 0.0, None)
    problem = _Problem(photons - signal * (1.0 - decay), config, torch.device("cpu"))
    adversary = _Adversary(problem, config, torch.Generator().manual_seed(0))
    brightness = adversary._brightness(torch.tensor([first, last]), background)
    assert brightness is not None
    lit = problem.mean_image > problem.mean_image.quantile(0.8)
    q = problem.psi.margin * 4
    means = []
    for frame in brightness:
        values = frame[q::4, q::4][: lit.shape[0], : lit.shape[1]][lit]
        assert float(values.std() / values.mean()) < 0.35
        means.append(float(values.mean()))
    assert means[0] > 2.0 * means[1]  # measured 1.35 and 0.55


def test_registered_mean_moves_the_runs_back():
    """Runs seen at shifted positions average, moved back, to the still image (cubic
    splines: to about 1 % on a PSF-sized blob), where their plain mean is blurred."""
    from scipy.ndimage import shift as moved

    from napari_fluogan.core.drift import registered_mean

    yy, xx = np.mgrid[0:24, 0:30]
    still = np.exp(-((yy - 11.5) ** 2 + (xx - 14.2) ** 2) / (2 * 1.35**2))
    positions = np.array([[-0.4, -1.5], [0.0, 0.1], [0.3, 1.4]])
    runs = np.stack([moved(still, p, order=5, mode="nearest") for p in positions])
    registered = registered_mean(runs, positions, [10, 20, 10])
    assert np.abs(registered - still).max() < 0.015 * still.max()
    assert np.abs(runs.mean(axis=0) - still).max() > 0.1 * still.max()


def test_the_psf_shape_is_judged_on_a_drifting_stack_as_on_a_still_one():
    """The shape trials fit the runs moved back together: the path's blur of the mean
    image washed out the Airy rings (ratio 0.86 under a 300 nm drift against 0.52 on
    the still stack, on the benchmark's stacks 0.96 against 0.79: the Gaussian taken)."""
    from napari_fluogan.core.solver import _PSF_CHOICES, choose_psf_model_for, prepare_photons

    airy = psf_from_model("airy", 318.0)
    ratios = []
    for drift_nm in (None, linear_path_nm(300.0, 200)):
        _, sim = blinking_line_pairs((240.0,), n_frames=200, seed=1, drift_nm=drift_nm, psf=airy)
        photons, config = prepare_photons(sim.frames, BENCH_L2.replace(psf_model="auto"))
        _PSF_CHOICES.clear()
        choice = choose_psf_model_for(photons, config, torch.device("cpu"))
        assert choice.model == "airy"
        ratios.append(choice.residual_ratio)
    still, drifting = ratios
    assert drifting == pytest.approx(still, abs=0.05)  # measured 0.515 and 0.528
