"""A fluctuation stack with its metadata, and the checks every entry point shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import FluoGANError


@dataclass
class Stack:
    """Raw camera frames (T, H, W) in ADU, with the camera pixel size when known."""

    frames: np.ndarray
    pixel_size_nm: float | None = None
    name: str = "stack"

    def __post_init__(self) -> None:
        self.frames = validate_frames(self.frames)


def validate_frames(frames: np.ndarray) -> np.ndarray:
    """Check that ``frames`` is a finite (T >= 2, H, W) stack; return it as an array."""
    arr = np.asarray(frames)
    if arr.ndim == 2:
        raise FluoGANError(
            "This is a single 2-D image, not a stack: FluoGAN needs a time series of "
            "frames (T x H x W) of the same field."
        )
    if arr.ndim != 3:
        raise FluoGANError(
            f"Expected a stack of frames (T x H x W), got an array of shape {arr.shape}; "
            "split channels or Z planes first."
        )
    if arr.shape[0] < 2:
        raise FluoGANError(
            f"The stack has {arr.shape[0]} frame; FluoGAN needs at least 2 (hundreds are better)."
        )
    if arr.shape[1] < 4 or arr.shape[2] < 4:
        raise FluoGANError(f"Frames of {arr.shape[1]} x {arr.shape[2]} pixels are too small.")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise FluoGANError(f"The stack must hold real numbers, got dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise FluoGANError(
            f"The stack contains {bad} NaN or Inf values; replace or crop them before running."
        )
    return arr


def crop_roi(frames: np.ndarray, roi: tuple[int, int, int, int] | None) -> np.ndarray:
    """Crop (T, H, W) frames to ``roi = (y, x, height, width)`` in camera pixels."""
    if roi is None:
        return frames
    y, x, h, w = roi
    _, height, width = frames.shape
    if y < 0 or x < 0 or y + h > height or x + w > width:
        raise FluoGANError(
            f"The ROI (y={y}, x={x}, {h} x {w}) lies outside the {height} x {width} image; "
            "draw it inside the frame."
        )
    return frames[:, y : y + h, x : x + w]


def to_photons(
    frames: np.ndarray,
    alpha: float,
    offset: float,
    offset_pattern: np.ndarray | None = None,
) -> np.ndarray:
    """Convert ADU to photons once, at the boundary: ``(raw - offset) / alpha``.

    ``offset_pattern`` (ADU, broadcast over the frames): each pixel's offset less
    ``offset``, from a dark stack (``dark.py``), subtracted too. Where the camera
    clipped (several samples at the stack's maximum) those samples are left at
    ``(maximum - offset) / alpha`` and no sample is taken above it: the clipped samples
    stay equal, which is how ``saturation.py`` finds them.
    """
    photons = (np.asarray(frames, dtype=np.float32) - np.float32(offset)) / np.float32(alpha)
    if offset_pattern is None:
        return photons.astype(np.float32)
    pattern_photons = np.asarray(offset_pattern, dtype=np.float32) / np.float32(alpha)
    corrected = (photons - pattern_photons).astype(np.float32)
    top = photons.max()
    at_top = photons == top
    if int(at_top.sum()) < 2:  # the stack does not clip
        return corrected
    return np.where(at_top, top, np.minimum(corrected, top)).astype(np.float32)
