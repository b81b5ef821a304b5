"""Real-data check on the ghost-filament stack (../shared/data): with the default priors
the two nearest filaments come out as two clean, continuous lines at a constant
separation. Each threshold below fails on the bead-chained result of the l1 prior
alone (``lambda_tv=0``: rows where a line vanishes, brightness along a line varying
by about 50 %), and passes with margin at the default ``lambda_tv``."""

import numpy as np
import pytest
import torch

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.io import read_stack

# camera rows 10-30, columns 5-21 hold the nearest pair (columns ~11-16 of the mean)
CROP = (slice(10, 30), slice(5, 21))
L = 4
PIXEL_NM = 103.0  # the original FluoGAN example's value; the true scale is uncertain


def _two_peaks(row: np.ndarray) -> tuple[int, int, float] | None:
    """Positions of the two highest local maxima and the valley/weaker-peak ratio."""
    k = np.arange(1, row.size - 1)
    maxima = k[(row[k] > row[k - 1]) & (row[k] >= row[k + 1])]
    if maxima.size < 2:
        return None
    a, b = sorted(maxima[np.argsort(row[maxima])[-2:]])
    return int(a), int(b), float(row[a : b + 1].min() / min(row[a], row[b]))


def _reconstruct_crop(shared_data, **changes) -> np.ndarray:
    torch.set_num_threads(1)
    frames = read_stack(shared_data / "ghost_filaments_300nm.tif").frames
    crop = frames[:, CROP[0], CROP[1]]
    cfg = FluoGANConfig(psf_fwhm_nm=318.0, pixel_size_nm=PIXEL_NM, upsample=L, alpha=1.14,
                        offset=0.0, sigma=0.0, iterations=300, warm_start_iterations=150,
                        snapshot_every=300, device="cpu", seed=0)
    return reconstruct(crop, cfg.replace(**changes)).x


def check_two_clean_lines(x: np.ndarray) -> None:
    """Assert that ``x`` (fine grid) shows the pair as two clean, continuous lines."""
    inner = x[2 * L : -2 * L]  # away from the crop's top and bottom borders
    # 1. continuity: every fine row crosses both lines (a bead chain has gaps)
    fine = [_two_peaks(r) for r in inner]
    assert all(f is not None for f in fine), "a fine row without two maxima (broken line)"
    # 2. constant separation, row by row (camera rows = blocks of L fine rows)
    rows = inner.reshape(-1, L, x.shape[1]).mean(axis=1)
    found = [_two_peaks(r) for r in rows]
    assert all(f is not None for f in found), "a camera row without two maxima"
    seps_nm = np.array([b - a for a, b, _ in found]) * PIXEL_NM / L
    assert 200.0 < seps_nm.mean() < 500.0
    assert seps_nm.std() < 20.0, f"separation varies along the pair: {seps_nm}"
    # 3. no texture between: a deep valley in every camera row
    valleys = np.array([v for _, _, v in found])
    assert valleys.max() < 0.5, f"shallow valley (texture between the lines): {valleys}"
    # 4. no bead chains: even brightness along each line, fine row by fine row
    col_a = int(np.median([f[0] for f in fine]))
    col_b = int(np.median([f[1] for f in fine]))
    for col in (col_a, col_b):
        along = inner[:, max(col - 2, 0) : col + 3].max(axis=1)
        assert along.min() > 0.35 * along.mean(), "a line fades out (bead chain)"
        assert along.std() < 0.3 * along.mean(), "brightness varies along a line (beads)"
    peaks = np.array([[r[a], r[b]] for r, (a, b, _) in zip(rows, found, strict=True)])
    assert (peaks.min(axis=0) > 0.4 * peaks.mean(axis=0)).all(), "a line dims in some rows"


def test_nearest_filaments_are_two_clean_lines(shared_data):
    check_two_clean_lines(_reconstruct_crop(shared_data))


def test_check_rejects_the_bead_chains_of_l1_alone(shared_data):
    """The thresholds are not vacuous: the l1-only result (known bead chains) fails."""
    x = _reconstruct_crop(shared_data, lambda_tv=0.0, use_critic=False)
    with pytest.raises(AssertionError):
        check_two_clean_lines(x)
