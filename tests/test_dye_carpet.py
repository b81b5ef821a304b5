"""The floor under x where the whole field lies on a carpet of blinking dyes."""

import dataclasses

import numpy as np
import pytest
import torch

from napari_fluogan import reconstruct, reconstruct_iter
from napari_fluogan.cli import build_parser, config_from_args
from napari_fluogan.core.blinking import REGIMES, simulate_blinking
from napari_fluogan.core.dye_carpet import (
    MAX_FLOOR_MISFIT,
    carpet_floor,
    describe_carpet_floor,
    floor_misfit,
    keeps_the_floor,
)
from napari_fluogan.core.metrics import evaluate_pairs
from napari_fluogan.core.phantoms import BeadPhantom
from napari_fluogan.core.psf import AiryPSF, GaussianPSF

from .conftest import BENCH_CAMERA, BENCH_L2, blinking_line_pairs

#: a field of 4.6 x 2.4 um around one pair and its control bar
WIDE = {"gap_nm": 1000.0, "margin_nm": 1000.0}


def _spots(shape: tuple[int, int], centres: list[tuple[float, float]], peak: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.zeros(shape)
    for y, x in centres:
        image += peak * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.35**2))
    return image


def test_the_floor_is_the_carpet_and_not_the_light_beside_structure():
    shape = (40, 40)
    steady = torch.full(shape, 8.0)
    few = _spots(shape, [(12.0, 12.0), (25.0, 28.0)], 200.0)
    carpet = torch.as_tensor(8.0 + 90.0 + few)
    floor = carpet_floor(carpet, steady, 3.18)
    assert floor == pytest.approx(90.0, rel=0.03)
    # spots that light the whole field, on no carpet: the darkest pixels hold some of
    # their light, but most of the field is far brighter
    spread = [(y, x) for y in range(4, 40, 6) for x in range(4, 40, 6)]
    lit = torch.as_tensor(8.0 + _spots(shape, spread, 200.0))
    assert float(lit[3:-3, 3:-3].min()) > 8.0 + 5.0
    assert carpet_floor(lit, steady, 3.18) is None
    # a bright background that does not fluctuate is not a carpet
    hazy = torch.as_tensor(500.0 + few)
    assert carpet_floor(hazy, torch.full(shape, 500.0), 3.18) is None
    assert describe_carpet_floor({"carpet_photons_per_pixel": 90.0}) == (
        "x above a dye carpet of 90 photons/px"
    )
    assert describe_carpet_floor({"carpet_photons_per_pixel": 0.0}) is None


def test_a_pair_on_a_carpet_of_dyes_is_sharpened_above_it():
    """A 210 nm pair on a carpet of dyes about as bright as the pair: with the floor its
    dip is 0.49 (0.06 without; 0.79 without the carpet), its control bar stays whole,
    and x holds more of the true light. No floor is set without the carpet."""
    phantom, sim = blinking_line_pairs((210.0,), "bright", n_frames=200, seed=0,
                                       carpet_intensity=0.1, **WIDE)
    _, plain = blinking_line_pairs((210.0,), "bright", n_frames=200, seed=0, **WIDE)
    carpet_photons = float(sim.truth.mean() - plain.truth.mean()) * 16  # per camera px

    stages: list[tuple[str, int, int]] = []

    def run(frames: np.ndarray, **changes):
        *_, snap = reconstruct_iter(frames, BENCH_L2.replace(**changes),
                                    on_stage=lambda *stage: stages.append(stage))
        (pair,) = evaluate_pairs(snap.x, 25.0, phantom.pairs, 318.0)
        return snap, pair

    floored, pair = run(sim.frames)
    # the trial fits are reported as they go, as auto's PSF trials are
    assert ("Dye carpet: fit with a floor", 200, 200) in stages
    assert stages[-1] == ("Dye carpet: fit without a floor", 200, 200)
    bare, bare_pair = run(sim.frames, carpet_floor=False)
    assert 0.7 * carpet_photons < floored.info["carpet_photons_per_pixel"] < 1.1 * carpet_photons
    assert "dye carpet" in floored.describe_model()
    assert pair.contrast > 0.3 and bare_pair.contrast < 0.15
    assert pair.control_contrast < 0.1
    assert floored.x.sum() > bare.x.sum()
    assert 0.0 < floored.info["carpet_floor_misfit"] < MAX_FLOOR_MISFIT
    assert bare.info["carpet_photons_per_pixel"] == 0.0
    clean, _ = run(plain.frames)
    assert clean.info["carpet_photons_per_pixel"] == 0.0



def test_a_carpet_on_a_steady_background_keeps_its_floor():
    """A carpet of dyes on ten times the benchmark's background (autofluorescence, or an
    offset estimated too low): the trial fit with the floor used to start b at the whole
    dark level, carpet included, and in 200 iterations b did not come down under its
    raised cap: the floor was refused (misfit 0.0072), b took the carpet and x held 0.56
    of the light (210 nm dip 0.13). Each trial now starts near its own solution:
    measured misfit -0.001, x 1.04, dip 0.72."""
    phantom, sim = blinking_line_pairs(
        (270.0, 240.0, 210.0, 180.0), "bright", n_frames=150, seed=3, carpet_intensity=0.1,
        background_factor=10.0, psf=AiryPSF.with_fwhm(318.0), line_length_nm=1000.0,
        gap_nm=600.0,
    )
    snap = reconstruct(sim.frames, BENCH_L2.replace(psf_model="airy"))
    assert snap.info["carpet_photons_per_pixel"] > 0.0
    assert snap.info["carpet_floor_misfit"] < MAX_FLOOR_MISFIT
    assert snap.x.sum() > 0.8 * sim.truth.sum()
    pair_210 = evaluate_pairs(snap.x, 25.0, phantom.pairs, 318.0)[2]
    assert pair_210.separation_nm == 210.0
    assert pair_210.contrast > 0.4 and pair_210.control_contrast < 0.15


def test_a_tight_roi_reads_the_carpet_around_it():
    """An ROI drawn tightly around a 240 nm pair and its bar on a carpet is mostly
    structure, so the carpet is read on the field around it (91 photons per pixel,
    true about 88): dip 0.53 against 0.22 without a floor."""
    phantom, sim = blinking_line_pairs((240.0,), "bright", n_frames=200, seed=1,
                                       carpet_intensity=0.1, **WIDE)
    top, left = 7, 6
    pairs = [
        dataclasses.replace(
            pair,
            centre_x_nm=pair.centre_x_nm - 100.0 * left,
            line_y_nm=tuple(y - 100.0 * top for y in pair.line_y_nm),
            control_y_nm=tuple(y - 100.0 * top for y in pair.control_y_nm),
        )
        for pair in phantom.pairs
    ]
    roi = BENCH_L2.replace(roi=(top, left, 33, 12))
    floored = reconstruct(sim.frames, roi)
    bare = reconstruct(sim.frames, roi.replace(carpet_floor=False))
    assert floored.info["carpet_from_surroundings"] == 1.0
    assert "dye carpet" in floored.describe_model() and "around the ROI" in (
        floored.describe_model()
    )
    assert 70.0 < floored.info["carpet_photons_per_pixel"] < 100.0
    (pair,) = evaluate_pairs(floored.x, 25.0, pairs, 318.0)
    (bare_pair,) = evaluate_pairs(bare.x, 25.0, pairs, 318.0)
    assert pair.contrast > bare_pair.contrast + 0.2 and pair.control_contrast < 0.1


def _dense_beads(size_nm: float = 2800.0, n_beads: int = 50, seed: int = 1) -> np.ndarray:
    """Beads (100 nm) at least 300 nm apart, filling a small field (benchmark camera)."""
    beads = BeadPhantom(height_nm=size_nm, width_nm=size_nm, n_beads=n_beads,
                        min_distance_nm=300.0, seed=seed)
    photophysics, background = REGIMES["bright"]
    return simulate_blinking(beads, GaussianPSF(318.0), 100.0, 4, 200, density_per_nm=1.0,
                             photophysics=photophysics, camera=BENCH_CAMERA,
                             background_photons=background, seed=seed).frames


def test_dense_beads_that_look_like_a_carpet_keep_their_gaps():
    """Beads 300 nm apart light a small field evenly enough to pass for a carpet, but
    FluoGAN resolves the gaps between them: the trial fits find that the floor cannot
    fill them (misfit 0.05; carpets at most 0.003), so no floor is set and x is the
    run without one."""
    frames = _dense_beads()
    snap = reconstruct(frames, BENCH_L2)
    assert snap.info["carpet_floor_misfit"] > 3 * MAX_FLOOR_MISFIT
    assert snap.info["carpet_photons_per_pixel"] == 0.0
    bare = reconstruct(frames, BENCH_L2.replace(carpet_floor=False))
    np.testing.assert_array_equal(snap.x, bare.x)
    assert floor_misfit(1.2e-3, 1.0e-3, 10.0, 100.0) == pytest.approx(0.04)
    assert keeps_the_floor(0.003) and not keeps_the_floor(0.04)


def test_the_cli_can_turn_the_floor_off():
    parser = build_parser()
    args = parser.parse_args(["reconstruct", "stack.tif", "--psf-fwhm-nm", "318",
                              "--pixel-size-nm", "100", "--out", "res", "--no-carpet-floor"])
    assert config_from_args(args, None).carpet_floor is False
    args = parser.parse_args(["reconstruct", "stack.tif", "--psf-fwhm-nm", "318",
                              "--pixel-size-nm", "100", "--out", "res"])
    assert config_from_args(args, None).carpet_floor is True
