"""Dense random filaments (no line pairs): where a free background can take the signal.

Blinking emitters on random tubulin-like filaments (``FilamentPhantom``), Airy PSF of
FWHM 318 nm (a PSF the engine does not assume), 100 nm pixels, L = 4. Prints, per
method, PSNR and SSIM against the truth, and for FluoGAN the light that ``x`` keeps
and the mean of the background ``b`` (photons per camera pixel per frame) next to
the true values: a ``b`` far above the true background has taken the filaments'
blurred pedestal. ``--beads`` adds fields of 100 nm beads at least ``--bead-distance``
apart: dense enough, they light the whole field evenly and look like a carpet of dyes
through the PSF, and the status column says whether a floor was set under ``x``
(``core/dye_carpet.py``; it must not be, their gaps are resolved).

    python benchmarks/bench_filaments.py [--filaments 20 6] [--regimes bright dim]
        [--frames 300] [--critic] [--set lambda2=1] [--phantom-seed 5] [--seed 11]
        [--beads 60 150 --bead-distance 300 220]
"""

from __future__ import annotations

import argparse
import time

import torch
from bench_quality import (
    CAMERA,
    PIXEL_NM,
    PSF_FWHM_NM,
    UPSAMPLE,
    add_override_option,
    fluogan_config,
    overrides_from,
    run_method,
)

from napari_fluogan import reconstruct
from napari_fluogan.core import metrics
from napari_fluogan.core.blinking import REGIMES, simulate_blinking
from napari_fluogan.core.phantoms import BeadPhantom, FilamentPhantom
from napari_fluogan.core.psf import AiryPSF


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filaments", type=int, nargs="*", default=[20, 6])
    parser.add_argument("--beads", type=int, nargs="*", default=[], help="beads per field")
    parser.add_argument("--bead-distance", type=float, nargs="*", default=[300.0],
                        help="closest bead centres (nm), one per --beads or one for all")
    parser.add_argument("--regimes", nargs="+", default=["bright", "dim"], choices=list(REGIMES))
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--critic", action="store_true", help="also run FluoGAN full")
    parser.add_argument("--phantom-seed", type=int, default=5, help="filament layout")
    parser.add_argument("--seed", type=int, default=11, help="simulation (blinking, noise)")
    parser.add_argument("--threads", type=int, default=2)
    add_override_option(parser, "lambda2=1")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = overrides_from(args)
    modes = {"FluoGAN L2-only": "fluogan-l2"} | ({"FluoGAN full": "fluogan"} if args.critic else {})
    print(f"# filaments 3.2 x 3.2 um (phantom seed {args.phantom_seed}, simulation seed "
          f"{args.seed}), Airy FWHM "
          f"{PSF_FWHM_NM:.0f} nm, T = {args.frames}, overrides: {overrides or 'none'}")
    print(f"{'case':<22}{'method':<18}{'PSNR':>6}{'SSIM':>7}{'x / px':>9}{'b mean':>9}{'time':>7}")
    fields = [
        (f"{n} filaments", FilamentPhantom(height_nm=3200.0, width_nm=3200.0, n_filaments=n,
                                           seed=args.phantom_seed))
        for n in args.filaments
    ]
    distances = args.bead_distance * len(args.beads) if len(args.bead_distance) == 1 else (
        args.bead_distance)
    for n, distance in zip(args.beads, distances, strict=True):
        beads = BeadPhantom(height_nm=3200.0, width_nm=3200.0, n_beads=n,
                            min_distance_nm=distance, seed=args.phantom_seed)
        fields.append((f"{len(beads.centres())} beads {distance:.0f}", beads))
    for field, phantom in fields:
        for regime in args.regimes:
            photophysics, background = REGIMES[regime]
            sim = simulate_blinking(phantom, AiryPSF.with_fwhm(PSF_FWHM_NM), PIXEL_NM,
                                    UPSAMPLE, args.frames, density_per_nm=1.0,
                                    photophysics=photophysics, camera=CAMERA,
                                    background_photons=background, seed=args.seed)
            truth = sim.truth
            n_camera = truth.size / UPSAMPLE**2
            case = f"{field}, {regime}"
            print(f"{case:<22}{'truth':<18}{'':>6}{'':>7}{truth.sum() / n_camera:>9.0f}"
                  f"{background * CAMERA.quantum_efficiency:>9.1f}")
            rl, _, _ = run_method("rl", sim.frames, PSF_FWHM_NM, None, 200, seed=1)
            print(f"{'':<22}{'RL(mean)':<18}{metrics.psnr(rl, truth):>6.1f}"
                  f"{metrics.ssim(rl, truth):>7.2f}")
            for name, method in modes.items():
                cfg = fluogan_config(method, PSF_FWHM_NM, None, seed=1, overrides=overrides)
                start = time.perf_counter()
                snap = reconstruct(sim.frames, cfg)
                seconds = time.perf_counter() - start
                print(f"{'':<22}{name:<18}{metrics.psnr(snap.x, truth):>6.1f}"
                      f"{metrics.ssim(snap.x, truth):>7.2f}{snap.x.sum() / n_camera:>9.0f}"
                      f"{snap.b.mean():>9.1f}{seconds:>6.0f}s  {snap.describe_model()}",
                      flush=True)


if __name__ == "__main__":
    main()
