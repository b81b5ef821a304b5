"""Whether the camera values a run was given fit the frames' own noise.

The engine counts light in photons through the gain ``alpha`` (ADU per
photo-electron) and the ``offset``, and expects a read noise ``sigma``. Values typed
wrong are easy to miss: camera sheets give the gain in ADU per electron or in
electrons per ADU, and the offset changes with the camera's settings. The
reconstruction's sharpness barely depends on them (the priors are weighed against the
field's own light), but its photon counts do, and so does every noise-based estimate:
with the gain twice too high the frames look quieter than photon counting allows and
the background cap is lost: 1.1-1.5 dB on 20 filaments, 3 dB on a dye carpet
(``docs/quality.md``, "Camera values entered wrong").

Light is never less noisy than photon counting: in photons, a pixel's variance is at
least its mean plus the read noise squared, and blinking only adds to it. So where
the *quietest* pixels of a field vary clearly less than that, the camera values are
wrong, whatever the sample: the gain too high, the offset too low or the read noise
too high. The test is one-sided on purpose. A gain entered too low makes every pixel
noisier than photon counting, and so do dyes blinking everywhere (a carpet, a crowded
field); from the frames alone the two cannot be told apart, and a warning that fires
on samples teaches users to ignore it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from .signal_level import low_quantile

#: the share of the pixels that stands for the quietest ones: any field has some
#: pixels (background, gaps) that only photon counting and read noise make vary
QUIET_QUANTILE = 0.1
#: the normal quantile of :data:`QUIET_QUANTILE`: where a field varies exactly as
#: photon counting does, the quiet quantile sits this many standard errors below 1
QUIET_Z = 1.2816
#: a quietness below this (the variance's share of what photon counting needs) is
#: reported. Measured with the right camera values: 0.95 or more on line pairs
#: (bright, dim, T = 30-500), dye carpets, 20-100 filaments, blinking blobs and the
#: real stack (0.95-1.22 where the field has quiet pixels, up to 1.8 where dyes blink
#: everywhere); with the gain 1.5 / 2 times too high, 0.71-0.73 / 0.54-0.68 (0.85-0.92
#: where dyes blink everywhere: no pixel is quiet there). 1.5 times too high already
#: costs 1-3 dB on filaments and carpets (benchmarks/bench_camera.py)
MIN_QUIETNESS = 0.8


def quietness(
    mean: torch.Tensor,
    variance: torch.Tensor,
    read_noise_photons: float,
    n_frames: int,
    exclude: torch.Tensor | None = None,
) -> float:
    """How the quietest pixels vary, as a share of what photon counting needs: the
    :data:`QUIET_QUANTILE` quantile of ``variance / (mean + read noise^2)`` over the
    pixels, divided by where that quantile sits for pure photon counting measured
    over ``n_frames`` frames. About 1 (or more, with blinking) where the camera values
    are right; 0 where it cannot be measured (too few frames or pixels).

    ``mean`` and ``variance``: the frames' temporal mean and (detrended) variance per
    camera pixel, in photons; ``exclude``: pixels not to count (clipped ones, whose
    variance the camera took away)."""
    if n_frames < 3:
        return 0.0
    expected = (mean.clamp_min(0.0) + read_noise_photons**2).clamp_min(1e-12)
    ratio = variance / expected
    # a sample variance's relative error: 2 / (T - 1) for Gaussian noise, plus the
    # Poisson counts' fourth cumulant (mean / expected^2), which matters at low light
    relative_error = ((2.0 + mean.clamp_min(0.0) / expected**2) / (n_frames - 1)).sqrt()
    if exclude is not None:
        ratio, relative_error = ratio[~exclude], relative_error[~exclude]
    if ratio.numel() < 1.0 / QUIET_QUANTILE:
        return 0.0
    photon_counting = 1.0 - QUIET_Z * float(relative_error.median())
    if not math.isfinite(photon_counting) or photon_counting <= 0.2:
        return 0.0  # too few frames for the quantile to mean anything
    return low_quantile(ratio, QUIET_QUANTILE) / photon_counting


def camera_warning(info: Mapping[str, float]) -> str | None:
    """What to tell the user when the frames are quieter than photon counting allows
    with the camera values of the run (``Snapshot.info``), or None."""
    share = info.get("quietness", 0.0)
    if share <= 0 or share >= MIN_QUIETNESS:
        return None
    return (
        f"The frames vary less than photon counting allows with the camera values "
        f"entered: the quietest pixels show {share:.2f} of the variance their light must "
        "have. The gain alpha is too high (it is ADU per photo-electron, not electrons "
        "per ADU), or the offset too low, or the read noise sigma too high. Photon "
        "counts in x and b are off, and the background cap is less reliable. Check the "
        "values, or let them be estimated (auto in the widget; leave out --alpha, "
        "--offset, --sigma on the command line)."
    )
