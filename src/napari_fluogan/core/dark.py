"""A dark stack: the camera's offset pixel by pixel, and its read noise.

An sCMOS camera reads each pixel through its own amplifier, so each pixel has its own
offset: a fixed pattern of a few ADU around the nominal value, the same in every
frame. Photon counting cannot explain it, and through the PSF it cannot be light (it
changes from one pixel to the next), yet it does not average away over frames. On the
dim benchmark phantom (Airy PSF, about 11 photons per pixel per frame) a pattern of 2
ADU (1 photon) cost FluoGAN a step and 3.4 dB and turned the PSF shape choice from Airy
to Gaussian (``docs/quality.md``, "A camera's fixed offset pattern").

Frames recorded with the shutter closed (same exposure, same camera ROI and binning)
measure it: their mean per pixel is the offset map, and their spread the read noise.
The engine subtracts the map's pattern (the map less its median) with the offset, and
takes the offset and the read noise from it unless they are given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .calibrate import CameraCalibration
from .errors import FluoGANError
from .stack import validate_frames

#: a dark stack needs at least this many frames (the pattern's error is the read noise
#: over their square root: 0.3 of it at 10 frames)
MIN_DARK_FRAMES = 10


@dataclass(frozen=True)
class DarkCalibration:
    """The offset of each camera pixel (ADU, (H, W)) and the read noise (ADU), measured
    on ``n_frames`` dark frames."""

    offset_map_adu: np.ndarray
    read_noise_adu: float
    n_frames: int

    @classmethod
    def from_frames(
        cls, dark_frames: np.ndarray, max_values: int | None = None
    ) -> DarkCalibration:
        """Measure a dark stack (T, H, W) in ADU; from its first frames holding about
        ``max_values`` pixel values (at least :data:`MIN_DARK_FRAMES`), or all (None)."""
        frames = validate_frames(dark_frames)
        if max_values is not None:
            plane = frames.shape[1] * frames.shape[2]
            frames = frames[: max(MIN_DARK_FRAMES, max_values // plane)]
        if frames.shape[0] < MIN_DARK_FRAMES:
            raise FluoGANError(
                f"The dark stack has {frames.shape[0]} frames; record at least "
                f"{MIN_DARK_FRAMES} (100 or more measure the offset map well)."
            )
        values = np.asarray(frames, dtype=np.float64)
        offset_map = values.mean(axis=0)
        # the median pixel's spread: a few noisy (random telegraph) pixels do not raise it
        read_noise = float(np.sqrt(np.median(values.var(axis=0, ddof=1))))
        return cls(offset_map.astype(np.float32), read_noise, int(frames.shape[0]))

    @property
    def offset_adu(self) -> float:
        """The camera's offset: the map's median (ADU)."""
        return float(np.median(self.offset_map_adu))

    def pattern_adu(self, frame_shape: tuple[int, int]) -> np.ndarray:
        """The map less its median (ADU, (H, W)), for frames of ``frame_shape``."""
        if tuple(frame_shape) != self.offset_map_adu.shape:
            height, width = self.offset_map_adu.shape
            raise FluoGANError(
                f"The dark stack's frames are {height} x {width} pixels and the stack's "
                f"{frame_shape[0]} x {frame_shape[1]}: record the dark stack with the same "
                "camera ROI and binning."
            )
        return self.offset_map_adu - np.float32(self.offset_adu)


def with_dark(
    calibration: CameraCalibration, dark: DarkCalibration | None
) -> CameraCalibration:
    """``calibration`` with the offset and read noise a dark stack measured, as a run
    takes them (the gain still comes from the stack); unchanged without one."""
    if dark is None:
        return calibration
    return dataclasses.replace(calibration, offset=dark.offset_adu, sigma=dark.read_noise_adu)


def describe_dark(info: Mapping[str, float]) -> str | None:
    """For a status line (``Snapshot.info``): the dark stack subtracted, or None."""
    n = int(info.get("dark_frames", 0))
    return f"offset map from {n} dark frames" if n > 0 else None
