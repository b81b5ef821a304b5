"""Rings and their solid discs: does a method show a hole that is there, and only then?

Round structures are what a cell biologist images besides filaments: vesicles, coated
pits, pores. ``RingPhantom`` puts rings of 480 to 150 nm outer diameter (wall 50 nm)
in a row and, below each, its negative control: a solid disc of the same diameter and
the same number of emitters. A method resolves a ring when its middle lies >= 20 %
below its rim (``metrics.hole_contrast``); a disc that comes out with such a hole is
invented detail. As for the line pairs' control bars, a disc counts against a method
only where it is narrower than the PSF FWHM; wider ones are printed too (``!`` marks
any disc with a hole). Blinking emitters (1 per nm of a 100 nm wide line, i.e. one
per 100 nm^2), 100 nm pixels, L = 4, camera values given; the ROI is 20 x 70 camera
pixels.

Cell: ring hole contrast / disc hole contrast, per diameter. Columns before: the
smallest ring resolved (every ring of that diameter or wider shows its hole, its
counting disc none), the worst counting disc, the worst disc of any size, PSNR.

    python benchmarks/bench_rings.py [--psf airy gaussian] [--regimes bright dim]
        [--frames 300] [--seed 3] [--methods ...] [--set lambda_tv=0]
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
    fmt_contrasts,
    overrides_from,
    run_method,
)

from napari_fluogan.core import metrics
from napari_fluogan.core.blinking import REGIMES, simulate_blinking
from napari_fluogan.core.phantoms import RingPhantom
from napari_fluogan.core.psf import AiryPSF, GaussianPSF
from napari_fluogan.core.psf_choice import describe_psf_model

METHODS = ("truth", "mean", "rl", "sofi2", "sofi2-rl", "fluogan-l2", "fluogan")
DEFAULT_METHODS = ("truth", "mean", "rl", "sofi2-rl", "fluogan-l2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--psf", nargs="+", default=["airy", "gaussian"],
                        choices=["airy", "gaussian"])
    parser.add_argument("--regimes", nargs="+", default=["bright", "dim"], choices=list(REGIMES))
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seed", type=int, default=3, help="simulation seed")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=DEFAULT_METHODS)
    parser.add_argument("--threads", type=int, default=2)
    add_override_option(parser, "lambda_tv=0")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = overrides_from(args)
    ph = RingPhantom()
    psfs = {"airy": AiryPSF.with_fwhm(PSF_FWHM_NM), "gaussian": GaussianPSF(PSF_FWHM_NM)}
    sizes = " ".join(f"{d:>11.0f}" for d in ph.diameters_nm)
    print(f"# rings over discs, T = {args.frames}, seed {args.seed}, FWHM {PSF_FWHM_NM:.0f} nm, "
          f"overrides: {overrides or 'none'}")
    print("cell = ring hole / disc hole; * disc counts (narrower than the FWHM); ! disc "
          "hollow (>= 0.20)")
    t_all = time.perf_counter()
    for psf_kind in args.psf:
        for regime in args.regimes:
            photophysics, background = REGIMES[regime]
            sim = simulate_blinking(ph, psfs[psf_kind], PIXEL_NM, UPSAMPLE, args.frames,
                                    density_per_nm=1.0, photophysics=photophysics,
                                    camera=CAMERA, background_photons=background,
                                    seed=args.seed)
            print(f"\n== {psf_kind}, {regime} ==")
            print(f"{'method':<11} {'ring':>5} {'disc*':>5} {'disc':>5} {'PSNR':>5} {'time':>5}  "
                  f"{sizes}")
            for method in args.methods:
                t0 = time.perf_counter()
                snap = None
                if method == "truth":
                    image, px = sim.truth, PIXEL_NM / UPSAMPLE
                else:
                    image, px, snap = run_method(method, sim.frames, PSF_FWHM_NM, None, 200,
                                                 args.seed, overrides)
                seconds = time.perf_counter() - t0
                res = metrics.evaluate_rings(image, px, ph, PSF_FWHM_NM)
                best = metrics.smallest_ring_nm(res)
                counted = max(r.control_contrast for r in res if r.control_counts)
                worst = max(r.control_contrast for r in res)
                psnr = (f"{metrics.psnr(image, sim.truth):5.1f}" if image.shape == sim.truth.shape
                        else f"{'-':>5}")
                note = describe_psf_model(snap.config, snap.info) if snap is not None else ""
                shown = f"{best:.0f}" if best is not None else "none"
                cells = fmt_contrasts(res, flag_every_control=True)
                print(f"{method:<11} {shown:>5} {counted:5.2f} {worst:5.2f} {psnr} "
                      f"{seconds:4.0f}s  {cells}  {note}", flush=True)
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
