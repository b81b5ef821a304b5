import numpy as np
import pytest
import torch

from napari_fluogan.core.trend import TemporalTrend


def _bleaching_stack(n_frames=400, seed=0):
    """Blinking-like white fluctuations on a mean that decays by 40 % over the stack."""
    rng = np.random.default_rng(seed)
    decay = np.exp(-0.5 * np.arange(n_frames) / n_frames)  # smooth bleaching
    base = rng.uniform(50, 150, size=(6, 7))
    frames = decay[:, None, None] * base + rng.normal(0, 5.0, size=(n_frames, 6, 7))
    return torch.as_tensor(frames), decay, base


def test_trend_follows_bleaching_and_keeps_fast_fluctuations():
    frames, decay, base = _bleaching_stack()
    trend = TemporalTrend(frames, window_frames=50)
    index = torch.tensor([0, 25, 199, 399])
    local = trend.at(index).numpy()
    expected = decay[index.numpy(), None, None] * base
    # the local mean tracks the decay to within the block noise (5 / sqrt(50) ~ 0.7,
    # about 1.1 where extrapolated at the ends)
    assert np.abs(local - expected).max() < 4.0
    # the global mean would be off by up to ~20 at the ends
    assert np.abs(frames.mean(0).numpy() - expected[0]).max() > 10
    # around the trend only the white fluctuations remain: variance ~ 25, not inflated
    variance = trend.detrended_variance(frames).numpy()
    assert variance.mean() == pytest.approx(25.0, rel=0.15)
    global_variance = frames.var(dim=0).numpy()
    assert global_variance.mean() > 3 * variance.mean()


def test_no_window_is_the_global_mean():
    frames, _, _ = _bleaching_stack(n_frames=60)
    trend = TemporalTrend(frames, window_frames=None)
    index = torch.tensor([0, 30, 59])
    np.testing.assert_allclose(trend.at(index).numpy(), frames.mean(0).expand(3, -1, -1).numpy())
    np.testing.assert_allclose(
        trend.detrended_variance(frames).numpy(), frames.var(dim=0).numpy(), rtol=1e-10
    )


def test_window_longer_than_stack_and_short_last_block():
    frames, _, _ = _bleaching_stack(n_frames=130)
    assert TemporalTrend(frames, window_frames=500).block_means.shape[0] == 1
    trend = TemporalTrend(frames, window_frames=50)  # blocks of 65 frames
    assert trend.block_means.shape == (2, 6, 7)
    # exact at block centres, linear between them and extended beyond them
    b0, b1 = trend.block_means[0].numpy(), trend.block_means[1].numpy()
    np.testing.assert_allclose(trend.at(torch.tensor([0])).numpy()[0], b0 - 32 / 65 * (b1 - b0))
    # block centres are frames 32 and 97: frame 64 lies 32/65 of the way
    np.testing.assert_allclose(trend.at(torch.tensor([32])).numpy()[0], b0)
    mid = trend.at(torch.tensor([64])).numpy()[0]
    weight = 32 / 65
    np.testing.assert_allclose(mid, (1 - weight) * b0 + weight * b1, rtol=1e-10)


def test_fast_bleaching_trend_is_corrected_for_the_curve():
    """Dyes that bleach within the stack (level e^(-t/150), blocks of 50 frames): a
    straight line between block centres runs above the convex decay (about 1 % of the
    signal midway), an offset shaped like the structure that a critic learns to spot.
    The region's per-frame level corrects it; slow bleaching is left alone."""
    rng = np.random.default_rng(1)
    n_frames = 400
    decay = np.exp(-np.arange(n_frames) / 150.0)
    base = rng.uniform(500, 1500, size=(8, 9))
    frames = decay[:, None, None] * base + rng.normal(0, 2.0, size=(n_frames, 8, 9))
    trend = TemporalTrend(torch.as_tensor(frames), window_frames=50)
    index = torch.arange(60, 340)  # inside the block centres: no extrapolation
    expected = decay[index.numpy(), None, None] * base
    # the miss per frame, averaged over the pixels (each pixel's block noise is ~0.1 %)
    corrected = (trend.at(index).numpy() / expected - 1).mean(axis=(1, 2))
    straight = (trend._interpolate(trend.block_means, index).numpy() / expected - 1).mean(
        axis=(1, 2)
    )
    assert straight.max() > 0.01  # the uncorrected line runs above the curve
    assert np.abs(corrected).max() < 0.002
    # the region's level follows the same curve
    level = trend.level_at(index).numpy()
    np.testing.assert_allclose(level, expected.mean(axis=(1, 2)), rtol=0.004)

    slow, _, _ = _bleaching_stack()  # 40 % over 400 frames: the line is good enough
    ones = torch.ones(400, dtype=slow.dtype)
    assert torch.equal(TemporalTrend(slow, window_frames=50).curvature, ones)
    # the same fast decay on a dim stack (0.5 photons per pixel at the start): the
    # smoothed level's photon noise is above the miss, and is not let in
    dim = rng.poisson(0.5 * decay[:, None, None] * np.ones((8, 9))).astype(np.float64)
    assert torch.equal(TemporalTrend(torch.as_tensor(dim), window_frames=50).curvature, ones)
