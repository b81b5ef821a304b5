"""Qt-free geometry: ROI boxes from rectangles, overlay transforms, display ranges.

Conventions (napari's): in data coordinates pixel ``i`` is centred on ``i`` and
spans ``[i - 0.5, i + 0.5]``; world = data * scale + translate, per axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import FluoGANError

MIN_ROI_PX = 4
"""The engine needs at least 4 x 4 camera pixels."""

LARGE_ROI_PX = 128 * 128
"""Above this many camera pixels the widget asks before reconstructing a whole frame."""


@dataclass(frozen=True)
class Roi:
    """A region of the camera grid: origin ``(y, x)`` and size ``(h, w)`` in pixels."""

    y: int
    x: int
    h: int
    w: int

    @property
    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(y, x, h, w)``, as :attr:`FluoGANConfig.roi` expects."""
        return (self.y, self.x, self.h, self.w)

    @property
    def n_pixels(self) -> int:
        return self.h * self.w

    @classmethod
    def whole(cls, frame_shape: Sequence[int]) -> Roi:
        """The whole frame of shape ``(H, W)``."""
        return cls(0, 0, int(frame_shape[-2]), int(frame_shape[-1]))


@dataclass(frozen=True)
class Overlay:
    """Scale and translate (last two axes, world units) that place an image on the input."""

    scale: tuple[float, float]
    translate: tuple[float, float]


def overlay_transform(
    roi_origin_px: tuple[int, int],
    upsample: int,
    input_scale: Sequence[float] = (1.0, 1.0),
    input_translate: Sequence[float] = (0.0, 0.0),
) -> Overlay:
    """Where a grid ``upsample`` times finer than the camera, starting at the ROI, lies.

    In camera pixels: ``scale = 1 / L`` and ``translate = origin - 0.5 + 0.5 / L``
    (fine pixel centres sit inside the camera pixel they subdivide). Then into the
    input layer's world: multiply by its scale and add its translate (last two axes).
    ``upsample = 1`` gives the transform of the background ``b`` (camera grid).
    """
    if upsample < 1:
        raise ValueError("upsample must be >= 1")
    s_in = np.asarray(input_scale, dtype=float)[-2:]
    t_in = np.asarray(input_translate, dtype=float)[-2:]
    origin = np.asarray(roi_origin_px, dtype=float)
    scale = s_in / upsample
    translate = t_in + (origin - 0.5 + 0.5 / upsample) * s_in
    return Overlay((float(scale[0]), float(scale[1])), (float(translate[0]), float(translate[1])))


def world_to_pixel(
    points_world: np.ndarray, scale: Sequence[float], translate: Sequence[float]
) -> np.ndarray:
    """World coordinates (last two axes) to continuous data coordinates of a layer."""
    s = np.asarray(scale, dtype=float)[-2:]
    t = np.asarray(translate, dtype=float)[-2:]
    return (np.asarray(points_world, dtype=float)[..., -2:] - t) / s


def pixel_to_world(
    points_px: np.ndarray, scale: Sequence[float], translate: Sequence[float]
) -> np.ndarray:
    """Continuous data coordinates (last two axes) of a layer to world coordinates."""
    s = np.asarray(scale, dtype=float)[-2:]
    t = np.asarray(translate, dtype=float)[-2:]
    return np.asarray(points_px, dtype=float)[..., -2:] * s + t


def roi_from_vertices(vertices_px: np.ndarray, frame_shape: Sequence[int]) -> Roi:
    """The camera pixels a rectangle covers, clipped to the frame.

    ``vertices_px`` (N, >=2) are in the image's data coordinates (last two columns
    y, x). A pixel is inside when its centre is in ``[lo, hi)``, so a rectangle drawn
    from 9.5 to 25.5 (pixel edges) and one drawn from 10 to 26 both give 16 pixels
    starting at 10. A rotated rectangle gives its bounding box.
    """
    v = np.asarray(vertices_px, dtype=float)[:, -2:]
    if v.size == 0 or not np.isfinite(v).all():
        raise FluoGANError("The ROI rectangle has no valid corners; draw it again.")
    # Round off float noise first (0.95 / 0.1 is 9.4999...), then take pixel centres.
    lo = np.floor(np.round(v.min(axis=0) + 0.5, 6)).astype(int)
    hi = np.floor(np.round(v.max(axis=0) + 0.5, 6)).astype(int)
    height, width = int(frame_shape[-2]), int(frame_shape[-1])
    y0, x0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    y1, x1 = min(int(hi[0]), height), min(int(hi[1]), width)
    if y1 <= y0 or x1 <= x0:
        raise FluoGANError(
            "The ROI rectangle lies outside the image; draw it on the image you reconstruct."
        )
    roi = Roi(y0, x0, y1 - y0, x1 - x0)
    if roi.h < MIN_ROI_PX or roi.w < MIN_ROI_PX:
        raise FluoGANError(
            f"The ROI is {roi.h} x {roi.w} camera pixels; FluoGAN needs at least "
            f"{MIN_ROI_PX} x {MIN_ROI_PX}: draw a larger rectangle."
        )
    return roi


def roi_from_rectangle(
    vertices: np.ndarray,
    shapes_scale: Sequence[float],
    shapes_translate: Sequence[float],
    image_scale: Sequence[float],
    image_translate: Sequence[float],
    frame_shape: Sequence[int],
) -> Roi:
    """ROI of a Shapes rectangle (its data coordinates) on an image with its own transform."""
    world = pixel_to_world(np.asarray(vertices, dtype=float), shapes_scale, shapes_translate)
    return roi_from_vertices(world_to_pixel(world, image_scale, image_translate), frame_shape)


def roi_description(roi: Roi, pixel_size_nm: float | None, whole_frame: bool = False) -> str:
    """``"16 x 16 camera px (1.60 x 1.60 µm) at y=10, x=10"`` for the widget."""
    size = f"{roi.h} x {roi.w} camera px"
    if pixel_size_nm:
        size += f" ({roi.h * pixel_size_nm / 1000:.2f} x {roi.w * pixel_size_nm / 1000:.2f} µm)"
    where = ", whole frame" if whole_frame else f" at y={roi.y}, x={roi.x}"
    return size + where


def display_range(image: np.ndarray, upper_percentile: float = 99.9) -> tuple[float, float]:
    """Contrast limits that follow the data: minimum to a high percentile (spikes clipped)."""
    finite = np.asarray(image, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo = float(finite.min())
    hi = float(np.percentile(finite, upper_percentile))
    if hi <= lo:
        hi = float(finite.max())
    if hi <= lo:
        hi = lo + 1.0
    return (lo, hi)


def roi_from_shapes(shapes: Any, image: Any) -> Roi:
    """ROI on ``image``'s camera grid from a Shapes layer (duck-typed napari layers).

    The selected rectangle, else the first one; the whole frame when ``shapes`` is
    None or holds no rectangle (see :func:`roi_and_whole_from_shapes`).
    """
    return roi_and_whole_from_shapes(shapes, image)[0]


def roi_and_whole_from_shapes(shapes: Any, image: Any) -> tuple[Roi, bool]:
    """Like :func:`roi_from_shapes`, and whether the ROI is the whole frame."""
    frame_shape = tuple(int(n) for n in image.data.shape[-2:])
    if shapes is None:
        return Roi.whole(frame_shape), True
    rectangles = [i for i, kind in enumerate(shapes.shape_type) if kind == "rectangle"]
    if not rectangles:
        return Roi.whole(frame_shape), True
    selected = sorted(i for i in shapes.selected_data if i in rectangles)
    index = selected[0] if selected else rectangles[0]
    roi = roi_from_rectangle(
        shapes.data[index], shapes.scale, shapes.translate, image.scale, image.translate,
        frame_shape,
    )
    return roi, False
