"""Whether a stack's noise is correlated between neighbouring pixels.

A camera's shot and read noise are independent from pixel to pixel; FluoGAN's noise
model, the camera estimate and the background cap rely on it. A stack registered or
drift-corrected with sub-pixel interpolation, binned, or filtered mixes each pixel's
noise with its neighbours'. The camera estimate then fails badly (the benchmark
phantom registered with bilinear interpolation: a gain of 0.09 ADU per photon for
2.0, an offset of -2381 ADU for 100) while looking like a result.

Measured in the field's darkest pixels, where the fluctuations' own correlation (which
neighbouring pixels do share) is weakest, on successive frame differences (which drop
what does not change from frame to frame). A field full of dyes has no dark pixels:
there the dyes' light, spread by the PSF, correlates neighbours one pixel apart as
much as mixing does (0.21 inside a uniform dye carpet, 0.26-0.30 with 160 nm pixels),
so the correlation two pixels apart, which mixing over one pixel leaves at 0, is
taken off (:data:`PSF_LAG_RATIO`). Raw simulated stacks then give -0.02 to 0.02
(uniform dye carpets at 100 and 65 nm pixels and crowded filament fields included;
0.13-0.16 inside a carpet at 160 nm pixels, where the PSF is narrowest), the real
stack 0.003; registered under a slow drift with bilinear interpolation 0.24-0.32,
cubic 0.21-0.23 (with random shifts frame by frame, 0.14: missed), a 2 x 2 mean
0.26-0.50, except inside a dye carpet, where the dyes' own correlation hides cubic and
bilinear registration (0.18-0.20; ``docs/quality.md``, "Camera and microscope
conditions").
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

#: the share of the field's pixels, darkest first, the correlation is measured on
DARK_FRACTION = 0.1
#: ... but at least this many (small ROIs: ten pixels gave a correlation off by 0.15)
MIN_DARK_PIXELS = 64
#: a blinking dye's light reaches several pixels, so the fluctuations of a field full
#: of dyes are correlated between neighbours too (0.21 one pixel apart inside a uniform
#: carpet of dyes, 0.11 two apart), while interpolation, binning and small filters mix
#: noise over one pixel (0.00-0.03 two apart). The correlation one pixel apart less this
#: multiple of that two apart keeps the mixing and drops the dyes' share: for a
#: Gaussian PSF of FWHM 3 px the dyes' correlation falls by exp(-3 / (4 sigma^2)) = 0.66
#: from one pixel to two (narrower PSFs fall faster and keep some of their share)
PSF_LAG_RATIO = 1.5
#: above this, the noise counts as correlated (a warning; no camera estimate)
MAX_CORRELATION = 0.2
#: frames used at most (the first ones): the estimate's precision needs no more, and
#: the frame differences are held in memory
MAX_FRAMES = 200


def neighbour_noise_correlation(frames: torch.Tensor) -> float:
    """Correlation of neighbouring pixels' frame-to-frame changes that the PSF does not
    explain, over the darkest pixels of a (T, h, w) stack (ADU or photons; its first
    :data:`MAX_FRAMES` frames): the correlation at one pixel less
    :data:`PSF_LAG_RATIO` times that at two pixels. 0 where it cannot be measured
    (fewer than 3 frames, no pair of dark neighbours, no change)."""
    if frames.shape[0] < 3 or min(frames.shape[1:]) < 2:
        return 0.0
    dtype = torch.float64 if frames.dtype == torch.float64 else torch.float32
    frames = frames[:MAX_FRAMES].to(dtype)
    mean = frames.mean(dim=0)
    values = mean.flatten().cpu()
    k = min(values.numel(), max(MIN_DARK_PIXELS, int(round(DARK_FRACTION * values.numel()))))
    dark = mean <= float(torch.kthvalue(values, k).values)
    changes = frames[1:] - frames[:-1]
    power = (changes**2).mean(dim=0)
    one_pixel = _correlation_at(changes, power, dark, 1)
    if one_pixel is None:
        return 0.0
    two_pixels = _correlation_at(changes, power, dark, 2)
    return one_pixel - PSF_LAG_RATIO * max(two_pixels or 0.0, 0.0)


def _correlation_at(
    changes: torch.Tensor, power: torch.Tensor, dark: torch.Tensor, lag: int
) -> float | None:
    """Correlation of the changes of dark pixels ``lag`` apart along rows and columns,
    or None where no such pair has any change."""
    if min(dark.shape) <= lag:
        return None
    products, scales = 0.0, 0.0
    for a, b, both, power_a, power_b in (
        (changes[:, :, :-lag], changes[:, :, lag:], dark[:, :-lag] & dark[:, lag:],
         power[:, :-lag], power[:, lag:]),
        (changes[:, :-lag, :], changes[:, lag:, :], dark[:-lag, :] & dark[lag:, :],
         power[:-lag, :], power[lag:, :]),
    ):
        products += float((a * b).mean(dim=0)[both].sum())
        scales += float((power_a * power_b).sqrt()[both].sum())
    return products / scales if scales > 0 else None


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
