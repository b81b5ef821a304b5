"""The fluctuation slope, and a carpet of dyes, from the field around the ROI.

The background bound (``background_bound.py``) fits how much mean light goes with
how much fluctuation variance, and that fit needs the field's brightness to vary.
Inside a region full of dyes (an ROI drawn in labelled cytoplasm) it does not, and a
uniform dye carpet looks like a uniform background: ``b`` takes the dyes and ``x``
keeps the highest noise peaks as blobs. The slope belongs to the dye and the PSF, not
to the ROI, so it is fitted on a window that reaches past the ROI into the
surroundings, where the dyes end. Likewise an ROI drawn tightly around structure on a
carpet of dyes is mostly structure, and the carpet under it (``dye_carpet.py``) is
read on the window, which is mostly carpet.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .background_bound import FluctuationSlope, fit_fluctuation_slope, steady_light
from .config import FluoGANConfig
from .defective_pixels import pixel_statistics
from .dye_carpet import carpet_floor
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


class Surroundings:
    """The field around the ROI (:func:`surroundings_window`), measured once and only
    when asked: for where the ROI's own estimates fail.

    ``frames``: the whole raw stack (T, H, W) in ADU; ``config`` with the camera's
    ``alpha``, ``offset`` and ``sigma`` resolved; ``offset_pattern``: a dark stack's
    (``dark.py``; ADU, (H, W)), or None. Mean and variance are measured as the
    engine measures them on the ROI (photons, around the bleaching trend), over the
    first :data:`MAX_FRAMES` frames.
    """

    def __init__(
        self,
        frames: np.ndarray,
        config: FluoGANConfig,
        device: torch.device,
        offset_pattern: np.ndarray | None = None,
    ) -> None:
        self.frames = frames
        self.config = config
        self.device = device
        self.offset_pattern = offset_pattern

    @functools.cached_property
    def statistics(self) -> tuple[torch.Tensor, torch.Tensor, int] | None:
        """Mean and variance images of the window (photons) and the frames they were
        measured on, or None where the ROI leaves no room around it."""
        config = self.config
        window = surroundings_window(config.roi, self.frames.shape[1:])
        if window is None:
            return None
        top, left, h, w = window
        assert config.alpha is not None and config.offset is not None
        photons = torch.as_tensor(
            to_photons(
                self.frames[:MAX_FRAMES, top : top + h, left : left + w],
                config.alpha,
                config.offset,
                None
                if self.offset_pattern is None
                else self.offset_pattern[top : top + h, left : left + w],
            ),
            device=self.device,
        )
        mean, variance, _ = pixel_statistics(
            photons,
            TemporalTrend(photons, config.detrend_frames),
            config.psf_fwhm_px,
            config.leave_out_defective_pixels,
            saturated_pixels(photons),
        )
        return mean, variance, photons.shape[0]

    def slope(self) -> FluctuationSlope | None:
        """The fluctuation slope fitted on the window, or None."""
        measured = self.statistics
        if measured is None:
            return None
        mean, variance, n_frames = measured
        config = self.config
        return fit_fluctuation_slope(
            mean, variance, config.read_noise_photons, config.psf_fwhm_px, n_frames
        )

    def carpet(self) -> float | None:
        """The light per camera pixel of a carpet of dyes under the whole window
        (:func:`.dye_carpet.carpet_floor`), or None: an ROI drawn tightly around
        structure on a carpet is mostly structure, its surroundings mostly carpet."""
        measured = self.statistics
        if measured is None:
            return None
        mean, variance, n_frames = measured
        config = self.config
        steady = steady_light(
            mean, variance, config.read_noise_photons, config.psf_fwhm_px, None, n_frames
        )
        return carpet_floor(mean, steady.light, config.psf_fwhm_px) if steady else None
