"""Saturated camera pixels: found, their light restored or left out of the fit, and
reported in the status, the CLI and the widget (core/saturation.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.cli import main
from napari_fluogan.core import metrics
from napari_fluogan.core.errors import FluoGANError
from napari_fluogan.core.saturation import (
    MAX_CLIPPED_FRAME_SHARE,
    MAX_RESTORED_SHARE,
    describe_saturation,
    restore_clipped,
    saturated_pixels,
    saturation_warning,
    too_clipped,
)

from .conftest import BENCH_L2, blinking_line_pairs


def clipped_stack(clip_adu: int | None, seed: int = 0) -> np.ndarray:
    """A bright blob over a dim field (60 frames, 16 x 16 px, uint16, gain 2, offset
    100); with ``clip_adu`` the camera clips there."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:16, :16]
    light = 5.0 + 300.0 * np.exp(-((yy - 8.0) ** 2 + (xx - 8.0) ** 2) / 8.0)
    frames = 100.0 + 2.0 * rng.poisson(light, size=(60, 16, 16)) + rng.normal(0, 2, (60, 16, 16))
    frames = np.round(frames)
    if clip_adu is not None:
        frames = np.minimum(frames, clip_adu)
    return frames.astype(np.uint16)


def test_saturated_pixels_are_those_clipped_in_more_than_a_few_frames():
    plain = torch.as_tensor(clipped_stack(None).astype(np.float32))
    assert saturated_pixels(plain) is None  # its maximum is reached a few times only
    raw = clipped_stack(620)
    mask = saturated_pixels(torch.as_tensor(raw.astype(np.float32)))
    assert mask is not None
    share = (raw == 620).mean(axis=0)
    np.testing.assert_array_equal(mask.numpy(), share > MAX_CLIPPED_FRAME_SHARE)
    assert mask[8, 8] and not mask[0, 0] and 4 <= int(mask.sum()) <= 60
    # in photons (one affine map of ADU) the same pixels
    photons = torch.as_tensor((raw.astype(np.float32) - 100.0) / 2.0)
    assert torch.equal(saturated_pixels(photons), mask)


def test_a_run_on_saturated_pixels_says_so():
    cfg = FluoGANConfig(alpha=2.0, offset=100.0, sigma=2.0, use_critic=False,
                        psf_model="gaussian", iterations=3, device="cpu")
    clipped = reconstruct(clipped_stack(620), cfg)
    n = int(clipped.info["saturated_pixels"])
    assert n >= 4
    assert f"{n} saturated px" in clipped.describe_model()
    warning = saturation_warning(clipped.info)
    assert warning is not None and f"{n} pixels of the ROI are saturated" in warning
    assert "exposure" in warning
    plain = reconstruct(clipped_stack(None), cfg)
    assert plain.info["saturated_pixels"] == 0
    assert describe_saturation(plain.info) is None and saturation_warning(plain.info) is None
    assert "saturated" not in plain.describe_model()


def test_cli_warns_about_saturated_pixels(tmp_path, capsys):
    common = ["--iterations", "2", "--no-critic", "--psf-model", "gaussian",
              "--pixel-size-nm", "100", "--alpha", "2", "--offset", "100", "--sigma", "2",
              "--quiet"]
    for name, clip in (("clipped", 620), ("plain", None)):
        path = tmp_path / f"{name}.tif"
        tifffile.imwrite(path, clipped_stack(clip))
        assert main(["reconstruct", str(path), "--out", str(tmp_path / name), *common]) == 0
        err = capsys.readouterr().err
        assert ("fluogan: warning:" in err and "saturated" in err) == (clip is not None), err


def test_clipped_light_is_restored_where_enough_frames_are_seen():
    rng = np.random.default_rng(3)
    # 400 frames of 5 x 5 pixels, normal about levels 100..340 with sd 20
    level = torch.linspace(100.0, 340.0, 25, dtype=torch.float64).reshape(5, 5)
    frames = level + 20.0 * torch.as_tensor(rng.standard_normal((400, 5, 5)))
    clip = 300.0
    clipped = frames.clamp_max(clip)
    saturated = saturated_pixels(clipped)
    assert saturated is not None
    mean, variance = restore_clipped(
        clipped, clipped.mean(dim=0), clipped.var(dim=0), saturated
    )
    share = (clipped == clip).double().mean(dim=0)
    restored = saturated & (share <= MAX_RESTORED_SHARE)
    # pixels clipped in 3 % to 90 % of their frames
    assert int(restored.sum()) >= 4 and float(share[restored].max()) > 0.5
    true_mean, true_sd = frames.mean(dim=0), frames.std(dim=0)
    error = (mean - true_mean)[restored].abs() / true_mean[restored]
    clipped_error = (clipped.mean(dim=0) - true_mean)[restored].abs() / true_mean[restored]
    assert float(error.max()) < 0.01 and float(clipped_error.max()) > 0.03
    sd_ratio = variance[restored].sqrt() / true_sd[restored]
    assert float(sd_ratio.min()) > 0.8 and float(sd_ratio.max()) < 1.2
    # the pixels under the clip keep their values; those clipped in nearly every frame
    # are not restored but left out
    assert torch.equal(mean[~saturated], clipped.mean(dim=0)[~saturated])
    left_out = too_clipped(clipped, saturated)
    assert left_out is not None
    assert torch.equal(left_out, saturated & (share > MAX_RESTORED_SHARE))
    assert torch.equal(mean[left_out], clipped.mean(dim=0)[left_out])
    assert too_clipped(frames, None) is None


def test_a_clipped_control_bar_is_not_split():
    # a 210 nm pair and its solid control bar, the camera clipping the brightest 2 % of
    # the samples: fitted as they stand, the flat-topped bar split in two (control 0.64)
    phantom, sim = blinking_line_pairs((210.0,), n_frames=150)
    frames = np.minimum(sim.frames, np.quantile(sim.frames, 0.98)).astype(sim.frames.dtype)
    snap = reconstruct(frames, BENCH_L2.replace(iterations=300))
    result = metrics.evaluate_pairs(snap.x, 25.0, phantom.pairs, 318.0)[0]
    assert result.control_contrast < 0.2, result
    assert result.contrast > 0.4, result
    assert snap.info["saturated_pixels"] > 20
    assert 0 < snap.info["saturated_left_out"] < snap.info["saturated_pixels"]
    assert "left out" in describe_saturation(snap.info)
    assert "left out" in saturation_warning(snap.info)


def test_an_roi_clipped_in_nearly_every_frame_is_refused():
    cfg = FluoGANConfig(alpha=2.0, offset=100.0, sigma=2.0, use_critic=False,
                        psf_model="gaussian", iterations=3, device="cpu")
    with pytest.raises(FluoGANError, match="256 of the ROI's 256 pixels are saturated"):
        reconstruct(clipped_stack(101), cfg)  # every pixel at the maximum in 99 % of frames
