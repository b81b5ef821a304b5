"""The FluoGAN dock widget in a real (headless) napari viewer.

Runs are kept tiny: small ROIs, 10-30 iterations, the critic off except in one test.
"""

from __future__ import annotations

import copy
import functools
import time

import numpy as np
import pytest
import torch
from napari.layers import Image
from napari.utils.notifications import notification_manager
from qtpy.QtGui import QCloseEvent

from napari_fluogan.core.psf import AiryPSF
from napari_fluogan.napari import run as run_module
from napari_fluogan.napari.geometry import LARGE_ROI_PX
from napari_fluogan.napari.sample_data import make_line_pair_sample
from napari_fluogan.napari.settings import PSF_NA, build_config
from napari_fluogan.napari.widget import FluoGANWidget

RUN_TIMEOUT_MS = 60_000


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny test problems run faster on one thread, and so does a CPU shared with
    other jobs (torch's thread pool spins waiting for busy cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def notes():
    """Messages of the napari notifications shown during the test."""
    seen: list[tuple[str, str]] = []

    def record(event):
        seen.append((str(event.severity), str(event.message)))

    notification_manager.notification_ready.connect(record)
    yield seen
    notification_manager.notification_ready.disconnect(record)


@functools.cache
def _sample():
    return make_line_pair_sample()


def add_sample(viewer) -> None:
    """The plugin's sample layers (simulated once per test session)."""
    for data, kwargs, _ in _sample():
        viewer.add_image(data, **copy.deepcopy(kwargs))


@pytest.fixture
def viewer_widget(make_napari_viewer, qtbot):
    """A viewer holding the sample data, and the widget docked in it."""
    viewer = make_napari_viewer()
    add_sample(viewer)
    widget = FluoGANWidget(viewer)
    viewer.window.add_dock_widget(widget, name="FluoGAN")
    yield viewer, widget
    widget.abort_run()
    qtbot.waitUntil(lambda: not widget.running, timeout=RUN_TIMEOUT_MS)


def fast_settings(widget: FluoGANWidget, iterations: int = 20, every: int = 5) -> None:
    """L2-only, few iterations, known camera (no estimation), frequent snapshots, and
    the Gaussian PSF the sample was simulated with (``auto`` would fit both shapes
    first: test_auto_psf_shape_is_shown_and_stop_ends_its_trials)."""
    form = widget.form
    form.use_critic.value = False
    form.psf_model.value = "gaussian"
    form.iterations.value = iterations
    form.snapshot_every.value = every
    form.device.value = "cpu"
    for name, value in {"alpha": 2.0, "offset": 100.0, "sigma": 2.0}.items():
        form.set_camera(name, value)


def add_roi(viewer, widget, y0, x0, y1, x1, scale=(0.1, 0.1), translate=(0.0, 0.0)):
    """A Shapes layer with one rectangle given in *its own* data coordinates."""
    corners = np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], dtype=float)
    shapes = viewer.add_shapes(
        [corners],
        shape_type="rectangle",
        name="roi",
        scale=scale,
        translate=translate,
        units=("micrometer", "micrometer"),
    )
    widget.shapes_box.value = shapes
    return shapes


def wait_done(qtbot, widget):
    qtbot.waitUntil(lambda: not widget.running, timeout=RUN_TIMEOUT_MS)


def test_widget_offers_only_stacks_and_reads_metadata(viewer_widget):
    viewer, widget = viewer_widget
    names = [name for name, _ in widget._stack_choices()]
    assert names == ["line pairs"]  # the 2-D ground truth is not offered
    assert widget.layer_box.value is viewer.layers["line pairs"]
    assert widget.form.pixel_size_nm.value == pytest.approx(100.0)
    assert widget.form.psf_fwhm_nm.value == pytest.approx(318.0)
    assert "200 frames of 43 x 48 px" in widget.layer_note.value
    assert "43 x 48 camera px (4.30 x 4.80 µm), whole frame" in widget.roi_label.value
    # camera: previewed in the "auto" fields; "Estimate" fills a value and unticks auto.
    # The sample is simulated with alpha = 2 ADU/photon, offset = 100 ADU.
    assert widget.form.camera_value["alpha"].value == pytest.approx(2.0, rel=0.25)
    assert widget.form.auto_camera() == {"alpha": True, "offset": True, "sigma": True}
    alpha = widget.estimate_camera("alpha")
    offset = widget.estimate_camera("offset")
    assert alpha == pytest.approx(2.0, rel=0.25)
    assert offset == pytest.approx(100.0, abs=3.0)
    assert widget.form.camera_value["alpha"].value == pytest.approx(alpha, abs=1e-3)
    assert widget.form.auto_camera() == {"alpha": False, "offset": False, "sigma": True}


def test_psf_from_na_says_which_width_each_shape_uses(viewer_widget):
    """Gaussian: FWHM 0.61 lambda / NA (292 nm at NA 1.4, 670 nm); Airy: the pattern of
    that objective as it is (FWHM 0.51 lambda / NA = 246 nm), and the config says so."""
    _, widget = viewer_widget
    form = widget.form
    form.psf_mode.value = PSF_NA
    form.na.value, form.emission_wavelength_nm.value = 1.4, 670.0
    assert "292 nm" in form.fwhm_note.value
    form.psf_model.value = "airy"
    assert "Airy" in form.fwhm_note.value and "246 nm" in form.fwhm_note.value
    cfg = build_config(form.values(), form.auto_camera(), None)
    assert cfg.psf_model == "airy" and cfg.make_psf() == AiryPSF(1.4, 670.0)


def in_step_with(widget: FluoGANWidget):
    """An engine that waits after each snapshot until the viewer has shown it, so
    that a fast test run shows every snapshot (the widget otherwise skips to the
    newest one when the engine is faster than the display)."""
    real = run_module.reconstruct_iter

    def engine(frames, config, live=None, on_stage=None, dark=None):
        snapshots = real(frames, config, live=live, on_stage=on_stage, dark=dark)
        for k, snap in enumerate(snapshots, start=1):
            yield snap
            deadline = time.monotonic() + 20.0
            while widget.snapshots_shown < k and time.monotonic() < deadline:
                time.sleep(0.01)

    return engine


def test_whole_flow_updates_x_and_b_live(viewer_widget, qtbot, notes, monkeypatch):
    viewer, widget = viewer_widget
    monkeypatch.setattr(run_module, "reconstruct_iter", in_step_with(widget))
    fast_settings(widget, iterations=20, every=5)
    widget.form.psf_fwhm_nm.value = 300.0  # the user's value wins over the layer's 318
    assert widget.form.background_bound.value  # on by default; the user turns it off
    widget.form.background_bound.value = False
    assert widget.form.carpet_floor.value
    widget.form.carpet_floor.value = False
    viewer.add_image(np.zeros((8, 8)), name="other")  # layers come and go
    add_roi(viewer, widget, 9.5, 9.5, 21.5, 21.5, scale=(0.1, 0.1))
    versions: list[int] = []

    def watch(event):
        layer = event.value
        if layer.name.endswith("FluoGAN x"):
            layer.events.data.connect(lambda e: versions.append(1))

    viewer.layers.events.inserted.connect(watch)
    assert widget.run()
    assert widget.running and not widget.run_button.enabled and widget.stop_button.enabled
    assert widget.run() is False  # a second Run while running is refused
    pbar = widget.state.progress  # napari's progress bar (activity panel)
    assert pbar.total == 20
    wait_done(qtbot, widget)
    assert pbar.n == 20 and "it/s" in pbar.desc and "left" in pbar.desc

    x = viewer.layers["line pairs FluoGAN x"]
    b = viewer.layers["line pairs FluoGAN b"]
    assert widget.snapshots_shown == 5  # iterations 0, 5, 10, 15, 20
    assert len(versions) >= 4  # x updated live, not only at the end
    assert x.data.shape == (48, 48) and b.data.shape == (12, 12)
    assert x.data.dtype == np.float32 and np.isfinite(x.data).all() and x.data.max() > 0
    lo, hi = x.contrast_limits
    assert lo == pytest.approx(float(x.data.min())) and hi <= float(x.data.max()) + 1e-6
    cfg = x.metadata["fluogan_config"]
    assert cfg["roi"] == [10, 10, 12, 12] and cfg["iterations"] == 20
    assert cfg["alpha"] == 2.0 and cfg["use_critic"] is False
    assert cfg["background_bound"] is False and cfg["carpet_floor"] is False
    assert cfg["psf_fwhm_nm"] == 300.0 and widget.form.psf_fwhm_nm.value == 300.0
    assert x.metadata["pixel_size_nm"] == pytest.approx(25.0)
    assert b.metadata["fluogan_config"] == cfg
    assert widget.run_button.enabled and not widget.stop_button.enabled
    assert "done at iteration 20" in widget.status.value
    assert widget.status.value.endswith("· b uncapped")
    assert not [n for n in notes if n[0] == "error"]


def test_roi_from_shapes_gives_crop_and_overlay(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    image = viewer.layers["line pairs"]
    image.translate = (0.0, 1.0, 2.0)  # world units (µm): the overlay must follow
    fast_settings(widget, iterations=2, every=1)
    widget.form.upsample.value = 4
    # A Shapes layer in its own frame: scale 0.05 µm, translate (1, 2) µm; the
    # rectangle corners (10, 20)-(34, 52) there are world (1.5, 3.0)-(2.7, 4.6) µm,
    # i.e. image pixels (5, 10)-(17, 26) (image translate (1, 2) µm, 0.1 µm pixels):
    # an ROI at y=5, x=10 of 12 x 16 camera pixels.
    add_roi(viewer, widget, 10, 20, 34, 52, scale=(0.05, 0.05), translate=(1.0, 2.0))
    roi, whole = widget.current_roi(image)
    assert not whole and roi.as_tuple == (5, 10, 12, 16)
    assert "12 x 16 camera px (1.20 x 1.60 µm) at y=5, x=10" in widget.roi_label.value

    seen = {}
    real = run_module.reconstruct_iter

    def spy(frames, config, live=None, on_stage=None, dark=None):
        seen["frames"], seen["roi"] = frames, config.roi
        yield from real(frames, config, live=live, on_stage=on_stage, dark=dark)

    run_module.reconstruct_iter = spy
    try:
        assert widget.run()
        wait_done(qtbot, widget)
    finally:
        run_module.reconstruct_iter = real
    assert seen["roi"] == (5, 10, 12, 16)
    assert seen["frames"].shape == (200, 43, 48)
    x = viewer.layers["line pairs FluoGAN x"]
    b = viewer.layers["line pairs FluoGAN b"]
    assert x.data.shape == (48, 64) and b.data.shape == (12, 16)
    # x: scale = 0.1 / 4; translate = world origin + (roi - 0.5 + 0.5 / 4) * 0.1
    np.testing.assert_allclose(x.scale, [0.025, 0.025])
    np.testing.assert_allclose(x.translate, [1.0 + (5 - 0.375) * 0.1, 2.0 + (10 - 0.375) * 0.1])
    np.testing.assert_allclose(b.scale, [0.1, 0.1])
    np.testing.assert_allclose(b.translate, [1.0 + 0.5, 2.0 + 1.0])
    # The first fine pixel's left edge meets the ROI's first camera pixel's left edge.
    np.testing.assert_allclose(
        np.asarray(x.translate) - 0.5 * np.asarray(x.scale),
        np.asarray(b.translate) - 0.5 * np.asarray(b.scale),
    )


def test_roi_selection_and_draw_roi_button(viewer_widget):
    viewer, widget = viewer_widget
    first = np.array([[2, 2], [2, 10], [10, 10], [10, 2]], dtype=float)
    second = np.array([[20, 30], [20, 40], [30, 40], [30, 30]], dtype=float)
    shapes = viewer.add_shapes(
        [first, second],
        shape_type="rectangle",
        name="rois",
        scale=(0.1, 0.1),
        units=("micrometer", "micrometer"),
    )
    widget.shapes_box.value = shapes
    image = viewer.layers["line pairs"]
    assert widget.current_roi(image)[0].as_tuple == (2, 2, 8, 8)  # the first rectangle
    shapes.selected_data = {1}
    assert widget.current_roi(image)[0].as_tuple == (20, 30, 10, 10)  # the selected one
    assert "10 x 10 camera px (1.00 x 1.00 µm) at y=20, x=30" in widget.roi_label.value

    widget.draw_roi_button.clicked.emit()
    drawn = viewer.layers["FluoGAN ROI"]
    assert drawn.mode == "add_rectangle"
    assert widget.shapes_box.value is drawn
    np.testing.assert_allclose(drawn.scale, image.scale[-2:])
    drawn.add_rectangles(np.array([[5.0, 6.0], [25.0, 30.0]]))
    assert "20 x 24 camera px (2.00 x 2.40 µm) at y=5, x=6" in widget.roi_label.value


def test_stop_ends_run_and_keeps_result(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    fast_settings(widget, iterations=100_000, every=2)
    add_roi(viewer, widget, 10, 10, 20, 20)
    assert widget.run()
    qtbot.waitUntil(lambda: widget.snapshots_shown >= 3, timeout=RUN_TIMEOUT_MS)
    widget.stop_button.clicked.emit()
    assert not widget.stop_button.enabled
    wait_done(qtbot, widget)
    x = viewer.layers["line pairs FluoGAN x"]
    cfg = x.metadata["fluogan_config"]
    assert cfg["iterations"] == 100_000
    assert x.metadata["fluogan_iteration"] < 100_000  # ended early
    assert "stopped at iteration" in widget.status.value
    assert widget.run_button.enabled
    # every snapshot's losses are plotted, also those the display skipped
    assert len(widget.loss_plot.history["data"]) >= x.metadata["fluogan_iteration"] // 2


def test_auto_psf_shape_is_shown_and_stop_ends_its_trials(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    fast_settings(widget, iterations=20, every=5)
    widget.form.psf_model.value = "auto"
    add_roi(viewer, widget, 5, 5, 25, 35)
    shown: list[str] = []

    def record(*_report) -> None:  # runs after the widget's own slot
        shown.append(widget.status.value)

    widget.stage_reported.connect(record)
    assert widget.run()
    wait_done(qtbot, widget)
    # the trial fits' progress is shown while they run
    assert "starting · PSF shape: gaussian fit 100 / 1000 iterations" in shown
    assert "starting · PSF shape: airy fit 1000 / 1000 iterations" in shown
    widget.stage_reported.disconnect(record)
    # the sample is simulated with a Gaussian PSF: auto keeps it and says by what ratio
    assert "PSF gaussian (auto: Airy residual" in widget.status.value
    x = viewer.layers["line pairs FluoGAN x"]
    assert x.metadata["fluogan_config"]["psf_model"] == "gaussian"
    chosen = next(part for part in widget.status.value.split(" · ") if part.startswith("PSF"))
    # Run again on the same ROI, now with the critic: the choice is remembered
    widget.form.use_critic.value = True
    widget.form.warm_start_iterations.value = 10
    assert widget.run()
    wait_done(qtbot, widget)
    assert chosen in widget.status.value.split(" · ")
    assert x.metadata["fluogan_config"]["use_critic"]
    # Stop while the shapes are still being fitted (other priors: fitted again) ends
    # the run within seconds
    widget.form.use_critic.value = False
    widget.form.lambda1.value *= 2
    assert widget.run()
    widget.stop_button.clicked.emit()
    started = time.perf_counter()
    wait_done(qtbot, widget)
    assert time.perf_counter() - started < 5.0
    assert "stopped" in widget.status.value


def test_lambda_change_mid_run_reaches_engine(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    fast_settings(widget, iterations=100_000, every=1)
    widget.form.lambda1.value = 0.02
    add_roi(viewer, widget, 10, 10, 20, 20)
    seen: list[tuple[int, float, float]] = []
    real = run_module.reconstruct_iter

    def spy(frames, config, live=None, on_stage=None, dark=None):
        for snap in real(frames, config, live=live, on_stage=on_stage, dark=dark):
            # The engine's own l1 loss gives the lambda1 it used: l1 = lambda1 sum(x) / (n u)
            n = snap.b.size
            x_norm = snap.x.sum() / snap.info["structure_photons_per_pixel"]
            used = snap.losses["l1"] * n / x_norm if "l1" in snap.losses else float("nan")
            seen.append((snap.iteration, float(live["lambda1"]), used))
            yield snap

    run_module.reconstruct_iter = spy
    try:
        assert widget.run()
        qtbot.waitUntil(lambda: len(seen) >= 3, timeout=RUN_TIMEOUT_MS)
        widget.form.lambda1.value = 0.06  # the user turns the knob during the run
        widget.form.lambda2.value = 3.0
        assert widget.state.live["lambda1"] == 0.06 and widget.state.live["lambda2"] == 3.0
        count = len(seen)
        qtbot.waitUntil(lambda: len(seen) >= count + 3, timeout=RUN_TIMEOUT_MS)
        widget.stop()
        wait_done(qtbot, widget)
    finally:
        run_module.reconstruct_iter = real
    before = [used for _, lam, used in seen[1:] if lam == pytest.approx(0.02)]
    after = [used for _, lam, used in seen if lam == pytest.approx(0.06)]
    assert before and after
    assert before[0] == pytest.approx(0.02, rel=1e-3)
    assert after[-1] == pytest.approx(0.06, rel=1e-3)  # the engine used the new value


def test_bad_inputs_notify_and_widget_stays_usable(viewer_widget, qtbot, notes):
    viewer, widget = viewer_widget
    fast_settings(widget, iterations=2, every=1)

    def run_fails_with(expected: str) -> None:
        count = len(notes)
        widget.run()
        wait_done(qtbot, widget)  # a run the engine rejects ends at once
        errors = [msg for severity, msg in notes[count:] if severity == "error"]
        assert errors and expected in errors[-1], notes[count:]
        assert widget.run_button.enabled and not widget.running

    shapes = add_roi(viewer, widget, 10, 10, 12, 12)
    run_fails_with("at least 4 x 4")
    shapes.data = [np.array([[100, 100], [100, 120], [120, 120], [120, 100]], dtype=float)]
    run_fails_with("outside the image")
    shapes.data = [np.array([[10, 10], [10, 20], [20, 20], [20, 10]], dtype=float)]
    widget.form.set_camera("offset", 60000.0)  # rejected by the engine, in the worker
    run_fails_with("offset")
    widget.form.set_camera("offset", 100.0)
    widget.form.device.value = "cpu"
    assert widget.run()  # usable again at once
    wait_done(qtbot, widget)
    assert "line pairs FluoGAN x" in viewer.layers
    viewer.layers.remove("line pairs")
    run_fails_with("No stack")


def test_two_d_image_is_explained(make_napari_viewer, notes):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="single")
    widget = FluoGANWidget(viewer)
    assert widget.layer_box.value is None
    assert "'single': it is a single 2-D image" in widget.layer_note.value
    assert widget.run() is False
    assert "single 2-D image" in notes[-1][1]


def test_large_whole_frame_asks_first(make_napari_viewer, qtbot, monkeypatch):
    viewer = make_napari_viewer()
    viewer.add_image(np.full((3, 140, 140), 100, np.uint16), name="big")
    widget = FluoGANWidget(viewer)
    asked = []
    monkeypatch.setattr(widget, "confirm_large_roi", lambda roi: asked.append(roi) or False)
    assert LARGE_ROI_PX < 140 * 140
    assert widget.run() is False
    assert asked and asked[0].n_pixels == 140 * 140 and not widget.running


def test_removing_input_layer_stops_run(viewer_widget, qtbot, notes):
    viewer, widget = viewer_widget
    fast_settings(widget, iterations=100_000, every=2)
    add_roi(viewer, widget, 10, 10, 20, 20)
    assert widget.run()
    qtbot.waitUntil(lambda: widget.snapshots_shown >= 2, timeout=RUN_TIMEOUT_MS)
    viewer.layers.remove("line pairs")
    wait_done(qtbot, widget)
    assert "line pairs FluoGAN x" in viewer.layers  # result so far kept
    assert any("was removed" in msg for _, msg in notes)
    assert widget.run_button.enabled


def test_closing_the_window_stops_run(make_napari_viewer, qtbot):
    """Closing napari's window (the user's close button) stops the worker: on that
    path the layers are not cleared, so the widget watches the window itself."""
    viewer = make_napari_viewer(show=True)
    add_sample(viewer)
    widget = FluoGANWidget(viewer)
    viewer.window.add_dock_widget(widget)
    qtbot.waitUntil(lambda: widget._watched_window is not None, timeout=5000)
    window = widget.window()
    assert widget._watched_window is window and window is not widget
    fast_settings(widget, iterations=100_000, every=2)
    add_roi(viewer, widget, 10, 10, 20, 20)
    assert widget.run()
    qtbot.waitUntil(lambda: widget.snapshots_shown >= 2, timeout=RUN_TIMEOUT_MS)
    state = widget.state
    # The close event as the window's event filter sees it (really closing the window
    # here would delete napari's QtViewer under the fixture that closes it after).
    assert widget._close_watcher.eventFilter(window, QCloseEvent()) is False
    assert state.live["stop"] and state.detached
    qtbot.waitUntil(lambda: not widget.running, timeout=RUN_TIMEOUT_MS)
    assert not state.worker.is_running


def test_critic_run_on_tiny_roi(viewer_widget, qtbot, notes, monkeypatch):
    viewer, widget = viewer_widget
    monkeypatch.setattr(run_module, "reconstruct_iter", in_step_with(widget))
    fast_settings(widget, iterations=12, every=4)
    form = widget.form
    form.use_critic.value = True
    form.warm_start_iterations.value = 4
    form.batch_size.value = 8
    for name in ("alpha", "offset", "sigma"):  # estimated by the engine at start
        form.camera_auto[name].value = True
    add_roi(viewer, widget, 10, 10, 20, 20)
    assert widget.run()
    wait_done(qtbot, widget)
    assert not [n for n in notes if n[0] == "error"]
    x = viewer.layers["line pairs FluoGAN x"]
    cfg = x.metadata["fluogan_config"]
    assert cfg["use_critic"] is True and cfg["alpha"] is not None
    assert widget.form.auto_camera()["alpha"] is True  # resolved value shown, still auto
    assert widget.form.camera_value["alpha"].value == pytest.approx(cfg["alpha"], abs=1e-3)
    critic = widget.loss_plot.history["critic"]
    assert len(critic) >= 2 and all(np.isfinite(v) for _, v in critic)


def test_stack_with_z_axis_uses_current_plane(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    data = (100 + 2 * rng.poisson(3.0, size=(2, 30, 16, 16))).astype(np.uint16)
    data[1] += 50  # plane z=1 is brighter
    layer = viewer.add_image(data, name="zt", metadata={"axes": "ZTYX"})
    widget = FluoGANWidget(viewer)
    assert widget.layer_box.value is layer
    fast_settings(widget, iterations=2, every=1)
    viewer.dims.set_current_step(0, 1)
    seen = {}
    real = run_module.reconstruct_iter

    def spy(frames, config, live=None, on_stage=None, dark=None):
        seen["frames"] = frames
        yield from real(frames, config, live=live, on_stage=on_stage, dark=dark)

    run_module.reconstruct_iter = spy
    try:
        assert widget.run()
        wait_done(qtbot, widget)
    finally:
        run_module.reconstruct_iter = real
    np.testing.assert_array_equal(seen["frames"], data[1])
    assert "zt [z=1] FluoGAN x" not in viewer.layers  # default labels are numeric
    assert isinstance(viewer.layers[-1], Image)
    assert viewer.layers[-1].name.endswith("FluoGAN x")


def test_saturated_pixels_raise_one_warning(make_napari_viewer, qtbot, notes):
    from .test_saturation import clipped_stack

    viewer = make_napari_viewer()
    # the blob's centre clipped in nearly every frame (left out), its rim in some
    viewer.add_image(clipped_stack(300), name="clipped")
    widget = FluoGANWidget(viewer)
    fast_settings(widget, iterations=4, every=1)
    assert widget.run()
    wait_done(qtbot, widget)
    warnings = [msg for severity, msg in notes if severity == "warning" and "saturated" in msg]
    assert len(warnings) == 1, notes  # once per run, not per snapshot
    assert "left out" in warnings[0]
    assert "saturated px" in widget.status.value and "left out" in widget.status.value
    flagged = viewer.layers["clipped FluoGAN flagged pixels"]
    kinds = list(flagged.features["kind"])
    assert len(kinds) >= 8 and set(kinds) == {"saturated", "saturated, left out"}
    # one colour per kind
    assert len({tuple(c) for c in flagged.face_color}) == 2


def test_an_empty_roi_is_said_to_show_noise(make_napari_viewer, qtbot, notes):
    # Poisson light alone: x keeps a few noise peaks, which the user is told are noise
    rng = np.random.default_rng(0)
    viewer = make_napari_viewer()
    viewer.add_image(100.0 + 2.0 * rng.poisson(20.0, (60, 24, 24)), name="haze")
    widget = FluoGANWidget(viewer)
    fast_settings(widget, iterations=4, every=1)
    assert widget.run()
    wait_done(qtbot, widget)
    warnings = [msg for severity, msg in notes if severity == "warning"]
    assert len(warnings) == 1 and "nothing above its noise" in warnings[0], notes


def test_hot_and_dead_pixels_are_left_out_unless_unticked(make_napari_viewer, qtbot):
    from .test_defective_pixels import DEAD, HOT, NOISY, blinking_blobs

    viewer = make_napari_viewer()
    viewer.add_image(blinking_blobs(defects=True, dead=DEAD, n_frames=300), name="hot")
    widget = FluoGANWidget(viewer)
    fast_settings(widget, iterations=4, every=2)
    assert widget.form.leave_out_defective_pixels.value  # the default
    assert widget.run()
    wait_done(qtbot, widget)
    assert "3 hot/noisy px and 3 dead px left out" in widget.status.value
    # marked over the input: squares on the flagged camera pixels, a colour per kind
    flagged = viewer.layers["hot FluoGAN flagged pixels"]
    assert sorted(map(tuple, flagged.data.astype(int).tolist())) == sorted(HOT + NOISY + DEAD)
    assert sorted(flagged.features["kind"]) == ["dead"] * 3 + ["hot or noisy"] * 3
    assert len({tuple(c) for c in flagged.face_color}) == 2
    b_layer = viewer.layers["hot FluoGAN b"]  # on b's camera grid, over the input
    np.testing.assert_allclose(flagged.scale, b_layer.scale)
    np.testing.assert_allclose(flagged.translate, b_layer.translate)
    widget.form.leave_out_defective_pixels.value = False
    assert widget.run()
    wait_done(qtbot, widget)
    assert "hot/noisy" not in widget.status.value and "dead" not in widget.status.value
    assert widget.status.value.startswith("done")
    assert len(flagged.data) == 0  # the same layer, emptied


def test_a_dark_stack_layer_gives_the_offset_and_read_noise(
    make_napari_viewer, qtbot, notes, tmp_path
):
    from napari_fluogan.core.dark import DarkCalibration
    from napari_fluogan.napari.writer import write_tiff

    from .conftest import blinking_line_pairs
    from .test_dark import camera_pattern, dark_frames

    _, sim = blinking_line_pairs((240.0,), "dim", n_frames=60)
    pattern = camera_pattern(sim.frames.shape[1:], 4.0)
    viewer = make_napari_viewer()
    # as the plugin's reader opens them: the file's path in the metadata
    viewer.add_image(np.round(sim.frames + pattern).astype(np.uint16), name="stack",
                     metadata={"source_path": str(tmp_path / "stack.tif")})
    viewer.add_image(dark_frames(pattern), name="dark",
                     metadata={"source_path": str(tmp_path / "dark.tif")})
    widget = FluoGANWidget(viewer)
    assert widget.dark_box.value is None  # never chosen by itself
    assert [c.name for c in widget.dark_box.choices if c is not None] == ["stack", "dark"]
    widget.layer_box.value = viewer.layers["stack"]
    fast_settings(widget, iterations=4, every=2)
    for name in ("offset", "sigma"):
        widget.form.camera_auto[name].value = True
    widget.dark_box.value = viewer.layers["stack"]
    assert not widget.run()
    assert any("both the stack and the dark stack" in msg for _, msg in notes), notes
    widget.dark_box.value = viewer.layers["dark"]
    dark = DarkCalibration.from_frames(dark_frames(pattern))
    # the fields on auto preview what the run will take: the dark stack's values
    assert widget.form.camera_value["offset"].value == pytest.approx(dark.offset_adu, abs=1e-3)
    assert widget.form.camera_value["sigma"].value == pytest.approx(dark.read_noise_adu, abs=1e-3)
    assert widget.run()
    wait_done(qtbot, widget)
    assert "offset map from 50 dark frames" in widget.status.value
    assert widget.form.camera_value["offset"].value == pytest.approx(dark.offset_adu, abs=1e-3)
    assert widget.form.camera_value["sigma"].value == pytest.approx(dark.read_noise_adu, abs=1e-3)
    x_layer = viewer.layers["stack FluoGAN x"]
    assert x_layer.data.shape == (31 * 4, 14 * 4)
    # the dark stack is data, not a setting: the result records which file it was,
    # and saving the result keeps that record in the TIFF
    record = x_layer.metadata["fluogan_run"]
    assert record["dark"] == str((tmp_path / "dark.tif").resolve())
    assert record["stack"] == str((tmp_path / "stack.tif").resolve())
    assert record["iterations"] == 4 and record["plane"] == []
    assert viewer.layers["stack FluoGAN b"].metadata["fluogan_run"] == record
    [saved] = write_tiff(str(tmp_path / "x.tif"), x_layer.data,
                         {"metadata": x_layer.metadata, "scale": x_layer.scale})
    from napari_fluogan.io import read_tiff_images

    assert read_tiff_images(saved)[0].run == record
    # and Estimate fills in the dark stack's read noise, not the stack's
    assert widget.estimate_camera("sigma") == pytest.approx(dark.read_noise_adu, abs=1e-3)
