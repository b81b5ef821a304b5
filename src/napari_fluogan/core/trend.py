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

    def at(self, index: torch.Tensor) -> torch.Tensor:
        """The local mean at frame indices ``index`` (B,), shape (B, h, w)."""
        centres = self.centres
        if centres.numel() == 1:
            return self.block_means.expand(index.shape[0], *self.block_means.shape[1:])
        # beyond the first and last block centres the end segments are extended
        # (bleaching goes on there), not held flat
        t = index.to(centres.dtype)
        right = torch.searchsorted(centres, t, right=True).clamp(1, centres.numel() - 1)
        left = right - 1
        weight = ((t - centres[left]) / (centres[right] - centres[left]))[:, None, None]
        return (1 - weight) * self.block_means[left] + weight * self.block_means[right]

    def detrended_variance(self, frames: torch.Tensor, chunk_frames: int = 256) -> torch.Tensor:
        """Per-pixel temporal variance of ``frames`` around the trend, shape (h, w)."""
        total = torch.zeros_like(self.block_means[0])
        for start in range(0, self.n_frames, chunk_frames):
            index = torch.arange(
                start, min(start + chunk_frames, self.n_frames), device=frames.device
            )
            total += ((frames[index] - self.at(index)) ** 2).sum(dim=0)
        return total / max(self.n_frames - 1, 1)
