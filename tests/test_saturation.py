"""Saturated camera pixels: found, reported in the status, the CLI and the widget
(core/saturation.py)."""

from __future__ import annotations

import numpy as np
import tifffile
import torch

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.cli import main
from napari_fluogan.core.saturation import (
    MAX_CLIPPED_FRAME_SHARE,
    describe_saturation,
    saturated_pixels,
    saturation_warning,
)


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
