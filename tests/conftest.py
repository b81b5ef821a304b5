"""Shared fixtures: small simulated stacks with known camera values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from napari_fluogan.core.blinking import REGIMES, BlinkingSimulation, Camera, simulate_blinking
from napari_fluogan.core.config import FluoGANConfig
from napari_fluogan.core.phantoms import LinePairEmitters
from napari_fluogan.core.psf import PSF, GaussianPSF
from napari_fluogan.core.simulate import Phantom, line_pair_phantom, simulate_stack

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def small_truth(shape=(48, 48), seed=0, level=2.0) -> np.ndarray:
    """A sparse fine-grid ground truth: a few short lines and dots (photons)."""
    rng = np.random.default_rng(seed)
    x = np.zeros(shape, dtype=np.float32)
    x[10:38, 14:16] = level
    x[10:38, 22:24] = level
    for _ in range(6):
        i, j = rng.integers(4, shape[0] - 4, size=2)
        x[i : i + 2, j : j + 2] = level
    return x


#: the quality benchmark's camera (benchmarks/bench_quality.py): QE 0.8, 2 ADU per e-,
#: offset 100 ADU, read noise 2 ADU
BENCH_CAMERA = Camera(quantum_efficiency=0.8, gain_adu_per_e=2.0, offset_adu=100.0,
                      read_noise_adu=2.0)
#: FluoGAN L2-only with the benchmark camera's values and the Gaussian shape the
#: blinking stacks here are simulated with (psf_model "auto" would choose it too, at the
#: cost of two more fits: test_psf_choice.py covers the choice)
BENCH_L2 = FluoGANConfig(alpha=BENCH_CAMERA.gain_adu_per_e, offset=BENCH_CAMERA.offset_adu,
                         sigma=BENCH_CAMERA.read_noise_adu, use_critic=False, device="cpu",
                         psf_model="gaussian")

#: the CLI arguments of a short L2 run with the benchmark camera's values (tests of a
#: switch: the run's status line and its config.json, not its result)
CLI_L2_ARGS = ["--iterations", "2", "--no-critic", "--psf-model", "gaussian",
               "--psf-fwhm-nm", "318", "--pixel-size-nm", "100", "--alpha", "2",
               "--offset", "100", "--sigma", "2"]


def check_cli_switch(
    stack_path: Path, out_dir: Path, capsys, off_flag: str, on_says: str, off_lacks: str,
    config_key: str,
) -> None:
    """A CLI switch that is on by default, on ``stack_path``: the run says ``on_says``
    in its status line; with ``off_flag`` it does not say ``off_lacks``, and its
    config.json records ``config_key`` as false."""
    from napari_fluogan.cli import main

    assert main(["reconstruct", str(stack_path), "--out", str(out_dir / "a"),
                 *CLI_L2_ARGS]) == 0
    assert on_says in capsys.readouterr().err
    out = out_dir / "b"
    assert main(["reconstruct", str(stack_path), "--out", str(out), off_flag,
                 *CLI_L2_ARGS]) == 0
    assert off_lacks not in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())[config_key] is False


def dye_carpet_photons(
    rng: np.random.Generator,
    photons_on: float,
    size: int,
    n_frames: int,
    haze_photons: float,
) -> np.ndarray:
    """Detected photons (T, size, size) of a field full of blinking dyes, one per pixel,
    each on in a quarter of the frames, through a Gaussian PSF of FWHM 3.18 px
    (periodic), over a haze that does not fluctuate: no pixel of it is dark."""
    on = photons_on * (rng.random((n_frames, size, size)) < 0.25)
    sigma_px = 3.18 / 2.3548
    light = haze_photons + ndimage.gaussian_filter(on, (0, sigma_px, sigma_px), mode="wrap")
    return rng.poisson(light).astype(np.float64)


def blinking_line_pairs(
    separations_nm: tuple[float, ...],
    regime: str = "bright",
    n_frames: int = 200,
    seed: int = 0,
    line_length_nm: float = 800.0,
    gap_nm: float = 500.0,
    margin_nm: float = 500.0,
    density_per_nm: float = 1.0,
    psf: PSF | None = None,
    pixel_size_nm: float = 100.0,
    background_factor: float = 1.0,
    carpet_intensity: float = 0.0,
    drift_nm: np.ndarray | None = None,
) -> tuple[Phantom, BlinkingSimulation]:
    """A small blinking line-pair stack (by default a Gaussian 318 nm PSF and 100 nm
    pixels; L = 4, the benchmark camera) and its phantom. The background per pixel
    scales with the pixel's area (the same photons per um^2) and ``background_factor``;
    ``carpet_intensity`` lays a carpet of dyes under the whole field; ``drift_nm`` (T, 2)
    moves the sample frame by frame (drawn 8 frames at a time)."""
    phantom = line_pair_phantom(separations_nm=separations_nm, line_length_nm=line_length_nm,
                                gap_nm=gap_nm, margin_nm=margin_nm)
    phantom = phantom.with_carpet(carpet_intensity)
    photophysics, background = REGIMES[regime]
    sim = simulate_blinking(
        LinePairEmitters(phantom), psf or GaussianPSF(318.0), pixel_size_nm, 4, n_frames,
        density_per_nm=density_per_nm, photophysics=photophysics, camera=BENCH_CAMERA,
        background_photons=background * background_factor * (pixel_size_nm / 100.0) ** 2,
        seed=seed, drift_nm=drift_nm, chunk_frames=32 if drift_nm is None else 8,
    )
    return phantom, sim


@pytest.fixture
def small_stack() -> dict:
    """A 12 x 12 camera-pixel, 60-frame stack (L = 4) with its settings."""
    truth = small_truth()
    frames = simulate_stack(truth, GaussianPSF(318.0), 100.0, 4, 60, background_photons=1.0,
                            alpha=2.0, offset=100.0, sigma=2.0, seed=1)
    return {"frames": frames, "truth": truth, "alpha": 2.0, "offset": 100.0, "sigma": 2.0}


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (a user's clone); CI has it")
    return SHARED_DATA
