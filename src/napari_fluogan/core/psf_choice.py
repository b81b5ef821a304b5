"""Choosing the PSF shape the engine assumes (``psf_model = "auto"``) from the data.

Both shapes are fitted to the mean image with the L2 data term and the default
priors (no critic, a short run), and the Airy pattern is taken only when it explains
the mean image clearly better than the Gaussian: its residual at most
:data:`AIRY_RESIDUAL_RATIO` of the Gaussian's. On the benchmark's Airy stacks the
ratio is 0.86-0.93 (FWHM given right or up to 2 % too narrow or 5 % too wide), on its
Gaussian stacks 1.3-1.4, and on widefield PSFs with defocus or on heavy-tailed ones
without rings above 1; with the FWHM given 5 % too narrow on Airy data it is about 1.0,
where the Airy model would split solid bars (the rings sit where the data have none) and
the Gaussian does not. docs/quality.md, "Choosing the PSF shape".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .config import FluoGANConfig

#: the Airy model is chosen when its residual is at most this fraction of the Gaussian's
AIRY_RESIDUAL_RATIO = 0.95
#: iterations of each trial fit (the ratio settles long before the run converges)
TRIAL_ITERATIONS = 300
#: trial fits use at most this many camera pixels along each axis (the most structured
#: window of the field), so choosing costs seconds on a whole camera frame
TRIAL_WINDOW_PX = 64


@dataclass(frozen=True)
class PSFModelChoice:
    """The chosen shape and the two trial fits' mean-image residuals (normalised)."""

    model: str
    residual_gaussian: float
    residual_airy: float

    @property
    def residual_ratio(self) -> float:
        """Airy residual over Gaussian residual: below :data:`AIRY_RESIDUAL_RATIO` picks Airy."""
        return self.residual_airy / max(self.residual_gaussian, 1e-30)


def trial_window(mean_image: np.ndarray, size_px: int = TRIAL_WINDOW_PX) -> tuple[slice, slice]:
    """The ``size_px`` square window (on a half-window grid) with the most structure.

    Structure is the summed squared gradient of the mean image: the PSF's shape shows
    at edges and lines, not on flat background. A field no larger than the window is
    used whole.
    """
    h, w = mean_image.shape
    wy, wx = min(size_px, h), min(size_px, w)
    gy, gx = np.gradient(mean_image.astype(np.float64))
    energy = gy**2 + gx**2
    # integral image: the energy of any window in O(1)
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, best_yx = -1.0, (0, 0)
    for y in _starts(h, wy):
        for x in _starts(w, wx):
            e = (
                integral[y + wy, x + wx] - integral[y, x + wx]
                - integral[y + wy, x] + integral[y, x]
            )
            if e > best:
                best, best_yx = e, (y, x)
    y, x = best_yx
    return slice(y, y + wy), slice(x, x + wx)


def _starts(length: int, window: int) -> list[int]:
    last = length - window
    starts = list(range(0, last + 1, max(1, window // 2)))
    if starts[-1] != last:
        starts.append(last)
    return starts


def choose_psf_model(
    config: FluoGANConfig, fit_residual: Callable[[FluoGANConfig], float]
) -> PSFModelChoice:
    """Fit both shapes with ``fit_residual`` (a short L2 run returning the mean-image
    residual for a config) and choose as described in the module docstring."""
    trial = config.replace(
        use_critic=False,
        cumulant_weight=0.0,
        iterations=min(config.iterations, TRIAL_ITERATIONS),
        warm_start_iterations=0,
    )
    trial = trial.replace(snapshot_every=trial.iterations)
    residual_gaussian = fit_residual(trial.replace(psf_model="gaussian"))
    residual_airy = fit_residual(trial.replace(psf_model="airy"))
    model = "airy" if residual_airy <= AIRY_RESIDUAL_RATIO * residual_gaussian else "gaussian"
    return PSFModelChoice(model, residual_gaussian, residual_airy)


def describe_psf_model(config: FluoGANConfig, info: dict[str, float]) -> str:
    """One line for a status bar or log: the shape a run assumes and, when it was
    chosen automatically, the residual ratio it was chosen by (``Snapshot.info``)."""
    ratio = info.get("psf_residual_ratio", 0.0)
    if ratio > 0:
        return (
            f"PSF {config.psf_model} (auto: Airy residual {ratio:.2f} x the Gaussian's, "
            f"Airy below {AIRY_RESIDUAL_RATIO:.2f})"
        )
    return f"PSF {config.psf_model}"
