"""Line pairs on backgrounds the defaults were not tuned on, and a field full of dyes.

The benchmark phantom (``bench_quality.phantom``; Airy or Gaussian PSF, 318 nm, 100 nm
pixels, L = 4, bright regime) on:

- ``bg x1`` / ``bg x10`` / ``bg x50``: a uniform background that does not fluctuate
  (autofluorescence, stray light), 1, 10 and 50 times the benchmark's 10 photons per
  pixel per frame (the pairs' own light is about 90);
- ``carpet``: a uniform layer of blinking dyes under the pairs (intensity 0.1 of a
  100 nm line per 100 nm, so about as much light as the pairs themselves), as when
  structure sits in a labelled cytoplasm. It fluctuates, so it is emitter light;
- ``carpet x10``: the same carpet on ten times the background (autofluorescence, or a
  camera offset estimated too low on a field with no dark pixels).

Cell: smallest resolved separation (nm) / largest counting-control contrast (>= 0.20:
invented detail, ``!``) / PSNR dB, and for FluoGAN the share of the true ``x`` light
that ``x`` holds.

A negative control follows: an ROI (1.6 um) inside a square (3.2 um) filled with
blinking dyes (intensity 0.3), nothing a 318 nm PSF could show; run on the ROI's frames
alone and with the ROI drawn on the whole field, whose dyes end around it. Printed: the
share of the light ``x`` holds and its contrast binned to camera pixels (standard
deviation over mean; the truth's is given; large values are blobs that are not there).

    python benchmarks/bench_background.py [--cases "bg x50" carpet] [--psf airy]
        [--seed 3] [--frames 300] [--set lambda1=0.01]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_quality import (
    CAMERA,
    PSF_FWHM_NM,
    add_override_option,
    fluogan_config,
    line_pair_cell,
    overrides_from,
    phantom,
    simulate_phantom,
)

from napari_fluogan import reconstruct
from napari_fluogan.core.background_bound import describe_background_bound
from napari_fluogan.core.blinking import REGIMES, simulate_blinking
from napari_fluogan.core.phantoms import LinePairEmitters
from napari_fluogan.core.psf import psf_from_model
from napari_fluogan.core.simulate import Bar, Phantom

#: name -> (background factor, carpet intensity)
CASES: dict[str, tuple[float, float]] = {
    "bg x1": (1.0, 0.0),
    "bg x10": (10.0, 0.0),
    "bg x50": (50.0, 0.0),
    "carpet": (1.0, 0.1),
    "carpet x10": (10.0, 0.1),
}


def binned_contrast(image: np.ndarray, factor: int = 4) -> float:
    """Standard deviation over mean of an image binned ``factor`` x ``factor``."""
    h, w = image.shape[0] // factor, image.shape[1] // factor
    binned = image[: h * factor, : w * factor].reshape(h, factor, w, factor).mean(axis=(1, 3))
    return float(binned.std() / max(binned.mean(), 1e-12))


def negative_control(psf_name: str, n_frames: int, seed: int, overrides: dict) -> list[str]:
    """A 1.6 um ROI inside a 3.2 um square filled with dyes, in a 6.4 um field: run on
    the ROI's frames alone, and on the whole field with the ROI drawn (the engine then
    sees where the dyes end)."""
    field = Phantom(6400.0, 6400.0, [Bar(3200.0, 3200.0, 1600.0, 4800.0, 0.3)])
    photophysics, background = REGIMES["bright"]
    sim = simulate_blinking(
        LinePairEmitters(field), psf_from_model(psf_name, PSF_FWHM_NM), 100.0, 4, n_frames,
        density_per_nm=1.0, photophysics=photophysics, camera=CAMERA,
        background_photons=background, seed=seed,
    )
    config = fluogan_config("fluogan-l2", PSF_FWHM_NM, None, seed, overrides)
    truth = sim.truth[96:160, 96:160]
    lines = []
    for label, frames, roi in [
        ("ROI alone", sim.frames[:, 24:40, 24:40], None),
        ("ROI in the field", sim.frames, (24, 24, 16, 16)),
    ]:
        snap = reconstruct(frames, config.replace(roi=roi))
        lines.append(
            f"{label:<17} x holds {snap.x.sum() / truth.sum():.2f} of the light, binned "
            f"contrast {binned_contrast(snap.x):.2f} (truth {binned_contrast(truth):.2f}); "
            f"{describe_background_bound(snap.info)}; "
            f"{'warned: fluctuates evenly' if snap.info['even_fluctuations'] else 'no warning'}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument(
        "--psf", nargs="+", default=["airy", "gaussian"], choices=["airy", "gaussian"]
    )
    parser.add_argument("--methods", nargs="+", default=["rl", "sofi2-rl", "fluogan-l2"])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    add_override_option(parser, "lambda1=0.01")
    args = parser.parse_args()
    overrides = overrides_from(args)
    torch.set_num_threads(args.threads)
    photophysics, background = REGIMES["bright"]
    print(f"# bright, T = {args.frames}, seed {args.seed}, overrides: {overrides or 'none'}; "
          "cell = resolved nm / worst counting control / PSNR dB (! control split), "
          "FluoGAN: + share of the true x light in x")
    print(f"{'case':<12}{'PSF':<9}" + "".join(f"{m:>32}" for m in args.methods))
    base = phantom()
    for name in args.cases:
        factor, carpet = CASES[name]
        ph = base.with_carpet(carpet)
        for psf_name in args.psf:
            sim = simulate_phantom(ph, psf_from_model(psf_name, PSF_FWHM_NM), args.frames,
                                   photophysics, background * factor, args.seed)
            cells = []
            for method in args.methods:
                start = time.perf_counter()
                cell, snap = line_pair_cell(
                    method, sim.frames, sim.truth, ph, args.seed, overrides
                )
                if snap is not None:
                    cell += f" x {snap.x.sum() / sim.truth.sum():.2f}"
                cells.append(f"{cell} {time.perf_counter() - start:3.0f}s")
            print(f"{name:<12}{psf_name:<9}" + "".join(f"{c:>32}" for c in cells), flush=True)
    print("\nNegative control, FluoGAN L2-only: an ROI inside a field full of blinking dyes")
    for psf_name in args.psf:
        for line in negative_control(psf_name, args.frames, args.seed, overrides):
            print(f"  {psf_name:<9}{line}", flush=True)


if __name__ == "__main__":
    main()
