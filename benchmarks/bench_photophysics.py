"""The line-pair phantom under dye and stack conditions the defaults were not tuned on.

The defaults were chosen on one photophysics (on 2 / off 6 frames, bleaching after
400 on-frames, T = 500, background 10 photons per pixel). Real dyes blink faster or
slower, stay on most of the time, bleach within the stack, and stacks are shorter or
sit on more background. Each row simulates the benchmark phantom
(``bench_quality.phantom``) with one of those changed, with the Airy and the Gaussian
PSF (318 nm, 100 nm pixels, L = 4), and prints for RL(mean) and FluoGAN L2-only
(defaults) the smallest resolved separation, the largest counting-control contrast
(>= 0.20: invented detail) and the PSNR.

    python benchmarks/bench_photophysics.py [--cases fast-bleach short] [--seed 3]
        [--regime bright] [--methods rl fluogan-l2 fluogan]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from bench_quality import (
    PSF_FWHM_NM,
    add_override_option,
    line_pair_cell,
    overrides_from,
    phantom,
    simulate_phantom,
)

from napari_fluogan.core.blinking import REGIMES
from napari_fluogan.core.psf import psf_from_model

#: name -> (photophysics changes, frames, background factor, what it stands for)
CASES: dict[str, tuple[dict[str, float | None], int, float, str]] = {
    "reference": ({}, 500, 1.0, "the tuning conditions: on 2 / off 6, bleach 400"),
    "mostly-on": ({"on_frames": 6.0, "off_frames": 2.0}, 500, 1.0, "duty cycle 0.75"),
    "sparse": ({"on_frames": 1.0, "off_frames": 30.0}, 500, 1.0, "duty cycle 0.03"),
    "slow": ({"on_frames": 20.0, "off_frames": 60.0}, 500, 1.0, "on 20 / off 60 frames"),
    "fast-bleach": ({"bleach_on_frames": 40.0}, 500, 1.0, "most dyes bleach mid-stack"),
    "no-bleach": ({"bleach_on_frames": None}, 500, 1.0, "no bleaching"),
    "short": ({}, 100, 1.0, "T = 100"),
    "hazy": ({}, 500, 10.0, "background x 10"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument(
        "--psf", nargs="+", default=["airy", "gaussian"], choices=["airy", "gaussian"]
    )
    parser.add_argument("--methods", nargs="+", default=["rl", "fluogan-l2"])
    parser.add_argument("--regime", choices=list(REGIMES), default="bright")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    add_override_option(parser, "adv_weight=0.05")
    args = parser.parse_args()
    overrides = overrides_from(args)
    torch.set_num_threads(args.threads)
    ph = phantom()
    base, background = REGIMES[args.regime]
    print(
        f"# {args.regime}, seed {args.seed}, overrides: {overrides or 'none'}; cell = smallest "
        "resolved nm / largest counting-control contrast / PSNR dB (! control split), "
        "then the PSF shape FluoGAN assumed (G Gaussian, A Airy)"
    )
    header = "".join(f"{m:>26}" for m in args.methods)
    print(f"{'case':<12}{'PSF':<9}{header}  conditions")
    for name in args.cases:
        changes, frames, background_factor, what = CASES[name]
        photophysics = dataclasses.replace(base, **changes)
        for model in args.psf:
            sim = simulate_phantom(ph, psf_from_model(model, PSF_FWHM_NM), frames,
                                   photophysics, background * background_factor, args.seed)
            cells = []
            for method in args.methods:
                start = time.perf_counter()
                cell, snap = line_pair_cell(
                    method, sim.frames, sim.truth, ph, args.seed, overrides
                )
                # the PSF shape a FluoGAN row assumed: G or A
                shape_mark = snap.config.psf_model[0].upper() if snap is not None else ""
                cells.append(f"{cell}{shape_mark:>2} {time.perf_counter() - start:4.0f}s")
            print(
                f"{name:<12}{model:<9}" + "".join(f"{c:>26}" for c in cells) + f"  {what}",
                flush=True,
            )


if __name__ == "__main__":
    main()
