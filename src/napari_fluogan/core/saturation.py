"""Camera pixels that saturate: their mean is only a lower bound on the light.

A camera clips at its largest value (65535 ADU for 16 bits, 4095 for 12). Where a
bright structure reaches it, the mean image is flat-topped, and a flat top fitted
as it stands comes out hollow: two lines where there is one (the benchmark phantom,
Gaussian PSF, clipped in 10 % of its samples: a 210 nm control bar split at contrast
1.00 by FluoGAN and 0.61 by RL(mean); ``docs/quality.md``, "Saturated pixels"). Fitting
those pixels one-sidedly (the model may be brighter than their mean, never dimmer)
does not help: l1 then meets the bound with the least light, which is again two edge
lines. So the engine finds them and says so; the user must re-acquire or avoid them.

A stack saturates where many samples sit exactly at its maximum: noisy data that does
not clip reaches its maximum once or a few times, a clipped camera many times.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

#: samples at the stack's maximum for it to count as a clip level, at least this many
MIN_SAMPLES_AT_MAX = 20
#: ... and at least this share of all samples
MIN_SHARE_AT_MAX = 1e-5
#: the kind of flagged pixel (``Snapshot.flagged_pixels``) these are
FLAG_KIND = "saturated"
#: a pixel clipped in more than this share of its frames is reported (its mean is low
#: by more than the model error the engine allows elsewhere)
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
    return f"{n} saturated px" if n > 0 else None


def saturation_warning(info: Mapping[str, float]) -> str | None:
    """What to tell the user about a run on saturated pixels (``Snapshot.info``), or None."""
    n = int(info.get("saturated_pixels", 0))
    if n <= 0:
        return None
    return (
        f"{n} pixel{'s' if n != 1 else ''} of the ROI {'are' if n != 1 else 'is'} saturated "
        f"(at the camera's maximum in more than {MAX_CLIPPED_FRAME_SHARE:.0%} of the "
        "frames): structure there comes out wrong, a solid spot can split in two. Lower "
        "the exposure or the laser power, or draw the ROI away from them."
    )
