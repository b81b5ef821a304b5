"""npe2 writer: an image layer (x or b) as a float32 TIFF with pixel size and config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..io import TIFF_SUFFIXES, write_image
from . import metadata_keys as keys
from .layer_info import pixel_size_nm_from_layer


def write_tiff(path: str, data: Any, attributes: dict[str, Any]) -> list[str]:
    """Write one image layer as an ImageJ float32 TIFF; returns the path written.

    The pixel size comes from the layer metadata (set by the widget for x and b) or
    from its scale; the FluoGAN config of the run and its run record (the stack and
    dark stack files read), when attached to the layer, are saved as JSON in the
    file, where the reader (and ``FluoGANConfig.from_dict``) find them again.
    """
    target = Path(path)
    if target.suffix.lower() not in TIFF_SUFFIXES:
        target = target.with_name(target.name + ".tif")
    metadata = attributes.get("metadata") or {}
    scale = attributes.get("scale")
    if scale is None or len(scale) == 0:  # napari may hand an array: no truth value
        scale = (1.0,) * np.ndim(data)
    pixel_size_nm = pixel_size_nm_from_layer(scale, attributes.get("units"), metadata)
    config = metadata.get(keys.CONFIG)
    write_image(target, np.asarray(data, dtype=np.float32), pixel_size_nm, config,
                metadata.get(keys.RUN))
    return [str(target)]
