"""An upper bound on the background ``b`` from the frames' fluctuations.

The l1 prior charges ``x`` for every photon and ``b`` for none, so wherever structure
crowds, a smooth ``b`` takes the blurred pedestal the emitters make and ``x`` fades
(``docs/quality.md``, "Dense filaments"). But the pedestal fluctuates and a
background does not, and at scales well above the PSF the two can be told apart:
for any shift-invariant PSF, summed over a region much wider than the PSF, the
fluctuations' excess variance is ``k sum Psi^2 / sum Psi`` times the emitters' mean
light, *whatever the structure* (each emitter's column sums are the same). So, after
blurring both with a Gaussian of a few PSF widths,

    mean  ~  b  +  s * excess variance,

with one unknown slope ``s`` (photons per fluctuation event, dye and PSF). ``s`` and
a flat level are fitted by least squares over the field (the slope corrected for the
noise of the excess variance, see :func:`_fit`), and twice ``mean - s *
excess``, the light that does not fluctuate, plus a margin of two residual standard
deviations, bounds ``b`` from above. The bound is never a target: where ``b`` stays below it
(sparse samples, flat haze) nothing changes.

No bound is set when the fit cannot be trusted: a field too small or too uniform for
the blurred images to vary (the excess spanning less than :data:`MIN_EXCESS_SPAN` of
its range, R^2 below :data:`MIN_R2`) or a slope that is not positive. Then the slope
may come from the field around the ROI (``surroundings.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from .smoothing import blur_noise_share, normalised_blur

#: the blur's standard deviation in PSF FWHMs: the identity holds at scales well above it
BLUR_FWHM = 2.0
#: the fit must explain at least this share of the blurred mean image's variance
MIN_R2 = 0.8
#: the blurred excess variance must vary across the field by at least this share of its
#: largest value. The bound extrapolates the fit to where the excess is zero; from a
#: narrow range the slope is set by the blur's smooth noise, with R^2 high all the same
#: (inside a field full of dyes: span 0.07, slope 0.48 against 1.1 fitted where the
#: dyes end, a bound above the mean light). The benchmark stacks span 0.45-0.99
MIN_EXCESS_SPAN = 0.25
#: the margin over the estimate, in residual standard deviations of the fit
MARGIN_SD = 2.0
#: the cap is this multiple of the estimated non-fluctuating light (plus the margin):
#: it is to stop b from taking many times the light that does not fluctuate (20x on
#: dense filaments), not to fix b within the estimate's own error. At 1 it also took
#: back the few photons l1 leaves in b beside line pairs, which filled their valleys
#: (a step lost on one photophysics case, lower dips with the FWHM 5 % too narrow); at
#: 2 those are as without the cap and dense filaments keep the gain (docs/quality.md)
BOUND_FACTOR = 2.0
#: a field "fluctuates evenly" (:func:`fluctuates_evenly`) when its excess variance is
#: this many standard errors above 0 ...
EVEN_EXCESS_Z = 3.0
#: ... and at least this share of its mean light (blinking dyes: 0.9 bright, 0.09 dim;
#: a laser whose power varies by 2 % from frame to frame, over 80 photons of haze: 0.03)
EVEN_EXCESS_SHARE = 0.05


@dataclass(frozen=True)
class FluctuationSlope:
    """The fit ``mean ~ level + slope * excess variance`` on the blurred images.

    ``slope``: mean light (photons) per unit of excess variance (photons^2), set by the
    dye and the PSF;
    ``residual_sd``: the fit's residual standard deviation (photons per pixel)."""

    slope: float
    residual_sd: float


def fit_fluctuation_slope(
    mean: torch.Tensor,
    variance: torch.Tensor,
    read_noise_photons: float,
    psf_fwhm_px: float,
    n_frames: int | None = None,
) -> FluctuationSlope | None:
    """Fit the slope over a field, or None where it cannot be trusted (a field too
    small or too uniform for the blurred images to vary, or a slope that is not
    positive). Arguments as for :func:`steady_light`."""
    return _blurred_fit(mean, variance, read_noise_photons, psf_fwhm_px, n_frames)[2]


def _blurred_fit(
    mean: torch.Tensor,
    variance: torch.Tensor,
    read_noise_photons: float,
    psf_fwhm_px: float,
    n_frames: int | None,
) -> tuple[torch.Tensor, torch.Tensor, FluctuationSlope | None]:
    """The blurred mean and excess images (:func:`_blurred`) and the slope fitted on
    them (:func:`_fit`, corrected for the excess's noise)."""
    blurred_mean, blurred_excess = _blurred(mean, variance, read_noise_photons, psf_fwhm_px)
    noise = _excess_noise_variance(variance, psf_fwhm_px, n_frames)
    return blurred_mean, blurred_excess, _fit(blurred_mean, blurred_excess, noise)


def _excess_noise_variance(
    variance: torch.Tensor, psf_fwhm_px: float, n_frames: int | None
) -> float:
    """The noise variance of one blurred excess-variance pixel: a pixel's variance,
    measured over ``n_frames`` frames, is off by ``2 v^2 / (T - 1)`` (Gaussian
    fluctuations), and the blur averages about ``4 pi sigma^2`` pixels. Pixels
    sharing a dye's light share some of that noise, and neighbouring frames share a
    blink, so this is a lower bound: the correction it feeds stays short of the
    full one. 0 without ``n_frames``."""
    if n_frames is None or n_frames < 2:
        return 0.0
    per_pixel = float((2.0 * variance.double() ** 2).mean()) / (n_frames - 1)
    return per_pixel * blur_noise_share(BLUR_FWHM * psf_fwhm_px)


def _fit(
    blurred_mean: torch.Tensor, blurred_excess: torch.Tensor, excess_noise_variance: float = 0.0
) -> FluctuationSlope | None:
    """Least squares ``mean ~ level + slope * excess`` over the field.

    The excess variance is the noisy one of the two (the mean image is measured far
    better), and noise in the regressor flattens the fitted slope by the share of
    the excess's spread that is noise: on 20 dim filaments (4 photons a blink) by
    about 8 %, so the light that does not fluctuate came out 5 times too high and the
    cap too loose to matter. The slope is divided by that share's complement (from
    :func:`_excess_noise_variance`), but never beyond the slope of the reverse fit
    (``slope / R^2``, where all the misfit would be the excess's noise): where the
    misfit is a background that varies (haze), the reverse fit is biased the other
    way, and the noise estimate leaves such fields alone (bright fields: 0.1-0.7 %).
    """
    if float(blurred_excess.max()) <= 0 or _spans_too_little(blurred_excess):
        return None
    design = torch.stack([torch.ones_like(blurred_excess), blurred_excess], dim=1)
    solution = torch.linalg.lstsq(design, blurred_mean[:, None]).solution[:, 0]
    slope = float(solution[1])
    residual = blurred_mean - design @ solution
    spread = float(((blurred_mean - blurred_mean.mean()) ** 2).sum())
    if spread <= 0 or not math.isfinite(slope) or slope <= 0:
        return None
    r2 = 1.0 - float((residual**2).sum()) / spread
    if r2 < MIN_R2:
        return None
    excess_spread = float(blurred_excess.var())
    reliability = (
        max(1.0 - excess_noise_variance / excess_spread, r2) if excess_spread > 0 else 1.0
    )
    if reliability < 1.0:
        slope /= reliability
        level = float(blurred_mean.mean()) - slope * float(blurred_excess.mean())
        residual = blurred_mean - level - slope * blurred_excess
    return FluctuationSlope(slope, float(residual.std()))


@dataclass(frozen=True)
class SteadyLight:
    """The light that does not fluctuate, per camera pixel (photons): the blurred mean
    image less ``slope`` times the blurred excess variance; ``residual_sd`` is the
    fit's residual standard deviation."""

    light: torch.Tensor
    residual_sd: float

    def background_bound(self) -> torch.Tensor:
        """Twice the light that does not fluctuate, plus two residual standard
        deviations: the most light ``b`` may hold per camera pixel."""
        bound = BOUND_FACTOR * self.light + MARGIN_SD * self.residual_sd
        return bound.clamp_min(0.0)


def steady_light(
    mean: torch.Tensor,
    variance: torch.Tensor,
    read_noise_photons: float,
    psf_fwhm_px: float,
    fallback: Callable[[], FluctuationSlope | None] | None = None,
    n_frames: int | None = None,
) -> SteadyLight | None:
    """The light that does not fluctuate, or None where no slope can be trusted.

    ``mean`` and ``variance`` are the frames' temporal mean and (detrended) variance
    per camera pixel in photons; ``psf_fwhm_px`` the PSF FWHM in camera pixels.
    Where the field's own fit cannot be trusted (a uniform field: inside a region
    full of dyes, a uniform dye carpet and a uniform background have the same mean
    image), ``fallback()``, when given, supplies the slope fitted on a wider field
    (the same dye and PSF). ``n_frames``: the frames the variance was measured on, for
    the slope's correction (:func:`_fit`); None leaves the slope as fitted.
    """
    blurred_mean, blurred_excess, fit = _blurred_fit(
        mean, variance, read_noise_photons, psf_fwhm_px, n_frames
    )
    if fit is None and fallback is not None:
        fit = fallback()
    if fit is None:
        return None
    light = (blurred_mean - fit.slope * blurred_excess).reshape(mean.shape).to(mean.dtype)
    return SteadyLight(light, fit.residual_sd)


def fluctuates_evenly(
    mean: torch.Tensor,
    variance: torch.Tensor,
    read_noise_photons: float,
    psf_fwhm_px: float,
    n_frames: int,
) -> bool:
    """Whether the whole field fluctuates clearly more than shot and read noise allow,
    and about as much everywhere: a field inside a region full of dyes. There no bound
    can be fitted, and from the mean image a uniform carpet of dyes and a uniform
    background are the same thing, so ``b`` may take the dyes' light.

    Arguments as for :func:`steady_light`; ``n_frames`` the frames the
    variance was measured on."""
    blurred_mean, blurred_excess = _blurred(mean, variance, read_noise_photons, psf_fwhm_px)
    level = float(blurred_excess.mean())
    # neighbouring pixels share their dyes' fluctuations: about one independent
    # measurement per PSF area
    independent = max(1.0, mean.numel() / max(1.0, psf_fwhm_px**2))
    standard_error = float(variance.mean()) * math.sqrt(2.0 / (n_frames * independent))
    return (
        level > EVEN_EXCESS_Z * standard_error
        and level > EVEN_EXCESS_SHARE * float(blurred_mean.mean())
        and _spans_too_little(blurred_excess)
    )


def _spans_too_little(blurred_excess: torch.Tensor) -> bool:
    """Whether the blurred excess variance varies across the field by less than
    :data:`MIN_EXCESS_SPAN` of its largest value: too little to fit a slope on."""
    return float(blurred_excess.min()) > (1.0 - MIN_EXCESS_SPAN) * float(blurred_excess.max())


def _blurred(
    mean: torch.Tensor, variance: torch.Tensor, read_noise_photons: float, psf_fwhm_px: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean image and the excess variance over shot and read noise, blurred at
    :data:`BLUR_FWHM` PSF widths and flattened (float64)."""
    excess = variance - mean - read_noise_photons**2
    sigma_px = BLUR_FWHM * psf_fwhm_px
    blurred_mean = normalised_blur(mean, sigma_px).flatten().double()
    return blurred_mean, normalised_blur(excess, sigma_px).flatten().double()


def even_fluctuations_warning(info: Mapping[str, float]) -> str | None:
    """What to tell the user when the ROI fluctuates evenly and no bound was set
    (``Snapshot.info``), or None. Known from the data, before any iteration: there
    ``b`` takes the uniform level, since l1 charges ``x`` for it and ``b`` nothing
    (``x`` held 6-7 % of the light in every such run measured)."""
    if info.get("even_fluctuations", 0.0) <= 0:
        return None
    return (
        "The whole ROI fluctuates evenly, as inside a region full of dyes: from the ROI "
        "alone the dyes' light cannot be told from background, so b takes most of it "
        "and x shows only its brightest spots, not structure. Draw the ROI larger, so "
        "that the region's edge is inside it or around it."
    )


def describe_background_bound(info: dict[str, float]) -> str:
    """For a status line (``Snapshot.info``): whether the bound is capping b."""
    if info.get("background_bound_from_surroundings", 0.0) > 0:
        return "b capped by fluctuations (fitted around the ROI)"
    if info.get("background_bound_active", 0.0) > 0:
        return "b capped by fluctuations"
    return "b uncapped"
