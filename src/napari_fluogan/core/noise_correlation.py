"""Whether a stack's noise is correlated between neighbouring pixels.

A camera's shot and read noise are independent from pixel to pixel; FluoGAN's noise
model, the camera estimate and the background cap rely on it. A stack registered or
drift-corrected with sub-pixel interpolation, binned, or filtered mixes each pixel's
noise with its neighbours'. The camera estimate then fails badly (the benchmark
phantom registered with bilinear interpolation: a gain of 0.09 ADU per photon for
2.0, an offset of -2381 ADU for 100) while looking like a result.

Measured in the field's darkest pixels, where the fluctuations' own correlation (which
neighbouring pixels do share) is weakest, on successive frame differences (which drop
what does not change from frame to frame): the correlation of neighbouring pixels'
differences. Raw simulated stacks give -0.005 to 0.03 (0.12 on a crowded bright
filament field, whose darkest pixels still fluctuate), the real stack 0.006; bilinear
registration 0.25-0.28, a 2 x 2 mean 0.54, cubic registration 0.12-0.13, which cannot
be told from a crowded field and is not flagged (``docs/quality.md``, "Camera and
microscope conditions").
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

#: the share of the field's pixels, darkest first, the correlation is measured on
DARK_FRACTION = 0.1
#: above this, the noise counts as correlated (a warning; no camera estimate)
MAX_CORRELATION = 0.2
#: frames used at most (the first ones): the estimate's precision needs no more, and
#: the frame differences are held in memory
MAX_FRAMES = 200


def neighbour_noise_correlation(frames: torch.Tensor) -> float:
    """Correlation of neighbouring pixels' frame-to-frame changes over the darkest
    :data:`DARK_FRACTION` of a (T, h, w) stack (ADU or photons; its first
    :data:`MAX_FRAMES` frames); 0 where it cannot be measured (fewer than 3 frames, no
    pair of dark neighbours, no change)."""
    if frames.shape[0] < 3 or min(frames.shape[1:]) < 2:
        return 0.0
    dtype = torch.float64 if frames.dtype == torch.float64 else torch.float32
    frames = frames[:MAX_FRAMES].to(dtype)
    mean = frames.mean(dim=0)
    values = mean.flatten().cpu()
    k = max(1, int(round(DARK_FRACTION * values.numel())))
    dark = mean <= float(torch.kthvalue(values, k).values)
    changes = frames[1:] - frames[:-1]
    power = (changes**2).mean(dim=0)
    products, scales = 0.0, 0.0
    for a, b, both in (
        (changes[:, :, :-1], changes[:, :, 1:], dark[:, :-1] & dark[:, 1:]),
        (changes[:, :-1, :], changes[:, 1:, :], dark[:-1, :] & dark[1:, :]),
    ):
        scale = (power[: a.shape[1], : a.shape[2]] * power[-b.shape[1] :, -b.shape[2] :]).sqrt()
        products += float((a * b).mean(dim=0)[both].sum())
        scales += float(scale[both].sum())
    return products / scales if scales > 0 else 0.0


def correlated_noise_message(correlation: float) -> str:
    """Why the camera values cannot be estimated, or the run's noise model is off."""
    return (
        f"The noise of neighbouring pixels is correlated ({correlation:.2f}; raw camera "
        "frames give about 0), as after registration or drift correction with "
        "interpolation, binning or filtering."
    )


def correlated_noise_warning(info: Mapping[str, float]) -> str | None:
    """What to tell the user about a run on frames whose noise is correlated
    (``Snapshot.info``), or None."""
    correlation = info.get("neighbour_noise_correlation", 0.0)
    if correlation <= MAX_CORRELATION:
        return None
    return (
        f"{correlated_noise_message(correlation)} FluoGAN's noise model assumes raw camera "
        "frames: on these the background cap and the critic are less reliable. Use the "
        "raw frames if you have them."
    )
