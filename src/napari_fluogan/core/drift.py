"""The sample's drift over the stack, measured and put in the model.

A stack that drifts is a sum of shifted images: its mean is the sample blurred by the
path the drift took, and a model that ignores the path takes that blur for the
sample's own width (200 nm of drift cost a step on the benchmark). Registering the
frames would interpolate them, which correlates neighbouring pixels' noise and spoils
the camera estimate and the fluctuations (docs/quality.md, "Registered or filtered
frames"). So the frames stay as they are and the model moves instead:

- the mean of frames shifted by ``d_t`` is ``K * x`` with ``K`` the histogram of the
  shifts (:func:`drift_kernel`), which
  :class:`~napari_fluogan.core.physics.PsiOperator` folds into the PSF;
- the data term fits runs of frames apart (:func:`drift_runs`), each with the PSF at
  its own part of the path, so that the detail the whole path's blur would erase is
  kept (:class:`~napari_fluogan.core.physics.BlockedPsi`).

The drift is measured by cross-correlating means of blocks of frames with the mean of
the other blocks (scikit-image's ``phase_cross_correlation``, sub-pixel), the path
running straight between the blocks. A drift whose trend (a cubic in time) does not
stand clear of the blocks' noise, that widens the PSF by less than could matter, or
whose blocks are noisy enough to widen it as much themselves (a featureless field) is
not used: a kernel made of noise would ask the fit for detail the data do not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import fourier_shift, shift
from scipy.signal.windows import tukey
from skimage.registration import phase_cross_correlation

from .defective_pixels import repaired
from .psf import FWHM_PER_SIGMA

#: frames per block at least: fewer make block means too noisy to register
MIN_FRAMES_PER_BLOCK = 20
#: blocks at most (more add little to a smooth path and cost time)
MAX_BLOCKS = 20
#: blocks at least for a path (a polynomial and its noise need a few)
MIN_BLOCKS = 4
#: the drift's variance, as a share of the PSF's (Gaussian sigma squared), under which
#: the path is not used: it widens the PSF by under 1 % and only slows the operator
MIN_VARIANCE_SHARE = 0.02
#: how many standard errors the path's extent must stand above its noise
MIN_SIGNIFICANCE = 4.0
#: the runs of frames the data term fits apart (drift_runs): at most this many, ...
MAX_RUNS = 8
#: ... and enough that within each the path's variance stays under this share of the
#: PSF's (its blur there then widens the PSF by under 0.5 %)
MAX_RUN_VARIANCE_SHARE = 0.01
#: passes of the registration against the blocks moved back by the shifts found so far
REFINEMENTS = 2
#: camera pixels over which the field's edges are tapered before the correlation
TAPER_PX = 3
#: the sub-pixel precision of the block registration (1 / camera pixels)
UPSAMPLE_FACTOR = 50


@dataclass(frozen=True)
class DriftEstimate:
    """The drift measured on a stack, in camera pixels.

    ``path_px`` (T, 2) is the shift ``(dy, dx)`` of every frame's content
    relative to the stack's mean position (zero mean over frames); ``block_shifts_px``
    (n, 2) the measured shifts of the blocks, centred at frames ``block_centres``;
    ``trend_extent_px`` the extent of a polynomial in time fitted to the blocks' shifts
    (per axis), ``noise_px`` its standard error, and ``scatter_px`` the noise of one
    block's shift (from the blocks' second differences), which the path, straight
    between the blocks, carries."""

    path_px: np.ndarray
    block_shifts_px: np.ndarray
    block_centres: np.ndarray
    trend_extent_px: np.ndarray
    noise_px: np.ndarray
    scatter_px: np.ndarray

    @property
    def extent_px(self) -> np.ndarray:
        """Peak-to-peak extent of the path per axis ``(y, x)``."""
        return np.ptp(self.path_px, axis=0)

    def matters(self, psf_fwhm_px: float) -> bool:
        """Whether the drift stands clear of its noise and widens the PSF enough to
        model, while the blocks' noise alone would not: the smooth trend must stand
        :data:`MIN_SIGNIFICANCE` standard errors clear (the path itself, through noisy
        blocks, always has some extent), and the blocks' scatter must stay under the
        variance that is modelled (on a featureless field the blocks' shifts are noise of
        several pixels, and a path through them would be taken for drift)."""
        clear = bool(np.any(self.trend_extent_px > MIN_SIGNIFICANCE * self.noise_px))
        noise = share_of_psf_variance(float(self.scatter_px.max()) ** 2, psf_fwhm_px)
        drift = share_of_psf_variance(float(self.path_px.var(axis=0).max()), psf_fwhm_px)
        return clear and noise < MIN_VARIANCE_SHARE <= drift


def share_of_psf_variance(variance_px2: float, psf_fwhm_px: float) -> float:
    """A variance along one axis (camera pixels squared) over the PSF's along one axis
    (its Gaussian sigma squared)."""
    return variance_px2 / (psf_fwhm_px / FWHM_PER_SIGMA) ** 2


def _tapered(image: np.ndarray) -> np.ndarray:
    """``image`` minus its mean, its edges tapered (a Tukey window, :data:`TAPER_PX`
    wide): the correlation is circular, and without the taper the field's edges, which
    do not move with the sample, pull the peak to zero shift. A taper over the whole
    field (Hann) weighs the structure by where it sits, and so pulled the shifts of a
    14 px wide field a quarter of the way to zero."""
    h, w = image.shape
    window = np.outer(
        tukey(h, min(1.0, 2 * TAPER_PX / h)), tukey(w, min(1.0, 2 * TAPER_PX / w))
    )
    return (image - image.mean()) * window


def _block_shifts(
    frames: np.ndarray, n_blocks: int, left_out: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Shift ``(dy, dx)`` of each block's content against the mean of the other blocks,
    and the blocks' centre frames."""
    blocks = np.array_split(np.arange(frames.shape[0]), n_blocks)
    means = np.stack([frames[idx].mean(axis=0) for idx in blocks]).astype(np.float64)
    if left_out is not None:
        # a pixel that does not move with the sample (hot, dead) would pull the
        # registration to zero shift: it takes its good neighbours' mean
        means = repaired(torch.from_numpy(means), torch.from_numpy(left_out)).numpy()
    # each block as a pattern of unit norm: bright blocks (before the dyes bleached)
    # would pull the reference towards their own positions (the path came out skewed)
    patterns = means - means.mean(axis=(1, 2), keepdims=True)
    patterns /= np.maximum(np.linalg.norm(patterns, axis=(1, 2), keepdims=True), 1e-30)
    shifts = np.zeros((n_blocks, 2))
    for _ in range(1 + REFINEMENTS):
        # the blocks moved back by the shifts found so far: after the first pass the
        # reference is as sharp as one block instead of blurred by the whole path
        aligned = np.stack(
            [_moved(pattern, -shift) for pattern, shift in zip(patterns, shifts, strict=True)]
        )
        total = aligned.sum(axis=0)
        found = np.empty_like(shifts)
        for k in range(n_blocks):
            # leave the block out of its reference, or the reference pulls it to zero
            reference = _tapered((total - aligned[k]) / (n_blocks - 1))
            shift, _, _ = phase_cross_correlation(
                reference,
                _tapered(patterns[k]),
                upsample_factor=UPSAMPLE_FACTOR,
                normalization=None,
            )
            # the shift that registers the block with the reference undoes the drift
            found[k] = -np.asarray(shift, dtype=np.float64)
        shifts = found - found.mean(axis=0)
    centres = np.array([idx.mean() for idx in blocks])
    return shifts, centres


def _moved(image: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``image`` with its content moved by ``shift`` (y, x) pixels (Fourier shift)."""
    if not np.any(shift):
        return image
    return np.fft.ifft2(fourier_shift(np.fft.fft2(image), shift)).real


def estimate_drift(
    frames: np.ndarray, left_out: np.ndarray | None = None
) -> DriftEstimate | None:
    """Measure the drift of a stack (T, h, w); None when it is too short or too small
    to measure. ``left_out``: (h, w) pixels that do not show the sample (hot, dead).

    Blocks of at least :data:`MIN_FRAMES_PER_BLOCK` frames (at most
    :data:`MAX_BLOCKS`) are registered, and the path runs straight between their
    centres (so a stage that jumps is followed to within a block). A polynomial in time
    (cubic with ten blocks or more, else linear) gives the drift's trend; one block's
    noise comes from the blocks' second differences, and the trend's standard error
    from that."""
    n_frames = frames.shape[0]
    n_blocks = min(MAX_BLOCKS, n_frames // MIN_FRAMES_PER_BLOCK)
    if n_blocks < MIN_BLOCKS or min(frames.shape[1:]) < 8:
        return None
    shifts, centres = _block_shifts(np.asarray(frames), n_blocks, left_out)
    degree = 3 if n_blocks >= 10 else 1
    t_scale = max(n_frames - 1, 1)
    design = np.vander(centres / t_scale, degree + 1)
    coef, *_ = np.linalg.lstsq(design, shifts, rcond=None)
    # one block's noise from the blocks' second differences (robust: median absolute),
    # which a steady or settling drift leaves near zero and a jump touches twice; the
    # scatter around the polynomial took a jump for noise
    second = np.abs(np.diff(shifts, n=2, axis=0))
    scatter = np.median(second, axis=0) / (0.6745 * np.sqrt(6.0))
    # the fitted path's standard error, averaged over the stack
    noise = scatter * np.sqrt((degree + 1) / n_blocks)
    trend = np.vander(np.arange(n_frames) / t_scale, degree + 1) @ coef
    # straight on from the first and the last two blocks to the stack's ends (held
    # flat there, a steady drift's extent came out short by a block)
    start, end = 0.0, float(n_frames - 1)
    ends = (
        shifts[0] - (shifts[1] - shifts[0]) * centres[0] / (centres[1] - centres[0]),
        shifts[-1] + (shifts[-1] - shifts[-2]) * (end - centres[-1]) / (centres[-1] - centres[-2]),
    )
    knots = np.concatenate([[start], centres, [end]])
    values = np.concatenate([ends[0][None], shifts, ends[1][None]])
    frame = np.arange(n_frames)
    path = np.stack([np.interp(frame, knots, values[:, axis]) for axis in (0, 1)], axis=1)
    path -= path.mean(axis=0)
    return DriftEstimate(path, shifts, centres, np.ptp(trend, axis=0), noise, scatter)


def drift_runs(path_px: np.ndarray, psf_fwhm_px: float) -> list[np.ndarray]:
    """Consecutive runs of frames (their indices) few enough for the fit, many enough
    that within each the sample moves by little against the PSF: the data term fits
    each run's mean with the PSF at that run's own positions. A blur of the whole path
    would keep only the frequencies the path's histogram passes (a steady 300 nm drift
    nearly erases the 240 nm period); runs keep what each frame saw."""
    variance = float(np.asarray(path_px).var(axis=0).max())
    spread = share_of_psf_variance(variance, psf_fwhm_px) / MAX_RUN_VARIANCE_SHARE
    n_runs = int(np.clip(np.ceil(np.sqrt(spread)), 1, MAX_RUNS))
    return np.array_split(np.arange(len(path_px)), n_runs)


def registered_mean(
    run_means: np.ndarray, positions_px: np.ndarray, weights: list[int] | np.ndarray
) -> np.ndarray:
    """The runs' means (K, m1, m2) moved back from their mean positions on the path
    (K, 2; camera pixels, ``(dy, dx)``) and averaged with ``weights`` (frames per run):
    the mean image of a stack that did not drift, interpolated (cubic splines; the
    border repeated). For judging a model's shape only: interpolation correlates the
    noise, which the fit itself must not see."""
    moved = [
        shift(np.asarray(mean, dtype=np.float64), -np.asarray(position), order=3, mode="nearest")
        for mean, position in zip(run_means, positions_px, strict=True)
    ]
    return np.average(np.stack(moved), axis=0, weights=np.asarray(weights, dtype=np.float64))


def drift_kernel(path_px: np.ndarray, upsample: int) -> np.ndarray:
    """The histogram of the frames' positions on the fine grid: an odd square kernel
    (its centre is zero shift) that sums to 1. Each frame's shift is split between the
    four fine pixels around it (bilinear), so sub-pixel paths keep their mean."""
    fine = np.asarray(path_px, dtype=np.float64) * upsample
    radius = int(np.ceil(np.abs(fine).max())) + 1
    size = 2 * radius + 1
    kernel = np.zeros((size, size))
    base = np.floor(fine).astype(int)
    frac = fine - base
    for dy, wy in ((0, 1 - frac[:, 0]), (1, frac[:, 0])):
        for dx, wx in ((0, 1 - frac[:, 1]), (1, frac[:, 1])):
            np.add.at(kernel, (base[:, 0] + dy + radius, base[:, 1] + dx + radius), wy * wx)
    return kernel / kernel.sum()


def describe_drift(info: Mapping[str, float]) -> str | None:
    """For a status line (``Snapshot.info``): e.g. ``"drift of 120 nm modelled"`` (the
    path's largest extent), or None where no drift was modelled."""
    extent_nm = float(info.get("drift_nm", 0.0))
    return f"drift of {extent_nm:.0f} nm modelled" if extent_nm > 0 else None
