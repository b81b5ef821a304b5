"""Qt-free inspection of an image layer: is it a stack, its pixel size, its frames.

A layer is used as ``(..., T, Y, X)``: time is the third axis from the end ("time
first" among the last three); any axes before it (Z planes, stage positions) are taken
at the viewer's current slider position, never flattened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_LENGTH_TO_NM = {
    "nanometer": 1.0,
    "micrometer": 1e3,
    "millimeter": 1e6,
    "meter": 1e9,
}


def stack_problem(shape: Sequence[int], rgb: bool = False, multiscale: bool = False) -> str | None:
    """Why an image of this shape cannot be reconstructed, or ``None`` when it can."""
    if multiscale:
        return "it is a multiscale (pyramid) image; open the full-resolution stack instead"
    if rgb:
        return "it is an RGB colour image, not a stack of camera frames"
    if len(shape) < 3:
        return (
            "it is a single 2-D image; FluoGAN needs a time series of frames "
            "(T x H x W) of the same field"
        )
    if shape[-3] < 2:
        return "its time axis holds a single frame; FluoGAN needs many frames (hundreds)"
    if shape[-2] < 4 or shape[-1] < 4:
        return f"its frames of {shape[-2]} x {shape[-1]} pixels are too small"
    return None


def pixel_size_nm_from_layer(
    scale: Sequence[float], units: Sequence[Any] | None, metadata: Mapping[str, Any]
) -> float | None:
    """The camera pixel size in nm that a layer declares, or ``None`` when it does not.

    In order: ``metadata["pixel_size_nm"]`` (set by this plugin's reader); the X scale
    in the layer's length unit; an X scale other than 1 without a unit, read as µm
    (napari's convention for microscopy). A unit-less scale of 1 says nothing.
    """
    value = metadata.get("pixel_size_nm") if metadata else None
    if isinstance(value, (int, float)) and np.isfinite(value) and value > 0:
        return float(value)
    sx = float(scale[-1])
    if not np.isfinite(sx) or sx <= 0:
        return None
    unit = str(units[-1]) if units else "pixel"
    if unit in _LENGTH_TO_NM:
        return sx * _LENGTH_TO_NM[unit]
    if unit == "pixel" and sx != 1.0:
        return sx * 1e3
    return None


def time_axis_note(ndim: int, metadata: Mapping[str, Any]) -> str | None:
    """A warning when the file's axes say the third-last axis is not time."""
    axes = str(metadata.get("axes", "")) if metadata else ""
    if len(axes) != ndim or ndim < 3:
        return None
    if axes[-3] != "T":
        return (
            f"the file names this axis '{axes[-3]}', not time (axes {axes}); "
            "it is used as the time axis"
        )
    return None


def leading_index(data_point: Sequence[float], shape: Sequence[int]) -> tuple[int, ...]:
    """Integer indices of the axes before (T, Y, X) at a continuous data position."""
    n_lead = len(shape) - 3
    if n_lead <= 0:
        return ()
    point = np.asarray(data_point, dtype=float)[-len(shape) :][:n_lead]
    idx = np.clip(np.round(point), 0, np.asarray(shape[:n_lead]) - 1).astype(int)
    return tuple(int(i) for i in idx)


def frames_at(data: Any, index: tuple[int, ...] = ()) -> np.ndarray:
    """The (T, H, W) frames of ``data`` at ``index`` on its leading axes, as numpy."""
    sub = data[index] if index else data
    return np.asarray(sub)


def leading_axes_text(index: tuple[int, ...], axis_labels: Sequence[str] = ()) -> str:
    """``"z=3, position=1"``: the leading-axis position used (empty when none)."""
    labels = list(axis_labels)[: len(index)]
    if len(labels) < len(index):
        labels = [f"axis {k}" for k in range(len(index))]
    return ", ".join(f"{label}={i}" for label, i in zip(labels, index, strict=True))


def source_file(source_path: str | None, metadata: Mapping[str, Any] | None) -> str | None:
    """The file a layer was read from: napari's ``layer.source.path``, else the path
    this plugin's reader put in its metadata; None for a layer made in memory."""
    if source_path:
        return str(source_path)
    value = metadata.get("source_path") if metadata else None
    return str(value) if value else None
