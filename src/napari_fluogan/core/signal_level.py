"""The photon level the priors are weighed against: the light of the structure.

The engine works in units of one photon level ``u`` per camera pixel per frame, and the
priors' weights (``lambda1``, ``lambda_tv``, the TV smoothing and the model-error floor
``psf_model_error``) are fractions of that level. When ``u`` was the mean image's mean,
a uniform background weakened the data against the priors: on a background 50 times
the benchmark's, a 210 nm pair's dip fell from 0.65 to 0.43 and ``x`` kept 82 % of
its light (``docs/quality.md``, "Background and the priors' unit").

So ``u`` is the mean light *above the dimmest part of the field*: the mean image minus
its 2 % quantile (after a one-pixel blur, so that one noisy pixel does not set it).
It measures the structure's contrast, which is what the priors act on: adding a
uniform background to every frame leaves ``u`` and so the priors unchanged; only the
noise grows. The noise part of the TV weight stays relative to the mean light (in
photons ``lambda_tv Var / (T c)``, which a background's shot noise does not raise;
relative to ``u`` it made dim stacks on a background c / u times more regularised).
The solver also starts ``b`` at that dark level. ``u`` is never taken below
:data:`MIN_SHARE` of the mean, so a field with no contrast at all still has a finite
unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from .psf import FWHM_PER_SIGMA
from .smoothing import blur_noise_share, normalised_blur

#: the share of pixels taken as the dimmest part of the field
DARK_QUANTILE = 0.02
#: the blur (camera pixels, standard deviation) before the quantile
DARK_BLUR_PX = 1.0
#: the unit is at least this share of the mean light, so that a field with no contrast
#: still has a finite unit (a background up to 100 times the structure leaves it alone)
MIN_SHARE = 0.01
#: below this many standard errors (:func:`structure_significance`) the field shows
#: nothing above its noise: fields of Poisson light alone give 5.4-6.0 (16 to 128 px
#: square), the weakest structure measured (three dim beads, 30 frames) 30, the
#: benchmark stacks 90-1800 and the real stack 147
MIN_STRUCTURE_Z = 10.0


def low_quantile(image: torch.Tensor, q: float) -> float:
    """The ``q`` quantile of an image's values (nearest rank; unlike ``torch.quantile``
    it has no limit on the image's size). On the CPU: a camera-grid image is small, and
    ``kthvalue`` is not on every device backend."""
    values = image.detach().flatten().cpu()
    k = min(max(1, int(round(q * values.numel()))), values.numel())
    return float(torch.kthvalue(values, k).values)


def dark_level(mean_image: torch.Tensor) -> float:
    """Photons per camera pixel per frame in the field's dimmest part."""
    return low_quantile(normalised_blur(mean_image, DARK_BLUR_PX), DARK_QUANTILE)


def structure_level(mean_image: torch.Tensor, dark: float | None = None) -> float:
    """Photons per camera pixel per frame above the field's dimmest part (see module);
    ``dark``: that part's level when the caller has it already (:func:`dark_level`)."""
    mean = float(mean_image.mean())
    if dark is None:
        dark = dark_level(mean_image)
    return max(mean - dark, MIN_SHARE * mean)


def structure_significance(
    mean_image: torch.Tensor, variance_image: torch.Tensor, n_frames: int, psf_fwhm_px: float
) -> float:
    """How far the field's brightest spot stands above its darkest part, in standard
    errors of the mean image, both blurred by the PSF (which is how any structure
    reaches the camera, and what averages the noise of its pixels). Photons; the
    variance image's mean sets the noise."""
    sigma_px = psf_fwhm_px / FWHM_PER_SIGMA
    blurred = normalised_blur(mean_image, sigma_px)
    variance = float(variance_image.mean().clamp_min(1e-12))
    standard_error = math.sqrt(variance * blur_noise_share(sigma_px) / n_frames)
    spread = float(blurred.max()) - low_quantile(blurred, DARK_QUANTILE)
    return spread / standard_error


def no_structure_warning(info: Mapping[str, float]) -> str | None:
    """What to tell the user when the field shows nothing above its noise
    (``Snapshot.info``), or None."""
    z = info.get("structure_z", math.inf)
    if z >= MIN_STRUCTURE_Z:
        return None
    return (
        f"This ROI shows nothing above its noise: its brightest spot stands {z:.0f} "
        "standard errors above its darkest part (noise alone gives about 6, the faintest "
        "structure measured 30), so x shows noise, not structure. Choose an ROI with "
        "structure, or use more frames."
    )
