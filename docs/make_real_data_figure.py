"""Figure: mean, SOFI2, RL(mean) and FluoGAN on the ghost-filament stack.

Run from the repository root: ``python docs/make_real_data_figure.py`` (needs
``../shared/data/ghost_filaments_300nm.tif``); writes ``docs/real_data.png``. Settings:
camera pixel 103 nm and PSF FWHM 318 nm (the original FluoGAN example's values; the
absolute scale of this stack is uncertain), L = 4, camera values estimated, default
FluoGAN config (l1 plus the hyperbolic TV prior, default lambda_tv).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from napari_fluogan import FluoGANConfig, reconstruct  # noqa: E402
from napari_fluogan.core import baselines  # noqa: E402
from napari_fluogan.core.calibrate import estimate_camera  # noqa: E402
from napari_fluogan.core.stack import to_photons  # noqa: E402
from napari_fluogan.io import read_stack  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ghost_filaments_300nm.tif"
PIXEL_NM, FWHM_NM, L = 103.0, 318.0, 4


def main() -> None:
    torch.set_num_threads(1)
    frames = read_stack(DATA).frames
    cam = estimate_camera(frames)
    photons = to_photons(frames, cam.alpha, cam.offset)
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    panels = {
        "mean": baselines.mean_image(photons),
        "SOFI2 (lag 1)": baselines.sofi2(photons),
        "RL(mean), 200 it": baselines.richardson_lucy(
            baselines.mean_image(photons), pixel_size_nm=PIXEL_NM, upsample=L,
            iterations=200, psf_fwhm_nm=FWHM_NM),
    }
    cfg = FluoGANConfig(psf_fwhm_nm=FWHM_NM, pixel_size_nm=PIXEL_NM, upsample=L,
                        alpha=cam.alpha, offset=cam.offset, sigma=cam.sigma, device="cpu",
                        iterations=iterations, snapshot_every=iterations)
    t0 = time.perf_counter()
    panels[f"FluoGAN (defaults: l1 + TV, {iterations} it)"] = reconstruct(frames, cfg).x
    print(f"FluoGAN {time.perf_counter() - t0:.0f} s")
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.6))
    for ax, (title, img) in zip(axes, panels.items(), strict=True):
        ax.imshow(img, cmap="magma", interpolation="nearest",
                  vmin=0, vmax=np.percentile(img, 99.7))
        ax.set_title(title)
        ax.set_axis_off()
    fig.suptitle("ghost_filaments_300nm.tif: 500 frames, ~0.37 photons/pixel/frame "
                 f"(pixel {PIXEL_NM:.0f} nm assumed, FWHM {FWHM_NM:.0f} nm, L = {L})")
    fig.tight_layout()
    out = ROOT / "docs" / "real_data.png"
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
