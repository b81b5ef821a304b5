"""Line pairs on a drifting sample: what drift costs, and what modelling it gives back.

The benchmark phantom (bright by default, T = 500, seed 3) with the sample moving over
the stack along a path of the given extent (nm, along x; y moves half as far):
``linear`` (a steady drift), ``settling`` (a thermal drift that slows down,
``1 - exp(-3 t / T)``), ``jump`` (the stage jumps once, halfway). The path is centred on
its mean position, where every method puts its image. Cell: smallest resolved
separation nm / worst counting control (``!``: split) / PSNR dB. "off": FluoGAN with
``drift_correction = False``, as before the drift was modelled; "measured": the
largest extent of the path the default run modelled (``-``: none), against the true
extent.

    python benchmarks/bench_drift.py [--extents 0 100 200 300] [--paths linear jump]
        [--regime bright] [--seed 3] [--psf airy gaussian] [--mode fluogan]

``--mode fluogan`` runs the "off" and "default" columns with the critic (the default
run's mode) instead of L2-only.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_quality import (
    PSF_FWHM_NM,
    add_condition_arguments,
    line_pair_cell,
    phantom,
    simulate_phantom,
)

from napari_fluogan.core.blinking import REGIMES
from napari_fluogan.core.psf import psf_from_model

PATHS = ("linear", "settling", "jump")


def drift_path(kind: str, extent_nm: float, n_frames: int) -> np.ndarray:
    """(T, 2) shifts ``(dy, dx)`` in nm, centred on their mean; x spans ``extent_nm``."""
    t = np.arange(n_frames) / max(n_frames - 1, 1)
    if kind == "linear":
        along = t
    elif kind == "settling":
        along = (1 - np.exp(-3 * t)) / (1 - np.exp(-3.0))
    elif kind == "jump":
        along = (t >= 0.5).astype(float)
    else:
        raise ValueError(kind)
    path = extent_nm * np.stack([0.5 * along, along], axis=1)
    return path - path.mean(axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extents", type=float, nargs="+", default=[0.0, 100.0, 200.0, 300.0])
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--mode", default="fluogan-l2", choices=("fluogan-l2", "fluogan"),
                        help="FluoGAN L2-only (default, fast) or full, with the critic")
    add_condition_arguments(parser, frames=500)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    photophysics, background = REGIMES[args.regime]
    ph = phantom()
    print(f"# {args.mode}, {args.regime}, T = {args.frames}, seed {args.seed}; "
          "cell = resolved nm / worst counting control / PSNR dB (! control split); "
          "measured = extent modelled (nm); s = the default run's seconds")
    print(f"{'PSF':<9}{'path':>9}{'extent':>8}{'RL(mean)':>20}{'FluoGAN off':>20}"
          f"{'FluoGAN default':>20}{'measured':>10}{'shape':>10}{'s':>6}")
    for psf in args.psf:
        for extent in args.extents:
            for kind in args.paths if extent > 0 else args.paths[:1]:
                drift = drift_path(kind, extent, args.frames) if extent > 0 else None
                sim = simulate_phantom(ph, psf_from_model(psf, PSF_FWHM_NM), args.frames,
                                       photophysics, background, args.seed, drift_nm=drift)
                cells = [line_pair_cell("rl", sim.frames, sim.truth, ph, args.seed)[0]]
                cells.append(line_pair_cell(args.mode, sim.frames, sim.truth, ph, args.seed,
                                            {"drift_correction": False})[0])
                cell, snap = line_pair_cell(args.mode, sim.frames, sim.truth, ph, args.seed)
                cells.append(cell)
                assert snap is not None
                measured = f"{snap.info['drift_nm']:.0f}" if snap.info["drift_nm"] else "-"
                label = kind if extent > 0 else "-"
                print(f"{psf:<9}{label:>9}{extent:>8.0f}" + "".join(f"{c:>20}" for c in cells)
                      + f"{measured:>10}{snap.config.psf_model:>10}{snap.elapsed:>6.0f}",
                      flush=True)


if __name__ == "__main__":
    main()
