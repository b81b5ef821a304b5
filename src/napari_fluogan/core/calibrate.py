"""Estimate camera gain, offset and read noise from a fluctuation stack.

Method (photon-transfer curve, corrected for fluctuations):

1. Per pixel, the temporal mean ``mu`` and the variance ``v`` from successive
   differences (``mean((y[t+1] - y[t])^2) / 2``), which ignores slow drift such as
   bleaching.
2. For a shot-noise-limited camera, ``v = alpha * (mu - offset) + sigma^2``: the gain
   ``alpha`` is the slope of ``v`` against ``mu``. Fluctuating fluorophores add a
   variance ``alpha^2 sum_i Psi_ji^2 x_i`` that is correlated between neighbouring
   pixels (shot noise is not), so the slope of the lag-1 neighbour covariance against
   ``mu``, extrapolated to lag 0 with the diagonal neighbour (Gaussian-shaped
   correlation), is subtracted from the variance slope. Slopes come from a weighted
   fit of per-bin medians over mean-intensity quantile bins (robust to outliers).
3. ``offset``: in the darkest pixels (background only, plain Poisson) the third
   cumulant is ``kappa3 = alpha^3 * lambda`` while Gaussian read noise adds none,
   so ``offset = mu - kappa3 / alpha^2`` (median over the darkest 5 % of pixels).
   Blinking adds to ``kappa3`` where even the darkest pixels hold dyes, so the offset
   is kept at or above ``mu - v / alpha`` (median), where the light would be exactly
   as noisy as photon counting: it is never less. When the estimate is not usable
   (too few frames, above the darkest pixels' mean), the mode of their values.
4. ``sigma^2 = median(v - alpha * (mu - offset))`` over the darkest pixels, where
   the fluctuation excess is negligible.

Values given by the user always win over estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import FluoGANError
from .noise_correlation import (
    MAX_CORRELATION,
    correlated_noise_message,
    neighbour_noise_correlation,
)


@dataclass(frozen=True)
class CameraCalibration:
    """Gain (ADU per photon), offset (ADU) and read noise (ADU)."""

    alpha: float
    offset: float
    sigma: float


def _binned_slope(mu: np.ndarray, values: np.ndarray, n_bins: int = 20) -> tuple[float, float]:
    """Slope and intercept of ``values`` against ``mu`` from per-bin medians."""
    edges = np.quantile(mu, np.linspace(0.0, 1.0, n_bins + 1))
    centres, medians, weights = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (mu >= lo) & (mu <= hi)
        if sel.sum() < 5:
            continue
        centres.append(np.median(mu[sel]))
        medians.append(np.median(values[sel]))
        weights.append(np.sqrt(sel.sum()))
    if len(centres) < 3 or np.ptp(centres) <= 0:
        raise FluoGANError(
            "Cannot estimate the camera gain: the stack has too little intensity range; "
            "enter alpha, offset and sigma by hand."
        )
    slope, intercept = np.polyfit(
        np.asarray(centres), np.asarray(medians), 1, w=np.asarray(weights)
    )
    return float(slope), float(intercept)


def _mode(values: np.ndarray) -> float:
    """Mode of a sample: integer bins for integer data, else a fine histogram."""
    lo, hi = np.percentile(values, [0.5, 99.5])
    if np.allclose(values, np.round(values)):
        bins = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.5)
    else:
        iqr = np.subtract(*np.percentile(values, [75, 25]))
        width = max(iqr / 20.0, (hi - lo) / 400.0, 1e-12)
        bins = np.arange(lo, hi + width, width)
    counts, edges = np.histogram(values, bins=bins)
    k = int(np.argmax(counts))
    return float(0.5 * (edges[k] + edges[k + 1]))


#: the pixels' mean light must vary across the field by this many times its noise
#: variance (a featureless field: 1; the real stack 152, benchmark stacks 10^3-10^4)
MIN_RANGE_OVER_NOISE = 10.0
MAX_VALUES = 20_000_000  # frames beyond this many pixel values add little precision


def estimate_camera(
    frames: np.ndarray, dark_fraction: float = 0.05, max_values: int = MAX_VALUES
) -> CameraCalibration:
    """Estimate ``alpha``, ``offset`` and ``sigma`` (ADU) from a (T, H, W) stack.

    At most ``max_values`` pixel values are used (the first frames), so a large stack
    costs no more memory or time than a 20-megapixel-frame one.
    """
    frames = np.asarray(frames)
    if frames.ndim == 3:
        n_frames = max(3, max_values // max(1, frames.shape[1] * frames.shape[2]))
        frames = frames[:n_frames]
    y = np.asarray(frames, dtype=np.float64)
    if y.ndim != 3 or y.shape[0] < 3:
        raise FluoGANError("Camera calibration needs a stack of at least 3 frames.")
    correlation = neighbour_noise_correlation(torch.from_numpy(y))
    if correlation > MAX_CORRELATION:
        raise FluoGANError(
            f"{correlated_noise_message(correlation)} The camera values cannot be "
            "estimated from such frames: use the raw frames, or enter alpha, offset and "
            "sigma by hand."
        )
    mu = y.mean(axis=0)
    d = np.diff(y, axis=0)
    v = 0.5 * (d**2).mean(axis=0)
    # the gain is the slope of variance against mean light, so the pixels' mean light
    # must vary by more than its own noise; on a featureless field of Poisson light the
    # slope is noise's (gains of 0.6-1.2 for 1, offsets up to 296 ADU for 100)
    if float(np.var(mu)) < MIN_RANGE_OVER_NOISE * float(np.mean(v)) / y.shape[0]:
        raise FluoGANError(
            "Cannot estimate the camera gain: the pixels' mean light varies no more than "
            "its noise (a field without structure); enter alpha, offset and sigma by hand."
        )

    # Neighbour covariances (from the same successive differences, drift-free).
    def cov(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return 0.5 * (a * b).mean(axis=0)

    c_h = cov(d[:, :-1, :-1], d[:, :-1, 1:])
    c_v = cov(d[:, :-1, :-1], d[:, 1:, :-1])
    c_diag = cov(d[:, :-1, :-1], d[:, 1:, 1:])
    mu_in = mu[:-1, :-1].ravel()

    slope_v, _ = _binned_slope(mu.ravel(), v.ravel())
    slope_c1, _ = _binned_slope(mu_in, (0.5 * (c_h + c_v)).ravel())
    slope_c2, _ = _binned_slope(mu_in, c_diag.ravel())
    excess = 0.0
    if slope_c1 > 0:
        # Gaussian-shaped correlation: c(lag 1)^2 / c(diagonal) extrapolates to lag 0.
        ratio = slope_c2 / slope_c1
        excess = slope_c1 / ratio if 0.05 < ratio < 1.0 else slope_c1
    alpha = slope_v - excess
    if not np.isfinite(alpha) or alpha <= 0:
        raise FluoGANError(
            "Cannot estimate the camera gain from this stack (variance does not grow "
            "with intensity); enter alpha, offset and sigma by hand."
        )

    flat_mu = mu.ravel()
    n_dark = max(10, int(dark_fraction * flat_mu.size))
    dark = np.argsort(flat_mu)[:n_dark]
    dark_frames = y.reshape(y.shape[0], -1)[:, dark]
    centred = dark_frames - dark_frames.mean(axis=0)
    kappa3 = (centred**3).mean(axis=0)
    offset = float(np.median(flat_mu[dark] - kappa3 / alpha**2))
    # Blinking dyes in the darkest pixels (crowded fields, large pixels) add their own,
    # much larger, third cumulant: the offset then came out far too low (-895 ADU for
    # 100 on 20 bright filaments with 160 nm pixels). Light is never less noisy than
    # photon counting, so a pixel holds at most v / alpha photons above the offset.
    offset = max(offset, float(np.median(flat_mu[dark] - v.ravel()[dark] / alpha)))
    if not np.isfinite(offset) or offset > float(np.median(flat_mu[dark])):
        offset = min(_mode(dark_frames.ravel()), float(flat_mu[dark].mean()))
    sigma_sq = float(np.median(v.ravel()[dark] - alpha * (flat_mu[dark] - offset)))
    sigma = float(np.sqrt(max(sigma_sq, 0.0)))
    return CameraCalibration(alpha=float(alpha), offset=float(offset), sigma=sigma)
