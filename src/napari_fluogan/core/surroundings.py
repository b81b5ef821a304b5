"""The fluctuation slope from the field around the ROI.

The background bound (``background_bound.py``) fits how much mean light goes with
how much fluctuation variance, and that fit needs the field's brightness to vary.
Inside a region full of dyes (an ROI drawn in labelled cytoplasm) it does not, and a
uniform dye carpet looks like a uniform background: ``b`` takes the dyes and ``x``
keeps the highest noise peaks as blobs. The slope belongs to the dye and the PSF, not
to the ROI, so it is fitted on a window that reaches past the ROI into the
surroundings, where the dyes end.
"""

from __future__ import annotations

import numpy as np
import torch

from .background_bound import FluctuationSlope, fit_fluctuation_slope
from .config import FluoGANConfig
from .defective_pixels import pixel_statistics
from .saturation import saturated_pixels
from .stack import to_photons
from .trend import TemporalTrend

#: how far the window reaches past each side of the ROI, in multiples of the ROI's
#: longer side, and at most :data:`MAX_MARGIN_PX` (memory: the window's frames in photons)
MARGIN_ROI_SIDES = 1.0
MAX_MARGIN_PX = 64
#: frames used for the fit at most (the first ones): the slope is the dye's and the
#: PSF's, the same in every frame, and the window's frames are held in memory at once
MAX_FRAMES = 500


def surroundings_window(
    roi: tuple[int, int, int, int] | None, frame_shape: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The window ``(y, x, height, width)`` around ``roi`` inside the frame, or None
    where there is no ROI or it leaves no room around it."""
    if roi is None:
        return None
    y, x, h, w = roi
    height, width = frame_shape
    margin = min(int(round(MARGIN_ROI_SIDES * max(h, w))), MAX_MARGIN_PX)
    top, left = max(0, y - margin), max(0, x - margin)
    bottom, right = min(height, y + h + margin), min(width, x + w + margin)
    if (top, left, bottom, right) == (y, x, y + h, x + w):
        return None
    return top, left, bottom - top, right - left


def surroundings_slope(
    frames: np.ndarray, config: FluoGANConfig, device: torch.device
) -> FluctuationSlope | None:
    """The fluctuation slope fitted on the window around ``config.roi``, or None.

    ``frames``: the whole raw stack (T, H, W) in ADU; ``config`` with the camera's
    ``alpha``, ``offset`` and ``sigma`` resolved. Mean and variance are measured as
    the engine measures them on the ROI (photons, around the bleaching trend), over the
    first :data:`MAX_FRAMES` frames.
    """
    window = surroundings_window(config.roi, frames.shape[1:])
    if window is None:
        return None
    top, left, h, w = window
    assert config.alpha is not None and config.offset is not None
    photons = torch.as_tensor(
        to_photons(
            frames[:MAX_FRAMES, top : top + h, left : left + w], config.alpha, config.offset
        ),
        device=device,
    )
    mean, variance, _ = pixel_statistics(
        photons,
        TemporalTrend(photons, config.detrend_frames),
        config.psf_fwhm_px,
        config.leave_out_defective_pixels,
        saturated_pixels(photons),
    )
    return fit_fluctuation_slope(
        mean, variance, config.read_noise_photons, config.psf_fwhm_px, photons.shape[0]
    )
