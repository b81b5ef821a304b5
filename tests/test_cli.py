import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_fluogan.cli import main
from napari_fluogan.io import read_stack, read_tiff


@pytest.fixture
def sim_stack(tmp_path):
    path = tmp_path / "lp.tif"
    assert main(["simulate", "--out", str(path), "--frames", "40", "--seed", "1"]) == 0
    return path


def test_simulate_writes_stack_and_truth(sim_stack):
    stack = read_stack(sim_stack)
    assert stack.frames.shape[0] == 40 and stack.frames.dtype == np.uint16
    assert stack.pixel_size_nm == pytest.approx(100.0)
    truth, _, truth_px = read_tiff(sim_stack.with_name("lp_truth.tif"))
    assert truth.shape == (stack.frames.shape[1] * 4, stack.frames.shape[2] * 4)
    assert truth_px == pytest.approx(25.0)


def test_reconstruct_writes_results_with_metadata(sim_stack, tmp_path):
    out = tmp_path / "res"
    code = main(["reconstruct", str(sim_stack), "--psf-fwhm-nm", "318", "--upsample", "2",
                 "--roi", "2", "3", "16", "20", "--alpha", "2", "--offset", "100",
                 "--sigma", "2", "--iterations", "6", "--no-critic", "--out", str(out),
                 "--quiet"])
    assert code == 0
    x, _, x_px = read_tiff(out / "x.tif")
    b, _, b_px = read_tiff(out / "b.tif")
    assert x.shape == (32, 40) and x.dtype == np.float32
    assert b.shape == (16, 20)
    assert x_px == pytest.approx(50.0) and b_px == pytest.approx(100.0)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["roi"] == [2, 3, 16, 20] and cfg["iterations"] == 6
    assert cfg["psf_model"] == "gaussian"
    # the saved config reproduces the run
    out2 = tmp_path / "res2"
    assert main(["reconstruct", str(sim_stack), "--config", str(out / "config.json"),
                 "--out", str(out2), "--quiet"]) == 0
    np.testing.assert_array_equal(tifffile.imread(out2 / "x.tif"), x)
    # the Airy model: a different x, and recorded in the config
    out3 = tmp_path / "res3"
    assert main(["reconstruct", str(sim_stack), "--config", str(out / "config.json"),
                 "--psf-model", "airy", "--out", str(out3), "--quiet"]) == 0
    assert json.loads((out3 / "config.json").read_text())["psf_model"] == "airy"
    x_airy = tifffile.imread(out3 / "x.tif")
    assert x_airy.shape == x.shape and not np.allclose(x_airy, x)


def _error_of(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_inputs_give_one_line_and_exit_2(tmp_path, sim_stack, capsys):
    out = str(tmp_path / "o")
    common = ["--out", out, "--iterations", "2", "--no-critic"]
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    fake_tif = tmp_path / "fake.tif"
    fake_tif.write_bytes(b"this is not a tiff")
    image2d = tmp_path / "image.tif"
    tifffile.imwrite(image2d, np.ones((20, 20), np.uint16))
    single = tmp_path / "single.tif"
    tifffile.imwrite(single, np.ones((1, 20, 20), np.uint16))
    nan = tmp_path / "nan.tif"
    data = np.ones((5, 20, 20), np.float32)
    data[2, 3, 4] = np.nan
    tifffile.imwrite(nan, data)
    nopix = tmp_path / "nopix.tif"
    tifffile.imwrite(nopix, np.random.default_rng(0).poisson(5, (5, 20, 20)).astype(np.uint16))
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((20, 24, 3), np.uint8), photometric="rgb")
    cases = {
        "not found": ["reconstruct", str(tmp_path / "missing.tif"), *common],
        "not a TIFF": ["reconstruct", str(text), *common],
        "Cannot read": ["reconstruct", str(fake_tif), *common],
        "single 2-D image": ["reconstruct", str(image2d), "--pixel-size-nm", "100", *common],
        "at least 2": ["reconstruct", str(single), "--pixel-size-nm", "100", *common],
        "NaN": ["reconstruct", str(nan), "--pixel-size-nm", "100", *common],
        "RGB colour image": ["reconstruct", str(rgb), "--pixel-size-nm", "100", *common],
        "outside": ["reconstruct", str(sim_stack), "--roi", "0", "0", "500", "10", *common],
        "between 1 and 8": ["reconstruct", str(sim_stack), "--upsample", "0", *common],
        "FWHM": ["reconstruct", str(sim_stack), "--psf-fwhm-nm", "-1", *common],
        "pixel size": ["reconstruct", str(nopix), *common],
        "JSON": ["reconstruct", str(sim_stack), "--config", str(bad_json), *common],
        "invalid float": ["reconstruct", str(sim_stack), "--alpha", "abc", *common],
        "invalid choice": ["reconstruct", str(sim_stack), "--psf-model", "lorentz", *common],
        "alpha": ["reconstruct", str(sim_stack), "--alpha", "0", *common],
        "required": ["reconstruct", str(sim_stack)],
        "frames": ["simulate", "--out", str(tmp_path / "s.tif"), "--frames", "0"],
        ".tif": ["simulate", "--out", str(tmp_path / "s.png")],
    }
    for words, argv in cases.items():
        err = _error_of(argv, capsys)
        assert words in err, (words, err)


def test_console_script_help_and_error():
    result = subprocess.run([sys.executable, "-m", "napari_fluogan.cli", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0
    assert "reconstruct" in result.stdout and "simulate" in result.stdout
    result = subprocess.run([sys.executable, "-m", "napari_fluogan.cli", "reconstruct",
                             "missing.tif", "--out", "x"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("fluogan: error:")
    assert "Traceback" not in result.stderr


def test_demo_writes_results_and_table(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames", "12", "--iterations", "4", "--quiet"]) == 0
    for name in ("stack.tif", "truth.tif", "x.tif", "b.tif", "config.json", "comparison.png"):
        assert (out / name).is_file(), name
    table = capsys.readouterr().out
    assert "mean image" in table and "FluoGAN" in table and "390" in table and "120" in table


def test_reconstruct_picks_channel_and_plane(tmp_path, capsys):
    rng = np.random.default_rng(0)
    two_colour = tmp_path / "tc.tif"
    data = rng.poisson(5, size=(6, 2, 16, 16)).astype(np.uint16)  # T C Y X
    data[:, 1] += 50  # channel 1 is brighter
    tifffile.imwrite(two_colour, data, imagej=True, metadata={"axes": "TCYX"})
    assert read_stack(two_colour, channel=1).frames.mean() > 50
    assert read_stack(two_colour, channel=0).frames.mean() < 10
    z_stack = tmp_path / "zt.tif"
    tifffile.imwrite(z_stack, rng.poisson(5, size=(6, 3, 16, 16)).astype(np.uint16),
                     imagej=True, metadata={"axes": "TZYX"})  # 3 planes of 6 frames
    out = str(tmp_path / "o")
    common = ["--out", out, "--iterations", "2", "--no-critic", "--pixel-size-nm", "100",
              "--alpha", "1", "--offset", "0", "--sigma", "0", "--quiet"]
    assert "--plane" in _error_of(["reconstruct", str(z_stack), *common], capsys)
    assert "outside" in _error_of(["reconstruct", str(z_stack), "--plane", "7", *common],
                                  capsys)
    assert "channel" in _error_of(["reconstruct", str(two_colour), "--channel", "2", *common],
                                  capsys)
    assert main(["reconstruct", str(z_stack), "--plane", "2", *common]) == 0
    assert main(["reconstruct", str(two_colour), "--channel", "1", *common]) == 0


def test_reconstruct_shows_the_psf_shape_trials(sim_stack, tmp_path, capsys, monkeypatch):
    from collections import OrderedDict

    from napari_fluogan.core import solver

    monkeypatch.setattr(solver, "_PSF_CHOICES", OrderedDict())  # not reused from another test
    assert main(["reconstruct", str(sim_stack), "--upsample", "2", "--roi", "2", "3", "12",
                 "12", "--alpha", "2", "--offset", "100", "--sigma", "2", "--iterations", "4",
                 "--no-critic", "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "PSF shape: gaussian fit" in err and "PSF shape: airy fit" in err
    assert "1000/1000" in err  # each trial's bar runs to its end
