"""The ``fluogan`` command: reconstruct a TIFF stack, or simulate a test stack.

Every user mistake is reported as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .cli_quality import (
    add_quality_commands,
    add_simulate_options,
    run_baseline_command,
    run_metrics_command,
    simulate_frames,
)
from .core.config import PSF_MODEL_CHOICES, FluoGANConfig
from .core.errors import FluoGANError, ReconstructionDiverged
from .core.simulate import to_uint16_counts

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (no usage dump) with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _fail(
            f"{message} (see 'fluogan {self.prog.split()[-1]} --help')"
            if " " in self.prog
            else f"{message} (see 'fluogan --help')"
        )


def _fail(message: str) -> None:
    print(f"fluogan: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fluogan",
        description="FluoGAN super-resolution of fluorescence fluctuation stacks.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    rec = sub.add_parser(
        "reconstruct",
        help="super-resolve a TIFF stack (T x H x W, camera counts)",
        description="Super-resolve a fluctuation stack; writes x.tif, b.tif and config.json.",
    )
    rec.add_argument("stack", type=Path, help="TIFF stack, time first (T x H x W)")
    rec.add_argument("--out", type=Path, required=True, help="output folder")
    rec.add_argument("--config", type=Path, help="config.json of an earlier run to start from")
    rec.add_argument("--channel", type=int, default=0,
                     help="channel to reconstruct in a multi-channel file (default 0)")
    rec.add_argument("--plane", type=int, nargs="+", default=(), metavar="I",
                     help="index on the file's extra Z / position axes, when it has them")
    optics = rec.add_argument_group("optics")
    optics.add_argument("--psf-fwhm-nm", type=float, help="PSF full width at half maximum (nm)")
    optics.add_argument("--na", type=float, help="numerical aperture (with --wavelength-nm)")
    optics.add_argument("--wavelength-nm", type=float, help="emission wavelength (nm)")
    optics.add_argument(
        "--psf-model",
        choices=PSF_MODEL_CHOICES,
        help="PSF shape the engine assumes (default auto: the Airy pattern only where it "
        "fits the mean image clearly better than a Gaussian; see docs/parameters.md)",
    )
    optics.add_argument(
        "--pixel-size-nm",
        type=float,
        help="camera pixel size in the sample (nm); default: from the file",
    )
    optics.add_argument("--upsample", type=int, help="super-resolution factor L (1-8), default 4")
    rec.add_argument(
        "--roi",
        type=int,
        nargs=4,
        metavar=("Y", "X", "H", "W"),
        help="region of interest in camera pixels",
    )
    cam = rec.add_argument_group("camera (estimated from the data when omitted)")
    cam.add_argument("--alpha", type=float, help="gain (ADU per photon)")
    cam.add_argument("--offset", type=float, help="baseline (ADU)")
    cam.add_argument("--sigma", type=float, help="read noise (ADU)")
    cam.add_argument(
        "--dark",
        metavar="TIFF",
        help="dark stack (shutter closed; same exposure, camera ROI and binning): each "
        "pixel's own offset is subtracted (sCMOS), and the offset and read noise come from "
        "it unless given",
    )
    alg = rec.add_argument_group("algorithm")
    alg.add_argument("--iterations", type=int, help="number of iterations")
    alg.add_argument("--lambda1", type=float, help="sparsity weight on x (relative)")
    alg.add_argument("--lambda2", type=float, help="smoothness weight on b (relative)")
    alg.add_argument("--gamma", type=float, help="weight of the mean-image (L2) term")
    alg.add_argument("--adv-weight", type=float, help="weight of the critic (adversarial) term")
    alg.add_argument(
        "--no-critic", action="store_true", help="fast mode: L2 + priors only, no critic"
    )
    alg.add_argument(
        "--no-background-bound", action="store_true",
        help="let b take any smooth light (default: b is capped at the light that does not "
        "fluctuate, so it cannot take the pedestal of crowded structure)",
    )
    alg.add_argument(
        "--no-carpet-floor", action="store_true",
        help="let x fall to 0 anywhere (default: where the whole ROI lies on a carpet of "
        "blinking dyes, x is kept above its light)",
    )
    alg.add_argument(
        "--keep-defective-pixels", action="store_true",
        help="fit every pixel (default: hot, noisy and dead camera pixels, sharper than "
        "the PSF allows, are left out)",
    )
    alg.add_argument(
        "--no-drift-correction", action="store_true",
        help="assume the sample did not move (default: the drift over the stack is "
        "measured and, where it matters, its path is put in the model)",
    )
    alg.add_argument("--batch-size", type=int, help="frames per minibatch")
    alg.add_argument("--snapshot-every", type=int, help="iterations between snapshots")
    alg.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="compute device")
    alg.add_argument("--seed", type=int, help="random seed")
    rec.add_argument("--quiet", action="store_true", help="no progress bar")

    sim = sub.add_parser(
        "simulate",
        help="write a simulated stack (and its ground truth)",
        description="Simulate a phantom (default: line pairs of 100 nm lines, separations "
        "390-120 nm, each with a control bar) with the engine's double-Poisson model or a "
        "realistic blinking-emitter model (--model blinking). Writes STACK.tif and "
        "STACK_truth.tif (fine grid, photons per frame).",
    )
    sim.add_argument("--out", type=Path, required=True, help="output stack (.tif)")
    sim.add_argument("--frames", type=int, default=500, help="number of frames T")
    sim.add_argument("--psf-fwhm-nm", type=float, default=318.0, help="PSF FWHM (nm)")
    sim.add_argument(
        "--psf", choices=("gaussian", "airy"), default="gaussian", help="PSF model used to simulate"
    )
    sim.add_argument("--pixel-size-nm", type=float, default=100.0, help="camera pixel (nm)")
    sim.add_argument("--upsample", type=int, default=4, help="fine grid factor of the truth")
    sim.add_argument(
        "--brightness",
        type=float,
        default=1.0,
        help="mean fluorophore photons per frame per fine pixel on a line",
    )
    sim.add_argument(
        "--background",
        type=float,
        default=None,
        help="background photons per camera pixel per frame (default 1; blinking model: "
        "the regime's)",
    )
    sim.add_argument("--alpha", type=float, default=2.0, help="gain (ADU per photon)")
    sim.add_argument("--offset", type=float, default=100.0, help="baseline (ADU)")
    sim.add_argument("--sigma", type=float, default=2.0, help="read noise (ADU)")
    sim.add_argument("--seed", type=int, default=0, help="random seed")
    add_simulate_options(sim)
    add_quality_commands(sub)
    demo = sub.add_parser(
        "demo",
        help="simulate built-in line-pair data, reconstruct it and report the resolution",
        description="Simulate the line-pair phantom (100 nm lines, separations 390-120 nm, "
        "PSF FWHM 318 nm, 100 nm pixels), reconstruct it with FluoGAN, write stack.tif, "
        "truth.tif, x.tif, b.tif, config.json and comparison.png to --out, and print the dip "
        "contrast per separation for the mean image and FluoGAN.",
    )
    demo.add_argument("--out", type=Path, required=True, help="output folder")
    demo.add_argument("--frames", type=int, default=300, help="number of frames T")
    demo.add_argument("--iterations", type=int, default=300,
                      help="FluoGAN iterations (300 take a few minutes on a laptop CPU)")
    demo.add_argument("--no-critic", action="store_true", help="fast L2 + priors mode only")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fluogan`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "reconstruct":
            return _reconstruct(args)
        if args.command == "baseline":
            return run_baseline_command(args)
        if args.command == "metrics":
            return run_metrics_command(args)
        if args.command == "demo":
            return _demo(args)
        return _simulate(args)
    except FluoGANError as exc:
        _fail(str(exc))
    except ReconstructionDiverged as exc:
        print(f"fluogan: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fluogan: interrupted", file=sys.stderr)
        return 130
    return 0


_CONFIG_FLAGS = {
    "psf_fwhm_nm": "psf_fwhm_nm",
    "na": "na",
    "wavelength_nm": "emission_wavelength_nm",
    "psf_model": "psf_model",
    "pixel_size_nm": "pixel_size_nm",
    "upsample": "upsample",
    "alpha": "alpha",
    "offset": "offset",
    "sigma": "sigma",
    "iterations": "iterations",
    "lambda1": "lambda1",
    "lambda2": "lambda2",
    "gamma": "gamma",
    "adv_weight": "adv_weight",
    "batch_size": "batch_size",
    "snapshot_every": "snapshot_every",
    "device": "device",
    "seed": "seed",
}


def config_from_args(args: argparse.Namespace, file_pixel_size_nm: float | None) -> FluoGANConfig:
    """Merge a base config (file or defaults), file metadata and command-line flags."""
    base = FluoGANConfig.from_json(args.config).to_dict() if args.config else {}
    if args.pixel_size_nm is None and "pixel_size_nm" not in base:
        if file_pixel_size_nm is None:
            raise FluoGANError(
                "The file does not say its pixel size: give --pixel-size-nm (camera pixel in "
                "the sample, in nm)."
            )
        base["pixel_size_nm"] = file_pixel_size_nm
    if args.na is not None or args.wavelength_nm is not None:
        base["psf_fwhm_nm"] = None
    for flag, field_name in _CONFIG_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            base[field_name] = value
    if args.roi is not None:
        base["roi"] = tuple(args.roi)
    if args.no_critic:
        base["use_critic"] = False
    if args.no_background_bound:
        base["background_bound"] = False
    if args.no_carpet_floor:
        base["carpet_floor"] = False
    if args.keep_defective_pixels:
        base["leave_out_defective_pixels"] = False
    if args.no_drift_correction:
        base["drift_correction"] = False
    return FluoGANConfig.from_dict(base)


def _run_with_progress(stack, config: FluoGANConfig, quiet: bool, dark=None):
    """Run the engine to the end with a progress bar on stderr; the last snapshot.
    ``dark``: a :class:`~napari_fluogan.core.dark.DarkCalibration`, or None."""
    from .core.solver import reconstruct_iter

    progress = None
    stages: dict[str, Any] = {}  # a bar per stage before the run (auto's trial fits)

    def on_stage(stage: str, done: int, total: int) -> None:
        if quiet:
            return
        from tqdm import tqdm

        bar = stages.get(stage)
        if bar is None:
            bar = stages[stage] = tqdm(total=total, unit="it", desc=stage, file=sys.stderr)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    last = None
    try:
        for snap in reconstruct_iter(stack, config, on_stage=on_stage, dark=dark):
            for warning in snap.warnings() if last is None else []:
                print(f"fluogan: warning: {warning}", file=sys.stderr)
            last = snap
            if progress is None and not quiet:
                # created after the first snapshot, so input errors print alone
                from tqdm import tqdm

                progress = tqdm(total=config.iterations, unit="it", desc="FluoGAN", file=sys.stderr)
            if progress is not None:
                progress.update(snap.iteration - progress.n)
                progress.set_postfix({k: f"{v:.3g}" for k, v in snap.losses.items()})
    finally:
        for bar in [progress, *stages.values()]:
            if bar is not None:
                bar.close()
    assert last is not None
    return last


def _save_run(args: argparse.Namespace, snap: Any) -> Path:
    """Write the result with its run record (:func:`~napari_fluogan.io.run_record`:
    the stack and dark stack read, the channel and planes, what the run assumed)."""
    from .io import run_record, write_result

    record = run_record(args.stack, args.dark, args.channel, args.plane,
                        snap.describe_model(sep="; "), snap.iteration)
    return write_result(args.out, snap.x, snap.b, snap.config, record)


def _reconstruct(args: argparse.Namespace) -> int:
    from .io import RUN_RECORD, earlier_dark, read_stack

    stack = read_stack(args.stack, args.channel, tuple(args.plane))
    config = config_from_args(args, stack.pixel_size_nm)
    dark = None
    if args.dark is not None:
        from .core.dark import DarkCalibration

        dark = DarkCalibration.from_frames(read_stack(args.dark).frames)
    elif args.config is not None and (earlier := earlier_dark(args.config)) is not None:
        print(
            f"warning: the run of {args.config} subtracted the dark stack {earlier}; this "
            f"run subtracts none. Give --dark {earlier} to reconstruct as it did.",
            file=sys.stderr,
        )
    try:
        last = _run_with_progress(stack, config, args.quiet, dark)
    except ReconstructionDiverged as exc:
        if exc.last_snapshot is not None:
            _save_run(args, exc.last_snapshot)
        raise
    out = _save_run(args, last)
    if not args.quiet:
        print(
            f"wrote {out / 'x.tif'}, {out / 'b.tif'}, {out / 'config.json'} and "
            f"{out / RUN_RECORD} "
            f"({last.iteration} iterations, {last.elapsed:.1f} s; "
            f"{last.describe_model(sep='; ')})",
            file=sys.stderr,
        )
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from .core.psf import AiryPSF, GaussianPSF
    from .io import write_image

    for name in ("frames", "upsample"):
        if getattr(args, name) < 1:
            raise FluoGANError(f"--{name} must be >= 1, got {getattr(args, name)}.")
    for name in ("psf_fwhm_nm", "pixel_size_nm", "alpha"):
        if not getattr(args, name) > 0:
            raise FluoGANError(f"--{name.replace('_', '-')} must be > 0.")
    if args.brightness < 0 or (args.background or 0) < 0 or args.sigma < 0:
        raise FluoGANError("--brightness, --background and --sigma must be >= 0.")
    out = Path(args.out)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise FluoGANError("--out must name a .tif file.")
    out.parent.mkdir(parents=True, exist_ok=True)
    psf = (
        GaussianPSF(args.psf_fwhm_nm)
        if args.psf == "gaussian"
        else AiryPSF.with_fwhm(args.psf_fwhm_nm)
    )
    frames, truth = simulate_frames(args, psf)
    _write_stack(out, frames, args.pixel_size_nm)
    write_image(out.with_name(out.stem + "_truth.tif"), truth, args.pixel_size_nm / args.upsample)
    print(
        f"wrote {out} ({args.frames} frames of {frames.shape[1]} x {frames.shape[2]}) and "
        f"its ground truth",
        file=sys.stderr,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from . import demo
    from .io import write_image, write_result

    if args.frames < 2:
        raise FluoGANError(f"--frames must be >= 2, got {args.frames}.")
    # keep the default warm start, but leave the critic at least half of a short run
    warm = min(FluoGANConfig().warm_start_iterations, args.iterations // 2)
    config = demo.demo_config(use_critic=not args.no_critic, iterations=args.iterations,
                              warm_start_iterations=warm)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = demo.make_demo_data(n_frames=args.frames)
    _write_stack(out / "stack.tif", to_uint16_counts(data.frames), demo.PIXEL_SIZE_NM)
    write_image(out / "truth.tif", data.truth, config.fine_pixel_size_nm)
    snap = _run_with_progress(data.frames, config, args.quiet)
    write_result(out, snap.x, snap.b, snap.config)
    name = "FluoGAN" if config.use_critic else "FluoGAN L2-only"
    results = [demo.mean_image_result(data), demo.fluogan_result(name, snap, data, snap.elapsed)]
    demo.save_figure(results, data.truth, out / "comparison.png")
    print(demo.format_table(results))
    print(f"wrote {out}/: stack.tif truth.tif x.tif b.tif config.json comparison.png")
    return 0


def _write_stack(path: Path, frames: np.ndarray, pixel_size_nm: float) -> None:
    import tifffile

    pixel_um = pixel_size_nm / 1000.0
    tifffile.imwrite(
        path,
        frames,
        imagej=True,
        resolution=(1 / pixel_um, 1 / pixel_um),
        metadata={"axes": "TYX", "unit": "um"},
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
