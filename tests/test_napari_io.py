"""npe2 reader, writer and sample data: TIFF stacks as microscopes write them."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tifffile
from napari.plugins.io import save_layers

from napari_fluogan import FluoGANConfig
from napari_fluogan.napari.reader import napari_get_reader, read_tiffs
from napari_fluogan.napari.sample_data import line_pair_stack, make_line_pair_sample
from napari_fluogan.napari.writer import write_tiff

PLUGIN = "napari-fluogan"


def stack(*shape, seed=0):
    return np.random.default_rng(seed).integers(90, 200, size=shape).astype(np.uint16)


def test_non_tiff_is_left_to_other_readers(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    assert napari_get_reader(str(tmp_path / "a.png")) is None
    assert napari_get_reader(str(tmp_path)) is None
    assert napari_get_reader([str(tmp_path / "a.tif"), str(tmp_path / "a.png")]) is None
    assert napari_get_reader(str(tmp_path / "a.TIFF")) is read_tiffs


def test_imagej_time_series_with_pixel_size(tmp_path):
    path = tmp_path / "movie.tif"
    data = stack(30, 16, 20)
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 0.108, 1 / 0.108),
        metadata={"axes": "TYX", "unit": "um", "finterval": 0.01},
    )
    [(array, kwargs, kind)] = napari_get_reader(str(path))(str(path))
    assert kind == "image" and kwargs["name"] == "movie"
    np.testing.assert_array_equal(array, data)
    assert kwargs["scale"] == pytest.approx((1.0, 0.108, 0.108))
    assert kwargs["units"] == ("pixel", "micrometer", "micrometer")
    assert kwargs["axis_labels"] == ("t", "y", "x")
    meta = kwargs["metadata"]
    assert meta["axes"] == "TYX" and meta["pixel_size_nm"] == pytest.approx(108.0)
    assert meta["frame_interval_s"] == pytest.approx(0.01)


def test_imagej_hyperstack_channels_and_z(tmp_path):
    path = tmp_path / "hyper.tif"
    data = stack(6, 3, 2, 16, 16)  # T Z C Y X
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(10.0, 10.0),
        metadata={"axes": "TZCYX", "unit": "um", "spacing": 0.25},
    )
    layers = read_tiffs(str(path))
    assert [k["name"] for _, k, _ in layers] == ["hyper [C0]", "hyper [C1]"]
    for c, (array, kwargs, _) in enumerate(layers):
        assert kwargs["metadata"]["axes"] == "ZTYX"  # Z kept as a slider, T third-last
        assert array.shape == (3, 6, 16, 16)
        np.testing.assert_array_equal(array, data[:, :, c].transpose(1, 0, 2, 3))
        assert kwargs["scale"] == pytest.approx((0.25, 1.0, 0.1, 0.1))
        assert kwargs["axis_labels"] == ("z", "t", "y", "x")
        assert kwargs["blending"] == "additive"
    assert layers[0][1]["colormap"] != layers[1][1]["colormap"]


def test_ome_tiff_channel_names_and_pixel_size(tmp_path):
    path = tmp_path / "two_colour.ome.tif"
    data = stack(8, 2, 16, 16)
    tifffile.imwrite(
        path,
        data,
        ome=True,
        metadata={
            "axes": "TCYX",
            "PhysicalSizeX": 0.065,
            "PhysicalSizeY": 0.065,
            "Channel": {"Name": ["GFP", "mCherry"]},
        },
    )
    layers = read_tiffs(str(path))
    assert [k["name"] for _, k, _ in layers] == ["two_colour [GFP]", "two_colour [mCherry]"]
    np.testing.assert_array_equal(layers[1][0], data[:, 1])
    assert layers[0][1]["metadata"]["pixel_size_nm"] == pytest.approx(65.0)
    assert layers[0][1]["metadata"]["channel"] == "GFP"


def test_ome_positions_become_a_slider(tmp_path):
    path = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for p in range(3):
            tif.write(stack(5, 16, 16, seed=p), metadata={"axes": "TYX", "PhysicalSizeX": 0.1})
    [(array, kwargs, _)] = read_tiffs(str(path))
    assert array.shape == (3, 5, 16, 16) and kwargs["metadata"]["axes"] == "PTYX"
    assert kwargs["axis_labels"] == ("position", "t", "y", "x")
    np.testing.assert_array_equal(array[2], stack(5, 16, 16, seed=2))


def test_plain_multipage_tiff_is_a_time_series(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, stack(12, 16, 16), metadata=None)
    [(array, kwargs, _)] = read_tiffs(str(path))
    assert array.shape == (12, 16, 16) and kwargs["metadata"]["axes"] == "TYX"
    assert kwargs["metadata"]["pixel_size_nm"] is None and kwargs["scale"] == (1.0, 1.0, 1.0)


def test_imagej_planes_mislabelled_as_channels_are_frames(tmp_path):
    path = tmp_path / "planes.tif"
    tifffile.imwrite(path, stack(20, 16, 16), imagej=True)  # tifffile says 20 channels
    [(array, kwargs, _)] = read_tiffs(str(path))
    assert array.shape == (20, 16, 16) and kwargs["metadata"]["axes"] == "TYX"
    assert "read as time frames" in kwargs["metadata"]["axes_notes"][0]


def test_two_d_image_opens(tmp_path):
    path = tmp_path / "single.tif"
    tifffile.imwrite(path, stack(16, 16))
    [(array, kwargs, _)] = read_tiffs(str(path))
    assert array.shape == (16, 16) and kwargs["metadata"]["axes"] == "YX"


def test_corrupt_tiff_gives_clear_error(tmp_path):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"not a tiff at all")
    with pytest.raises(ValueError, match="Cannot read broken.tif"):
        read_tiffs(str(path))


def test_writer_round_trip_with_config(tmp_path):
    config = FluoGANConfig(pixel_size_nm=100.0, upsample=4, roi=(1, 2, 8, 8), lambda1=0.05)
    x = np.random.default_rng(0).random((32, 32)).astype(np.float64)
    run = {"stack": "/data/stack = 1.tif", "dark": "/data/dark.tif", "channel": None,
           "plane": [2], "model": "PSF airy; drift of 120 nm modelled", "iterations": 900}
    attributes = {
        "scale": (0.025, 0.025),
        "units": ("micrometer", "micrometer"),
        "metadata": {"pixel_size_nm": 25.0, "fluogan_config": config.to_dict(),
                     "fluogan_run": run},
    }
    [written] = write_tiff(str(tmp_path / "x"), x, attributes)
    assert written.endswith("x.tif")
    with tifffile.TiffFile(written) as tif:
        assert tif.pages[0].dtype == np.float32
    [(array, kwargs, _)] = read_tiffs(written)
    np.testing.assert_allclose(array, x.astype(np.float32))
    assert kwargs["metadata"]["pixel_size_nm"] == pytest.approx(25.0)
    saved = FluoGANConfig.from_dict(kwargs["metadata"]["fluogan_config"])
    assert saved == config  # the saved config reproduces the run
    assert kwargs["metadata"]["fluogan_run"] == run  # and what it read comes back


def test_writer_takes_pixel_size_from_scale(tmp_path):
    [written] = write_tiff(
        str(tmp_path / "b.tiff"), np.ones((8, 8)), {"scale": (0.1, 0.1), "metadata": {}}
    )
    [(_, kwargs, _)] = read_tiffs(written)
    assert kwargs["metadata"]["pixel_size_nm"] == pytest.approx(100.0)
    assert "fluogan_config" not in kwargs["metadata"]
    assert "fluogan_run" not in kwargs["metadata"]


def test_sample_data_is_small_and_fast():
    start = time.perf_counter()
    layers = make_line_pair_sample()
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0
    (frames, fk, _), (truth, tk, _) = layers
    assert frames.dtype == np.uint16 and frames.shape == (200, 43, 48)
    assert truth.shape == (43 * 4, 48 * 4) and truth.max() > 0
    assert fk["metadata"]["pixel_size_nm"] == 100.0
    # the truth overlays the stack exactly: fine grid, L = 4
    assert tk["scale"] == pytest.approx((0.025, 0.025))
    assert tk["translate"] == pytest.approx((-0.0375, -0.0375))
    # the stack carries its camera: mean dark level near the 100 ADU offset
    assert 95 < np.percentile(frames.mean(axis=0), 5) < 110
    again, _ = line_pair_stack()
    np.testing.assert_array_equal(again, frames)  # seeded


def test_viewer_opens_saves_and_loads_samples(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    path = tmp_path / "two.ome.tif"
    tifffile.imwrite(
        path,
        stack(8, 2, 16, 16),
        ome=True,
        metadata={"axes": "TCYX", "PhysicalSizeX": 0.1, "Channel": {"Name": ["a", "b"]}},
    )
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert [layer.name for layer in layers] == ["two [a]", "two [b]"]
    assert layers[0].scale[-1] == pytest.approx(0.1)
    viewer.open_sample(PLUGIN, "line_pairs")
    assert "line pairs" in viewer.layers and "line pairs ground truth" in viewer.layers
    truth = viewer.layers["line pairs ground truth"]
    out = tmp_path / "truth.tif"
    written = save_layers(str(out), [truth], plugin=PLUGIN)
    assert written == [str(out)]
    [(array, kwargs, _)] = read_tiffs(str(out))
    assert array.dtype == np.float32 and kwargs["metadata"]["pixel_size_nm"] == pytest.approx(25.0)
