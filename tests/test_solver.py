import functools

import numpy as np
import pytest

from napari_fluogan import (
    FluoGANConfig,
    FluoGANError,
    ReconstructionDiverged,
    reconstruct,
    reconstruct_iter,
)
from napari_fluogan.core.metrics import PairResult, evaluate_pairs
from napari_fluogan.core.psf import AiryPSF, GaussianPSF
from napari_fluogan.core.simulate import simulate_stack

from .conftest import BENCH_L2, blinking_line_pairs, small_truth


def _config(stack, **changes):
    base = dict(alpha=stack["alpha"], offset=stack["offset"], sigma=stack["sigma"],
                iterations=30, snapshot_every=10, batch_size=8, critic_channels=8,
                warm_start_iterations=10, device="cpu",
                # the shape small_stack is simulated with (auto: test_psf_choice.py)
                psf_model="gaussian")
    base.update(changes)
    return FluoGANConfig(**base)


def test_l2_mode_fits_the_mean_image(small_stack):
    cfg = _config(small_stack, use_critic=False, iterations=60)
    snaps = list(reconstruct_iter(small_stack["frames"], cfg))
    assert [s.iteration for s in snaps] == [0, 10, 20, 30, 40, 50, 60]
    assert snaps[-1].done and not snaps[0].done
    last = snaps[-1]
    assert last.x.shape == (48, 48) and last.b.shape == (12, 12)
    assert last.x.min() >= 0 and last.b.min() >= 0
    assert last.losses["data"] < snaps[1].losses["data"]
    # photons are accounted for: model mean matches the data mean within 10 %
    photons = (small_stack["frames"] - 100.0) / 2.0
    assert last.x.sum() + last.b.sum() == pytest.approx(photons.mean(0).sum(), rel=0.1)
    # the structure is where the truth has it
    corr = np.corrcoef(last.x.ravel(), small_stack["truth"].ravel())[0, 1]
    first_corr = np.corrcoef(snaps[0].x.ravel(), small_stack["truth"].ravel())[0, 1]
    assert corr > first_corr + 0.03  # sharper than the back-projected mean image


def test_full_gan_runs_and_is_deterministic(small_stack):
    cfg = _config(small_stack, use_critic=True, seed=3)
    a = reconstruct(small_stack["frames"], cfg)
    b = reconstruct(small_stack["frames"], cfg)
    assert np.isfinite(a.x).all() and np.isfinite(a.b).all()
    assert {"critic", "w_distance", "data"} <= set(a.losses)
    np.testing.assert_array_equal(a.x, b.x)
    c = reconstruct(small_stack["frames"], cfg.replace(seed=4))
    assert not np.array_equal(a.x, c.x)


def test_raw_critic_input_runs_and_differs_from_fluctuation_input(small_stack):
    """critic_input="raw" centres real and simulated frames on one common level, so the
    critic also sees the mean structure: a different game, still finite."""
    cfg = _config(small_stack, use_critic=True, seed=3, critic_input="raw")
    raw = reconstruct(small_stack["frames"], cfg)
    assert np.isfinite(raw.x).all() and np.isfinite(raw.losses["w_distance"])
    fluctuation = reconstruct(small_stack["frames"], cfg.replace(critic_input="fluctuation"))
    assert not np.allclose(raw.x, fluctuation.x)
    with pytest.raises(FluoGANError, match="critic_input"):
        cfg.replace(critic_input="frames")


def test_pure_adversarial_mode_runs(small_stack):
    cfg = _config(small_stack, gamma=0.0, use_critic=True, warm_start_iterations=0)
    snap = reconstruct(small_stack["frames"], cfg)
    assert np.isfinite(snap.x).all() and snap.losses["data"] == 0.0


def test_exact_estimator_mode_runs_on_tiny_problem(small_stack):
    frames = small_stack["frames"][:, :6, :6]
    cfg = _config(small_stack, estimator="exact", upsample=1, iterations=3,
                  warm_start_iterations=0, snapshot_every=1, batch_size=4)
    snap = reconstruct(frames, cfg)
    assert snap.x.shape == (6, 6) and np.isfinite(snap.x).all()


def test_stop_between_iterations_and_live_lambda(small_stack):
    live: dict = {}
    cfg = _config(small_stack, use_critic=False, iterations=1000, snapshot_every=5)
    gen = reconstruct_iter(small_stack["frames"], cfg, live)
    first = next(gen)
    before = next(gen)
    live["lambda1"] = 50.0  # a huge sparsity weight empties x
    after = next(gen)
    assert after.x.sum() < 0.2 * before.x.sum()
    live["stop"] = True
    final = next(gen)
    assert final.done and final.iteration == after.iteration + 1
    with pytest.raises(StopIteration):
        next(gen)
    assert first.iteration == 0


def test_divergence_keeps_last_good_snapshot(small_stack):
    live: dict = {}
    cfg = _config(small_stack, use_critic=False, iterations=100, snapshot_every=5)
    gen = reconstruct_iter(small_stack["frames"], cfg, live)
    next(gen)
    good = next(gen)
    live["lambda1"] = float("nan")
    with pytest.raises(ReconstructionDiverged, match="diverged") as info:
        next(gen)
    assert info.value.last_snapshot is good
    assert np.isfinite(info.value.last_snapshot.x).all()


@pytest.mark.parametrize("level", [0.4, 2000.0])
def test_same_defaults_work_dim_and_bright(level):
    # mean photon levels of 0.4 and 2000 per pixel per frame, default settings
    truth = small_truth(level=1.0)
    scale = level / (truth.sum() / 144)
    frames = simulate_stack(truth * scale, GaussianPSF(318.0), 100.0, 4, 40,
                            background_photons=0.1 * level, seed=2)
    cfg = FluoGANConfig(alpha=1.0, offset=0.0, sigma=0.0, iterations=40,
                        warm_start_iterations=20, batch_size=8, critic_channels=8,
                        snapshot_every=10, device="cpu")
    snaps = list(reconstruct_iter(frames, cfg))
    last = snaps[-1]
    assert np.isfinite(last.x).all() and np.isfinite(last.b).all()
    model_total = last.x.sum() + last.b.sum()
    assert model_total == pytest.approx(frames.mean(0).sum(), rel=0.15)


def test_camera_values_are_estimated_when_missing(small_stack):
    cfg = FluoGANConfig(use_critic=False, iterations=2, snapshot_every=1)
    snap = reconstruct(small_stack["frames"], cfg)
    assert snap.config.alpha == pytest.approx(2.0, rel=0.25)
    assert snap.config.offset is not None and snap.config.sigma is not None


def test_live_lambda_tv_takes_effect(small_stack):
    live: dict = {}
    cfg = _config(small_stack, use_critic=False, iterations=1000, snapshot_every=20,
                  lambda_tv=0.0)
    gen = reconstruct_iter(small_stack["frames"], cfg, live)
    next(gen)
    before = next(gen)
    assert "tv" not in before.losses
    live["lambda_tv"] = 50.0
    after = next(gen)
    assert after.losses["tv"] > 0
    # a strong TV flattens x: its total variation drops
    def tv(img):
        return np.abs(np.diff(img, axis=0)).sum() + np.abs(np.diff(img, axis=1)).sum()
    assert tv(after.x) < 0.8 * tv(before.x)
    gen.close()


def test_margin_removes_border_pile_up():
    # A line that runs through the whole field, reconstructed on an ROI that cuts it:
    # without a margin the light from outside piles up on the ROI's first and last rows.
    truth = np.zeros((96, 48), np.float32)
    truth[:, 22:24] = 2.0
    frames = simulate_stack(truth, GaussianPSF(318.0), 100.0, 4, 60, background_photons=0.5,
                            seed=5)
    base = dict(alpha=1.0, offset=0.0, sigma=0.0, use_critic=False, iterations=150,
                snapshot_every=150, roi=(6, 0, 12, 12), device="cpu")

    def end_to_middle(margin):
        x = reconstruct(frames, FluoGANConfig(**base, margin_px=margin)).x
        rows = x.sum(axis=1)
        return max(rows[:2].mean(), rows[-2:].mean()) / rows[16:32].mean()

    assert end_to_middle(0) > 1.3  # the artefact is there without a margin
    assert end_to_middle(None) < 0.5 * (end_to_middle(0) - 1.0) + 1.0


def test_fluctuation_gain_is_estimated_once_or_taken_as_given(small_stack):
    """The critic's simulator gets its gain from the data after the warm start (the
    small stack is the model's own double Poisson, so about 1), or the given one; the
    estimators give different runs, all finite."""
    cfg = _config(small_stack, use_critic=True, seed=1)
    snaps = list(reconstruct_iter(small_stack["frames"], cfg))
    assert snaps[0].info["fluctuation_gain"] == 0.0  # critic not on yet
    gains = {s.info["fluctuation_gain"] for s in snaps[2:]}
    # about 2 on this 12-pixel field, whose 10-iteration x holds less than the truth's
    # light (1.5 when b started at half the dark level; on the benchmark stacks the two
    # starts give gains within 1 % of each other)
    assert len(gains) == 1 and 1.0 <= gains.pop() < 2.5
    given = reconstruct(small_stack["frames"], cfg.replace(fluctuation_gain=7.0))
    assert given.info["fluctuation_gain"] == 7.0
    plain = reconstruct(small_stack["frames"], cfg.replace(estimator="straight-through"))
    assert np.isfinite(plain.x).all() and not np.array_equal(plain.x, snaps[-1].x)
    with pytest.raises(FluoGANError, match="fluctuation gain"):
        cfg.replace(fluctuation_gain=0.0)


def test_bleaching_is_not_taken_for_fluctuation():
    """A stack whose brightness halves over time: centred on the global mean its frames
    carry the decay, which inflates the fluctuation gain; centred on the local trend
    (the default) the gain stays that of the model's own double Poisson (about 1)."""
    counts = simulate_stack(20.0 * small_truth(), GaussianPSF(318.0), 100.0, 4, 60,
                            background_photons=5.0, seed=2)
    decay = np.linspace(1.0, 0.5, counts.shape[0])[:, None, None]
    # binomial thinning of Poisson counts: still Poisson, with a decaying mean
    frames = np.random.default_rng(0).binomial(counts.astype(np.int64), decay)
    cfg = _config(dict(alpha=1.0, offset=0.0, sigma=0.0), use_critic=True, iterations=12,
                  snapshot_every=12, warm_start_iterations=10, detrend_frames=10)
    local = reconstruct(frames, cfg).info["fluctuation_gain"]
    flat = reconstruct(frames, cfg.replace(detrend_frames=None)).info["fluctuation_gain"]
    assert 1.0 <= local < 2.0
    assert flat > 2.0 * local
    with pytest.raises(FluoGANError, match="detrend_frames"):
        cfg.replace(detrend_frames=1)


def test_tv_weight_has_a_model_error_floor(small_stack):
    """On a bright, long stack the mean image's noise vanishes; the PSF model error
    (psf_model_error) then sets the TV weight, so raising it strengthens the prior."""
    cfg = _config(small_stack, use_critic=False, iterations=20, snapshot_every=20)
    weak = reconstruct(small_stack["frames"], cfg.replace(psf_model_error=1e-4))
    strong = reconstruct(small_stack["frames"], cfg.replace(psf_model_error=0.5))
    # the floor is below this stack's noise: changing it within that range does nothing
    same = reconstruct(small_stack["frames"], cfg.replace(psf_model_error=1e-3))
    np.testing.assert_array_equal(weak.x, same.x)
    assert strong.losses["tv"] > 5 * weak.losses["tv"]  # measured 6.7
    with pytest.raises(FluoGANError, match="psf_model_error"):
        cfg.replace(psf_model_error=-0.1)


@functools.cache
def _one_pair_stack(separation_nm: float) -> tuple:
    """One blinking line pair and its control bar (exact PSF, bright, T = 200)."""
    return blinking_line_pairs((separation_nm,), "bright", n_frames=200, seed=0)


def _one_pair(separation_nm: float, config: FluoGANConfig) -> PairResult:
    """The contrasts of that pair and its control bar, reconstructed with ``config``."""
    phantom, sim = _one_pair_stack(separation_nm)
    (result,) = evaluate_pairs(reconstruct(sim.frames, config).x, 25.0, phantom.pairs, 318.0)
    return result


def test_exact_psf_keeps_a_narrow_control_bar_whole():
    """With the PSF the engine assumes, the l1 prior sharpens most. The default floor
    under the TV weight must still keep a solid bar narrower than the PSF whole while
    the 210 nm line pair beside it is resolved; a weaker floor splits the bar."""

    def pair_and_control(config: FluoGANConfig) -> tuple[float, float]:
        result = _one_pair(210.0, config)
        assert result.control_counts  # 310 nm bar, narrower than the 318 nm PSF
        return result.contrast, result.control_contrast

    pair, control = pair_and_control(BENCH_L2)
    assert pair > 0.5 and control < 0.15
    _, weak_control = pair_and_control(BENCH_L2.replace(psf_model_error=0.005))
    assert weak_control > 0.3


def test_background_does_not_hollow_a_wide_bar():
    """b has no l1 cost, so a rough b takes the interior of a wide solid structure and
    leaves x its two edges. The default smoothness of b keeps a 490 nm bar (wider than
    the PSF, the 390 nm pair's control) nearly as solid as its emitters are (truth
    0.16); with ``lambda2 = 1`` (the old default) it comes out hollow (0.39; 0.44 when
    the priors' unit was the mean level)."""

    def bar_dip(config: FluoGANConfig) -> float:
        result = _one_pair(390.0, config)
        assert result.contrast > 0.9  # the pair beside it stays resolved
        return result.control_contrast

    assert bar_dip(BENCH_L2) < 0.3  # measured 0.18
    assert bar_dip(BENCH_L2.replace(lambda2=1.0)) > 0.33  # measured 0.39


def test_airy_model_resolves_finer_on_airy_data():
    """On a stack taken with an Airy PSF, the Gaussian model of the same FWHM leaves
    the 180 nm pair unresolved (the rings' light fills the gap); the Airy model
    deepens its dip, and the control bar beside it stays whole. (On this short, small
    stack the default floor keeps the Airy dip below 0.2; the 36 x 100 pixel benchmark
    stacks resolve 180 nm with it.)"""
    phantom, sim = blinking_line_pairs((180.0,), "bright", n_frames=200, seed=0,
                                       psf=AiryPSF.with_fwhm(318.0))

    def result(model: str) -> PairResult:
        x = reconstruct(sim.frames, BENCH_L2.replace(psf_model=model)).x
        (pair,) = evaluate_pairs(x, 25.0, phantom.pairs, 318.0)
        return pair

    gaussian, airy = result("gaussian"), result("airy")
    assert gaussian.contrast < 0.08  # measured 0.04
    assert airy.contrast > 0.11  # measured 0.14
    assert airy.control_contrast < 0.1


def test_smoothness_priors_follow_the_pixel_size():
    """With 65 nm pixels (4.9 per FWHM) the same weights would regularise 2.4x less:
    the 240 nm pair's control bar came out split (about 0.47). Scaled per PSF area, it
    stays whole and the pair stays resolved."""
    # at the 2 % model-error floor: the default 2.5 % regularises these small stacks
    # enough that the unscaled weights no longer split the bar (0.26), hiding the effect
    cfg = BENCH_L2.replace(pixel_size_nm=65.0, psf_model_error=0.02)
    factor = cfg.smoothness_sampling_factor
    assert factor == pytest.approx((318.0 / 65.0 / 3.18) ** 2)
    assert BENCH_L2.smoothness_sampling_factor == 1.0
    assert BENCH_L2.replace(pixel_size_nm=160.0).smoothness_sampling_factor == 1.0
    phantom, sim = blinking_line_pairs((240.0,), "bright", n_frames=200, seed=0,
                                       pixel_size_nm=65.0)

    def result(config: FluoGANConfig) -> PairResult:
        (pair,) = evaluate_pairs(reconstruct(sim.frames, config).x, 65.0 / 4, phantom.pairs,
                                 318.0)
        return pair

    scaled = result(cfg)
    unscaled = result(cfg.replace(lambda_tv=cfg.lambda_tv / factor,
                                  lambda2=cfg.lambda2 / factor))
    assert scaled.contrast > 0.9 and scaled.control_contrast < 0.2
    assert unscaled.control_contrast > 0.3


def test_total_variation_weight_follows_the_upsampling():
    """The TV of x is summed over fine pixels and shrinks as 1/L: at L = 6 the same
    weight regularises less and the 210 nm pair's control bar starts to split. The
    weight scaled by L / 4 keeps it as whole as at L = 4."""
    # at the 2 % floor, as in test_smoothness_priors_follow_the_pixel_size
    cfg = BENCH_L2.replace(upsample=6, psf_model_error=0.02)
    assert cfg.tv_weight_factor == pytest.approx(1.5)
    assert BENCH_L2.replace(upsample=2).tv_weight_factor == pytest.approx(0.5)
    assert BENCH_L2.replace(pixel_size_nm=65.0, upsample=6).tv_weight_factor == pytest.approx(
        1.5 * (318.0 / 65.0 / 3.18) ** 2
    )
    phantom, sim = _one_pair_stack(210.0)

    def result(config: FluoGANConfig) -> PairResult:
        (pair,) = evaluate_pairs(reconstruct(sim.frames, config).x, 100.0 / 6, phantom.pairs,
                                 318.0)
        return pair

    scaled = result(cfg)
    unscaled = result(cfg.replace(lambda_tv=cfg.lambda_tv / 1.5))
    assert scaled.contrast > 0.8 and unscaled.contrast > 0.8
    assert scaled.control_contrast < 0.12 < 0.15 < unscaled.control_contrast


def test_simulated_frames_bleach_with_the_real_ones():
    """On a stack whose signal halves over time, the critic's simulated frames are drawn
    from x scaled as the real frame beside them was (else the critic spots the mixture
    of bright and dim frames whatever x is); a stack without bleaching is left alone."""
    import torch

    from napari_fluogan.core.solver import _Adversary, _Problem, prepare_photons

    truth = 20.0 * small_truth()
    counts = simulate_stack(truth, GaussianPSF(318.0), 100.0, 4, 80, background_photons=0.0,
                            seed=2)
    decay = np.linspace(1.0, 0.5, counts.shape[0])[:, None, None]
    bleached = np.random.default_rng(0).binomial(counts.astype(np.int64), decay)
    cfg = _config(dict(alpha=1.0, offset=0.0, sigma=0.0), detrend_frames=20,
                  psf_model="gaussian")
    for frames, bleaches in ((bleached, True), (counts, False)):
        photons, resolved = prepare_photons(frames, cfg)
        problem = _Problem(photons, resolved, torch.device("cpu"))
        adversary = _Adversary(problem, resolved, torch.Generator().manual_seed(0))
        background = torch.zeros_like(problem.mean_image)
        index = torch.tensor([0, 40, 79])
        brightness = adversary._brightness(index, background)
        if not bleaches:
            assert brightness is None
            continue
        assert brightness.shape == (3, *problem.psi.fine_shape)
        means = problem.psi.crop_region(brightness).mean(dim=(1, 2)).numpy()
        # 1 / 0.75 at the start, 0.5 / 0.75 at the end (the mean brightness is 0.75)
        np.testing.assert_allclose(means, [1 / 0.75, 0.75 / 0.75, 0.5 / 0.75], rtol=0.08)
        x = problem.psi.adjoint(problem.mean_image)  # any x with light in it
        _, expectation, _, _ = adversary._simulate(x, background, index, False)
        assert expectation.shape == (3, *problem.mean_image.shape)
        assert expectation[0].sum() > 1.8 * expectation[2].sum()
