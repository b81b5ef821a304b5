"""Hot, noisy and dead camera pixels: found by the PSF's bounds on neighbouring pixels,
left out of the fit, and reported (core/defective_pixels.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile
import torch

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.core import defective_pixels as defective_pixels_module
from napari_fluogan.core.defective_pixels import (
    DEAD_LINE_SHARE,
    DEAD_SHARE,
    FWHM_SHARE,
    dead_pixels,
    defect_warning,
    defective_pixels,
    describe_defects,
    neighbour_ratio_bound,
    repaired,
)
from napari_fluogan.core.psf import FWHM_PER_SIGMA, AiryPSF
from napari_fluogan.core.saturation import saturated_pixels
from napari_fluogan.core.trend import TemporalTrend

from .conftest import check_cli_switch

#: the benchmark's PSF in camera pixels (318 nm at 100 nm)
FWHM_PX = 3.18
HOT = [(3, 12), (0, 9)]  # one inside, one on the top border
NOISY = [(12, 4)]
DEAD = [(8, 9), (7, 9), (6, 0)]  # side by side on the inner emitter, and on the border


def blinking_blobs(
    seed: int = 0,
    defects: bool = False,
    n_frames: int = 80,
    shape=(16, 16),
    dead: tuple[tuple[int, int], ...] = (),
    background: float = 3.0,
) -> np.ndarray:
    """Two blinking emitters through a Gaussian PSF (FWHM 3.18 px) on a
    ``background`` (photons; dim by default), one inside the field and one just outside
    its left border; ADU with gain 2, offset 100, read noise 2. ``defects``: pixels
    :data:`HOT` with a constant excess and :data:`NOISY` jumping between two levels;
    ``dead``: pixels (e.g. :data:`DEAD`) that read the offset and the read noise alone."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    sigma = FWHM_PX / FWHM_PER_SIGMA

    def spot(y: float, x: float) -> np.ndarray:
        return np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))

    on = rng.random((2, n_frames)) < 0.4
    light = (
        background
        + 200.0 * on[0, :, None, None] * spot(8.0, 9.0)
        + 400.0 * on[1, :, None, None] * spot(6.0, -1.2)
    )
    electrons = rng.poisson(light).astype(np.float64)
    if defects:
        for y, x in HOT:
            electrons[:, y, x] += 40.0
        for y, x in NOISY:
            electrons[:, y, x] += 60.0 * (rng.random(n_frames) < 0.3)
    for y, x in dead:
        electrons[:, y, x] = 0.0
    frames = 100.0 + 2.0 * electrons + rng.normal(0.0, 2.0, electrons.shape)
    return np.round(frames).astype(np.uint16)


def statistics(raw: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    photons = torch.as_tensor((raw.astype(np.float32) - 100.0) / 2.0)
    return photons.mean(dim=0), TemporalTrend(photons, 50).detrended_variance(photons)


def test_the_bound_is_a_point_sources_peak_over_its_neighbours():
    sigma = 2.5 / FWHM_PER_SIGMA

    def pixel(k: int) -> float:  # a point at a pixel's centre, integrated over pixels
        s = sigma * math.sqrt(2.0)
        return 0.5 * (math.erf((k + 0.5) / s) - math.erf((k - 0.5) / s))

    assert neighbour_ratio_bound(2.5) == pytest.approx(pixel(0) / pixel(1), rel=1e-6)
    assert neighbour_ratio_bound(2.5, power=2) == pytest.approx((pixel(0) / pixel(1)) ** 2)
    # a narrower PSF allows sharper peaks
    assert neighbour_ratio_bound(1.5) > neighbour_ratio_bound(2.5) > neighbour_ratio_bound(4.0)


def test_light_through_the_psf_is_never_flagged():
    # a blinking emitter inside and a brighter one just outside the left border, whose
    # light climbs towards the border faster than the bound allows inside the field
    for seed in range(3):
        mean, variance = statistics(blinking_blobs(seed))
        assert defective_pixels(mean, variance, 80, FWHM_PX) is None


def test_hot_and_noisy_pixels_are_found():
    mean, variance = statistics(blinking_blobs(defects=True))
    mask = defective_pixels(mean, variance, 80, FWHM_PX)
    assert mask is not None
    assert sorted(map(tuple, torch.nonzero(mask).tolist())) == sorted(HOT + NOISY)


def test_dead_pixels_are_found_side_by_side_and_nowhere_else():
    # a dead pixel must read under a tenth of its neighbours' light by six standard
    # errors: these dim, blinking emitters need a few hundred frames
    mean, variance = statistics(blinking_blobs(dead=DEAD, n_frames=300))
    mask = dead_pixels(mean, variance, 300, FWHM_PX)
    assert mask is not None
    assert sorted(map(tuple, torch.nonzero(mask).tolist())) == sorted(DEAD)
    for seed in range(3):
        assert dead_pixels(*statistics(blinking_blobs(seed, n_frames=300)), 300, FWHM_PX) is None
    # a PSF of 2 pixels can leave nearly as dark holes between its pixels: not looked for
    assert dead_pixels(mean, variance, 300, 2.4) is None


#: a dead column through the inner emitter, from the top border, and a 2 x 2 cluster
#: beside the outer one: pixels with two dead neighbours
DEAD_COLUMN = tuple((y, 9) for y in range(0, 12))
DEAD_CLUSTER = ((5, 1), (5, 2), (6, 1), (6, 2))


def test_dead_columns_and_clusters_are_found():
    planted = DEAD_COLUMN + DEAD_CLUSTER
    # on a field lit by a background of 30 photons, every dead pixel can be told
    mean, variance = statistics(blinking_blobs(dead=planted, n_frames=300, background=30.0))
    mask = dead_pixels(mean, variance, 300, FWHM_PX)
    assert mask is not None
    assert sorted(map(tuple, torch.nonzero(mask).tolist())) == sorted(planted)
    # on the dim background where the emitter's light is enough (the column's middle:
    # the cluster's far side lies in the outer emitter's steep flank, where a pixel
    # cannot be judged, and its near side has no other neighbour to be judged by), and
    # nothing else
    mean, variance = statistics(blinking_blobs(dead=planted, n_frames=300))
    found = set(map(tuple, torch.nonzero(dead_pixels(mean, variance, 300, FWHM_PX)).tolist()))
    assert {(y, 9) for y in range(6, 11)} <= found <= set(planted)
    for seed in range(3):
        clean = statistics(blinking_blobs(seed, n_frames=300, background=30.0))
        assert dead_pixels(*clean, 300, FWHM_PX) is None


def _two_lines(gap_px: float, fwhm_px: float) -> torch.Tensor:
    """Noiseless light (17 x 17 camera pixels) of two lines along x, ``gap_px`` apart,
    through a Gaussian of ``fwhm_px``, integrated over pixels along y."""
    sigma = fwhm_px / FWHM_PER_SIGMA
    edges = torch.arange(18, dtype=torch.float64)
    profile = torch.zeros(17, dtype=torch.float64)
    for centre in (8.5 - gap_px / 2, 8.5 + gap_px / 2):
        cdf = 0.5 * (1 + torch.erf((edges - centre) / (sigma * math.sqrt(2.0))))
        profile += cdf[1:] - cdf[:-1]
    return profile[:, None].expand(17, 17).clone()


def test_a_groove_of_light_between_two_lines_is_not_a_dead_row(monkeypatch):
    # the worst case of the search behind DEAD_LINE_SHARE: a Gaussian as sharp as the
    # margin allows leaves a groove one pixel wide whose pixels each have two dark
    # neighbours along it, like a dead row's
    fwhm_px = 2.0
    light = _two_lines(6.0, fwhm_px)
    groove = float(light[8, 8]) / float(light[7, 8])
    assert DEAD_LINE_SHARE < groove < DEAD_SHARE
    assert dead_pixels(light, light, 10**8, fwhm_px / FWHM_SHARE) is None
    # judged at the lone pixels' share, the whole groove would read dead
    monkeypatch.setattr(defective_pixels_module, "DEAD_LINE_SHARE", DEAD_SHARE)
    mask = dead_pixels(light, light, 10**8, fwhm_px / FWHM_SHARE)
    assert mask is not None and bool(mask[8, 1:-1].all())


def _ring_of_light(radius_px: float, n_sources: int, fwhm_px: float) -> torch.Tensor:
    """Noiseless light (15 x 15 camera pixels) of ``n_sources`` points on a ring around
    the centre pixel, through an Airy pattern of ``fwhm_px``, integrated over pixels."""
    sub = 8  # sub-pixels per camera pixel
    kernel = torch.as_tensor(AiryPSF.with_fwhm(fwhm_px * 100.0).kernel(100.0 / sub))
    k = kernel.shape[-1]
    canvas = torch.zeros(15 * sub + k - 1, 15 * sub + k - 1, dtype=kernel.dtype)
    for angle in np.linspace(0.0, 2 * np.pi, n_sources, endpoint=False):
        y = int((7.5 + radius_px * np.sin(angle)) * sub)
        x = int((7.5 + radius_px * np.cos(angle)) * sub)
        canvas[y : y + k, x : x + k] += kernel
    light = canvas[k // 2 : k // 2 + 15 * sub, k // 2 : k // 2 + 15 * sub]
    return light.reshape(15, sub, 15, sub).sum(dim=(1, 3))


def test_a_ring_of_light_around_a_dark_pixel_is_not_dead():
    # the worst case of the search behind DEAD_SHARE: sources around a pixel, through
    # the Airy pattern's dark ring, as sharp as the margin allows, and no noise
    given_fwhm_px = 2.6 / FWHM_SHARE
    darkest = 1.0
    for radius in np.arange(1.0, 4.01, 0.25):
        for n_sources in (4, 6, 8, 12):
            light = _ring_of_light(radius, n_sources, 2.6)
            dimmest = min(float(light[y, x]) for y, x in ((6, 7), (8, 7), (7, 6), (7, 8)))
            darkest = min(darkest, float(light[7, 7]) / dimmest)
            assert dead_pixels(light, light, 10**8, given_fwhm_px) is None, (radius, n_sources)
    # the rings' centres come within twice the share a dead pixel reads under
    assert darkest < 2 * DEAD_SHARE


def test_repaired_pixels_take_their_good_neighbours_mean():
    image = torch.arange(25, dtype=torch.float32).reshape(5, 5)
    mask = torch.zeros(5, 5, dtype=torch.bool)
    mask[2, 2] = mask[2, 3] = True
    fixed = repaired(image, mask)
    ring = [image[i, j] for i in (1, 2, 3) for j in (1, 2, 3) if (i, j) not in ((2, 2), (2, 3))]
    assert float(fixed[2, 2]) == pytest.approx(float(sum(ring) / len(ring)))
    assert torch.equal(fixed[~mask], image[~mask])
    assert repaired(image, None) is image
    # a batch of images, each repaired alike
    batch = torch.stack([image, 2.0 * image])
    torch.testing.assert_close(repaired(batch, mask), torch.stack([fixed, 2.0 * fixed]))


def test_a_run_leaves_defective_pixels_out():
    cfg = FluoGANConfig(alpha=2.0, offset=100.0, sigma=2.0, pixel_size_nm=100.0,
                        psf_fwhm_nm=318.0, use_critic=False, psf_model="gaussian",
                        iterations=150, device="cpu")
    clean = reconstruct(blinking_blobs(), cfg)
    hot = reconstruct(blinking_blobs(defects=True), cfg)
    assert clean.info["defective_pixels"] == 0 and describe_defects(clean.info) is None
    assert clean.info["dead_pixels"] == 0
    assert "hot/noisy" not in clean.describe_model()
    assert hot.info["defective_pixels"] == 3 and hot.info["dead_pixels"] == 0
    assert "3 hot/noisy px left out" in hot.describe_model()
    # no spot where the hot pixel is: the fine pixels under it hold what they hold
    # without it (fitted, they took most of its 40 photons: 67 against 1.4)
    y, x = HOT[0]
    block = np.s_[4 * y - 2 : 4 * y + 6, 4 * x - 2 : 4 * x + 6]
    assert abs(hot.x[block].sum() - clean.x[block].sum()) < 4.0


def test_a_run_leaves_dead_pixels_out_instead_of_fitting_a_hole():
    cfg = FluoGANConfig(alpha=2.0, offset=100.0, sigma=2.0, pixel_size_nm=100.0,
                        psf_fwhm_nm=318.0, use_critic=False, psf_model="gaussian",
                        iterations=150, device="cpu")
    clean = reconstruct(blinking_blobs(n_frames=300), cfg)
    frames = blinking_blobs(dead=DEAD, n_frames=300)
    dead = reconstruct(frames, cfg)
    kept = reconstruct(frames, cfg.replace(leave_out_defective_pixels=False))
    assert dead.info["dead_pixels"] == 3 and dead.info["defective_pixels"] == 0
    assert "3 dead px left out" in dead.describe_model()
    assert sorted(map(tuple, dead.flagged_pixels["dead"].tolist())) == sorted(DEAD)
    # the emitter's light under the two pixels: fitted, they dug a hole in it
    block = np.s_[4 * 7 - 2 : 4 * 9 + 2, 4 * 9 - 2 : 4 * 10 + 2]
    truth = clean.x[block].sum()
    assert abs(dead.x[block].sum() - truth) < 0.1 * truth
    assert kept.x[block].sum() < 0.6 * truth


def test_many_defects_point_to_a_psf_given_too_wide():
    assert defect_warning({"defective_pixels": 5}, 256, 600.0) is None  # 2 %
    warning = defect_warning({"defective_pixels": 26}, 256, 600.0)
    assert warning is not None and "26 pixels of the ROI (10%)" in warning
    assert "600 nm" in warning and "PSF FWHM is too wide" in warning
    assert defect_warning({}, 256, 600.0) is None
    # dead pixels count too: a PSF given too wide makes real holes look too deep
    assert defect_warning({"defective_pixels": 3, "dead_pixels": 4}, 256, 600.0) is not None
    assert describe_defects({"defective_pixels": 3, "dead_pixels": 2}) == (
        "3 hot/noisy px and 2 dead px left out"
    )


def test_cli_leaves_defective_pixels_out_unless_told(tmp_path, capsys):
    path = tmp_path / "hot.tif"
    tifffile.imwrite(path, blinking_blobs(defects=True))
    check_cli_switch(path, tmp_path, capsys, "--keep-defective-pixels",
                     "3 hot/noisy px left out", "hot/noisy", "leave_out_defective_pixels")


def test_a_few_photons_beside_pixels_that_never_light_are_not_a_defect():
    # a dark field clipped at zero (as in the real stack's gap): most pixels read 0 in
    # every frame, and one caught 10 photons over 500 frames
    frames = torch.zeros(500, 8, 8)
    frames[::50, 4, 4] = 1.0
    trend = TemporalTrend(frames, 50)
    assert defective_pixels(frames.mean(0), trend.detrended_variance(frames), 500, 3.18) is None


def test_pixels_beside_saturated_ones_are_not_called_noisy():
    from .test_saturation import clipped_stack

    photons = torch.as_tensor((clipped_stack(400).astype(np.float32) - 100.0) / 2.0)
    mean, variance = photons.mean(0), TemporalTrend(photons, 50).detrended_variance(photons)
    # clipping takes the variance of the blob's core away, so its rim looks noisy ...
    assert defective_pixels(mean, variance, 60, FWHM_PX) is not None
    # ... unless the clipped pixels are known
    saturated = saturated_pixels(photons)
    assert saturated is not None
    assert defective_pixels(mean, variance, 60, FWHM_PX, saturated) is None


def test_an_offset_entered_too_high_makes_no_groove_dead(monkeypatch):
    # two lines 6 pixels apart on a background of 3 photons, read with an offset 5
    # photons too high: the groove between them reads below zero, as a dead pixel would
    # read were the offset right; a dead pixel reads the error itself
    light = 100.0 * _two_lines(6.0, 2.5) + 3.0 - 5.0
    assert float(light[8, 8]) < 0.0
    assert dead_pixels(light, light.abs(), 10**4, 2.5 / FWHM_SHARE) is None
    dead = light.clone()
    dead[6, 3] = -5.0  # on a line's flank
    mask = dead_pixels(dead, dead.abs(), 10**4, 2.5 / FWHM_SHARE)
    assert mask is not None and torch.nonzero(mask).tolist() == [[6, 3]]
    # measured from zero instead of the field's dark level, the groove is a dead row
    monkeypatch.setattr(defective_pixels_module, "dark_level", lambda mean: 0.0)
    mask = dead_pixels(light, light.abs(), 10**4, 2.5 / FWHM_SHARE)
    assert mask is not None and bool(mask[8, 1:-1].all())
