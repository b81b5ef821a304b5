"""Line-profile readout: intensity of every visible 2-D image along a drawn line.

Draw a line in a Shapes layer over FluoGAN's ``x``, the baselines and the mean
image; the dock plots their profiles (each normalised to its maximum) and reads out
the dip between the two highest peaks, the number that says whether two structures
are resolved (>= 20 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Label, PushButton
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.layers import Image, Shapes
from qtpy.QtWidgets import QVBoxLayout, QWidget

from ..core.profile import peak_dip, sample_line
from .geometry import pixel_to_world, world_to_pixel

if TYPE_CHECKING:
    import napari

RESOLVED_DIP = 0.20
LINE_TYPES = ("line", "path")


@dataclass
class Profile:
    """One layer's profile along the line, in world distance units."""

    name: str
    distance: np.ndarray
    values: np.ndarray
    dip: float | None
    peak_separation: float | None


def line_endpoints_world(shapes: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """World (y, x) ends of the selected line of ``shapes``, else its first line."""
    lines = [i for i, kind in enumerate(shapes.shape_type) if kind in LINE_TYPES]
    if not lines:
        return None
    selected = sorted(i for i in shapes.selected_data if i in lines)
    vertices = np.asarray(shapes.data[selected[0] if selected else lines[0]], dtype=float)
    world = pixel_to_world(vertices, shapes.scale, shapes.translate)
    return world[0], world[-1]


def profile_of(layer: Any, start_world: np.ndarray, end_world: np.ndarray) -> Profile:
    """Sample a 2-D image layer along the world segment; find its two-peak dip."""
    start = world_to_pixel(start_world, layer.scale, layer.translate)
    end = world_to_pixel(end_world, layer.scale, layer.translate)
    step = 0.25
    distance_px, values = sample_line(np.asarray(layer.data), tuple(start), tuple(end), step)
    world_length = float(np.hypot(*(end_world - start_world)))
    pixel_length = max(float(distance_px[-1]), 1e-12)
    distance = distance_px * world_length / pixel_length
    found = peak_dip(values)
    if found is None:
        return Profile(layer.name, distance, values, None, None)
    return Profile(layer.name, distance, values, found.dip,
                   float(distance[found.second] - distance[found.first]))


def describe(p: Profile) -> str:
    """``"x: dip 45 % between peaks 0.21 apart (resolved)"``."""
    if p.dip is None:
        return f"{p.name}: a single peak"
    verdict = "resolved" if p.dip >= RESOLVED_DIP else "not resolved"
    return (f"{p.name}: dip {100 * p.dip:.0f} % between peaks {p.peak_separation:.3g} "
            f"apart ({verdict})")


class LineProfileWidget(QWidget):
    """Dock widget: profiles of the visible 2-D images along a line of a Shapes layer."""

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.shapes_box = ComboBox(label="Line (Shapes)", choices=self._shapes_choices,
                                   tooltip="Shapes layer holding the line to profile.")
        self.add_button = PushButton(text="Add line layer")
        self.update_button = PushButton(text="Update profile")
        self.readout = Label(value="Draw a line over the images to compare.")
        self.figure = Figure(figsize=(3.2, 2.2), dpi=80, layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.axes = self.figure.subplots()
        self.profiles: list[Profile] = []
        layout = QVBoxLayout(self)
        for w in (self.shapes_box, self.add_button, self.update_button):
            layout.addWidget(w.native)
        layout.addWidget(self.canvas)
        layout.addWidget(self.readout.native)
        self.add_button.changed.connect(self.add_line_layer)
        self.update_button.changed.connect(self.update_profile)
        self.shapes_box.changed.connect(self._watch)
        self.viewer.layers.events.inserted.connect(self._refresh_choices)
        self.viewer.layers.events.removed.connect(self._refresh_choices)
        self._watched: Shapes | None = None
        self._watch(self.shapes_box.value)

    def _shapes_choices(self, _widget: Any = None) -> list[tuple[str, Shapes]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Shapes)]

    def _refresh_choices(self, *_: Any) -> None:
        self.shapes_box.reset_choices()

    def _watch(self, layer: Shapes | None) -> None:
        if self._watched is not None:
            self._watched.events.data.disconnect(self.update_profile)
        self._watched = layer
        if layer is not None:
            layer.events.data.connect(self.update_profile)

    def add_line_layer(self, *_: Any) -> Shapes:
        """Add a Shapes layer in line-drawing mode and profile it."""
        layer = self.viewer.add_shapes(name="profile line", ndim=2, edge_color="cyan",
                                       edge_width=0.5)
        layer.mode = "add_line"
        self.shapes_box.value = layer
        return layer

    def update_profile(self, *_: Any) -> list[Profile]:
        """Recompute and redraw the profiles; returns them."""
        shapes = self.shapes_box.value
        ends = line_endpoints_world(shapes) if shapes is not None else None
        self.axes.clear()
        self.profiles = []
        if ends is None:
            self.readout.value = "Draw a line (Add line layer) over the images to compare."
            self.canvas.draw_idle()
            return self.profiles
        for layer in self.viewer.layers:
            if isinstance(layer, Image) and layer.visible and layer.ndim == 2 and not layer.rgb:
                p = profile_of(layer, *ends)
                if np.isfinite(p.values).any():
                    self.profiles.append(p)
        for p in self.profiles:
            peak = np.nanmax(p.values)
            scale = peak if peak > 0 else 1.0
            self.axes.plot(p.distance, p.values / scale, lw=1.2, label=p.name)
        self.axes.set_xlabel("distance along the line (world units)", fontsize=8)
        self.axes.set_ylabel("normalised intensity", fontsize=8)
        self.axes.tick_params(labelsize=7)
        if self.profiles:
            self.axes.legend(fontsize=6)
        self.canvas.draw_idle()
        self.readout.value = "\n".join(describe(p) for p in self.profiles) or (
            "No visible 2-D image under the line.")
        return self.profiles
