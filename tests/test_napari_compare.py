"""Baselines next to FluoGAN in napari, and the line-profile readout."""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils.notifications import notification_manager

from napari_fluogan.core.profile import peak_dip, sample_line
from napari_fluogan.napari.compare import AS_FLUOGAN, Method, compare_widget
from napari_fluogan.napari.line_profile import LineProfileWidget, describe, profile_of
from napari_fluogan.napari.sample_data import make_line_pair_sample


def test_sample_line_and_peak_dip():
    image = np.zeros((20, 40))
    image[:, 10] = 1.0
    image[:, 20] = 1.0
    distance, values = sample_line(image, (10.0, 5.0), (10.0, 25.0), step_px=0.5)
    assert distance[-1] == pytest.approx(20.0)
    found = peak_dip(values)
    assert found is not None and found.dip == pytest.approx(1.0)
    assert distance[found.second] - distance[found.first] == pytest.approx(10.0)
    assert peak_dip(np.array([0.0, 1.0, 2.0, 1.0, 0.0])) is None  # one peak
    outside = sample_line(image, (10.0, 35.0), (10.0, 45.0))[1]
    assert np.isnan(outside[-1])


@pytest.fixture
def sample_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    for data, kwargs, _ in make_line_pair_sample():
        viewer.add_image(data, **kwargs)
    return viewer


def test_compare_adds_an_overlaying_baseline_layer(sample_viewer, qtbot):
    viewer = sample_viewer
    stack = next(layer for layer in viewer.layers if layer.ndim == 3)
    shapes = viewer.add_shapes(name="roi", ndim=2)
    sy, sx = stack.scale[-2:]
    shapes.add_rectangles(np.array([[2 * sy, 3 * sx], [14 * sy, 19 * sx]]))
    widget = compare_widget()
    viewer.window.add_dock_widget(widget)
    widget.stack.value = stack
    widget.roi_layer.value = shapes
    widget.method.value = Method.RL
    widget.alpha.value = 2.0
    widget.offset.value = 100.0
    widget.pixel_size_nm.value = 100.0
    widget.iterations.value = 10
    name = f"{stack.name} RL(mean)"
    widget()
    qtbot.waitUntil(lambda: name in viewer.layers, timeout=60_000)
    layer = viewer.layers[name]
    assert layer.data.shape == (12 * 4, 16 * 4)  # ROI 12 x 16 camera px, L = 4
    assert np.allclose(layer.scale, (sy / 4, sx / 4))
    expected = np.array(stack.translate[-2:]) + (np.array([2, 3]) - 0.5 + 0.5 / 4) * (sy, sx)
    assert np.allclose(layer.translate, expected)
    assert np.isfinite(layer.data).all() and layer.data.max() > 0
    # PSF shape "as FluoGAN's run": before any FluoGAN run, the Gaussian
    assert widget.psf_model.value == AS_FLUOGAN
    assert layer.metadata["psf_model"] == "gaussian"
    # once FluoGAN's x of this stack assumed the Airy pattern (its auto choice), RL
    # follows it; the layer is refreshed, not doubled
    viewer.add_image(np.zeros((4, 4)), name=f"{stack.name} FluoGAN x", metadata={
        "fluogan_role": "x", "fluogan_source": stack.name,
        "fluogan_config": {"psf_model": "airy"}})
    gaussian = layer.data.copy()
    widget()
    qtbot.waitUntil(lambda: not np.allclose(viewer.layers[name].data, gaussian), timeout=60_000)
    assert sum(lay.name == name for lay in viewer.layers) == 1
    assert viewer.layers[name].metadata["psf_model"] == "airy"
    # an explicit shape wins over the run's
    airy = viewer.layers[name].data.copy()
    widget.psf_model.value = "gaussian"
    widget()
    qtbot.waitUntil(lambda: viewer.layers[name].metadata["psf_model"] == "gaussian",
                    timeout=60_000)
    np.testing.assert_allclose(viewer.layers[name].data, gaussian, rtol=1e-5)
    assert not np.allclose(airy, gaussian)


def test_compare_reports_bad_input_as_notification(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.ones((32, 32)), name="flat")  # 2-D: not a stack
    seen = []
    notification_manager.notification_ready.connect(lambda e: seen.append(str(e.message)))
    widget = compare_widget()
    widget.stack.value = image
    assert widget() is None
    assert any("stack" in m for m in seen)


def test_line_profile_reads_out_the_dip(make_napari_viewer):
    viewer = make_napari_viewer()
    image = np.zeros((40, 40), np.float32)
    image[:, 15] = 1.0
    image[:, 25] = 1.0
    viewer.add_image(image, name="two lines", scale=(0.5, 0.5))
    widget = LineProfileWidget(viewer)
    shapes = widget.add_line_layer()
    shapes.add_lines(np.array([[10.0, 5.0], [10.0, 15.0]]))  # world units (scale 0.5)
    profiles = widget.update_profile()
    [p] = profiles
    assert p.dip == pytest.approx(1.0)
    assert p.peak_separation == pytest.approx(5.0, abs=0.2)  # 10 px x 0.5
    assert "resolved" in describe(p) and "two lines" in widget.readout.value
    direct = profile_of(viewer.layers["two lines"], np.array([10.0, 5.0]), np.array([10.0, 15.0]))
    np.testing.assert_allclose(direct.values, p.values)
