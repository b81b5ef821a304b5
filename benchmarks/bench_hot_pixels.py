"""Line pairs on a camera with hot, noisy or dead pixels: what they do, and that they are left out.

The benchmark phantom (bright by default, T = 300, seed 3) with a share of its pixels made
defective, half hot (a constant excess) and half noisy (random telegraph noise: an
excess in 30 % of the frames), of amplitudes drawn relative to the structure's
brightest mean pixel above the field's dimmest: ``strong`` 0.3-3 times (hot) and
0.5-2 times (noisy), ``weak`` 0.05-0.3 times; or, ``dead``, all of them dead (reading
the offset and the read noise), drawn among the brightest fifth of the field's pixels
(on the structure, where a hole does harm), or ``dead-anywhere``, drawn among all;
``dead-column``, whole columns through the structure, or ``dead-cluster``, 2 x 2 blocks
on it.
Cell: smallest resolved separation nm / worst counting control (``!``: split) / PSNR
dB. "kept": FluoGAN with every pixel fitted (``leave_out_defective_pixels = False``);
"found": defective pixels the default run left out, of those planted, and how many it
left out that were not planted.

    python benchmarks/bench_hot_pixels.py [--shares 0 0.002 0.01] [--amplitudes strong dead]
        [--regime bright] [--seed 3]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_quality import (
    CAMERA,
    PSF_FWHM_NM,
    add_condition_arguments,
    line_pair_cell,
    phantom,
    simulate_phantom,
)

from napari_fluogan import FluoGANConfig
from napari_fluogan.core.blinking import REGIMES
from napari_fluogan.core.defective_pixels import left_out, pixel_statistics
from napari_fluogan.core.psf import psf_from_model
from napari_fluogan.core.solver import prepare_photons
from napari_fluogan.core.trend import TemporalTrend

AMPLITUDES = {"strong": ((0.3, 3.0), (0.5, 2.0)), "weak": ((0.05, 0.3), (0.05, 0.3))}
#: the defect kinds made of dead pixels: on the structure, anywhere, whole columns,
#: 2 x 2 clusters on the structure
DEAD = ("dead", "dead-anywhere", "dead-column", "dead-cluster")


def with_defects(
    frames: np.ndarray, share: float, amplitude: str, seed: int
) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """``frames`` (ADU) with ``share`` of the pixels made defective, and where they are."""
    rng = np.random.default_rng(seed)
    t, h, w = frames.shape
    if amplitude in DEAD:
        return with_dead_pixels(frames, share, rng, amplitude)
    n = int(round(share * h * w / 2))
    where = rng.choice(h * w, size=2 * n, replace=False)
    hot, noisy = where[:n], where[n:]
    mean = frames.mean(axis=0)
    signal = float(mean.max() - np.quantile(mean, 0.02))
    (hot_lo, hot_hi), (noisy_lo, noisy_hi) = AMPLITUDES[amplitude]
    flat = frames.reshape(t, -1).astype(np.float64)
    flat[:, hot] += rng.uniform(hot_lo, hot_hi, n) * signal
    flat[:, noisy] += (rng.random((t, n)) < 0.3) * rng.uniform(noisy_lo, noisy_hi, n) * signal
    out = np.clip(np.round(flat), 0, 65535).reshape(t, h, w).astype(np.uint16)
    return out, {divmod(int(i), w) for i in where}


def with_dead_pixels(
    frames: np.ndarray, share: float, rng: np.random.Generator, kind: str
) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """``frames`` (ADU) with ``share`` of the pixels dead, reading the benchmark camera's
    offset and read noise. ``kind`` (:data:`DEAD`): lone pixels drawn among the
    brightest fifth (``dead``) or among all (``dead-anywhere``); whole columns,
    the brightest ones at least three apart (``dead-column``, at least one); or
    2 x 2 clusters whose corner is drawn among the brightest fifth (``dead-cluster``)."""
    t, h, w = frames.shape
    n = int(round(share * h * w))
    if n == 0:
        return frames, set()
    mean = frames.mean(axis=0)
    if kind == "dead-column":
        columns: list[int] = []
        for c in np.argsort(mean.mean(axis=0))[::-1]:
            # apart from each other: two columns side by side are not looked for
            if all(abs(int(c) - k) > 2 for k in columns):
                columns.append(int(c))
            if len(columns) == max(1, int(round(n / h))):
                break
        where = np.concatenate([np.arange(h) * w + c for c in columns])
    else:
        pool = np.argsort(mean.ravel())[0 if kind == "dead-anywhere" else -(h * w) // 5 :]
        if kind == "dead-cluster":
            # corners off the last row and column, so that every cluster is whole
            pool = pool[(pool // w < h - 1) & (pool % w < w - 1)]
            corners = rng.choice(pool, size=max(1, n // 4), replace=False)
            where = np.unique(np.concatenate([corners + d for d in (0, 1, w, w + 1)]))
        else:
            where = rng.choice(pool, size=n, replace=False)
    flat = frames.reshape(t, -1).astype(np.float64)
    flat[:, where] = CAMERA.offset_adu + rng.normal(0.0, CAMERA.read_noise_adu, (t, where.size))
    out = np.clip(np.round(flat), 0, 65535).reshape(t, h, w).astype(np.uint16)
    return out, {divmod(int(i), w) for i in where}


def found_defects(frames: np.ndarray, config: FluoGANConfig) -> set[tuple[int, int]]:
    """The pixels a run with ``config`` left out, found as the engine finds them."""
    photons = torch.as_tensor(prepare_photons(frames, config)[0])
    trend = TemporalTrend(photons, config.detrend_frames)
    mask = left_out(pixel_statistics(photons, trend, config.psf_fwhm_px)[2])
    return set() if mask is None else {(int(i), int(j)) for i, j in torch.nonzero(mask)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.002, 0.01])
    parser.add_argument("--amplitudes", nargs="+", default=list(AMPLITUDES),
                        choices=[*AMPLITUDES, *DEAD])
    add_condition_arguments(parser, frames=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    photophysics, background = REGIMES[args.regime]
    ph = phantom()
    print(f"# {args.regime}, T = {args.frames}, seed {args.seed}; cell = resolved nm / worst "
          "counting control / PSNR dB (! control split); found = left out and planted / planted, + "
          "left out but not planted")
    print(f"{'PSF':<9}{'defects':>8}{'amplitude':>15}{'RL(mean)':>20}{'FluoGAN kept':>20}"
          f"{'FluoGAN default':>20}{'found':>14}")
    for psf in args.psf:
        clean = simulate_phantom(ph, psf_from_model(psf, PSF_FWHM_NM), args.frames,
                                 photophysics, background, args.seed)
        for share in args.shares:
            for amplitude in args.amplitudes if share > 0 else args.amplitudes[:1]:
                frames, planted = with_defects(clean.frames, share, amplitude, args.seed)
                cells = [line_pair_cell("rl", frames, clean.truth, ph, args.seed)[0]]
                cells.append(line_pair_cell("fluogan-l2", frames, clean.truth, ph, args.seed,
                                            {"leave_out_defective_pixels": False})[0])
                cell, snap = line_pair_cell("fluogan-l2", frames, clean.truth, ph, args.seed)
                cells.append(cell)
                assert snap is not None
                found = found_defects(frames, snap.config)
                assert len(found) == snap.info["defective_pixels"] + snap.info["dead_pixels"]
                hits = f"{len(found & planted)} / {len(planted)} + {len(found - planted)}"
                label = amplitude if share > 0 else "-"
                print(f"{psf:<9}{share:>8.1%}{label:>15}" + "".join(f"{c:>20}" for c in cells)
                      + f"{hits:>14}", flush=True)


if __name__ == "__main__":
    main()
