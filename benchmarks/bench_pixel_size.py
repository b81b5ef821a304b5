"""The line-pair phantom at other pixel sizes and upsamplings: do the defaults hold?

FluoGAN L2-only on the benchmark phantom (``bench_quality.phantom``), simulated with
blinking emitters at each pixel size (background per pixel scaled with its area, the
same photons per um^2), Airy and Gaussian PSF of 318 nm. Prints, per pixel size and
PSF, the smallest resolved separation, the largest counting-control contrast and the
PSNR, with the defaults (smoothness priors scaled per PSF area below 3.18 pixels per
FWHM, and the TV weight by L / 4: ``FluoGANConfig.smoothness_sampling_factor`` and
``tv_weight_factor``) and with the weights unscaled. The simulation's own grid is
always L = 4; ``--upsample`` sets the reconstruction's.

    python benchmarks/bench_pixel_size.py [--pixels 65 80 100 160] [--upsample 4]
        [--regime bright] [--seed 1] [--frames 500]
"""

from __future__ import annotations

import argparse

import torch
from bench_quality import (
    PSF_FWHM_NM,
    UPSAMPLE,
    fluogan_config,
    phantom,
    resolved_and_worst_control,
    simulate_phantom,
)

from napari_fluogan import reconstruct
from napari_fluogan.core import metrics
from napari_fluogan.core.blinking import REGIMES
from napari_fluogan.core.psf import psf_from_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pixels", type=float, nargs="+", default=[65.0, 80.0, 100.0, 160.0])
    parser.add_argument("--upsample", type=int, nargs="+", default=[UPSAMPLE])
    parser.add_argument("--regime", choices=list(REGIMES), default="bright")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ph = phantom()
    photophysics, background = REGIMES[args.regime]
    print(f"# {args.regime}, seed {args.seed}, T = {args.frames}; cell = smallest resolved "
          "nm / largest counting-control contrast / PSNR dB")
    print(f"{'pixel nm':>8} {'per FWHM':>8} {'L':>2} {'λ2, λTV x':>11}  {'PSF':<9}"
          f"{'default':>20}{'unscaled':>20}")
    for pixel_nm in args.pixels:
        for model in ("airy", "gaussian"):
            sim = simulate_phantom(ph, psf_from_model(model, PSF_FWHM_NM), args.frames,
                                   photophysics, background * (pixel_nm / 100.0) ** 2,
                                   args.seed, pixel_nm)
            for upsample in args.upsample:
                cfg = fluogan_config("fluogan-l2", PSF_FWHM_NM, None, args.seed,
                                     {"pixel_size_nm": pixel_nm, "upsample": upsample})
                b_factor, tv_factor = cfg.smoothness_sampling_factor, cfg.tv_weight_factor
                unscaled = cfg.replace(lambda_tv=cfg.lambda_tv / tv_factor,
                                       lambda2=cfg.lambda2 / b_factor)
                cells = []
                for config in (cfg, unscaled):
                    snap = reconstruct(sim.frames, config)
                    x = snap.x
                    best, control = resolved_and_worst_control(x, pixel_nm / upsample, ph)
                    # PSNR needs the truth's grid (the simulation's L = 4)
                    psnr = (f"{metrics.psnr(x, sim.truth):.1f}" if x.shape == sim.truth.shape
                            else "-")
                    # the PSF shape assumed (psf_model "auto" chooses it): G or A
                    shape = snap.config.psf_model[0].upper()
                    cells.append(f"{best or 0:.0f} / {control:.2f} / {psnr} {shape}")
                factors = f"{b_factor:.2f}, {tv_factor:.2f}"
                print(f"{pixel_nm:8.0f} {PSF_FWHM_NM / pixel_nm:8.2f} {upsample:2d} "
                      f"{factors:>11}  {model:<9}{cells[0]:>20}{cells[1]:>20}", flush=True)


if __name__ == "__main__":
    main()
