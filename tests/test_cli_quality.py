import json

import numpy as np
import pytest

from napari_fluogan.cli import main
from napari_fluogan.io import read_stack, read_tiff


def test_simulate_blinking_filaments_and_baseline(tmp_path, capsys):
    path = tmp_path / "fil.tif"
    assert main(["simulate", "--model", "blinking", "--phantom", "filaments", "--regime",
                 "dim", "--psf", "airy", "--frames", "30", "--out", str(path)]) == 0
    stack = read_stack(path)
    assert stack.frames.shape == (30, 32, 32) and stack.frames.dtype == np.uint16
    truth, _, truth_px = read_tiff(path.with_name("fil_truth.tif"))
    assert truth.shape == (128, 128) and truth_px == pytest.approx(25.0) and truth.sum() > 0
    out = tmp_path / "rl.tif"
    assert main(["baseline", str(path), "--method", "rl", "--alpha", "2", "--offset", "100",
                 "--iterations", "20", "--out", str(out)]) == 0
    rl, _, rl_px = read_tiff(out)
    assert rl.shape == (128, 128) and rl_px == pytest.approx(25.0) and rl.min() >= 0
    # the PSF shape of the simulation, given to RL
    out_airy = tmp_path / "rl_airy.tif"
    assert main(["baseline", str(path), "--method", "rl", "--alpha", "2", "--offset", "100",
                 "--iterations", "20", "--psf-model", "airy", "--out", str(out_airy)]) == 0
    rl_airy, _, _ = read_tiff(out_airy)
    assert rl_airy.shape == rl.shape and not np.allclose(rl_airy, rl, rtol=1e-3)
    capsys.readouterr()
    assert main(["metrics", "--frc", str(path), "--method", "mean", "--alpha", "2",
                 "--offset", "100"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frc_resolution_nm"] >= 200.0  # never finer than the camera's Nyquist


def test_metrics_on_line_pair_truth(tmp_path, capsys):
    path = tmp_path / "lp.tif"
    assert main(["simulate", "--frames", "3", "--out", str(path)]) == 0
    truth_path = path.with_name("lp_truth.tif")
    capsys.readouterr()
    assert main(["metrics", str(truth_path), "--line-pairs", "--truth", str(truth_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["smallest_resolved_nm"] == 120.0 and result["controls_intact"]
    assert len(result["pairs"]) == 10 and result["ssim"] == pytest.approx(1.0)


def test_quality_commands_fail_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["metrics"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("fluogan: error:") and err.count("\n") == 1
    with pytest.raises(SystemExit):
        main(["simulate", "--model", "blinking", "--qe", "2", "--out", str(tmp_path / "a.tif")])
    assert "--qe" in capsys.readouterr().err
    stack = tmp_path / "s.tif"
    assert main(["simulate", "--frames", "20", "--out", str(stack)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["baseline", str(stack), "--method", "sofi2-rl", "--psf-model", "airy",
              "--out", str(tmp_path / "b.tif")])
    err = capsys.readouterr().err
    assert "Gaussian PSF model" in err and err.count("\n") == 1


def test_simulate_and_measure_rings(tmp_path, capsys):
    from napari_fluogan.core.metrics import evaluate_rings
    from napari_fluogan.core.phantoms import RingPhantom

    path = tmp_path / "rings.tif"
    assert main(["simulate", "--model", "blinking", "--phantom", "rings", "--density-per-nm",
                 "1", "--frames", "40", "--out", str(path)]) == 0
    assert read_stack(path).frames.shape == (40, 20, 70)
    truth, _, truth_px = read_tiff(path.with_name("rings_truth.tif"))
    res = evaluate_rings(truth, truth_px, RingPhantom())
    assert min(r.contrast for r in res) > 0.4 and max(r.control_contrast for r in res) < 0.2
    # fluogan metrics --rings reads the same numbers from the file
    capsys.readouterr()
    assert main(["metrics", str(path.with_name("rings_truth.tif")), "--rings"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["smallest_ring_nm"] == 150.0 and result["discs_intact"]
    assert [row["contrast"] for row in result["rings"]] == [round(r.contrast, 3) for r in res]
    assert [row["diameter_nm"] for row in result["rings"]] == list(RingPhantom().diameters_nm)
