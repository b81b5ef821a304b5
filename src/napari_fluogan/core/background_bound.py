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
a flat level are fitted by least squares over the field, and twice ``mean - s *
excess``, the light that does not fluctuate, plus a margin of two residual standard
deviations, bounds ``b`` from above. The bound is never a target: where ``b`` stays below it
(sparse samples, flat haze) nothing changes.

No bound is set when the fit cannot be trusted: a field too small or too uniform for
the blurred images to vary (R^2 below :data:`MIN_R2`) or a slope that is not positive.
"""

from __future__ import annotations

import math

import torch

from .smoothing import normalised_blur

#: the blur's standard deviation in PSF FWHMs: the identity holds at scales well above it
BLUR_FWHM = 2.0
#: the fit must explain at least this share of the blurred mean image's variance
MIN_R2 = 0.8
#: the margin over the estimate, in residual standard deviations of the fit
MARGIN_SD = 2.0
#: the cap is this multiple of the estimated non-fluctuating light (plus the margin):
#: it is to stop b from taking many times the light that does not fluctuate (20x on
#: dense filaments), not to fix b within the estimate's own error. At 1 it also took
#: back the few photons l1 leaves in b beside line pairs, which filled their valleys
#: (a step lost on one photophysics case, lower dips with the FWHM 5 % too narrow); at
#: 2 those are as without the cap and dense filaments keep the gain (docs/quality.md)
BOUND_FACTOR = 2.0


def fluctuation_background_bound(
    mean: torch.Tensor,
    variance: torch.Tensor,
    read_noise_photons: float,
    psf_fwhm_px: float,
) -> torch.Tensor | None:
    """Upper bound on the background per camera pixel (photons), or None.

    ``mean`` and ``variance`` are the frames' temporal mean and (detrended) variance
    per camera pixel in photons; ``psf_fwhm_px`` the PSF FWHM in camera pixels.
    """
    excess = variance - mean - read_noise_photons**2
    sigma_px = BLUR_FWHM * psf_fwhm_px
    blurred_mean = normalised_blur(mean, sigma_px).flatten().double()
    blurred_excess = normalised_blur(excess, sigma_px).flatten().double()
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
    margin = MARGIN_SD * float(residual.std())
    bound = BOUND_FACTOR * (blurred_mean - slope * blurred_excess) + margin
    return bound.clamp_min(0.0).reshape(mean.shape).to(mean.dtype)


def describe_background_bound(info: dict[str, float]) -> str:
    """For a status line (``Snapshot.info``): whether the bound is capping b."""
    if info.get("background_bound_active", 0.0) > 0:
        return "b capped by fluctuations"
    return "b uncapped"
