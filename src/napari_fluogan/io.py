"""TIFF reading and writing with tifffile (pixel sizes from OME / ImageJ metadata)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

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


def read_stack(path: str | Path, channel: int = 0, plane: tuple[int, ...] = ()) -> Stack:
    """Read a (T, H, W) fluctuation stack from a TIFF file.

    The time axis comes from the file's axes metadata (:func:`read_tiff_images`).
    ``channel`` picks one channel of a multi-channel file; ``plane`` gives the index on
    the extra leading axes (Z, stage position) when the file has them.
    """
    images = read_tiff_images(path)
    if not 0 <= channel < len(images):
        raise FluoGANError(
            f"{Path(path).name} has {len(images)} channel(s); choose a channel from 0 to "
            f"{len(images) - 1}."
        )
    image = images[channel]
    if image.rgb:
        raise FluoGANError(
            f"{Path(path).name} is an RGB colour image, not a stack of camera frames: "
            "give the raw frames (T x H x W) as the camera saved them."
        )
    data, axes = image.data, image.axes
    n_extra = max(data.ndim - 3, 0)
    if n_extra and len(plane) != n_extra:
        raise FluoGANError(
            f"{Path(path).name} has the axes {axes}: give the index on its leading "
            f"{axes[:n_extra]} axis/axes with --plane ({n_extra} number(s))."
        )
    if n_extra:
        extent = data.shape[:n_extra]
        if any(not 0 <= i < n for i, n in zip(plane, extent, strict=True)):
            raise FluoGANError(
                f"--plane {' '.join(map(str, plane))} is outside the {axes[:n_extra]} "
                f"axes of size {' x '.join(map(str, extent))}."
            )
        data = data[tuple(plane)]
    return Stack(data, pixel_size_nm=image.pixel_size_nm, name=image.name)


#: the file beside a result's config.json that says what the run read
RUN_RECORD = "run.json"
#: the key of that record in the ImageJ description of the result's TIFFs
RUN_KEY = "fluogan_run"


def run_record(
    stack: str | Path | None,
    dark: str | Path | None,
    channel: int | str | None,
    plane: tuple[int, ...] | list[int],
    model: str,
    iterations: int,
) -> dict[str, Any]:
    """What a run read and assumed beyond its config: the stack and the dark stack
    (a dark stack changes the result but is data, not a setting; None where it was
    not a file), the channel and planes, the model line and the iterations done."""
    from . import __version__

    return {
        "stack": None if stack is None else str(Path(stack).resolve()),
        "dark": None if dark is None else str(Path(dark).resolve()),
        "channel": channel,
        "plane": [int(i) for i in plane],
        "model": model,
        "iterations": int(iterations),
        "napari_fluogan": __version__,
    }


def write_image(
    path: str | Path,
    image: np.ndarray,
    pixel_size_nm: float | None,
    metadata: dict | None = None,
    run: dict | None = None,
) -> None:
    """Write a 2-D float32 image as an ImageJ TIFF with its pixel size (in µm).

    ``metadata`` (e.g. the run's config) is stored as JSON in the ImageJ ``Info``
    field, ``run`` (:func:`run_record`) as JSON under :data:`RUN_KEY` in the ImageJ
    description; :func:`read_tiff_images` gives both back. ``pixel_size_nm = None``
    writes no resolution.
    """
    info = {"Info": json.dumps(metadata)} if metadata else {}
    if run:
        info[RUN_KEY] = json.dumps(run)
    if pixel_size_nm is None:
        tifffile.imwrite(path, np.asarray(image, dtype=np.float32), imagej=True, metadata=info)
        return
    pixel_um = pixel_size_nm / 1000.0
    tifffile.imwrite(
        path,
        np.asarray(image, dtype=np.float32),
        imagej=True,
        resolution=(1.0 / pixel_um, 1.0 / pixel_um),
        metadata={"unit": "um", "spacing": pixel_um, **info},
    )


def write_result(
    out_dir: str | Path,
    x: np.ndarray,
    b: np.ndarray,
    config: FluoGANConfig,
    run: dict | None = None,
) -> Path:
    """Write ``x.tif`` (fine grid), ``b.tif`` (camera grid), ``config.json`` and, with
    a ``run`` record (:func:`run_record`), :data:`RUN_RECORD` (also kept in both TIFFs)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_image(out / "x.tif", x, config.fine_pixel_size_nm, config.to_dict(), run)
    write_image(out / "b.tif", b, config.pixel_size_nm, config.to_dict(), run)
    config.to_json(out / "config.json")
    if run is not None:
        (out / RUN_RECORD).write_text(json.dumps(run, indent=2) + "\n")
    return out


def earlier_dark(config_path: str | Path) -> str | None:
    """The dark stack that the run whose ``config.json`` is ``config_path`` subtracted,
    if the :data:`RUN_RECORD` beside it says so."""
    record = Path(config_path).with_name(RUN_RECORD)
    try:
        return json.loads(record.read_text()).get("dark")
    except (OSError, ValueError, AttributeError):
        return None


# --------------------------------------------------------------------------- hyperstacks

MAX_CHANNELS = 8
"""A 'channel' axis longer than this (with no time axis) is a mislabelled time series."""

_GENERIC_AXES = "IQ"  # tifffile: page sequence / unknown; in a plain stack these are frames


@dataclass
class TiffImage:
    """One image of a TIFF file: one channel, arranged ``(..., T, Y, X)``.

    ``axes`` names every axis of ``data`` with tifffile's letters (``T`` time, ``Z``
    depth, ``P`` stage position, ...); time, when present, is always third from the
    end, the layout the reconstruction expects.
    """

    data: np.ndarray
    axes: str
    name: str
    pixel_size_nm: float | None = None
    z_step_nm: float | None = None
    frame_interval_s: float | None = None
    channel: str | None = None
    rgb: bool = False
    config: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def read_tiff_images(path: str | Path) -> list[TiffImage]:
    """Read every image of a TIFF (plain, ImageJ hyperstack or OME), one per channel.

    The time axis comes from the axes metadata (a plain multi-page file is a time
    series of pages); channels become separate images; Z and stage-position axes are
    kept as leading axes; OME files with several same-shaped images (positions) are
    stacked along a leading ``P`` axis. Pixel size, Z step, frame interval, channel
    names and a FluoGAN config and run record saved by :func:`write_image` are returned
    with them.
    """
    path = Path(path)
    if not path.exists():
        raise FluoGANError(f"File not found: {path}.")
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise FluoGANError(f"{path.name} is not a TIFF file (.tif or .tiff expected).")
    stem = path.name.split(".")[0]
    try:
        with tifffile.TiffFile(path) as tif:
            groups = _series_groups(tif)
            pixel_size_nm = _pixel_size_nm(tif)
            z_step_nm, frame_interval_s = _z_step_and_interval(tif)
            channel_names = _ome_channel_names(tif)
            config = _saved_config(tif)
            run = _saved_json(tif, RUN_KEY)
    except (tifffile.TiffFileError, ValueError, OSError, KeyError, IndexError) as exc:
        raise FluoGANError(f"Cannot read {path.name} as a TIFF ({exc}).") from None
    if not groups:
        raise FluoGANError(f"{path.name} holds no image with Y and X axes.")
    images: list[TiffImage] = []
    for k, (data, axes, series_index) in enumerate(groups):
        base = stem if len(groups) == 1 else f"{stem} [series {k}]"
        data, axes, rgb, notes = arrange_axes(data, axes)
        names = channel_names.get(series_index, [])
        for channel, (chan_data, chan_axes) in enumerate(split_channels(data, axes)):
            n_channels = data.shape[axes.index("C")] if "C" in axes else 1
            label = None
            if n_channels > 1:
                label = names[channel] if channel < len(names) else f"C{channel}"
            images.append(
                TiffImage(
                    data=chan_data,
                    axes=chan_axes,
                    name=f"{base} [{label}]" if label else base,
                    pixel_size_nm=pixel_size_nm,
                    z_step_nm=z_step_nm,
                    frame_interval_s=frame_interval_s,
                    channel=label,
                    rgb=rgb,
                    config=config,
                    run=run,
                    notes=list(notes),
                )
            )
    return images


def arrange_axes(data: np.ndarray, axes: str) -> tuple[np.ndarray, str, bool, list[str]]:
    """Name the time axis and move it third from the end; returns ``(data, axes, rgb, notes)``.

    - no ``T``: the first generic axis (``I``/``Q``, pages of a plain TIFF) is time;
    - no ``T`` and a ``C`` axis longer than :data:`MAX_CHANNELS`: those are frames;
    - ``S`` (samples) last with 3 or 4 values and no time: an RGB image; otherwise
      samples are treated as channels;
    - any other axis (``Z``, positions, ...) stays, before ``T``.
    """
    if len(axes) != data.ndim:
        raise FluoGANError(f"The axes {axes!r} do not match the data shape {data.shape}.")
    if "Y" not in axes or "X" not in axes:
        raise FluoGANError(f"The image has no Y and X axes (axes {axes}).")
    notes: list[str] = []
    axes_list = list(axes)
    if "T" not in axes_list:
        generic = [i for i, a in enumerate(axes_list) if a in _GENERIC_AXES]
        if generic:
            axes_list[generic[0]] = "T"
        elif "C" in axes_list and data.shape[axes_list.index("C")] > MAX_CHANNELS:
            axes_list[axes_list.index("C")] = "T"
            notes.append(
                f"the file calls its {data.shape[axes.index('C')]} planes channels; "
                "they are read as time frames"
            )
    rgb = False
    if "S" in axes_list:
        s = axes_list.index("S")
        if s == len(axes_list) - 1 and data.shape[s] in (3, 4) and "T" not in axes_list:
            rgb = True
        elif "C" not in axes_list:
            axes_list[s] = "C"
    # Y and X last (after any RGB samples axis is set aside).
    spatial = ["Y", "X", "S"] if rgb else ["Y", "X"]
    order = [i for i, a in enumerate(axes_list) if a not in spatial]
    if "T" in axes_list:
        t = axes_list.index("T")
        order = [i for i in order if i != t] + [t]
    order += [axes_list.index(a) for a in spatial]
    data = np.transpose(data, order)
    return data, "".join(axes_list[i] for i in order), rgb, notes


def split_channels(data: np.ndarray, axes: str) -> list[tuple[np.ndarray, str]]:
    """One ``(data, axes)`` per channel (the ``C`` axis removed); the input when none."""
    if "C" not in axes:
        return [(data, axes)]
    c = axes.index("C")
    rest = axes[:c] + axes[c + 1 :]
    return [(np.take(data, i, axis=c), rest) for i in range(data.shape[c])]


def _series_groups(tif: tifffile.TiffFile) -> list[tuple[np.ndarray, str, int]]:
    """``(data, axes, series index)`` per image; same-shaped OME images stacked as ``P``."""
    series = [s for s in tif.series if "Y" in s.axes and "X" in s.axes]
    if not series:
        return []
    if (
        tif.is_ome
        and len(series) > 1
        and len({(s.shape, s.axes, str(s.dtype)) for s in series}) == 1
    ):
        stacked = np.stack([s.asarray() for s in series])
        return [(stacked, "P" + series[0].axes, 0)]
    return [(s.asarray(), s.axes, i) for i, s in enumerate(series)]


def _ome_root(tif: tifffile.TiffFile) -> Any | None:
    if not (tif.is_ome and tif.ome_metadata):
        return None
    import xml.etree.ElementTree as ET

    return ET.fromstring(tif.ome_metadata)


def _ome_channel_names(tif: tifffile.TiffFile) -> dict[int, list[str]]:
    """Channel names per OME image index (empty when the file has none)."""
    root = _ome_root(tif)
    if root is None:
        return {}
    names: dict[int, list[str]] = {}
    images = [el for el in root if el.tag.endswith("Image")]
    for i, image in enumerate(images):
        chans = [el for el in image.iter() if el.tag.endswith("Channel")]
        found = [c.attrib.get("Name", "") for c in chans]
        if any(found):
            names[i] = [n or f"C{k}" for k, n in enumerate(found)]
    return names


def _z_step_and_interval(tif: tifffile.TiffFile) -> tuple[float | None, float | None]:
    """Z step (nm) and frame interval (s) from OME or ImageJ metadata, when given."""
    root = _ome_root(tif)
    if root is not None:
        for el in root.iter():
            if el.tag.endswith("Pixels"):
                z = el.attrib.get("PhysicalSizeZ")
                unit = el.attrib.get("PhysicalSizeZUnit", "µm")
                dt = el.attrib.get("TimeIncrement")
                return (
                    float(z) * _UNIT_TO_NM.get(unit, 1000.0) if z else None,
                    float(dt) if dt else None,
                )
    if tif.is_imagej and tif.imagej_metadata:
        meta = tif.imagej_metadata
        unit = meta.get("unit")
        spacing = meta.get("spacing")
        z = None
        if spacing and meta.get("slices", 1) > 1 and unit in ("micron", "µm", "um", "\\u00B5m"):
            z = float(spacing) * 1000.0
        interval = meta.get("finterval")
        return z, float(interval) if interval else None
    return None, None


def _saved_json(tif: tifffile.TiffFile, key: str) -> dict[str, Any] | None:
    """A JSON object stored under ``key`` in a TIFF's ImageJ metadata, if any."""
    if not (tif.is_imagej and tif.imagej_metadata):
        return None
    text = tif.imagej_metadata.get(key)
    if not isinstance(text, str) or not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _saved_config(tif: tifffile.TiffFile) -> dict[str, Any] | None:
    """A FluoGAN config stored as JSON in the ImageJ ``Info`` field, if any."""
    data = _saved_json(tif, "Info")
    if data is None:
        return None
    known = {f.name for f in fields(FluoGANConfig)}
    return data if set(data) <= known and "upsample" in data else None
