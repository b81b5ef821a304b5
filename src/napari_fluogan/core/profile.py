"""Intensity profiles along a line, and the dip between their two highest peaks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates


def sample_line(
    image: np.ndarray, start_px: tuple[float, float], end_px: tuple[float, float],
    step_px: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``image`` along the segment start -> end (data coordinates, (y, x)).

    Linear interpolation every ``step_px`` pixels; returns (distance in pixels, values).
    Points outside the image read as NaN.
    """
    start = np.asarray(start_px, dtype=float)
    end = np.asarray(end_px, dtype=float)
    length = float(np.hypot(*(end - start)))
    n = max(2, int(np.ceil(length / step_px)) + 1)
    t = np.linspace(0.0, 1.0, n)
    points = start[:, None] + (end - start)[:, None] * t[None, :]
    values = map_coordinates(np.asarray(image, dtype=float), points, order=1, mode="constant",
                             cval=np.nan)
    return t * length, values


@dataclass(frozen=True)
class PeakDip:
    """The two highest local maxima of a profile and the dip between them."""

    first: int
    second: int
    dip: float  # (weaker peak - valley) / weaker peak, 0..1


def peak_dip(profile: np.ndarray) -> PeakDip | None:
    """Two highest strict local maxima and the relative dip between them (None if < 2)."""
    p = np.asarray(profile, dtype=float)
    p = np.where(np.isfinite(p), p, -np.inf)
    inner = np.arange(1, p.size - 1)
    is_max = (p[inner] > p[inner - 1]) & (p[inner] >= p[inner + 1])
    peaks = inner[is_max]
    if peaks.size < 2:
        return None
    top = np.sort(peaks[np.argsort(p[peaks])[-2:]])
    weaker = min(p[top[0]], p[top[1]])
    if weaker <= 0:
        return None
    valley = p[top[0] : top[1] + 1].min()
    return PeakDip(int(top[0]), int(top[1]), float(max(0.0, (weaker - valley) / weaker)))
