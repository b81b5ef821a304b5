"""npe2 reader: drag and drop of TIFF stacks (plain, ImageJ hyperstacks, OME-TIFF).

One layer per channel, with the pixel size as the layer scale (µm), time third from
the end and Z / position axes kept as sliders; see :func:`napari_fluogan.io.read_tiff_images`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..io import TIFF_SUFFIXES, TiffImage, read_tiff_images
from . import metadata_keys as keys

LayerData = tuple[Any, dict[str, Any], str]
PathOrPaths = str | Sequence[str]

_AXIS_LABELS = {
    "T": "t",
    "Z": "z",
    "Y": "y",
    "X": "x",
    "P": "position",
    "R": "tile",
    "M": "mosaic",
    "I": "sequence",
    "Q": "other",
}
_CHANNEL_COLORMAPS = ("green", "magenta", "cyan", "yellow", "red", "blue")


def napari_get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """Return :func:`read_tiffs` for ``.tif`` / ``.tiff`` paths, ``None`` for anything else."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths:
        return None
    for p in paths:
        p = Path(p)
        if p.suffix.lower() not in TIFF_SUFFIXES or p.is_dir():
            return None
    return read_tiffs


def read_tiffs(path: PathOrPaths) -> list[LayerData]:
    """Layer data tuples for one or several TIFF files."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        images = read_tiff_images(p)
        multichannel = sum(im.channel is not None for im in images) > 1
        for k, image in enumerate(images):
            layers.append(image_to_layer_data(image, str(p), k if multichannel else None))
    return layers


def image_to_layer_data(
    image: TiffImage, source: str, channel_index: int | None = None
) -> LayerData:
    """One napari image layer: scale in µm on Y/X (and Z), axis labels, file metadata."""
    scale, units = [], []
    for axis in image.axes:
        if axis in "YX" and image.pixel_size_nm:
            scale.append(image.pixel_size_nm / 1000.0)
            units.append("micrometer")
        elif axis == "Z" and image.z_step_nm:
            scale.append(image.z_step_nm / 1000.0)
            units.append("micrometer")
        else:
            scale.append(1.0)
            units.append("pixel")
    if image.rgb:
        scale, units = scale[:-1], units[:-1]
    spatial_axes = image.axes[:-1] if image.rgb else image.axes
    metadata: dict[str, Any] = {
        "axes": spatial_axes,
        "source_path": source,
        "pixel_size_nm": image.pixel_size_nm,
        "z_step_nm": image.z_step_nm,
        "frame_interval_s": image.frame_interval_s,
        "channel": image.channel,
        "axes_notes": list(image.notes),
    }
    if image.config is not None:
        metadata[keys.CONFIG] = image.config
    if image.run is not None:
        metadata[keys.RUN] = image.run
    kwargs: dict[str, Any] = {
        "name": image.name,
        "scale": tuple(scale),
        "units": tuple(units),
        "axis_labels": tuple(_AXIS_LABELS.get(a, a.lower()) for a in spatial_axes),
        "metadata": metadata,
        "rgb": image.rgb,
    }
    if channel_index is not None:
        kwargs["colormap"] = _CHANNEL_COLORMAPS[channel_index % len(_CHANNEL_COLORMAPS)]
        kwargs["blending"] = "additive"
    return (image.data, kwargs, "image")
