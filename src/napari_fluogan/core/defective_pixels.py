"""Camera pixels whose light cannot have come through the PSF: hot, noisy and dead pixels.

sCMOS and EMCCD cameras have pixels with a raised dark current (hot: a constant
excess) and pixels whose signal jumps between levels (random telegraph noise: an
excess in the variance). Fitted as light, each becomes a bright spot in ``x``, and
together they corrupt the statistics the engine measures on the field: on the
benchmark phantom with 1 % of its pixels hot or noisy, FluoGAN fitting them lost two
or three steps and 11 dB of PSNR (``docs/quality.md``, "Hot and noisy pixels").

Light reaches a camera pixel through the PSF, so it cannot change faster from one
pixel to the next than the PSF does. Along a row, a point source gives the pixel
under it at most :func:`neighbour_ratio_bound` times the mean of its two neighbours,
whatever its position, and the same holds for any sum of point sources and for a
background added to them (the ratio of sums is at most the largest ratio). The
fluctuation variance is a sum over independent emitters of the PSF squared, so it
obeys the same bound with the squared profile. A pixel that exceeds the bound, along
the row and along the column, by more than :data:`Z_SCORE` standard errors of its
mean (or of its variance) is defective. Along the ROI's border only the direction
along the border is tested: light from just outside the ROI may rise towards it
without bound; the four corners are not tested.

The bound is taken for a PSF :data:`FWHM_SHARE` times as wide as given, so that a
PSF somewhat narrower than the user's value, or sharper than a Gaussian at its
core, is not mistaken for hot pixels. The engine leaves defective pixels out of
the data term and the critic, and measures the field's statistics (dark level,
background cap, fluctuation scale) with their values replaced by their neighbours'.

A dead pixel (its photodiode gone: it reads the offset, or nothing) is the opposite
case, and worse for FluoGAN than for a deconvolution of the mean: positivity and the
l1 prior fit it as a hole in the structure. On the benchmark phantom 7 dead pixels on
the structure (0.2 % of the field) cost a step and 4 dB (``docs/quality.md``, "Dead
pixels"). Light through a PSF cannot fall to nearly nothing between four neighbours
that hold it, unless the light around is much brighter still (a ring of sources whose
tail the neighbours only catch). So a pixel is dead when it reads under
:data:`DEAD_SHARE` of its dimmest neighbour's light, by :data:`Z_SCORE` standard errors,
where that neighbour holds at least :data:`DEAD_NEIGHBOUR_SHARE` of the brightest light
within two pixels. Over random sources, lines, rings and holes through Gaussian and
Airy PSFs of 2 to 3 pixels FWHM (the given FWHM at :data:`FWHM_SHARE`), the dimmest
pixel of light under that condition read 0.16 of its dimmest neighbour or more (a ring
of sources through the Airy pattern's dark ring; 0.10 with a Gaussian of 2 pixels were
the neighbour share 0.05). Dead pixels side by side are each judged against their
dimmest neighbour that is not dead: a pixel with one dead neighbour (a pair) as a lone
one, a pixel with two (in a dead column or a 2 x 2 cluster) at
:data:`DEAD_LINE_SHARE`, because between two lines light can leave a groove one pixel
wide whose pixels have two dark neighbours along it (it read 0.089 of its sides at
the least, a Gaussian of 2 pixels FWHM and lines 6 pixels apart; 0.22 through an Airy
pattern). Along the ROI's border a pixel is judged by its three neighbours inside (in
the same search, the worst case was then 0.15), and with one dead neighbour as a
column is. A narrower PSF allows darker holes, so dead pixels are looked for only where
the PSF spans :data:`MIN_DEAD_FWHM_PX` pixels. The four corners are not tested, nor
pixels with three dead neighbours or more (inside a block of 3 x 3 or a column two
pixels wide). Light is measured from zero, or from the field's dark level where that
reads below zero (an offset entered too high, which lowers a groove below zero).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from .psf import FWHM_PER_SIGMA
from .saturation import restore_clipped
from .signal_level import dark_level
from .trend import TemporalTrend

#: the kind of flagged pixel (``Snapshot.flagged_pixels``) these are
FLAG_KIND = "hot or noisy"
#: the kind of flagged pixel of dead ones
DEAD_KIND = "dead"
#: the bound is computed for a PSF this share of the given FWHM (margin for a PSF
#: narrower than given)
FWHM_SHARE = 0.8
#: more than this share of a field's pixels found defective points to a PSF FWHM given
#: too wide rather than to the camera (a warning says so)
MANY_DEFECTS_SHARE = 0.02
#: how far above its bound, in standard errors, a pixel must be to count as defective.
#: The standard errors assume independent frames; blinking that lasts many frames makes
#: them larger, and the margin in :data:`FWHM_SHARE` absorbs that
Z_SCORE = 6.0
#: a dead pixel reads under this share of its dimmest neighbour's light ...
DEAD_SHARE = 0.1
#: ... where that neighbour holds this share of the brightest light within two pixels
DEAD_NEIGHBOUR_SHARE = 0.1
#: a pixel with two dark neighbours (in a dead column or cluster) reads under this
#: share of its dimmest other neighbour: a groove of light between two lines, one pixel
#: wide, read 0.089 of its sides at the least (a Gaussian of 2 pixels FWHM, lines 6
#: pixels apart); through an Airy pattern, 0.22
DEAD_LINE_SHARE = 0.05
#: dead pixels are looked for where the PSF spans this many camera pixels at its FWHM
#: (times :data:`FWHM_SHARE`: a given FWHM of 2.5 pixels): under it, light can leave
#: holes nearly as dark between its pixels (0.14 of the neighbours at 1.6 pixels, 0.04
#: at 1)
MIN_DEAD_FWHM_PX = 2.0


def neighbour_ratio_bound(psf_fwhm_px: float, power: int = 1) -> float:
    """The largest ratio of a pixel's light to the mean of its two neighbours along one
    axis, for a point source anywhere in the pixel: a Gaussian PSF of ``psf_fwhm_px``
    camera pixels, integrated over the pixels, raised to ``power`` (2: the fluctuation
    variance)."""
    sigma = psf_fwhm_px / FWHM_PER_SIGMA

    def pixel(k: int, u: float) -> float:
        # the light of pixel k from a point at u (pixel centres at integers)
        scale = sigma * math.sqrt(2.0)
        return 0.5 * (math.erf((k + 0.5 - u) / scale) - math.erf((k - 0.5 - u) / scale))

    ratios = []
    for i in range(21):
        u = -0.5 + i / 20.0
        centre, left, right = (pixel(k, u) ** power for k in (0, -1, 1))
        ratios.append(centre / max(0.5 * (left + right), 1e-300))
    return max(ratios)


def _neighbour_means(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of each pixel's two neighbours along rows and along columns; NaN where a
    neighbour is missing (the border)."""
    nan = torch.full_like(image, float("nan"))
    along_row, along_column = nan.clone(), nan.clone()
    along_row[:, 1:-1] = 0.5 * (image[:, :-2] + image[:, 2:])
    along_column[1:-1, :] = 0.5 * (image[:-2, :] + image[2:, :])
    return along_row, along_column


def _above_bound(
    image: torch.Tensor,
    neighbour_means: tuple[torch.Tensor, torch.Tensor],
    bound: float,
    standard_error: torch.Tensor,
) -> torch.Tensor:
    """Pixels above ``bound`` times their neighbours' mean (``neighbour_means``: from
    :func:`_neighbour_means` of ``image``) by more than :data:`Z_SCORE` standard errors,
    along every axis where they have neighbours (and at least one)."""
    excess = []
    for neighbours in neighbour_means:
        allowed = bound * neighbours.clamp_min(0.0)
        excess.append(image - allowed - Z_SCORE * standard_error)
    row, column = excess
    tested = ~(row.isnan() & column.isnan())
    # NaN (no neighbours along that axis) counts as exceeding, so that a border pixel
    # is judged along the border alone
    return tested & (row.nan_to_num(nan=1.0) > 0) & (column.nan_to_num(nan=1.0) > 0)


def defective_pixels(
    mean: torch.Tensor,
    variance: torch.Tensor,
    n_frames: int,
    psf_fwhm_px: float,
    saturated: torch.Tensor | None = None,
    dead: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """Boolean mask (h, w) of hot or noisy pixels, or None where there are none.

    ``mean`` and ``variance``: the frames' temporal mean and (detrended) variance per
    camera pixel, in photons; ``n_frames`` the frames they were measured over;
    ``saturated``: the pixels the camera clipped (``saturation.py``), whose neighbours
    are not tested (clipping takes a pixel's variance away, so next to it an ordinary
    pixel looks noisy: 21 of them on the benchmark clipped in 26 % of its samples).
    ``dead``: pixels found dead (:func:`dead_pixels`), which are no neighbours to
    compare with: beside one, a pixel is judged along the other axis alone.
    """
    if min(mean.shape) < 3:
        return None
    fwhm = FWHM_SHARE * psf_fwhm_px
    if dead is not None:
        mean = mean.masked_fill(dead, float("nan"))
        variance = variance.masked_fill(dead, float("nan"))
    # the standard errors from the neighbours' variance (a noisy pixel's own variance
    # would hide it), but never below the pixel's own shot noise: next to pixels that
    # read zero in every frame (a dark field clipped at zero), a few photons are not a
    # defect
    variance_neighbours = _neighbour_means(variance)
    reference = torch.fmin(*variance_neighbours).nan_to_num(nan=float(variance.nanmedian()))
    reference = reference.clamp_min(1e-12)
    shot = mean.clamp_min(0.0)
    # light and its variance are never negative, so the bound holds with a floor of
    # zero whatever the background; a floor at the field's dark level did not (in a
    # crowded field the dimmest part still holds the structure's light, and border
    # pixels near it exceeded the bound)
    hot = _above_bound(
        mean,
        _neighbour_means(mean),
        neighbour_ratio_bound(fwhm),
        (torch.maximum(reference, shot) / n_frames).sqrt(),
    )
    # the sample variance's own variance: 2 var^2 / T for Gaussian noise, plus the mean
    # over T for Poisson counts (their fourth cumulant)
    noisy = _above_bound(
        variance,
        variance_neighbours,
        neighbour_ratio_bound(fwhm, power=2),
        ((2.0 * reference**2 + shot) / max(n_frames - 1, 1)).sqrt(),
    )
    mask = hot | noisy
    if saturated is not None:
        near = torch.nn.functional.max_pool2d(
            saturated[None, None].float(), kernel_size=3, stride=1, padding=1
        )[0, 0]
        mask = mask & (near == 0)
    return mask if bool(mask.any()) else None


def _four_neighbours(image: torch.Tensor, outside: float) -> torch.Tensor:
    """Each pixel's neighbours above, below, left and right (4, h, w); ``outside``
    where a neighbour lies beyond the border."""
    padded = torch.nn.functional.pad(image[None, None], (1, 1, 1, 1), value=outside)[0, 0]
    return torch.stack(
        [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
    )


def dead_pixels(
    mean: torch.Tensor,
    variance: torch.Tensor,
    n_frames: int,
    psf_fwhm_px: float,
    saturated: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """Boolean mask (h, w) of dead pixels (see module), or None where there are none.

    Arguments as for :func:`defective_pixels`; a saturated pixel is never dead.
    """
    h, w = mean.shape
    if min(h, w) < 3 or FWHM_SHARE * psf_fwhm_px < MIN_DEAD_FWHM_PX:
        return None
    inf = float("inf")
    # a dead pixel reads the offset. Where the field's dimmest part reads under it (an
    # offset entered too high), light is measured from there: read from zero, a groove
    # between two lines, lowered by the error, reads as nothing
    mean = mean - min(dark_level(mean), 0.0)
    # beyond the border, a neighbour never is the dimmest
    neighbours = _four_neighbours(mean, inf)
    brightest = torch.nn.functional.max_pool2d(mean[None, None], 5, stride=1, padding=2)[0, 0]
    neighbour_variances = _four_neighbours(variance, 0.0)
    inside = torch.zeros_like(mean, dtype=torch.bool)
    inside[1:-1, 1:-1] = True
    # the pixel's own noise: at least its shot noise, were it light
    own = torch.maximum(variance, mean.clamp_min(0.0))

    def reads_dead(index: torch.Tensor, share: float | torch.Tensor) -> torch.Tensor:
        """Whether each pixel reads under ``share`` of its neighbour ``index`` (1, h, w:
        0-3, as :func:`_four_neighbours` orders them), by :data:`Z_SCORE` standard
        errors of the difference (the pixel's noise and the neighbour's, scaled), where
        that neighbour holds :data:`DEAD_NEIGHBOUR_SHARE` of the light around."""
        reference = neighbours.gather(0, index)[0]
        reference_variance = neighbour_variances.gather(0, index)[0]
        standard_error = ((own + share**2 * reference_variance) / n_frames).sqrt()
        return (
            reference.isfinite()
            & (reference > 0)
            & (reference >= DEAD_NEIGHBOUR_SHARE * brightest)
            & (mean < share * reference - Z_SCORE * standard_error)
        )

    # Dead pixels side by side have dead neighbours. Candidates may have one dark
    # neighbour, judged against the next at DEAD_SHARE; inside the field, two (a column,
    # a 2 x 2 cluster), judged against the third at DEAD_LINE_SHARE: between two lines
    # light can leave a groove one pixel wide, whose pixels have two dark neighbours
    # along it. A candidate is then judged against its dimmest neighbour that is not a
    # candidate itself, at DEAD_SHARE where that leaves three neighbours or more (a
    # lone pixel, one of a pair), at DEAD_LINE_SHARE where it leaves two (a column, a
    # cluster; on the border, where a groove's end has one dark neighbour, a pair)
    order = neighbours.argsort(dim=0)
    candidates = reads_dead(order[1:2], DEAD_SHARE) | (
        inside & reads_dead(order[2:3], DEAD_LINE_SHARE)
    )
    beside = _four_neighbours(candidates.to(mean.dtype), 0.0) > 0
    left = neighbours.isfinite().sum(dim=0) - beside.sum(dim=0)
    share = torch.where(left >= 3, DEAD_SHARE, DEAD_LINE_SHARE)
    live = neighbours.masked_fill(beside, inf).argmin(dim=0, keepdim=True)
    mask = candidates & (left >= 2) & reads_dead(live, share)
    mask[[0, 0, -1, -1], [0, -1, 0, -1]] = False  # a corner has two neighbours: not tested
    if saturated is not None:
        mask &= ~saturated
    return mask if bool(mask.any()) else None


def repaired(image: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``image`` (h, w), or a batch of them (..., h, w), with the pixels in ``mask``
    (h, w) replaced by the mean of their good neighbours (the 3 x 3 ring); unchanged
    where ``mask`` is None."""
    if mask is None:
        return image
    shape = image.shape
    images = image.reshape(-1, 1, *shape[-2:])
    good = (~mask).to(image.dtype)[None, None]
    ring = torch.ones(1, 1, 3, 3, dtype=image.dtype, device=image.device)
    ring[0, 0, 1, 1] = 0.0
    total = torch.nn.functional.conv2d(images * good, ring, padding=1)
    count = torch.nn.functional.conv2d(good, ring, padding=1)
    # a pixel with no good neighbour (a 3 x 3 block of defects) takes the image's median
    fallback = images[..., ~mask].median(dim=-1).values[:, :, None, None]
    filled = torch.where(count > 0, total / count.clamp_min(1.0), fallback)
    return torch.where(mask, filled, images).reshape(shape)


def pixel_statistics(
    frames: torch.Tensor,
    trend: TemporalTrend,
    psf_fwhm_px: float,
    leave_out: bool = True,
    saturated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The temporal mean and the variance around ``trend`` of photon ``frames`` (T, h,
    w), with defective pixels' values replaced by their neighbours', and the masks of
    those pixels by kind (:data:`FLAG_KIND`, :data:`DEAD_KIND`; only kinds found, none
    where ``leave_out`` is false). ``saturated``: as for :func:`defective_pixels`; their
    clipped light is restored where it can be (:func:`.saturation.restore_clipped`)."""
    mean, variance = restore_clipped(
        frames, frames.mean(dim=0), trend.detrended_variance(frames), saturated
    )
    if not leave_out:
        return mean, variance, {}
    n_frames = frames.shape[0]
    dead = dead_pixels(mean, variance, n_frames, psf_fwhm_px, saturated)
    hot = defective_pixels(mean, variance, n_frames, psf_fwhm_px, saturated, dead)
    masks = {kind: mask for kind, mask in ((FLAG_KIND, hot), (DEAD_KIND, dead)) if mask is not None}
    found = left_out(masks)
    return repaired(mean, found), repaired(variance, found), masks


def left_out(masks: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
    """The union of :func:`pixel_statistics`' masks, or None where there are none."""
    union = None
    for mask in masks.values():
        union = mask if union is None else union | mask
    return union


def describe_defects(info: Mapping[str, float]) -> str | None:
    """For a status line (``Snapshot.info``): the defective pixels left out, or None."""
    parts = [
        f"{n} {label} px"
        for n, label in (
            (int(info.get("defective_pixels", 0)), "hot/noisy"),
            (int(info.get("dead_pixels", 0)), "dead"),
        )
        if n > 0
    ]
    return " and ".join(parts) + " left out" if parts else None


def defect_warning(info: Mapping[str, float], n_pixels: int, psf_fwhm_nm: float) -> str | None:
    """What to tell the user when many of a field's ``n_pixels`` were left out
    (``Snapshot.info``), or None. A camera with that many bad pixels is rare; a PSF
    FWHM given too wide makes the data look sharper than it allows, everywhere."""
    n = int(info.get("defective_pixels", 0)) + int(info.get("dead_pixels", 0))
    if n <= MANY_DEFECTS_SHARE * n_pixels:
        return None
    return (
        f"{n} pixels of the ROI ({n / n_pixels:.0%}) are brighter, noisier or darker than "
        f"their neighbours by more than a PSF of FWHM {psf_fwhm_nm:.0f} nm allows and were left "
        "out of the fit. Unless the camera is that bad, the PSF FWHM is too wide: check "
        "it and the pixel size."
    )
