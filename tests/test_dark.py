"""A dark stack: the offset of each camera pixel measured and subtracted
(core/dark.py, stack.to_photons), from Python and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from napari_fluogan import DarkCalibration, reconstruct
from napari_fluogan.cli import main
from napari_fluogan.core import metrics
from napari_fluogan.core.errors import FluoGANError
from napari_fluogan.core.saturation import saturated_pixels
from napari_fluogan.core.stack import to_photons

from .conftest import BENCH_L2, blinking_line_pairs


def camera_pattern(shape: tuple[int, int], sd_adu: float, seed: int = 1) -> np.ndarray:
    """A fixed offset pattern (ADU), normal about 0."""
    return np.random.default_rng(seed).normal(0.0, sd_adu, shape)


def dark_frames(pattern: np.ndarray, n_frames: int = 50, seed: int = 2) -> np.ndarray:
    """Dark frames of the benchmark camera (offset 100, read noise 2 ADU) with ``pattern``."""
    noise = np.random.default_rng(seed).normal(0.0, 2.0, (n_frames, *pattern.shape))
    return np.round(100.0 + pattern + noise).astype(np.uint16)


def test_a_dark_stack_measures_each_pixels_offset_and_the_read_noise():
    pattern = camera_pattern((12, 16), 4.0)
    dark = DarkCalibration.from_frames(dark_frames(pattern, n_frames=200))
    assert dark.n_frames == 200
    assert abs(dark.offset_adu - 100.0) < 1.0
    assert abs(dark.read_noise_adu - 2.0) < 0.1
    measured = dark.pattern_adu((12, 16))
    assert float(np.median(measured)) == pytest.approx(0.0, abs=1e-4)
    # the map's error is the read noise over sqrt(200), plus rounding
    error = measured - (pattern - np.median(pattern))
    assert float(np.abs(error).max()) < 0.8 and float(error.std()) < 0.25
    with pytest.raises(FluoGANError, match="12 x 16 pixels and the stack's 12 x 15"):
        dark.pattern_adu((12, 15))
    with pytest.raises(FluoGANError, match="record at least 10"):
        DarkCalibration.from_frames(dark_frames(pattern, n_frames=5))


def test_the_offset_pattern_is_subtracted_and_clipped_samples_stay_equal():
    rng = np.random.default_rng(0)
    pattern = camera_pattern((8, 8), 3.0)
    light = rng.poisson(40.0, (60, 8, 8)) * 2.0
    raw = np.round(100.0 + pattern + light)
    photons = to_photons(raw, 2.0, 100.0, pattern)
    expected = (raw - 100.0 - pattern) / 2.0
    assert np.abs(photons - expected).max() < 1e-3
    # the camera clips: the clipped samples stay at one value, so they are found
    clip = float(np.quantile(raw, 0.9))
    clipped = np.minimum(raw, clip)
    photons = to_photons(clipped, 2.0, 100.0, pattern)
    at_top = clipped == clip
    assert len(np.unique(photons[at_top])) == 1
    assert float(photons.max()) == float(photons[at_top][0])
    mask = saturated_pixels(torch.as_tensor(photons))
    assert mask is not None
    np.testing.assert_array_equal(mask.numpy(), at_top.mean(axis=0) > 0.01)


def test_a_dark_stack_gives_back_what_the_pattern_cost():
    # dim line pairs with a fixed pattern of 4 ADU (2 photons) per pixel: fitted as
    # light, it took the 210 nm pair (dip 0.00) and 3 dB
    phantom, sim = blinking_line_pairs((210.0, 240.0), "dim", n_frames=150)
    pattern = camera_pattern(sim.frames.shape[1:], 4.0)
    frames = np.round(sim.frames + pattern).astype(np.uint16)
    dark = DarkCalibration.from_frames(dark_frames(pattern))
    config = BENCH_L2.replace(iterations=300)

    def run(stack, **kwargs):
        snap = reconstruct(stack, **kwargs)
        dip = metrics.evaluate_pairs(snap.x, 25.0, phantom.pairs, 318.0)[0].contrast
        return metrics.psnr(snap.x, sim.truth), dip, snap

    clean_psnr, clean_dip, clean = run(sim.frames, config=config)
    assert clean.info["dark_frames"] == 0 and "dark" not in clean.describe_model()
    plain_psnr, plain_dip, _ = run(frames, config=config)
    # offset and read noise left to the dark stack
    dark_psnr, dark_dip, snap = run(frames, config=config.replace(offset=None, sigma=None),
                                    dark=dark)
    assert "offset map from 50 dark frames" in snap.describe_model()
    assert snap.config.offset == pytest.approx(dark.offset_adu)
    assert snap.config.sigma == pytest.approx(dark.read_noise_adu)
    assert plain_psnr < clean_psnr - 2.0 and plain_dip < 0.2
    assert dark_psnr > clean_psnr - 0.5 and dark_dip > 0.3


def test_cli_takes_a_dark_stack(tmp_path, capsys):
    phantom, sim = blinking_line_pairs((240.0,), "dim", n_frames=60)
    pattern = camera_pattern(sim.frames.shape[1:], 4.0)
    tifffile.imwrite(tmp_path / "stack.tif", np.round(sim.frames + pattern).astype(np.uint16))
    tifffile.imwrite(tmp_path / "dark.tif", dark_frames(pattern))
    common = ["--iterations", "3", "--no-critic", "--psf-model", "gaussian",
              "--pixel-size-nm", "100", "--alpha", "2", "--quiet"]
    assert main(["reconstruct", str(tmp_path / "stack.tif"), "--dark", str(tmp_path / "dark.tif"),
                 "--out", str(tmp_path / "out"), *common]) == 0
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    dark = DarkCalibration.from_frames(dark_frames(pattern))
    assert saved["offset"] == pytest.approx(dark.offset_adu)
    assert saved["sigma"] == pytest.approx(dark.read_noise_adu)
    # the dark stack is data, not a setting: run.json records it, and a run started
    # from that config.json without it says how to reconstruct as before
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["dark"] == str((tmp_path / "dark.tif").resolve())
    assert record["stack"] == str((tmp_path / "stack.tif").resolve())
    # and the result's images carry the same record
    from napari_fluogan.io import read_tiff_images

    assert read_tiff_images(tmp_path / "out" / "x.tif")[0].run == record
    capsys.readouterr()
    assert main(["reconstruct", str(tmp_path / "stack.tif"), "--config",
                 str(tmp_path / "out" / "config.json"), "--out", str(tmp_path / "again"),
                 *common]) == 0
    assert f"--dark {(tmp_path / 'dark.tif').resolve()}" in capsys.readouterr().err
    assert json.loads((tmp_path / "again" / "run.json").read_text())["dark"] is None
    tifffile.imwrite(tmp_path / "small.tif", dark_frames(pattern[:, :-1]))
    with pytest.raises(SystemExit) as info:
        main(["reconstruct", str(tmp_path / "stack.tif"), "--dark", str(tmp_path / "small.tif"),
              "--out", str(tmp_path / "out2"), *common])
    assert info.value.code == 2
    assert "same camera ROI and binning" in capsys.readouterr().err
