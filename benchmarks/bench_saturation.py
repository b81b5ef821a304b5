"""Line pairs on a camera that clips: what saturation does, and what the engine does
about it (restores the clipped light, or leaves the pixel out).

The benchmark phantom (Gaussian or Airy PSF 318 nm, bright, T = 300, seed 3) recorded
with the camera's maximum at 65535 (no clipping), 900, 700 and 450 ADU (offset 100, 2
ADU per electron; the brightest sample is about 1400). Cell: smallest resolved
separation nm / worst counting control (``!``: split, invented detail) / PSNR dB; for
FluoGAN also the saturated pixels it reports and how many of them it left out.

    python benchmarks/bench_saturation.py [--clip 65535 900 700 450] [--psf airy]
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
from bench_quality import CAMERA, PSF_FWHM_NM, line_pair_cell, phantom, simulate_phantom

from napari_fluogan.core.blinking import REGIMES
from napari_fluogan.core.psf import psf_from_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=int, nargs="+", default=[65535, 900, 700, 450])
    parser.add_argument("--psf", default="gaussian", choices=["airy", "gaussian"])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    photophysics, background = REGIMES["bright"]
    ph = phantom()
    print(f"# {args.psf} PSF, bright, T = {args.frames}, seed {args.seed}; cell = resolved nm "
          "/ worst counting control / PSNR dB (! control split)")
    print(f"{'clip ADU':>9}{'clipped samples':>17}{'RL(mean)':>22}{'FluoGAN L2-only':>24}"
          f"{'reported (left out)':>22}")
    for clip in args.clip:
        sim = simulate_phantom(
            ph, psf_from_model(args.psf, PSF_FWHM_NM), args.frames, photophysics, background,
            args.seed, camera=dataclasses.replace(CAMERA, max_adu=clip),
        )
        clipped = float((sim.frames >= clip).mean())
        rl, _ = line_pair_cell("rl", sim.frames, sim.truth, ph, args.seed, {})
        fg, snap = line_pair_cell("fluogan-l2", sim.frames, sim.truth, ph, args.seed, {})
        info = snap.info if snap is not None else {}
        left_out = info.get("saturated_left_out", 0)
        reported = f"{info.get('saturated_pixels', 0):.0f} ({left_out:.0f})"
        print(f"{clip:>9}{clipped:>17.3f}{rl:>22}{fg:>24}{reported:>19} px", flush=True)


if __name__ == "__main__":
    main()
