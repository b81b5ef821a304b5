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
