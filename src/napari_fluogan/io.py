"""TIFF reading and writing with tifffile (pixel sizes from OME / ImageJ metadata)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tifffile

from .core.config import FluoGANConfig
from .core.errors import FluoGANError
from .core.stack import Stack

TIFF_SUFFIXES = (".tif", ".tiff")


def read_tiff(path: str | Path) -> tuple[np.ndarray, str, float | None]:
    """Read a TIFF: the array, its axes string (e.g. ``TYX``) and the pixel size in nm."""
    path = Path(path)
    if not path.exists():
        raise FluoGANError(f"File not found: {path}.")
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise FluoGANError(f"{path.name} is not a TIFF file (.tif or .tiff expected).")
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            data = series.asarray()
            axes = series.axes
            pixel_size_nm = _pixel_size_nm(tif)
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise FluoGANError(f"Cannot read {path.name} as a TIFF ({exc}).") from None
    return data, axes, pixel_size_nm


def _pixel_size_nm(tif: tifffile.TiffFile) -> float | None:
    """Pixel size from OME-XML, ImageJ metadata or the resolution tags, in nm."""
    if tif.is_ome and tif.ome_metadata:
        import xml.etree.ElementTree as ET

        root = ET.fromstring(tif.ome_metadata)
        for el in root.iter():
            if el.tag.endswith("Pixels") and "PhysicalSizeX" in el.attrib:
                size = float(el.attrib["PhysicalSizeX"])
                unit = el.attrib.get("PhysicalSizeXUnit", "µm")
                return size * _UNIT_TO_NM.get(unit, 1000.0)
    page = tif.pages[0]
    tag = page.tags.get("XResolution")
    if tag is None:
        return None
    num, den = tag.value
    if num == 0:
        return None
    per_unit = num / den  # pixels per unit
    unit = None
    if tif.is_imagej and tif.imagej_metadata:
        unit = tif.imagej_metadata.get("unit")
    res_unit = page.tags.get("ResolutionUnit")
    if unit in ("micron", "µm", "um", "\\u00B5m"):
        return 1000.0 / per_unit
    if unit == "nm":
        return 1.0 / per_unit
    if res_unit is not None and int(res_unit.value) == 3 and unit is None:  # centimetre
        return 1e7 / per_unit
    return None


_UNIT_TO_NM = {"nm": 1.0, "µm": 1000.0, "um": 1000.0, "mm": 1e6, "m": 1e9}


def read_stack(path: str | Path) -> Stack:
    """Read a (T, H, W) fluctuation stack from a TIFF file."""
    data, axes, pixel_size_nm = read_tiff(path)
    data = np.squeeze(data) if data.ndim > 3 else data
    return Stack(data, pixel_size_nm=pixel_size_nm, name=Path(path).stem)


def write_image(
    path: str | Path, image: np.ndarray, pixel_size_nm: float, metadata: dict | None = None
) -> None:
    """Write a 2-D float32 image as an ImageJ TIFF with its pixel size (in µm)."""
    pixel_um = pixel_size_nm / 1000.0
    tifffile.imwrite(
        path,
        np.asarray(image, dtype=np.float32),
        imagej=True,
        resolution=(1.0 / pixel_um, 1.0 / pixel_um),
        metadata={
            "unit": "um",
            "spacing": pixel_um,
            **({"Info": json.dumps(metadata)} if metadata else {}),
        },
    )


def write_result(out_dir: str | Path, x: np.ndarray, b: np.ndarray, config: FluoGANConfig) -> Path:
    """Write ``x.tif`` (fine grid), ``b.tif`` (camera grid) and ``config.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_image(out / "x.tif", x, config.fine_pixel_size_nm, config.to_dict())
    write_image(out / "b.tif", b, config.pixel_size_nm, config.to_dict())
    config.to_json(out / "config.json")
    return out
