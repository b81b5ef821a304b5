"""Qt-free helpers of the napari layer: geometry, layer inspection, settings, run glue."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fluogan import FluoGANError
from napari_fluogan.napari import run as run_module
from napari_fluogan.napari.geometry import (
    Roi,
    display_range,
    overlay_transform,
    roi_description,
    roi_from_rectangle,
    roi_from_vertices,
)
from napari_fluogan.napari.layer_info import (
    frames_at,
    leading_axes_text,
    leading_index,
    pixel_size_nm_from_layer,
    stack_problem,
    time_axis_note,
)
from napari_fluogan.napari.run import RateMeter, engine_run
from napari_fluogan.napari.settings import PSF_NA, build_config


def rect(y0, x0, y1, x1):
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], dtype=float)


# ------------------------------------------------------------------- overlay
def test_overlay_transform_in_camera_pixels():
    o = overlay_transform((10, 20), 4)
    assert o.scale == (0.25, 0.25)
    assert o.translate == pytest.approx((10 - 0.375, 20 - 0.375))
    b = overlay_transform((10, 20), 1)
    assert b.scale == (1.0, 1.0) and b.translate == (10.0, 20.0)


def test_overlay_transform_in_world_units():
    # input: 0.1 µm pixels, translated by (1, 2) µm, with a leading time axis
    o = overlay_transform((5, 10), 4, (1.0, 0.1, 0.1), (0.0, 1.0, 2.0))
    assert o.scale == pytest.approx((0.025, 0.025))
    assert o.translate == pytest.approx((1.0 + 4.625 * 0.1, 2.0 + 9.625 * 0.1))


def test_fine_pixels_tile_the_camera_pixels_exactly():
    L, s = 3, 0.16
    o = overlay_transform((7, 2), L, (s, s), (0.5, -1.0))
    b = overlay_transform((7, 2), 1, (s, s), (0.5, -1.0))
    # first fine pixel's outer edge == first camera pixel's outer edge, and L fine
    # pixels span one camera pixel
    np.testing.assert_allclose(
        np.subtract(o.translate, np.multiply(0.5, o.scale)),
        np.subtract(b.translate, np.multiply(0.5, b.scale)),
    )
    np.testing.assert_allclose(np.multiply(L, o.scale), b.scale)


def test_overlay_rejects_bad_upsampling():
    with pytest.raises(ValueError):
        overlay_transform((0, 0), 0)


# ----------------------------------------------------------------------- ROI
@pytest.mark.parametrize(
    "corners, expected",
    [
        (rect(9.5, 9.5, 25.5, 25.5), (10, 10, 16, 16)),  # drawn on pixel edges
        (rect(10, 10, 26, 26), (10, 10, 16, 16)),  # drawn on pixel centres
        (rect(10.2, 3.9, 20.6, 12.4), (10, 4, 11, 8)),  # centres inside [lo, hi)
        (rect(-5, -5, 8, 9), (0, 0, 8, 9)),  # clipped to the frame
        (rect(30, 40, 60, 70), (30, 40, 13, 8)),  # clipped at the far border
    ],
)
def test_roi_from_vertices(corners, expected):
    assert roi_from_vertices(corners, (43, 48)).as_tuple == expected


def test_roi_from_vertices_with_leading_coordinates():
    corners = np.column_stack([np.full(4, 7.0), rect(2, 3, 12, 13)])  # (t, y, x)
    assert roi_from_vertices(corners, (20, 20)).as_tuple == (2, 3, 10, 10)


@pytest.mark.parametrize(
    "corners, message",
    [
        (rect(100, 100, 120, 120), "outside the image"),
        (rect(5, 5, 7, 20), "at least 4 x 4"),
        (np.full((4, 2), np.nan), "no valid corners"),
    ],
)
def test_roi_from_vertices_errors(corners, message):
    with pytest.raises(FluoGANError, match=message):
        roi_from_vertices(corners, (43, 48))


def test_roi_from_rectangle_maps_between_layer_frames():
    # Shapes in 0.05 µm units translated by (1, 2) µm; image 0.1 µm pixels at (1, 2) µm.
    roi = roi_from_rectangle(
        rect(10, 20, 34, 52), (0.05, 0.05), (1.0, 2.0), (1.0, 0.1, 0.1), (0.0, 1.0, 2.0), (43, 48)
    )
    assert roi.as_tuple == (5, 10, 12, 16)


def test_roi_description_and_whole():
    roi = Roi(5, 10, 12, 16)
    assert roi_description(roi, 100.0) == "12 x 16 camera px (1.20 x 1.60 µm) at y=5, x=10"
    assert roi_description(roi, None) == "12 x 16 camera px at y=5, x=10"
    whole = Roi.whole((200, 43, 48))
    assert whole.as_tuple == (0, 0, 43, 48) and whole.n_pixels == 43 * 48
    assert roi_description(whole, 65.0, True).endswith("(2.79 x 3.12 µm), whole frame")


def test_display_range_follows_data():
    data = np.zeros((100, 100))
    data[0, 0] = 1000.0  # one spike is clipped by the percentile
    data[1:, :] = np.linspace(0, 10, 99 * 100).reshape(99, 100)
    lo, hi = display_range(data)
    assert lo == 0.0 and 9.0 < hi < 11.0
    assert display_range(np.full((4, 4), 3.0)) == (3.0, 4.0)
    assert display_range(np.array([np.nan])) == (0.0, 1.0)


# ---------------------------------------------------------------- layer info
@pytest.mark.parametrize(
    "shape, rgb, multiscale, problem",
    [
        ((200, 43, 48), False, False, None),
        ((2, 30, 16, 16), False, False, None),
        ((43, 48), False, False, "single 2-D image"),
        ((1, 43, 48), False, False, "single frame"),
        ((10, 43, 48), True, False, "RGB"),
        ((10, 43, 48), False, True, "multiscale"),
        ((10, 3, 48), False, False, "too small"),
    ],
)
def test_stack_problem(shape, rgb, multiscale, problem):
    result = stack_problem(shape, rgb, multiscale)
    assert (result is None) if problem is None else (problem in result)


@pytest.mark.parametrize(
    "scale, units, metadata, expected",
    [
        ((1, 0.1, 0.1), ("pixel", "micrometer", "micrometer"), {}, 100.0),
        ((1, 65, 65), None, {"pixel_size_nm": 65.0}, 65.0),
        ((1, 160.0, 160.0), ("pixel", "nanometer", "nanometer"), {}, 160.0),
        ((1, 0.108, 0.108), ("pixel", "pixel", "pixel"), {}, 108.0),  # unit-less: µm
        ((1, 1, 1), ("pixel", "pixel", "pixel"), {}, None),  # says nothing
        ((1, 1, 1), None, {"pixel_size_nm": None}, None),
        ((1, 2, 2), ("pixel", "second", "second"), {}, None),  # not a length
    ],
)
def test_pixel_size_from_layer(scale, units, metadata, expected):
    value = pixel_size_nm_from_layer(scale, units, metadata)
    assert value == (pytest.approx(expected) if expected is not None else None)


def test_time_axis_note():
    assert time_axis_note(3, {"axes": "TYX"}) is None
    assert time_axis_note(3, {}) is None
    assert "'Z'" in time_axis_note(3, {"axes": "ZYX"})


def test_leading_index_and_frames():
    data = np.arange(2 * 3 * 5 * 4 * 4).reshape(2, 3, 5, 4, 4)
    idx = leading_index((1.2, 2.7, 0.0, 1.0, 1.0), data.shape)
    assert idx == (1, 2)
    assert leading_index((9.0, -3.0, 0, 0, 0), data.shape) == (1, 0)  # clipped
    assert leading_index((0, 0, 0), (5, 4, 4)) == ()
    np.testing.assert_array_equal(frames_at(data, idx), data[1, 2])
    assert frames_at(data[0, 0], ()).shape == (5, 4, 4)
    assert leading_axes_text((1, 2), ("z", "position", "t", "y", "x")) == "z=1, position=2"
    assert leading_axes_text((3,), ()) == "axis 0=3"


# ------------------------------------------------------------------ settings
def _values(**changes):
    values = {
        "psf_mode": "FWHM",
        "psf_fwhm_nm": 318.0,
        "na": 1.4,
        "emission_wavelength_nm": 670.0,
        "pixel_size_nm": 100.0,
        "upsample": 4,
        "alpha": 2.0,
        "offset": 100.0,
        "sigma": 2.0,
        "lambda1": 0.02,
        "lambda2": 1.0,
        "use_critic": False,
        "iterations": 30,
        "snapshot_every": 5,
        "seed": 3,
    }
    values.update(changes)
    return values


def test_build_config_maps_widget_values():
    auto = {"alpha": False, "offset": True, "sigma": False}
    cfg = build_config(_values(), auto, (1, 2, 8, 9))
    assert cfg.psf_fwhm_nm == 318.0 and cfg.na is None and cfg.emission_wavelength_nm is None
    assert cfg.alpha == 2.0 and cfg.offset is None and cfg.sigma == 2.0
    assert cfg.roi == (1, 2, 8, 9) and cfg.iterations == 30 and cfg.seed == 3
    assert cfg.psf_model == "auto"
    assert build_config(_values(psf_model="airy"), auto, None).psf_model == "airy"
    assert build_config(_values(psf_model="gaussian"), auto, None).psf_model == "gaussian"
    cfg_na = build_config(_values(psf_mode=PSF_NA), {}, None)
    assert cfg_na.psf_fwhm_nm is None and cfg_na.alpha is None
    assert cfg_na.effective_psf_fwhm_nm == pytest.approx(0.61 * 670 / 1.4)


def test_build_config_reports_user_errors():
    with pytest.raises(FluoGANError, match="ROI"):
        build_config(_values(), {}, (0, 0, 2, 2))
    with pytest.raises(FluoGANError, match="gamma"):
        build_config(_values(gamma=0.0), {}, None)


# ------------------------------------------------------------------ run glue
def _drain(gen):
    snaps = []
    while True:
        try:
            snaps.append(next(gen))
        except StopIteration as stop:
            return snaps, stop.value


def test_engine_run_returns_outcome_instead_of_raising(small_stack):
    cfg = build_config(_values(iterations=6, snapshot_every=3, psf_model="gaussian"), {},
                       (0, 0, 8, 8))
    snaps, outcome = _drain(engine_run(small_stack["frames"], cfg, {}))
    assert [s.iteration for s in snaps] == [0, 3, 6]
    assert outcome.severity == "ok" and outcome.snapshot is snaps[-1] and not outcome.stopped
    bad = np.full((5, 12, 12), np.nan, dtype=np.float32)
    snaps, outcome = _drain(engine_run(bad, cfg, {}))
    assert snaps == [] and outcome.severity == "error" and "NaN" in outcome.message


def test_engine_run_stops_on_live_flag(small_stack):
    cfg = build_config(_values(iterations=1000, snapshot_every=1, psf_model="gaussian"), {},
                       (0, 0, 8, 8))
    live: dict = {}
    gen = engine_run(small_stack["frames"], cfg, live)
    next(gen), next(gen)
    live["stop"] = True
    snaps, outcome = _drain(gen)
    assert outcome.stopped and outcome.snapshot.done and outcome.snapshot.iteration == 2


def test_engine_run_catches_unexpected_errors(monkeypatch, small_stack):
    def broken(frames, config, live=None, on_stage=None, dark=None):
        yield "first"
        raise RuntimeError("boom")

    monkeypatch.setattr(run_module, "reconstruct_iter", broken)
    snaps, outcome = _drain(engine_run(small_stack["frames"], None, {}))
    assert snaps == ["first"] and outcome.severity == "error"
    assert "RuntimeError: boom" in outcome.message and outcome.snapshot == "first"


def test_rate_meter():
    meter = RateMeter(100)
    assert meter.describe(0, 2.0) == "iteration 0 / 100"  # start-up time not counted
    rate, left = meter.update(50, 7.0)
    assert rate == pytest.approx(10.0) and left == pytest.approx(5.0)
    assert meter.describe(60, 8.0) == "iteration 60 / 100 · 10 it/s · 4 s left"
