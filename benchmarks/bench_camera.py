"""Camera values entered wrong: what they cost FluoGAN, and whether the run says so.

Stacks taken with the benchmark camera (2 ADU per photo-electron, offset 100 ADU, read
noise 2 ADU) are reconstructed with FluoGAN L2-only given the right values, values
typed wrong (the gain 1.5 and 2 times too high or too low, the offset 0, the read
noise 5 times too high) and the values estimated from the stack (``auto``). Fields:
the line-pair phantom (Airy, bright and dim), the same on a carpet of dyes, and 20
filaments (bright and dim).

Cell: for line pairs resolved nm / worst counting control / PSNR dB, for filaments
PSNR dB; then the share of the true light ``x`` holds, ``cap`` where the background
cap was set, the quietness (``core/camera_check.py``: the quietest pixels' variance
over photon counting's) and ``WARN`` where the run warned about the camera values.

    python benchmarks/bench_camera.py [--fields pairs-bright filaments-dim]
        [--values right alpha*2 auto] [--seed 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_quality import (
    CAMERA,
    PIXEL_NM,
    PSF_FWHM_NM,
    UPSAMPLE,
    fluogan_config,
    line_pair_cell,
    phantom,
    simulate_phantom,
)

from napari_fluogan import reconstruct
from napari_fluogan.core import metrics
from napari_fluogan.core.blinking import REGIMES, simulate_blinking
from napari_fluogan.core.camera_check import camera_warning
from napari_fluogan.core.phantoms import FilamentPhantom
from napari_fluogan.core.psf import AiryPSF

#: name -> config overrides (None: estimated from the stack)
VALUES: dict[str, dict[str, float | None]] = {
    "right": {},
    "alpha*1.5": {"alpha": 3.0},
    "alpha*2": {"alpha": 4.0},
    "alpha/1.5": {"alpha": 2.0 / 1.5},
    "alpha/2": {"alpha": 1.0},
    "offset=0": {"offset": 0.0},
    "sigma*5": {"sigma": 10.0},
    "auto": {"alpha": None, "offset": None, "sigma": None},
}
#: name -> (phantom kind, regime, carpet intensity)
FIELDS: dict[str, tuple[str, str, float]] = {
    "pairs-bright": ("pairs", "bright", 0.0),
    "pairs-dim": ("pairs", "dim", 0.0),
    "carpet-bright": ("pairs", "bright", 0.1),
    "filaments-bright": ("filaments", "bright", 0.0),
    "filaments-dim": ("filaments", "dim", 0.0),
}


def simulate(field: str, seed: int, n_frames: int):
    """The stack (ADU) and its truth, and the line-pair phantom (None for filaments)."""
    kind, regime, carpet = FIELDS[field]
    photophysics, background = REGIMES[regime]
    psf = AiryPSF.with_fwhm(PSF_FWHM_NM)
    if kind == "pairs":
        ph = phantom().with_carpet(carpet)
        return simulate_phantom(ph, psf, n_frames, photophysics, background, seed), ph
    filaments = FilamentPhantom(height_nm=3200.0, width_nm=3200.0, n_filaments=20, seed=5)
    sim = simulate_blinking(filaments, psf, PIXEL_NM, UPSAMPLE, n_frames, density_per_nm=1.0,
                            photophysics=photophysics, camera=CAMERA,
                            background_photons=background, seed=seed)
    return sim, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", nargs="+", default=list(FIELDS), choices=list(FIELDS))
    parser.add_argument("--values", nargs="+", default=list(VALUES), choices=list(VALUES))
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# FluoGAN L2-only, Airy {PSF_FWHM_NM:.0f} nm, T = {args.frames}, seed {args.seed}; "
          "camera: 2 ADU/e-, offset 100 ADU, read noise 2 ADU")
    print(f"{'field':<18}{'values':<11}{'result':>22}{'x share':>9}{'cap':>5}"
          f"{'quiet':>7}{'':>6}{'time':>6}")
    for field in args.fields:
        sim, ph = simulate(field, args.seed, args.frames)
        for name in args.values:
            start = time.perf_counter()
            if ph is not None:
                cell, snap = line_pair_cell("fluogan-l2", sim.frames, sim.truth, ph, args.seed,
                                            VALUES[name])
            else:
                cfg = fluogan_config("fluogan-l2", PSF_FWHM_NM, None, args.seed, VALUES[name])
                snap = reconstruct(sim.frames, cfg)
                cell = f"{metrics.psnr(snap.x, sim.truth):.1f}"
            assert snap is not None
            share = float(np.sum(snap.x) / np.sum(sim.truth))
            cap = "cap" if snap.info["background_bound_active"] else "-"
            warned = "WARN" if camera_warning(snap.info) else ""
            print(f"{field:<18}{name:<11}{cell:>22}{share:>9.2f}{cap:>5}"
                  f"{snap.info['quietness']:>7.2f}{warned:>6}"
                  f"{time.perf_counter() - start:>5.0f}s", flush=True)


if __name__ == "__main__":
    main()
