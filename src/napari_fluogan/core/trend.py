"""The slow temporal trend of a stack (bleaching), so that fluctuations are measured around it.

Dyes bleach: over a 500-frame stack the mean brightness can drop by a quarter. Centred
on the *global* temporal mean, every frame then carries a large, spatially smooth,
perfectly correlated offset that the engine's simulator (independent fluctuations
around ``Psi x + b``) cannot produce. A critic fed such frames learns to spot the
bleaching, not the super-resolved structure, and the excess variance that calibrates
the fluctuation gain is inflated by it. So frames are centred on a local mean instead:
block means of ``window_frames`` frames, linearly interpolated between block centres
(and extrapolated from the end blocks).
Blinking (a few frames on and off) is far faster than the window and is kept.
"""

from __future__ import annotations

import torch

#: Relative miss of the straight-line trend below which it is left uncorrected.
MIN_CURVATURE_ERROR = 0.002


class TemporalTrend:
    """Local temporal mean of ``frames`` (T, h, w), from block means of ``window_frames``.

    ``window_frames = None`` (or at least T) gives the plain global mean. Only the
    block means are stored, so the cost is ``T / window_frames`` images.
    """

    def __init__(self, frames: torch.Tensor, window_frames: int | None) -> None:
        n_frames = frames.shape[0]
        window = n_frames if window_frames is None else max(1, min(window_frames, n_frames))
        # blocks of equal length (the last one absorbs the remainder)
        n_blocks = max(1, n_frames // window)
        edges = torch.linspace(0, n_frames, n_blocks + 1).round().long().tolist()
        self.block_means = torch.stack(
            [frames[a:b].mean(dim=0) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        )
        starts = torch.tensor(edges[:-1], dtype=frames.dtype)
        ends = torch.tensor(edges[1:], dtype=frames.dtype)
        self.centres = (0.5 * (starts + ends - 1)).to(frames.device)
        self.n_frames = n_frames
        self.block_levels = self.block_means.mean(dim=(1, 2))  # region mean per block
        self.curvature = self._curvature_correction(frames.mean(dim=(1, 2)))

    def _curvature_correction(self, levels: torch.Tensor, half_width: int = 4) -> torch.Tensor:
        """Per-frame factor (T,) by which the interpolated trend misses the measured one.

        Bleaching decays are convex, and a straight line between block centres runs
        above the curve between them (about 1 % of the signal for blocks of 50 frames on
        dyes that bleach within 160 frames): real frames minus such a trend carry a
        systematic, structure-shaped offset that simulated frames do not, and the
        critic learns it. Every pixel bleaches alike, so the region's mean level per
        frame (measured with little noise, smoothed by a local straight-line fit over
        ``2 half_width + 1`` frames) corrects the whole image. The factor is 1 where
        the straight line misses by less than ``MIN_CURVATURE_ERROR`` (slow bleaching)
        or by less than twice the smoothed level's own noise (a dim stack), so that
        noise is not let in for nothing.
        """
        if self.centres.numel() < 3:
            return torch.ones_like(levels)
        n, blocks = levels.numel(), self.block_levels
        interpolated = self._interpolate(blocks, torch.arange(n, device=levels.device))
        t = torch.arange(n, dtype=levels.dtype, device=levels.device)

        def window_sum(v: torch.Tensor) -> torch.Tensor:
            c = torch.cat([v.new_zeros(1), v.cumsum(0)])
            lo = (torch.arange(n, device=v.device) - half_width).clamp(0, n)
            hi = (torch.arange(n, device=v.device) + half_width + 1).clamp(0, n)
            return c[hi] - c[lo]

        s0, s1, s2 = window_sum(torch.ones_like(t)), window_sum(t), window_sum(t * t)
        sy, sty = window_sum(levels), window_sum(t * levels)
        slope = (s0 * sty - s1 * sy) / (s0 * s2 - s1 * s1).clamp_min(1e-12)
        smoothed = (sy - slope * s1) / s0 + slope * t
        # the straight line's largest miss, from the block levels' second differences
        bend = (blocks[2:] - 2 * blocks[1:-1] + blocks[:-2]).abs() / blocks[1:-1].clamp_min(1e-12)
        # the smoothed level's own noise (photon and blinking scatter from frame to frame):
        # on a dim stack it is larger than the miss it would correct
        noise = float((levels - smoothed).std()) / (2 * half_width + 1) ** 0.5
        noise /= max(float(levels.mean()), 1e-12)
        if float(bend.max()) / 8 < max(MIN_CURVATURE_ERROR, 2.0 * noise):
            return torch.ones_like(levels)
        return (smoothed / interpolated.clamp_min(1e-12)).clamp(0.5, 2.0)

    def _interpolate(self, values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Per-block ``values`` (n_blocks, ...) linearly interpolated at frames ``index``."""
        centres = self.centres
        if centres.numel() == 1:
            return values.expand(index.shape[0], *values.shape[1:])
        # beyond the first and last block centres the end segments are extended
        # (bleaching goes on there), not held flat
        t = index.to(centres.dtype)
        right = torch.searchsorted(centres, t, right=True).clamp(1, centres.numel() - 1)
        left = right - 1
        weight = (t - centres[left]) / (centres[right] - centres[left])
        weight = weight.reshape(-1, *([1] * (values.dim() - 1)))
        return (1 - weight) * values[left] + weight * values[right]

    def at(self, index: torch.Tensor) -> torch.Tensor:
        """The local mean at frame indices ``index`` (B,), shape (B, h, w)."""
        correction = self.curvature[index].reshape(-1, 1, 1)
        return self._interpolate(self.block_means, index) * correction

    def level_at(self, index: torch.Tensor) -> torch.Tensor:
        """The local mean averaged over the pixels at frame indices ``index``, shape (B,)."""
        return self._interpolate(self.block_levels, index) * self.curvature[index]

    def detrended_variance(self, frames: torch.Tensor, chunk_frames: int = 256) -> torch.Tensor:
        """Per-pixel temporal variance of ``frames`` around the trend, shape (h, w)."""
        total = torch.zeros_like(self.block_means[0])
        for start in range(0, self.n_frames, chunk_frames):
            index = torch.arange(
                start, min(start + chunk_frames, self.n_frames), device=frames.device
            )
            total += ((frames[index] - self.at(index)) ** 2).sum(dim=0)
        return total / max(self.n_frames - 1, 1)
