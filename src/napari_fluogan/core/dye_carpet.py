"""A floor under ``x`` where the whole field lies on a carpet of blinking dyes.

Positivity and the l1 prior are what sharpen ``x``: both act against its zeros. Where
structure lies in a labelled cytoplasm, a layer of dyes fluctuates under it
everywhere, so the background bound (``background_bound.py``) rightly gives its light
to ``x``; but then ``x`` has no zeros, and the line pairs on such a carpet came out
two to three steps coarser than on a plain background (270 / 240 nm against 180;
SOFI2 + RL 210; ``docs/quality.md``, "A carpet of dyes under the structure").

With a floor ``f`` under ``x`` (``x = f + s``, ``s >= 0`` charged by l1), positivity
and l1 act on ``s``, which has its zeros again. ``f`` is the light that fluctuates in
the field's dimmest part: the mean image there less the light that does not
fluctuate (:class:`.background_bound.SteadyLight`). Through a PSF, though, the
dimmest part of a field of structure is still lit by the structure beside it (the
line pairs' darkest pixels hold a quarter of their mean light), and a floor there
would fill the valleys the structure really has. So a floor is set only where the
dimmest part is *most of the field*: the fluctuating light's quarter quantile within
:data:`MAX_SPREAD` of its dimmest level, as on a carpet, and not on a field of
structure. The levels are of the fluctuating light, so a bright background that does
not fluctuate neither makes a field look flat nor adds to the floor.

Through the PSF, though, structure dense enough to light the whole field (beads
220-300 nm apart, a dense mesh) looks like a carpet too, and its gaps, which FluoGAN
resolves, would be filled (60 beads in 3.2 um: 25.8 -> 21.5 dB). So the floor is tried
first: two short L2 fits (:data:`TRIAL_ITERATIONS`), with and without it. Over a
carpet the floor costs the fit of the mean image little; over gaps it cannot fill, a
lot (:func:`floor_misfit`, in units of the floor's own light: carpets -0.0017-0.0047,
also on ten to fifty times the background; beads 0.040-0.051, a mesh of 100 filaments
0.0075). The floor is kept below :data:`MAX_FLOOR_MISFIT`. Each trial starts near its
own solution (the solver starts ``b`` below the floor's light in the trial with it).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .signal_level import DARK_BLUR_PX, DARK_QUANTILE, low_quantile
from .smoothing import normalised_blur

#: the quantile that stands for most of the field
BULK_QUANTILE = 0.25
#: a floor only where that quantile is within this share of the dimmest level above it
MAX_SPREAD = 0.5
#: iterations of each trial fit
TRIAL_ITERATIONS = 200
#: the most the floor may worsen the fit (:func:`floor_misfit`) for it to be kept
MAX_FLOOR_MISFIT = 0.005


def carpet_floor(
    mean: torch.Tensor, steady: torch.Tensor, psf_fwhm_px: float
) -> float | None:
    """The light per camera pixel (photons) of a carpet of dyes under the whole field,
    or None where the field does not lie on one (see the module).

    ``mean``: the temporal mean image (photons per camera pixel per frame); ``steady``:
    the light that does not fluctuate (:class:`.background_bound.SteadyLight`);
    ``psf_fwhm_px``: the PSF FWHM in camera pixels. Within a PSF of the field's edge
    the light depends on what lies beyond it, so the levels are read inside that
    border (the whole field where it is too small for one)."""
    border = int(round(psf_fwhm_px))
    h, w = mean.shape
    if h > 2 * border + 2 and w > 2 * border + 2 and border > 0:
        inside = (slice(border, h - border), slice(border, w - border))
    else:
        inside = (slice(None), slice(None))
    fluctuating = (normalised_blur(mean, DARK_BLUR_PX) - steady)[inside]
    floor = low_quantile(fluctuating, DARK_QUANTILE)
    bulk = low_quantile(fluctuating, BULK_QUANTILE)
    if floor <= 0 or bulk - floor > MAX_SPREAD * floor:
        return None
    return floor


def floor_misfit(
    data_with: float, data_without: float, carpet_photons: float, unit: float
) -> float:
    """How much the floor worsens the fit of the mean image: the rise in the mean
    squared residual (``data_*``: the solver's data terms, ``1/2`` mean squared residual
    in units of ``unit`` photons per camera pixel) over the floor's own square, per
    camera pixel. Scale-free: the same on a bright and on a dim stack."""
    floor = carpet_photons / unit
    return (data_with - data_without) / (0.5 * floor**2)


def keeps_the_floor(misfit: float) -> bool:
    """Whether the trial fits leave the floor (see :func:`floor_misfit`)."""
    return misfit <= MAX_FLOOR_MISFIT


def describe_carpet_floor(info: Mapping[str, float]) -> str | None:
    """For a status line (``Snapshot.info``): the carpet ``x`` is kept above, if any."""
    photons = info.get("carpet_photons_per_pixel", 0.0)
    if photons <= 0:
        return None
    where = " (read around the ROI)" if info.get("carpet_from_surroundings", 0.0) > 0 else ""
    return f"x above a dye carpet of {photons:.3g} photons/px{where}"
