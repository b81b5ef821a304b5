"""Make the user guide's screenshots from the real plugin, headless.

Run from the repository root (a display is needed; ``xvfb-run`` gives one)::

    xvfb-run -a .venv/bin/python docs/make_screenshots.py

It opens the sample data through npe2, docks the FluoGAN widget as napari does,
draws an ROI, runs the fast L2-only mode and then the critic, and saves PNGs of the
whole window to ``docs/images/``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

IMAGES = Path(__file__).resolve().parent / "images"
PLUGIN = "napari-fluogan"
WINDOW_SIZE = (1500, 1000)


def process_events(seconds: float = 0.3) -> None:
    """Let Qt paint for a while."""
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def wait_for(condition, timeout_s: float = 120.0) -> None:
    """Process events until ``condition()`` holds."""
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the run did not finish in time")
        process_events(0.05)


def save(viewer, name: str, reset_view: bool = True) -> Path:
    """Screenshot of the whole window (canvas and docks)."""
    process_events(0.5)
    if reset_view:
        viewer.reset_view()
        process_events(0.3)
    path = IMAGES / name
    viewer.screenshot(str(path), canvas_only=False, flash=False)
    print(f"wrote {path}", file=sys.stderr)
    return path


def main() -> int:
    import napari

    IMAGES.mkdir(parents=True, exist_ok=True)
    viewer = napari.Viewer(title="napari-fluogan")
    viewer.window._qt_window.resize(*WINDOW_SIZE)
    viewer.open_sample(PLUGIN, "line_pairs")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "FluoGAN reconstruction")
    viewer.dims.set_current_step(0, 0)

    # An ROI over the line pairs and their control bars, drawn as a user would.
    shapes = widget.add_roi_layer()
    shapes.add_rectangles(np.array([[2.5, 2.5], [40.5, 45.5]]))
    shapes.mode = "pan_zoom"
    viewer.layers.selection.active = viewer.layers["line pairs"]
    save(viewer, "01_sample_and_roi.png")

    # Fast mode: L2 + priors only, to tune lambda1 / lambda2.
    form = widget.form
    form.use_critic.value = False
    form.iterations.value = 2000
    form.snapshot_every.value = 10
    if not widget.run():
        raise RuntimeError(f"the run did not start: {widget.status.value}")
    wait_for(lambda: widget.snapshots_shown >= 6 or not widget.running)
    save(viewer, "02_fast_mode_running.png")
    wait_for(lambda: not widget.running)
    viewer.layers["line pairs FluoGAN x"].visible = True
    save(viewer, "03_fast_mode_result.png")

    # With the critic (warm-started by the L2 iterations).
    form.use_critic.value = True
    form.iterations.value = 400
    form.warm_start_iterations.value = 150
    form.batch_size.value = 16
    form.collapsible.expand(animate=False)
    if not widget.run():
        raise RuntimeError(f"the run did not start: {widget.status.value}")
    wait_for(lambda: not widget.running, timeout_s=900)
    viewer.layers["line pairs ground truth"].visible = False
    save(viewer, "04_critic_result.png")

    # Compare with the ground truth, side by side in grid mode.
    truth = viewer.layers["line pairs ground truth"]
    truth.visible = True
    truth.colormap = "gray"
    truth.blending = "translucent"
    viewer.layers["FluoGAN ROI"].visible = False
    viewer.layers["line pairs"].visible = False
    viewer.canvas.grid.enabled = True
    viewer.canvas.grid.shape = (1, -1)
    for layer in viewer.layers:
        if layer.name not in ("line pairs FluoGAN x", "line pairs ground truth"):
            layer.visible = False
    save(viewer, "05_compare_truth.png")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
