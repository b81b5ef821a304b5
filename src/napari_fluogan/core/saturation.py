"""Camera pixels that saturate: their mean is only a lower bound on the light.

A camera clips at its largest value (65535 ADU for 16 bits, 4095 for 12). Where a
bright structure reaches it, the mean image is flat-topped, and a flat top fitted
as it stands comes out hollow: two lines where there is one (the benchmark phantom,
Gaussian PSF, clipped in 10 % of its samples: a 210 nm control bar split at contrast
1.00 by FluoGAN and 0.61 by RL(mean); ``docs/quality.md``, "Saturated pixels").

So the engine restores what it can and leaves out what it cannot. A pixel clipped in
some of its frames still shows the lower part of its distribution, from which
:func:`restore_clipped` estimates its mean and variance. A pixel clipped in nearly
every frame shows only a lower bound; it is left out of the data term
(:func:`too_clipped`), and the light there is inferred from its neighbours through
the PSF. Fitting such pixels one-sidedly instead (the model may be brighter than
their mean, never dimmer) split controls again: l1 meets a bound with the least
light, which is again two edge lines. The critic sees no saturated pixel (the
simulated frames are not clipped). Runs still warn: where much of the structure is
left out, it comes out blurred.

A stack saturates where many samples sit exactly at its maximum: noisy data that does
not clip reaches its maximum once or a few times, a clipped camera many times.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

#: samples at the stack's maximum for it to count as a clip level, at least this many
MIN_SAMPLES_AT_MAX = 20
#: ... and at least this share of all samples
MIN_SHARE_AT_MAX = 1e-5
#: the kinds of flagged pixel (``Snapshot.flagged_pixels``) these are: light restored,
#: and clipped too often to restore (left out of the fit)
FLAG_KIND = "saturated"
LEFT_OUT_KIND = "saturated, left out"
#: a pixel clipped in more than this share of its frames is reported and its light
#: restored or left out (below it, its mean is low by well under the model error the
#: engine allows elsewhere)
MAX_CLIPPED_FRAME_SHARE = 0.01


def saturated_pixels(frames: torch.Tensor) -> torch.Tensor | None:
    """Boolean mask (h, w) of the pixels clipped in more than
    :data:`MAX_CLIPPED_FRAME_SHARE` of the frames (T, h, w), or None where the stack
    does not saturate. The frames may be in ADU or photons (one affine map of ADU
    keeps equal values equal)."""
    top = frames.max()
    at_top = frames == top
    count = int(at_top.sum())
    if count < max(MIN_SAMPLES_AT_MAX, MIN_SHARE_AT_MAX * frames.numel()):
        return None
    mask = at_top.float().mean(dim=0) > MAX_CLIPPED_FRAME_SHARE
    return mask if bool(mask.any()) else None


def describe_saturation(info: Mapping[str, float]) -> str | None:
    """For a status line (``Snapshot.info``): the saturated pixels, or None."""
    n = int(info.get("saturated_pixels", 0))
    if n <= 0:
        return None
    left_out = int(info.get("saturated_left_out", 0))
    return f"{n} saturated px" + (f" ({left_out} left out)" if left_out else "")


def saturation_warning(info: Mapping[str, float]) -> str | None:
    """What to tell the user about a run on saturated pixels (``Snapshot.info``), or None."""
    n = int(info.get("saturated_pixels", 0))
    if n <= 0:
        return None
    left_out = int(info.get("saturated_left_out", 0))
    what = (
        f"{left_out} of them, clipped in more than {MAX_RESTORED_SHARE:.0%} of the frames, "
        "were left out and the structure there is inferred from around them, so it comes "
        "out blurred"
        if left_out
        else "their light was restored from the frames under the maximum"
    )
    return (
        f"{n} pixel{'s' if n != 1 else ''} of the ROI {'are' if n != 1 else 'is'} saturated "
        f"(at the camera's maximum in more than {MAX_CLIPPED_FRAME_SHARE:.0%} of the "
        f"frames): {what}. Lower the exposure or the laser power, or draw the ROI away "
        "from them."
    )


#: a pixel clipped in up to this share of its frames gets its light restored from the
#: frames under the maximum: on the benchmark phantom the restored means are within 2 %
#: of the unclipped ones up to here (within the PSF model error the engine allows, 2.5
#: %), 3.5 % low at 0.9-0.95. Clipped more often, it is left out of the data term
MAX_RESTORED_SHARE = 0.9
#: ... and seen under the maximum in at least this many frames
MIN_SEEN_FRAMES = 5


def _restorable(
    frames: torch.Tensor, saturated: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Of the ``saturated`` pixels of ``frames`` (T, h, w): the samples at the maximum
    (T, h, w), the pixels whose light :func:`restore_clipped` restores and those it
    cannot (h, w)."""
    at_top = frames == frames.max()
    clipped = at_top.sum(dim=0)
    seen = frames.shape[0] - clipped
    restorable = (
        saturated & (clipped <= MAX_RESTORED_SHARE * frames.shape[0]) & (seen >= MIN_SEEN_FRAMES)
    )
    return at_top, restorable, saturated & ~restorable


def too_clipped(frames: torch.Tensor, saturated: torch.Tensor | None) -> torch.Tensor | None:
    """The ``saturated`` pixels clipped in too many frames (more than
    :data:`MAX_RESTORED_SHARE`) for :func:`restore_clipped` to restore their light, to
    be left out of the fit; None: none."""
    if saturated is None:
        return None
    mask = _restorable(frames, saturated)[2]
    return mask if bool(mask.any()) else None


def restore_clipped(
    frames: torch.Tensor,
    mean: torch.Tensor,
    variance: torch.Tensor,
    saturated: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The temporal ``mean`` and ``variance`` (h, w) of ``frames`` (T, h, w), with the
    light the camera clipped restored on the ``saturated`` pixels that are not
    :func:`too_clipped`.

    The samples of such a pixel are taken as a normal distribution cut at the clip
    level: the clipped share ``p`` fixes where the cut lies in standard deviations,
    ``z = Phi^-1(1 - p)``, and the mean and variance of the samples under it then give
    the distribution's own (the truncated normal's moments, solved for them). A pixel
    summing many blinking dyes is close to normal: on the benchmark phantom (bright,
    clipped in 10 % and 26 % of its samples) the restored means are within 1 % of the
    unclipped ones where up to 80 % of the frames clip, where the clipped means are up
    to 11 % low (``docs/quality.md``, "Saturated pixels").
    """
    if saturated is None:
        return mean, variance
    at_top, restore, _ = _restorable(frames, saturated)
    if not bool(restore.any()):
        return mean, variance
    below = (~at_top).to(mean.dtype)
    count = below.sum(dim=0).clamp_min(2.0)
    seen_mean = (frames * below).sum(dim=0) / count
    seen_variance = (((frames - seen_mean) * below) ** 2).sum(dim=0) / (count - 1.0)
    p = (1.0 - below.mean(dim=0)).clamp(1e-6, MAX_RESTORED_SHARE)
    z = torch.special.ndtri(1.0 - p)
    # the inverse Mills ratio: how far under the full mean the seen mean lies, in sd
    mills = torch.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi) / (1.0 - p)
    sd = (seen_variance / (1.0 - z * mills - mills**2)).sqrt()
    return (
        torch.where(restore, seen_mean + sd * mills, mean),
        torch.where(restore, sd**2, variance),
    )
