"""A Gaussian blur for field-scale estimates (background bound, signal level)."""

from __future__ import annotations

import math

import torch


def normalised_blur(image: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Gaussian blur of a 2-D image with zero padding divided by the blurred support, so
    the borders are not darkened and no reflection is needed for small fields."""
    radius = max(1, int(math.ceil(3.0 * sigma_px)))
    t = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    g = torch.exp(-0.5 * (t / sigma_px) ** 2)
    g = g / g.sum()

    def separable(a: torch.Tensor) -> torch.Tensor:
        a = a[None, None]
        a = torch.nn.functional.conv2d(a, g.view(1, 1, -1, 1), padding=(radius, 0))
        a = torch.nn.functional.conv2d(a, g.view(1, 1, 1, -1), padding=(0, radius))
        return a[0, 0]

    return separable(image) / separable(torch.ones_like(image)).clamp_min(1e-12)


def blur_noise_share(sigma_px: float) -> float:
    """The share of a pixel's independent noise variance left after
    :func:`normalised_blur` (inside the field): the sum of the Gaussian's squared
    weights, ``1 / (4 pi sigma^2)``, at most 1."""
    return min(1.0, 1.0 / (4.0 * math.pi * sigma_px**2))
