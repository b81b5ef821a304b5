"""Real-data check on the ghost-filament stack (../shared/data): the two nearest
filaments must come out as two clean, continuous lines at a constant separation."""

import numpy as np
import pytest
import torch

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.io import read_stack

# camera rows 10-30, columns 5-21 hold the nearest pair (columns ~11-16 of the mean)
CROP = (slice(10, 30), slice(5, 21))
L = 4


def _two_peaks(row: np.ndarray) -> tuple[int, int, float] | None:
    """Positions of the two highest local maxima and the valley/weaker-peak ratio."""
    k = np.arange(1, row.size - 1)
    maxima = k[(row[k] > row[k - 1]) & (row[k] >= row[k + 1])]
    if maxima.size < 2:
        return None
    a, b = sorted(maxima[np.argsort(row[maxima])[-2:]])
    return int(a), int(b), float(row[a : b + 1].min() / min(row[a], row[b]))


@pytest.mark.xfail(
    strict=True,
    reason="known failure (docs/quality.md): with the default l1 prior the lines break "
    "into bead chains (a line's brightness drops below 30 % of its mean in some rows)",
)
def test_nearest_filaments_are_two_clean_lines(shared_data):
    torch.set_num_threads(1)
    frames = read_stack(shared_data / "ghost_filaments_300nm.tif").frames
    crop = frames[:, CROP[0], CROP[1]]
    cfg = FluoGANConfig(psf_fwhm_nm=318.0, pixel_size_nm=103.0, upsample=L, alpha=1.14,
                        offset=0.0, sigma=0.0, iterations=300, warm_start_iterations=150,
                        snapshot_every=300, device="cpu")
    x = reconstruct(crop, cfg).x
    # average blocks of one camera row (L fine rows), away from the crop's top/bottom
    rows = x[2 * L : -2 * L].reshape(-1, L, x.shape[1]).mean(axis=1)
    found = [_two_peaks(r) for r in rows]
    assert all(f is not None for f in found), "a row without two maxima (broken line)"
    seps = np.array([b - a for a, b, _ in found]) * 103.0 / L
    valleys = np.array([v for _, _, v in found])
    peaks = np.array([[r[a], r[b]] for r, (a, b, _) in zip(rows, found, strict=True)])
    # two lines at the same separation in every row
    assert seps.std() < 30.0 and 200.0 < seps.mean() < 500.0
    # clean: deep valley (no texture between), no bead chains (even brightness)
    assert valleys.max() < 0.5
    assert (peaks.min(axis=0) > 0.3 * peaks.mean(axis=0)).all()
