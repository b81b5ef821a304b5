"""The FluoGAN dock widget: pick a stack and an ROI, set parameters, run live.

The widget only wires things together; the maths lives in Qt-free modules
(:mod:`.geometry`, :mod:`.layer_info`, :mod:`.settings`, :mod:`.run`) and in the core.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, Label, PushButton
from napari.layers import Image, Layer, Points, Shapes
from napari.qt.threading import thread_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import QEvent, QObject, Qt, QTimer, Signal
from qtpy.QtWidgets import QApplication, QMessageBox, QScrollArea, QVBoxLayout, QWidget

from ..core import calibrate
from ..core.calibrate import estimate_camera
from ..core.dark import DarkCalibration, with_dark
from ..core.defective_pixels import DEAD_KIND as DEAD
from ..core.defective_pixels import FLAG_KIND as DEFECTIVE
from ..core.errors import FluoGANError
from ..core.saturation import FLAG_KIND as SATURATED
from ..core.saturation import LEFT_OUT_KIND as SATURATED_LEFT_OUT
from ..core.solver import Snapshot
from ..io import run_record
from . import metadata_keys as keys
from .forms import ParameterForm, group
from .geometry import (
    LARGE_ROI_PX,
    Overlay,
    Roi,
    display_range,
    overlay_transform,
    roi_and_whole_from_shapes,
    roi_description,
)
from .layer_info import (
    frames_at,
    leading_axes_text,
    leading_index,
    pixel_size_nm_from_layer,
    source_file,
    stack_problem,
    time_axis_note,
)
from .loss_plot import LossPlot
from .run import LIVE_PARAMETERS, RateMeter, RunOutcome, engine_run
from .settings import build_config

if TYPE_CHECKING:
    import napari
    from napari.qt.threading import GeneratorWorker

CALIBRATION_MAX_VALUES = calibrate.MAX_VALUES
"""At most this many pixel values (frames x H x W) are used by "Estimate"."""

CAMERA_PREVIEW_MAX_VALUES = 4_000_000
"""Fewer for the preview shown in the "auto" camera fields when a stack is chosen."""


@dataclass
class RunState:
    """What one run needs on the GUI side."""

    layer: Image
    config: Any
    roi: Roi
    x_name: str
    b_name: str
    flagged_name: str
    x_overlay: Overlay
    b_overlay: Overlay
    units: tuple[Any, ...]
    meter: RateMeter
    progress: Any
    live: dict[str, Any]
    worker: GeneratorWorker | None = None
    last: Snapshot | None = None
    pending: Snapshot | None = None
    finished: bool = False
    detached: bool = False
    outcome: RunOutcome | None = None
    layers: dict[str, Image] = field(default_factory=dict)
    dark_layer: Image | None = None
    plane: tuple[int, ...] = ()


#: the colour of each kind of flagged camera pixel (RGBA)
FLAG_COLOURS = {
    SATURATED: (1.0, 0.55, 0.0, 1.0),
    SATURATED_LEFT_OUT: (1.0, 0.0, 0.3, 1.0),
    DEFECTIVE: (0.0, 0.9, 1.0, 1.0),
    DEAD: (0.9, 0.2, 1.0, 1.0),
}


def _shape(layer: Image) -> tuple[int, ...]:
    return tuple(int(n) for n in layer.data.shape)


def _is_stack(layer: Any) -> bool:
    return (
        isinstance(layer, Image)
        and stack_problem(_shape(layer), layer.rgb, layer.multiscale) is None
    )


class _CloseWatcher(QObject):
    """Stops the run when the viewer's main window closes."""

    def __init__(self, widget: FluoGANWidget) -> None:
        super().__init__(widget)
        self._widget = widget

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Close:
            self._widget.abort_run()
        return False


class FluoGANWidget(QWidget):
    """Dock widget: live FluoGAN reconstruction of an ROI of an image stack."""

    #: the engine's work before a run's first snapshot (stage, done, total); emitted
    #: from the worker thread, delivered in the GUI thread (a queued connection)
    stage_reported = Signal(str, int, int)

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.form = ParameterForm()
        self.state: RunState | None = None
        self.snapshots_shown = 0
        self._watched_shapes: Shapes | None = None
        self._shown_layer: Image | None = None
        self._calibration: tuple[tuple[Any, ...], Any] | None = None
        self._display_scheduled = False
        self._displaying = False
        self.stage_reported.connect(self._on_stage)

        # ---- input and ROI
        self.layer_box = ComboBox(
            label="Stack",
            choices=self._stack_choices,
            nullable=True,
            tooltip="Image layer holding the frames, time first (T x Y x X). Axes before "
            "time (Z, position) are taken at the current slider position.",
        )
        self.layer_note = Label(label="")
        self.dark_box = ComboBox(
            label="Dark stack",
            choices=self._stack_choices,
            nullable=True,
            value=None,
            tooltip="Optional: frames taken with the shutter closed (same exposure, camera "
            "ROI and binning). Each pixel's own offset (an sCMOS camera's fixed pattern) is "
            "subtracted, and an offset and read noise left on auto are taken from it.",
        )
        self.shapes_box = ComboBox(
            label="ROI from",
            choices=self._shapes_choices,
            nullable=True,
            tooltip="Shapes layer whose selected rectangle (else its first one) is the "
            "region to reconstruct; none: the whole frame.",
        )
        self.draw_roi_button = PushButton(
            text="Draw ROI", tooltip="Add a Shapes layer in rectangle mode over the stack."
        )
        self.roi_label = Label(label="ROI")
        self.input = Container(
            widgets=[
                self.layer_box,
                self.layer_note,
                self.dark_box,
                self.shapes_box,
                self.draw_roi_button,
                self.roi_label,
            ]
        )
        # ---- run controls
        self.run_button = PushButton(text="Run", tooltip="Start the reconstruction.")
        self.stop_button = PushButton(
            text="Stop", tooltip="End the run after the current iteration (keeps x and b)."
        )
        self.stop_button.enabled = False
        self.status = Label(value="ready")
        self.controls = Container(
            layout="horizontal", widgets=[self.run_button, self.stop_button], labels=False
        )
        self.loss_plot = LossPlot()

        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(group("Input", self.input))
        for w in self.form.widgets(inner):
            layout.addWidget(w)
        layout.addWidget(self.controls.native)
        layout.addWidget(self.status.native)
        layout.addWidget(self.loss_plot)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(inner.minimumSizeHint().width() + 24)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        # ---- signals
        self.layer_box.changed.connect(self._on_layer_changed)
        self.dark_box.changed.connect(lambda *_: self._preview_camera())
        self.shapes_box.changed.connect(self._on_shapes_changed)
        self.draw_roi_button.clicked.connect(self.add_roi_layer)
        self.run_button.clicked.connect(self.run)
        self.stop_button.clicked.connect(self.stop)
        self.form.pixel_size_nm.changed.connect(self.update_roi_label)
        self.form.connect_live(self._on_live_change)
        for name, button in self.form.camera_estimate.items():
            button.clicked.connect(lambda *_, n=name: self.estimate_camera(n))
        events = self.viewer.layers.events
        events.inserted.connect(self._on_layers_changed)
        events.removed.connect(self._on_layer_removed)
        events.moved.connect(self._on_layers_changed)
        events.inserted.connect(self._watch_layer_name)
        for layer in self.viewer.layers:
            layer.events.name.connect(self._on_layers_changed)
        self._close_watcher = _CloseWatcher(self)
        self._watched_window: QWidget | None = None
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.abort_run)
        self._on_layers_changed()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        """Once docked, watch the main window so that closing it stops a run."""
        super().showEvent(event)
        window = self.window()
        if window is not self and window is not self._watched_window:
            window.installEventFilter(self._close_watcher)
            self._watched_window = window

    # ================================================================== choices
    def _stack_choices(self, _widget: Any = None) -> list[tuple[str, Image]]:
        return [(layer.name, layer) for layer in self.viewer.layers if _is_stack(layer)]

    def _shapes_choices(self, _widget: Any = None) -> list[tuple[str, Shapes]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Shapes)]

    def _watch_layer_name(self, event: Any) -> None:
        event.value.events.name.connect(self._on_layers_changed)

    def _on_layers_changed(self, *_: Any) -> None:
        self.layer_box.reset_choices()
        self.dark_box.reset_choices()
        self.shapes_box.reset_choices()
        stacks = [c for c in self.layer_box.choices if c is not None]
        if self.layer_box.value is None and stacks:
            self.layer_box.value = stacks[0]
        layer = self.layer_box.value
        if layer is not self._shown_layer:
            self._on_layer_changed(layer)
        elif layer is None:
            self.layer_note.value = self._no_stack_text()
        self.update_roi_label()

    def _on_layer_removed(self, event: Any) -> None:
        state = self.state
        if state is not None and event.value is state.layer:
            show_warning(
                f"The input layer '{state.layer.name}' was removed: the run was stopped "
                "(x and b so far are kept)."
            )
            self.abort_run()
        self._on_layers_changed()

    # ================================================================== input layer
    def _on_layer_changed(self, layer: Image | None) -> None:
        """Explain the chosen layer, read its pixel size and PSF hint, refresh the ROI.

        Values read from the layer are applied only when the choice changes, so that
        the user's edits survive other layers coming and going.
        """
        if layer is self._shown_layer and layer is not None:
            return
        self._shown_layer = layer
        self._calibration = None
        if layer is None:
            self.layer_note.value = self._no_stack_text()
            self.update_roi_label()
            return
        shape = _shape(layer)
        notes = [f"{shape[-3]} frames of {shape[-2]} x {shape[-1]} px"]
        pixel_nm = pixel_size_nm_from_layer(layer.scale, layer.units, layer.metadata)
        if pixel_nm is not None:
            self.form.pixel_size_nm.value = pixel_nm
            notes.append(f"pixel {pixel_nm:.4g} nm (from the layer)")
        else:
            notes.append("pixel size unknown: set it below")
        psf = layer.metadata.get("psf_fwhm_nm") if layer.metadata else None
        if isinstance(psf, (int, float)) and psf > 0:
            self.form.psf_fwhm_nm.value = float(psf)
            notes.append(f"PSF FWHM {psf:.4g} nm (from the layer)")
        if len(shape) > 3:
            notes.append("leading axes at the current slider position")
        note = time_axis_note(len(shape), layer.metadata or {})
        if note:
            notes.append("note: " + note)
        for extra in (layer.metadata or {}).get("axes_notes", []):
            notes.append("note: " + str(extra))
        self.layer_note.value = "\n".join(notes)
        self.update_roi_label()
        self._preview_camera()

    def _preview_camera(self) -> None:
        """Show estimates in the camera fields left on "auto" (the run re-estimates)."""
        auto = [name for name, on in self.form.auto_camera().items() if on]
        if not auto:
            return
        try:
            calibration = self._calibrate(CAMERA_PREVIEW_MAX_VALUES)
        except FluoGANError:
            return  # the run says what is wrong; an estimate preview stays silent
        for name in auto:
            self.form.set_camera(name, getattr(calibration, name), keep_auto=True)

    def _no_stack_text(self) -> str:
        rejected = [
            f"'{layer.name}': {stack_problem(_shape(layer), layer.rgb, layer.multiscale)}"
            for layer in self.viewer.layers
            if isinstance(layer, Image) and not _is_stack(layer)
        ]
        if rejected:
            return "No stack to reconstruct.\n" + "\n".join(rejected)
        return "Open a TIFF stack (T x Y x X), or File > Open Sample > FluoGAN."

    # ================================================================== ROI
    def _on_shapes_changed(self, layer: Shapes | None) -> None:
        if self._watched_shapes is not None:
            for emitter in (
                self._watched_shapes.events.data,
                self._watched_shapes.events.highlight,
            ):
                with contextlib.suppress(Exception):
                    emitter.disconnect(self.update_roi_label)
        self._watched_shapes = layer
        if layer is not None:
            layer.events.data.connect(self.update_roi_label)
            layer.events.highlight.connect(self.update_roi_label)
        self.update_roi_label()

    def current_roi(self, layer: Image) -> tuple[Roi, bool]:
        """The ROI on ``layer``'s camera grid and whether it is the whole frame.

        From the selected rectangle of the chosen Shapes layer, else its first
        rectangle; the whole frame when there is none. Raises FluoGANError when the
        rectangle is unusable.
        """
        return roi_and_whole_from_shapes(self.shapes_box.value, layer)

    def update_roi_label(self, *_: Any) -> None:
        layer = self.layer_box.value
        if layer is None:
            self.roi_label.value = "no stack"
            return
        try:
            roi, whole = self.current_roi(layer)
        except FluoGANError as exc:
            self.roi_label.value = str(exc)
            return
        self.roi_label.value = roi_description(roi, self.form.pixel_size_nm.value, whole)

    def add_roi_layer(self, *_: Any) -> Shapes:
        """Add a Shapes layer over the stack, in rectangle-drawing mode, and use it."""
        layer = self.layer_box.value
        kwargs: dict[str, Any] = {
            "name": "FluoGAN ROI",
            "ndim": 2,
            "edge_color": "yellow",
            "edge_width": 0.3,
            "face_color": "transparent",
        }
        if layer is not None:
            kwargs["scale"] = tuple(layer.scale[-2:])
            kwargs["translate"] = tuple(layer.translate[-2:])
            kwargs["units"] = tuple(layer.units[-2:])
        shapes = self.viewer.add_shapes(**kwargs)
        shapes.mode = "add_rectangle"
        self.viewer.layers.selection.active = shapes
        self.shapes_box.reset_choices()
        self.shapes_box.value = shapes
        return shapes

    # ================================================================== camera
    def _calibrate(self, max_values: int) -> Any:
        """Camera calibration of the chosen stack, with the offset and read noise of the
        chosen dark stack if any, as a run takes them (cached per layer, plane and dark
        layer)."""
        layer, frames, index = self._frames()
        dark_frames = self._dark_frames(layer)
        key = (id(layer), index, max_values, id(self.dark_box.value))
        if self._calibration is None or self._calibration[0] != key:
            dark = (
                None
                if dark_frames is None
                else DarkCalibration.from_frames(dark_frames, max_values=max_values)
            )
            calibration = with_dark(estimate_camera(frames, max_values=max_values), dark)
            self._calibration = (key, calibration)
        return self._calibration[1]

    def estimate_camera(self, name: str) -> float | None:
        """Estimate gain, offset and read noise from the stack; fill in ``name``."""
        try:
            value = float(getattr(self._calibrate(CALIBRATION_MAX_VALUES), name))
        except FluoGANError as exc:
            show_error(str(exc))
            return None
        self.form.set_camera(name, value)
        return value

    # ================================================================== run
    @property
    def running(self) -> bool:
        return self.state is not None

    def _dark_frames(self, layer: Image) -> np.ndarray | None:
        """The frames of the dark stack chosen for the stack ``layer``, or None."""
        dark = self.dark_box.value
        if dark is None:
            return None
        if dark is layer:
            raise FluoGANError(
                f"'{layer.name}' is chosen as both the stack and the dark stack: choose the "
                "frames taken with the shutter closed as the dark stack, or none."
            )
        return np.asarray(dark.data)

    def _frames(self) -> tuple[Image, np.ndarray, tuple[int, ...]]:
        layer = self.layer_box.value
        if layer is None:
            raise FluoGANError(self._no_stack_text().replace("\n", " "))
        problem = stack_problem(_shape(layer), layer.rgb, layer.multiscale)
        if problem:
            raise FluoGANError(f"'{layer.name}' cannot be reconstructed: {problem}.")
        point = layer.world_to_data(self.viewer.dims.point)
        index = leading_index(point, _shape(layer))
        return layer, frames_at(layer.data, index), index

    def confirm_large_roi(self, roi: Roi) -> bool:
        """Ask before reconstructing a large whole frame (tests replace this)."""
        answer = QMessageBox.question(
            self,
            "Reconstruct the whole frame?",
            f"No ROI is drawn, so the whole frame ({roi.h} x {roi.w} camera pixels) will be "
            "reconstructed, which can be slow. Draw an ROI first for a quick look.\n\n"
            "Reconstruct the whole frame?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def run(self, *_: Any) -> bool:
        """Start a run; returns False (with a notification) when it cannot start."""
        if self.running:
            return False
        try:
            layer, frames, index = self._frames()
            dark_frames = self._dark_frames(layer)
            roi, whole = self.current_roi(layer)
            config = build_config(
                self.form.values(), self.form.auto_camera(), None if whole else roi.as_tuple
            )
        except FluoGANError as exc:
            show_error(str(exc))
            return False
        if whole and roi.n_pixels > LARGE_ROI_PX and not self.confirm_large_roi(roi):
            return False
        dark_layer = None if dark_frames is None else self.dark_box.value
        self._start(layer, frames, index, roi, config, dark_frames, dark_layer)
        return True

    def _start(
        self,
        layer: Image,
        frames: np.ndarray,
        index: tuple[int, ...],
        roi: Roi,
        config: Any,
        dark_frames: np.ndarray | None = None,
        dark_layer: Image | None = None,
    ) -> None:
        suffix = f" [{leading_axes_text(index, layer.axis_labels)}]" if index else ""
        live: dict[str, Any] = {k: getattr(config, k) for k in LIVE_PARAMETERS}
        state = RunState(
            layer=layer,
            config=config,
            roi=roi,
            x_name=f"{layer.name}{suffix} FluoGAN x",
            b_name=f"{layer.name}{suffix} FluoGAN b",
            flagged_name=f"{layer.name}{suffix} FluoGAN flagged pixels",
            x_overlay=overlay_transform(
                (roi.y, roi.x), config.upsample, layer.scale, layer.translate
            ),
            b_overlay=overlay_transform((roi.y, roi.x), 1, layer.scale, layer.translate),
            units=tuple(layer.units[-2:]),
            meter=RateMeter(config.iterations),
            progress=progress(total=config.iterations, desc="FluoGAN"),
            live=live,
            dark_layer=dark_layer,
            plane=tuple(index),
        )
        self.state = state
        self.loss_plot.clear(config.iterations)
        # the worker holds the widget only weakly: a worker still winding down after
        # the viewer closed must not keep the viewer alive
        report = weakref.WeakMethod(self._report_stage)

        def on_stage(stage: str, done: int, total: int) -> None:
            method = report()
            if method is not None:
                method(stage, done, total)

        worker = thread_worker(engine_run, start_thread=False)(
            frames, config, live, on_stage, dark_frames
        )
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        state.worker = worker
        self._set_running(True)
        self.status.value = "starting (estimating the camera, choosing the PSF shape)…"
        worker.start()

    def _report_stage(self, stage: str, done: int, total: int) -> None:
        """Called in the worker thread: hand the report to the GUI thread."""
        with contextlib.suppress(RuntimeError):  # the widget was deleted meanwhile
            self.stage_reported.emit(stage, done, total)

    def _on_stage(self, stage: str, done: int, total: int) -> None:
        state = self.state
        if state is None or state.detached or state.live.get("stop") or state.last is not None:
            return
        self.status.value = f"starting · {stage} {done} / {total} iterations"

    def stop(self, *_: Any) -> None:
        """End the run after the current iteration; the last x and b are kept."""
        if self.state is None:
            return
        self.state.live["stop"] = True
        self.stop_button.enabled = False
        self.status.value = "stopping after this iteration…"

    def abort_run(self, *_: Any) -> None:
        """Stop at once without touching layers again (input removed, viewer closing)."""
        state = self.state
        if state is None:
            return
        state.detached = True
        state.live["stop"] = True
        if state.worker is not None:
            with contextlib.suppress(RuntimeError):
                state.worker.quit()

    def _set_running(self, running: bool) -> None:
        self.run_button.enabled = not running
        self.stop_button.enabled = running

    def _on_live_change(self, name: str, value: float) -> None:
        if self.state is not None:
            self.state.live[name] = value

    # ================================================================== results
    # Worker signals only record what arrived; a zero-delay timer shows it from the
    # event loop. napari's progress bar processes Qt events while it redraws, so the
    # display must not be re-entered: when the engine is faster than the display, only
    # the newest snapshot is shown and the viewer never falls behind.
    def _on_yielded(self, snap: Snapshot) -> None:
        if self.state is not None and not self.state.detached:
            self.loss_plot.record(snap.iteration, snap.losses)  # every point, drawn later
            self.state.pending = snap
            self._schedule_display()

    def _on_returned(self, outcome: RunOutcome) -> None:
        if self.state is not None:
            self.state.outcome = outcome
            self._schedule_display()

    def _on_errored(self, exc: BaseException) -> None:  # pragma: no cover - engine_run catches
        if self.state is not None:
            self.state.outcome = RunOutcome(
                self.state.last, f"The reconstruction failed: {exc}", "error"
            )
            self._schedule_display()

    def _on_finished(self) -> None:
        if self.state is not None:
            self.state.finished = True
            self._schedule_display()

    def _schedule_display(self, delay_ms: int = 0) -> None:
        if not self._display_scheduled:
            self._display_scheduled = True
            QTimer.singleShot(delay_ms, self._display)

    def _display(self) -> None:
        self._display_scheduled = False
        if self._displaying:  # called from inside a redraw: come back shortly
            self._schedule_display(20)
            return
        self._displaying = True
        try:
            state = self.state
            if state is None:
                return
            snap, state.pending = state.pending, None
            if snap is not None and not state.detached:
                self._show_snapshot(snap, state)
            if state.finished and state.pending is None:
                self._finish(state)
        finally:
            self._displaying = False

    def _show_snapshot(self, snap: Snapshot, state: RunState) -> None:
        if state.last is None:  # once, with the run's first result
            for warning in snap.warnings():
                show_warning(warning)
            self._show_flagged(snap, state)
        state.last = snap
        self._show(snap, state)
        self.snapshots_shown += 1
        self.loss_plot.redraw()
        text = state.meter.describe(snap.iteration, snap.elapsed)
        self.status.value = f"{text} · {snap.describe_model()}"
        state.progress.set_description(f"FluoGAN {text}")
        state.progress.update(max(snap.iteration - state.progress.n, 0))

    def _show(self, snap: Snapshot, state: RunState) -> None:
        """Create or update the x and b layers, exactly over the input."""
        fine_nm = snap.config.pixel_size_nm / snap.config.upsample
        for role, data, name, overlay, pixel_nm, cmap in (
            ("b", snap.b, state.b_name, state.b_overlay, snap.config.pixel_size_nm, "viridis"),
            ("x", snap.x, state.x_name, state.x_overlay, fine_nm, "magma"),
        ):
            layer = state.layers.get(role)
            if layer is None or layer not in self.viewer.layers:
                layer = self._layer_named(name, Image)
                if layer is None:
                    layer = self.viewer.add_image(
                        data,
                        name=name,
                        colormap=cmap,
                        visible=role == "x",
                        scale=overlay.scale,
                        translate=overlay.translate,
                        units=state.units,
                    )
                state.layers[role] = layer
            layer.data = data
            if tuple(layer.scale) != overlay.scale:
                layer.scale = overlay.scale
            if tuple(layer.translate) != overlay.translate:
                layer.translate = overlay.translate
            limits = display_range(data)
            layer.contrast_limits_range = limits
            layer.contrast_limits = limits
            layer.metadata.update(
                {
                    "pixel_size_nm": pixel_nm,
                    keys.ROLE: role,
                    keys.SOURCE: state.layer.name,
                    keys.ROI: list(state.roi.as_tuple),
                    keys.ITERATION: snap.iteration,
                }
            )

    def _layer_named(self, name: str, kind: type[Layer]) -> Any:
        """The viewer's 2-D layer of this name and kind (a previous run's result), or None."""
        return next(
            (
                lay
                for lay in self.viewer.layers
                if lay.name == name and isinstance(lay, kind) and lay.ndim == 2
            ),
            None,
        )

    def _show_flagged(self, snap: Snapshot, state: RunState) -> None:
        """Mark the camera pixels the run flagged (saturated, restored or left out; hot or
        noisy, left out) with squares over the input, in a Points layer, one colour per
        kind; empty it when a run flags none."""
        kinds = [kind for kind, where in snap.flagged_pixels.items() for _ in where]
        data = (
            np.concatenate(list(snap.flagged_pixels.values())).astype(float)
            if kinds
            else np.empty((0, 2))
        )
        colours = np.array([FLAG_COLOURS[kind] for kind in kinds]).reshape(-1, 4)
        layer = self._layer_named(state.flagged_name, Points)
        if layer is not None:
            layer.data = data
            layer.features = {"kind": kinds}
            if kinds:
                layer.face_color = colours
            layer.scale, layer.translate = state.b_overlay.scale, state.b_overlay.translate
        elif kinds:
            self.viewer.add_points(
                data,
                name=state.flagged_name,
                features={"kind": kinds},
                face_color=colours,
                border_width=0,
                symbol="square",
                size=1.0,
                opacity=0.6,
                scale=state.b_overlay.scale,
                translate=state.b_overlay.translate,
                units=state.units,
            )

    def _finish(self, state: RunState) -> None:
        """The run is over: keep its last result, attach the config, tell the user."""
        self.state = None
        with contextlib.suppress(Exception):
            state.progress.close()
        outcome = state.outcome
        if outcome is not None and outcome.message:
            (show_warning if outcome.severity == "warning" else show_error)(outcome.message)
        final = outcome.snapshot if outcome is not None else None
        if final is not None and not state.detached:
            if final is not state.last:
                self._show(final, state)
                state.last = final
            self._attach_config(final, state)
            for name, auto in self.form.auto_camera().items():
                if auto:
                    self.form.set_camera(name, getattr(final.config, name), keep_auto=True)
        self.loss_plot.redraw(force=True)
        self._set_running(False)
        last = state.last
        if state.detached:
            self.status.value = "stopped"
        elif outcome is not None and outcome.severity == "error":
            self.status.value = "failed (see the notification)"
        elif last is not None:
            how = "stopped" if state.live.get("stop") else "done"
            self.status.value = (
                f"{how} at iteration {last.iteration} in {last.elapsed:.1f} s · "
                f"{last.describe_model()}"
            )

    def _attach_config(self, snap: Snapshot, state: RunState) -> None:
        """The run's config, losses and run record (the stack and dark stack files, the
        planes) on its result layers, where the writer saves them with the image."""
        config = snap.config.to_dict()

        def file_of(layer: Image | None) -> str | None:
            if layer is None:
                return None
            return source_file(layer.source.path, layer.metadata)

        record = run_record(
            file_of(state.layer),
            file_of(state.dark_layer),
            (state.layer.metadata or {}).get("channel"),
            state.plane,
            snap.describe_model(sep="; "),
            snap.iteration,
        )
        for layer in state.layers.values():
            layer.metadata[keys.RUN] = record
            layer.metadata[keys.CONFIG] = config
            layer.metadata[keys.LOSSES] = dict(snap.losses)
            layer.metadata[keys.ELAPSED_S] = snap.elapsed
