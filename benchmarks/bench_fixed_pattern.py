"""A camera whose pixels each have their own offset (sCMOS): what the fixed pattern
costs, and what a dark stack gives back.

The benchmark phantom (bright and dim, T = 300, seed 3) recorded with the benchmark
camera (2 ADU per photo-electron, offset 100 ADU, read noise 2 ADU) plus a fixed
offset pattern, normal with the given standard deviation (ADU) and the same in every
frame; a dark stack of 200 frames is recorded with the same camera. RL(mean) and
FluoGAN L2-only are given the right gain, offset and read noise, without the dark
stack and with it (the offset pattern subtracted; offset and read noise from the
dark). Cell: resolved nm / worst counting control / PSNR dB (``!``: a control split);
for FluoGAN also the PSF shape ``auto`` chose.

    python benchmarks/bench_fixed_pattern.py [--regimes dim] [--pattern-adu 0 1 2 4]
        [--psf airy] [--seed 3]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_quality import (
    CAMERA,
    PIXEL_NM,
    PSF_FWHM_NM,
    UPSAMPLE,
    fluogan_config,
    format_cell,
    phantom,
    simulate_phantom,
)

from napari_fluogan import reconstruct
from napari_fluogan.core import baselines
from napari_fluogan.core.blinking import REGIMES
from napari_fluogan.core.dark import DarkCalibration
from napari_fluogan.core.psf import psf_from_model
from napari_fluogan.core.stack import to_photons

DARK_FRAMES = 200


def camera_frames(frames: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Frames with the offset pattern added, as a 16-bit camera writes them."""
    return np.clip(np.round(frames.astype(np.float64) + pattern), 0, 65535).astype(np.uint16)


def dark_stack(pattern: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark frames of the benchmark camera with the offset ``pattern``."""
    noise = rng.normal(0.0, CAMERA.read_noise_adu, (DARK_FRAMES, *pattern.shape))
    return camera_frames(CAMERA.offset_adu + noise, pattern)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regimes", nargs="+", default=["bright", "dim"])
    parser.add_argument("--pattern-adu", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0])
    parser.add_argument("--psf", default="airy", choices=["airy", "gaussian"])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ph = phantom()
    print(f"# {args.psf} PSF, T = {args.frames}, seed {args.seed}; cell = resolved nm / worst "
          "counting control / PSNR dB (! control split)")
    print(f"{'regime':<8}{'pattern':>8}{'RL(mean)':>22}{'RL(mean), dark':>22}"
          f"{'FluoGAN L2-only':>30}{'FluoGAN L2-only, dark':>30}")
    for regime in args.regimes:
        photophysics, background = REGIMES[regime]
        sim = simulate_phantom(ph, psf_from_model(args.psf, PSF_FWHM_NM), args.frames,
                               photophysics, background, args.seed)
        for sd in args.pattern_adu:
            rng = np.random.default_rng(args.seed + 100)
            pattern = rng.normal(0.0, sd, sim.frames.shape[1:])
            frames = camera_frames(sim.frames, pattern)
            dark = DarkCalibration.from_frames(dark_stack(pattern, rng))
            row = f"{regime:<8}{sd:>8.1f}"
            for offset_pattern in (None, dark.pattern_adu(frames.shape[1:])):
                offset = CAMERA.offset_adu if offset_pattern is None else dark.offset_adu
                photons = to_photons(frames, CAMERA.gain_adu_per_e, offset, offset_pattern)
                image, px = baselines.run_baseline("rl", photons, PIXEL_NM, UPSAMPLE,
                                                   PSF_FWHM_NM, iterations=200)
                row += f"{format_cell(image, px, sim.truth, ph):>22}"
            for use_dark in (False, True):
                config = fluogan_config("fluogan-l2", PSF_FWHM_NM, None, args.seed)
                if use_dark:
                    config = config.replace(offset=None, sigma=None)
                snap = reconstruct(frames, config, dark=dark if use_dark else None)
                text = format_cell(snap.x, PIXEL_NM / UPSAMPLE, sim.truth, ph)
                text += f" {snap.config.psf_model}"
                row += f"{text:>30}"
            print(row, flush=True)


if __name__ == "__main__":
    main()
