"""``fluogan simulate`` (realistic model), ``fluogan baseline`` and ``fluogan metrics``.

Kept apart from :mod:`napari_fluogan.cli` (which wires them in) so that each module
stays small. Errors are :class:`FluoGANError` (one line on stderr, exit code 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .core.errors import FluoGANError
from .core.psf import PSF_MODELS

PHANTOMS = ("line-pairs", "filaments", "beads", "rings")
MODELS = ("double-poisson", "blinking")


def add_simulate_options(sim: argparse.ArgumentParser) -> None:
    """Options of ``fluogan simulate`` for the realistic (blinking) model and phantoms."""
    grp = sim.add_argument_group("model and phantom")
    grp.add_argument("--model", choices=MODELS, default="double-poisson",
                     help="double-poisson: the engine's own model; blinking: emitters with "
                     "exponential on/off times, bleaching and a real camera")
    grp.add_argument("--phantom", choices=PHANTOMS, default="line-pairs",
                     help="line pairs with control bars, random filaments, beads, or rings "
                     "(480-150 nm) each over a solid disc of the same light")
    grp.add_argument("--regime", choices=("bright", "dim"), default="bright",
                     help="blinking model: tens (bright) or a few (dim) photons per emitter "
                     "per frame")
    grp.add_argument("--density-per-nm", type=float, default=0.05,
                     help="emitters per nm of line (blinking model, and the non-line-pair "
                     "phantoms)")
    grp.add_argument("--qe", type=float, default=0.8, help="camera quantum efficiency (blinking)")


def make_phantom(name: str, seed: int):
    """The emitter phantom of a ``--phantom`` name."""
    from .core.phantoms import BeadPhantom, FilamentPhantom, LinePairEmitters, RingPhantom
    from .core.simulate import line_pair_phantom

    if name == "line-pairs":
        return LinePairEmitters(line_pair_phantom())
    if name == "filaments":
        return FilamentPhantom(seed=seed)
    if name == "rings":
        return RingPhantom()
    return BeadPhantom(seed=seed)


def simulate_frames(args: argparse.Namespace, psf) -> tuple[np.ndarray, np.ndarray]:
    """Frames (uint16 ADU) and fine-grid truth for ``fluogan simulate``."""
    from .core.simulate import line_pair_phantom, simulate_stack, to_uint16_counts

    if args.density_per_nm <= 0:
        raise FluoGANError("--density-per-nm must be > 0.")
    if not 0 < args.qe <= 1:
        raise FluoGANError("--qe must be in (0, 1].")
    if args.model == "blinking":
        from .core.blinking import REGIMES, Camera, simulate_blinking

        photophysics, regime_bg = REGIMES[args.regime]
        background = regime_bg if args.background is None else args.background
        camera = Camera(args.qe, args.alpha, args.offset, args.sigma)
        sim = simulate_blinking(
            make_phantom(args.phantom, args.seed),
            psf,
            args.pixel_size_nm,
            args.upsample,
            args.frames,
            args.density_per_nm,
            photophysics,
            camera,
            background,
            args.seed,
        )
        return sim.frames, sim.truth
    background = 1.0 if args.background is None else args.background
    if args.phantom == "line-pairs":
        truth = line_pair_phantom().render(args.pixel_size_nm, args.upsample) * args.brightness
    else:
        from .core.phantoms import camera_shape

        phantom = make_phantom(args.phantom, args.seed)
        rng = np.random.default_rng(args.seed)
        pts = phantom.sample_emitters(rng, args.density_per_nm)
        m1, m2 = camera_shape(phantom, args.pixel_size_nm)
        truth, _, _ = np.histogram2d(
            pts[:, 0], pts[:, 1], bins=(m1 * args.upsample, m2 * args.upsample),
            range=((0, m1 * args.pixel_size_nm), (0, m2 * args.pixel_size_nm)),
        )
        truth = (truth * args.brightness).astype(np.float32)
    frames = simulate_stack(truth, psf, args.pixel_size_nm, args.upsample, args.frames,
                            background, args.alpha, args.offset, args.sigma, args.seed)
    return to_uint16_counts(frames), truth


# ------------------------------------------------------------------------ baseline
def add_quality_commands(sub) -> None:
    """Register ``baseline`` and ``metrics`` on the ``fluogan`` sub-parser set."""
    from .core.baselines import METHODS

    base = sub.add_parser(
        "baseline",
        help="mean, Richardson-Lucy, SOFI2 or SOFI2+RL of a stack (for comparison)",
        description="Compute a baseline reconstruction of a TIFF stack: the mean image, "
        "Richardson-Lucy deconvolution of the mean onto the fine grid (rl), the lag-1 "
        "SOFI2 cumulant (sofi2), or SOFI2 deconvolved with the squared PSF (sofi2-rl). "
        "Writes one float32 TIFF with its pixel size.",
    )
    base.add_argument("stack", type=Path, help="TIFF stack, time first (T x H x W)")
    base.add_argument("--method", choices=METHODS, required=True, help="which baseline")
    base.add_argument("--out", type=Path, required=True, help="output image (.tif)")
    _optics_and_camera(base)
    base.add_argument("--iterations", type=int, default=200, help="RL iterations")
    base.add_argument("--lag", type=int, default=1, help="SOFI time lag (frames)")

    met = sub.add_parser(
        "metrics",
        help="line-pair and ring contrast, FRC, PSNR and SSIM",
        description="Quality numbers. --line-pairs IMAGE: dip contrast of each pair of the "
        "default line-pair phantom (as written by 'fluogan simulate') and of its control "
        "bar, and the smallest resolved separation. --rings IMAGE: the same for the rings "
        "of '--phantom rings' (the hole of each ring and of its control disc). --truth T: "
        "PSNR and SSIM of IMAGE "
        "against a ground truth of the same shape. --frc STACK: FRC resolution of a "
        "baseline computed on two half-stacks (no ground truth needed). Prints JSON.",
    )
    met.add_argument("image", type=Path, nargs="?", help="reconstruction (.tif)")
    met.add_argument("--truth", type=Path, help="ground truth of the same shape (.tif)")
    met.add_argument("--line-pairs", action="store_true",
                     help="measure the line pairs of the default phantom")
    met.add_argument("--rings", action="store_true",
                     help="measure the rings and their control discs (--phantom rings)")
    met.add_argument("--frc", type=Path, metavar="STACK",
                     help="stack for the FRC resolution (with --method)")
    met.add_argument("--method", choices=METHODS, default="rl", help="baseline for --frc")
    _optics_and_camera(met)
    met.add_argument("--iterations", type=int, default=200, help="RL iterations (--frc)")


def _optics_and_camera(p: argparse.ArgumentParser) -> None:
    p.add_argument("--psf-fwhm-nm", type=float, default=318.0, help="PSF FWHM (nm)")
    p.add_argument("--psf-model", choices=PSF_MODELS, default="gaussian",
                   help="PSF shape RL assumes (default gaussian)")
    p.add_argument("--pixel-size-nm", type=float,
                   help="camera pixel (nm); default: from the file")
    p.add_argument("--upsample", type=int, default=4, help="fine grid factor L")
    p.add_argument("--alpha", type=float, help="gain (ADU per photon); estimated if omitted")
    p.add_argument("--offset", type=float, help="baseline (ADU); estimated if omitted")


def _photons(path: Path, args: argparse.Namespace) -> tuple[np.ndarray, float]:
    from .core.calibrate import estimate_camera
    from .core.stack import to_photons
    from .io import read_stack

    stack = read_stack(path)
    pixel = args.pixel_size_nm or stack.pixel_size_nm
    if pixel is None:
        raise FluoGANError("The file does not say its pixel size: give --pixel-size-nm.")
    alpha, offset = args.alpha, args.offset
    if alpha is None or offset is None:
        est = estimate_camera(stack.frames)
        alpha = est.alpha if alpha is None else alpha
        offset = est.offset if offset is None else offset
    if not 1 <= args.upsample <= 8:
        raise FluoGANError(f"--upsample must be between 1 and 8, got {args.upsample}.")
    return to_photons(stack.frames, alpha, offset), float(pixel)


def run_baseline_command(args: argparse.Namespace) -> int:
    from .core.baselines import run_baseline
    from .io import write_image

    if args.out.suffix.lower() not in (".tif", ".tiff"):
        raise FluoGANError("--out must name a .tif file.")
    photons, pixel = _photons(args.stack, args)
    image, image_px = run_baseline(args.method, photons, pixel, args.upsample,
                                   args.psf_fwhm_nm, args.iterations, args.lag, args.psf_model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.out, image, image_px, {"method": args.method})
    print(f"wrote {args.out} ({args.method}, {image.shape[0]} x {image.shape[1]}, "
          f"{image_px:g} nm pixels)", file=sys.stderr)
    return 0


def _result_rows(results: list, size_name: str) -> list[dict[str, object]]:
    """JSON rows of line-pair or ring results: size (under ``size_name``), contrasts,
    and the verdict."""
    return [
        {size_name: r.size_nm, "contrast": round(r.contrast, 3),
         "control_contrast": round(r.control_contrast, 3),
         "control_counts": r.control_counts, "resolved": r.resolved}
        for r in results
    ]


def run_metrics_command(args: argparse.Namespace) -> int:
    from .core import metrics
    from .core.baselines import run_baseline
    from .core.phantoms import RingPhantom
    from .core.simulate import line_pair_phantom
    from .io import read_tiff

    out: dict[str, object] = {}
    if args.image is None and args.frc is None:
        raise FluoGANError("Give an IMAGE (with --line-pairs or --truth) or --frc STACK.")
    if args.image is not None:
        if not (args.line_pairs or args.rings or args.truth):
            raise FluoGANError("With an IMAGE, ask for --line-pairs, --rings and/or --truth "
                               "T.tif.")
        image, _, px = read_tiff(args.image)
        image = np.squeeze(image).astype(np.float64)
        px = args.pixel_size_nm or px
        if (args.line_pairs or args.rings) and px is None:
            raise FluoGANError("The image does not say its pixel size: give "
                               "--pixel-size-nm (of the image's own pixels).")
        if args.line_pairs:
            res = metrics.evaluate_pairs(image, px, line_pair_phantom().pairs, args.psf_fwhm_nm)
            out["smallest_resolved_nm"] = metrics.smallest_resolved_nm(res)
            out["controls_intact"] = metrics.controls_intact(res)
            out["pairs"] = _result_rows(res, "separation_nm")
        if args.rings:
            rings = metrics.evaluate_rings(image, px, RingPhantom(), args.psf_fwhm_nm)
            out["smallest_ring_nm"] = metrics.smallest_ring_nm(rings)
            out["discs_intact"] = metrics.controls_intact(rings)
            out["rings"] = _result_rows(rings, "diameter_nm")
        if args.truth:
            truth, _, _ = read_tiff(args.truth)
            truth = np.squeeze(truth).astype(np.float64)
            if truth.shape != image.shape:
                raise FluoGANError(f"The truth is {truth.shape} but the image {image.shape}: "
                                   "they must be on the same grid.")
            out["psnr_db"] = round(metrics.psnr(image, truth), 3)
            out["ssim"] = round(metrics.ssim(image, truth), 4)
    if args.frc is not None:
        photons, pixel = _photons(args.frc, args)
        halves = metrics.split_halves(photons)
        images = [run_baseline(args.method, h, pixel, args.upsample, args.psf_fwhm_nm,
                               args.iterations, psf_model=args.psf_model)[0] for h in halves]
        grid_px = pixel / args.upsample if args.method in ("rl", "sofi2-rl") else pixel
        out["frc_method"] = args.method
        out["frc_resolution_nm"] = round(metrics.frc_resolution_nm(*images, grid_px), 1)
    print(json.dumps(out, indent=2))
    return 0
