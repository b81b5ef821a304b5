"""Built-in demo: simulate the line-pair phantom, reconstruct it, measure and save.

Shared by ``fluogan demo`` and ``benchmarks/bench_linepairs.py`` so both report the
same numbers the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.baselines import mean_image
from .core.config import FluoGANConfig
from .core.metrics import PairResult, evaluate_pairs, smallest_resolved_nm
from .core.psf import GaussianPSF
from .core.simulate import DEFAULT_SEPARATIONS_NM, Phantom, line_pair_phantom, simulate_stack
from .core.solver import Snapshot, reconstruct
from .core.stack import to_photons

PIXEL_SIZE_NM = 100.0
PSF_FWHM_NM = 318.0
UPSAMPLE = 4


@dataclass
class DemoData:
    """A simulated stack (ADU), its fine-grid truth and the phantom geometry."""

    frames: np.ndarray
    truth: np.ndarray
    phantom: Phantom
    alpha: float = 2.0
    offset: float = 100.0
    sigma: float = 2.0


def make_demo_data(
    n_frames: int = 500,
    separations_nm: tuple[float, ...] = DEFAULT_SEPARATIONS_NM,
    brightness: float = 1.0,
    background: float = 1.0,
    seed: int = 0,
) -> DemoData:
    """The DESIGN 6 line-pair phantom (100 nm lines, FWHM 318 nm, 100 nm pixels, L = 4)."""
    phantom = line_pair_phantom(separations_nm=separations_nm)
    truth = phantom.render(PIXEL_SIZE_NM, UPSAMPLE) * brightness
    frames = simulate_stack(truth, GaussianPSF(PSF_FWHM_NM), PIXEL_SIZE_NM, UPSAMPLE, n_frames,
                            background, 2.0, 100.0, 2.0, seed)
    return DemoData(frames, truth, phantom)


@dataclass
class MethodResult:
    name: str
    image: np.ndarray
    pixel_size_nm: float
    pairs: list[PairResult]
    iterations: int = 0
    seconds: float = 0.0

    @property
    def smallest_nm(self) -> float | None:
        return smallest_resolved_nm(self.pairs)


def evaluate(name: str, image: np.ndarray, pixel_size_nm: float, phantom: Phantom,
             iterations: int = 0, seconds: float = 0.0) -> MethodResult:
    pairs = evaluate_pairs(image, pixel_size_nm, phantom.pairs, PSF_FWHM_NM)
    return MethodResult(name, image, pixel_size_nm, pairs, iterations, seconds)


def demo_config(**changes) -> FluoGANConfig:
    """Default settings with the demo's known optics and camera."""
    base = dict(psf_fwhm_nm=PSF_FWHM_NM, pixel_size_nm=PIXEL_SIZE_NM, upsample=UPSAMPLE,
                alpha=2.0, offset=100.0, sigma=2.0)
    base.update(changes)
    return FluoGANConfig(**base)


def mean_image_result(data: DemoData) -> MethodResult:
    """The widefield (mean) image of the demo stack, measured on the line pairs."""
    photons = to_photons(data.frames, data.alpha, data.offset)
    return evaluate("mean image", mean_image(photons), PIXEL_SIZE_NM, data.phantom)


def fluogan_result(name: str, snap: Snapshot, data: DemoData, seconds: float) -> MethodResult:
    """A FluoGAN snapshot, measured on the line pairs."""
    return evaluate(name, snap.x, snap.config.fine_pixel_size_nm, data.phantom,
                    snap.iteration, seconds)


def compare(data: DemoData, configs: dict[str, FluoGANConfig]) -> list[MethodResult]:
    """Mean image and each FluoGAN configuration, measured on the line pairs."""
    results = [mean_image_result(data)]
    for name, cfg in configs.items():
        start = time.perf_counter()
        snap = reconstruct(data.frames, cfg)
        results.append(fluogan_result(name, snap, data, time.perf_counter() - start))
    return results


def format_table(results: list[MethodResult]) -> str:
    """Dip contrast per separation (controls failing marked with '!'), one row a method."""
    seps = [p.separation_nm for p in results[0].pairs]
    head = f"{'method':<22}" + "".join(f"{int(s):>7}" for s in seps)
    head += f"{'resolved':>10}{'iters':>7}{'time s':>8}"
    lines = [head, "-" * len(head)]
    for r in results:
        cells = ""
        for p in r.pairs:
            mark = "!" if not p.control_intact else ("*" if p.resolved else " ")
            cells += f"{p.contrast:6.2f}{mark}"
        best = f"{int(r.smallest_nm)} nm" if r.smallest_nm else "none"
        lines.append(f"{r.name:<22}{cells}{best:>10}{r.iterations:>7}{r.seconds:>8.1f}")
    lines.append("dip contrast between the two lines per separation (nm); * resolved "
                 "(dip >= 20 %, control intact); ! control bar split (invented detail)")
    return "\n".join(lines)


def save_figure(results: list[MethodResult], truth: np.ndarray, path: Path) -> None:
    """Side-by-side images of the truth and every method (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("ground truth", truth)] + [(r.name, r.image) for r in results]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.2 * len(panels)))
    for ax, (title, img) in zip(axes, panels, strict=True):
        ax.imshow(img, cmap="magma", interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
