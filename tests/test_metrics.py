import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_fluogan.core.metrics import (
    controls_intact,
    evaluate_pairs,
    evaluate_rings,
    frc_resolution_nm,
    hole_contrast,
    psnr,
    smallest_resolved_nm,
    smallest_ring_nm,
    split_contrast,
    split_halves,
    ssim,
)
from napari_fluogan.core.phantoms import RingPhantom
from napari_fluogan.core.simulate import Bar, line_pair_phantom

PAIRS = (300.0, 210.0, 150.0, 120.0)


def test_truth_resolves_everything_and_blur_resolves_less():
    ph = line_pair_phantom(PAIRS)
    truth = ph.render(100.0, 4)
    res = evaluate_pairs(truth, 25.0, ph.pairs, psf_fwhm_nm=318.0)
    assert smallest_resolved_nm(res) == 120.0 and controls_intact(res)
    assert all(r.control_contrast < 0.2 for r in res)
    blurred = gaussian_filter(truth, 160 / 2.355 / 25.0)
    res_b = evaluate_pairs(blurred, 25.0, ph.pairs, psf_fwhm_nm=318.0)
    got = smallest_resolved_nm(res_b)
    assert got is not None and 150.0 <= got <= 300.0
    # contrast falls with separation
    c = [r.contrast for r in res_b]
    assert c == sorted(c, reverse=True)


def test_split_control_is_caught_and_voids_the_pair():
    ph = line_pair_phantom((150.0,))
    pair = ph.pairs[0]
    # an image where the control bar comes out as two lines: invented detail
    fake = ph.__class__(ph.height_nm, ph.width_nm, list(ph.bars), ph.pairs)
    fake.bars = [b for b in ph.bars if b.y0_nm != pair.control_y_nm[0]]
    for cx in pair.line_centres_nm:
        fake.bars.append(Bar(cx, 100.0, *pair.control_y_nm))
    image = fake.render(100.0, 4)
    assert split_contrast(image, 25.0, pair) >= 0.2
    res = evaluate_pairs(image, 25.0, ph.pairs, psf_fwhm_nm=318.0)
    assert res[0].contrast >= 0.2 and not res[0].resolved
    assert smallest_resolved_nm(res) is None
    # a wide PSF FWHM smaller than the bar: reported but not counted
    res_wide = evaluate_pairs(image, 25.0, ph.pairs, psf_fwhm_nm=200.0)
    assert res_wide[0].control_contrast >= 0.2 and res_wide[0].resolved


def test_smallest_resolved_needs_every_wider_pair():
    ph = line_pair_phantom(PAIRS)
    truth = ph.render(100.0, 4)
    # erase the 210 nm pair: 150 and 120 still resolved but do not count
    pair = ph.pairs[1]
    band = slice(int(pair.line_y_nm[0] / 25), int(pair.line_y_nm[1] / 25))
    cols = slice(int((pair.centre_x_nm - 200) / 25), int((pair.centre_x_nm + 200) / 25))
    truth[band, cols] = gaussian_filter(truth[band, cols], 8)
    assert smallest_resolved_nm(evaluate_pairs(truth, 25.0, ph.pairs, 318.0)) == 300.0


def test_frc_tracks_noise_and_needs_no_truth():
    rng = np.random.default_rng(0)
    base = gaussian_filter(rng.random((128, 128)), 2.0)
    base = base / base.std()
    a = base + 0.05 * rng.standard_normal(base.shape)
    b = base + 0.05 * rng.standard_normal(base.shape)
    c = base + 1.0 * rng.standard_normal(base.shape)
    d = base + 1.0 * rng.standard_normal(base.shape)
    good = frc_resolution_nm(a, b, 10.0)
    bad = frc_resolution_nm(c, d, 10.0)
    assert 20.0 <= good < bad
    noise_only = frc_resolution_nm(rng.random((64, 64)), rng.random((64, 64)), 10.0)
    assert noise_only > 100.0
    first, second = split_halves(np.arange(40)[:, None, None] * np.ones((1, 4, 4)))
    assert first.shape[0] == second.shape[0] == 20 and first[0, 0, 0] == 0


def test_psnr_and_ssim():
    rng = np.random.default_rng(1)
    truth = line_pair_phantom((300.0,)).render(100.0, 4)
    assert psnr(truth, truth) == float("inf") and ssim(truth, truth) == pytest.approx(1.0)
    # scale does not matter (units differ between methods), noise does
    assert ssim(3 * truth, truth) == pytest.approx(1.0)
    noisy = truth + 0.3 * rng.standard_normal(truth.shape)
    noisier = truth + 1.0 * rng.standard_normal(truth.shape)
    assert psnr(3 * truth, truth) == float("inf")
    assert psnr(noisy, truth, rescale=False) > psnr(noisier, truth, rescale=False) + 5
    assert 0 < ssim(noisier, truth) < ssim(noisy, truth) < 1
    assert ssim(noisy, truth, rescale=False) < 0.99


def _round_object(diameter_nm: float, hole_nm: float, hole_level: float, px: float = 25.0):
    """A 40 x 40 px image holding a disc of ``diameter_nm`` whose middle (``hole_nm``
    across) is at ``hole_level`` of the rest, centred at (500, 500) nm."""
    c = (np.arange(40) + 0.5) * px - 500.0
    r = np.hypot(*np.meshgrid(c, c, indexing="ij"))
    image = (r <= diameter_nm / 2).astype(float)
    image[r < hole_nm / 2] = hole_level
    return image


def test_hole_contrast_reads_holes_and_not_discs():
    centre = (500.0, 500.0)
    assert hole_contrast(_round_object(400, 0, 1.0), 25.0, centre, 400) == pytest.approx(0.0)
    ring = hole_contrast(_round_object(400, 300, 0.0), 25.0, centre, 400)
    assert ring > 0.9
    half = hole_contrast(_round_object(400, 200, 0.5), 25.0, centre, 400)
    assert 0.4 < half < 0.6  # the middle averages the hole's level (and a little rim)
    # a one-pixel pit in a disc is noise, not a hole: the middle is averaged over D / 4
    pit = _round_object(400, 0, 1.0)
    pit[19:21, 19:21] = 0.0
    assert hole_contrast(pit, 25.0, centre, 400) < 0.2
    # blurred through a PSF wider than the hole, a ring's hole fades
    blurred = gaussian_filter(_round_object(200, 100, 0.0), 300 / 2.355 / 25.0)
    assert hole_contrast(blurred, 25.0, centre, 200) < 0.2


def test_rings_need_their_counting_disc_whole():
    ph = RingPhantom(diameters_nm=(480.0, 300.0, 150.0))
    image = np.zeros((80, 120))
    c = (np.arange(120) + 0.5) * 25.0
    yy, xx = np.meshgrid((np.arange(80) + 0.5) * 25.0, c, indexing="ij")
    for d, ring, disc in zip(ph.diameters_nm, ph.centres_nm(), ph.centres_nm(True), strict=True):
        image[np.hypot(yy - ring[0], xx - ring[1]) <= d / 2] = 1.0
        image[np.hypot(yy - ring[0], xx - ring[1]) < d / 2 - 50.0] = 0.0
        image[np.hypot(yy - disc[0], xx - disc[1]) <= d / 2] = 1.0
    res = evaluate_rings(image, 25.0, ph, psf_fwhm_nm=318.0)
    assert [r.control_counts for r in res] == [False, True, True]
    assert smallest_ring_nm(res) == 150.0
    # a hole punched in the 300 nm disc (narrower than the FWHM) voids that ring and all
    # below it; one in the 480 nm disc (wider) is reported but does not count
    y, x = ph.centres_nm(True)[1]
    image[np.hypot(yy - y, xx - x) < 75.0] = 0.0
    y, x = ph.centres_nm(True)[0]
    image[np.hypot(yy - y, xx - x) < 150.0] = 0.0
    res = evaluate_rings(image, 25.0, ph, psf_fwhm_nm=318.0)
    assert res[0].control_contrast > 0.5 and res[0].control_intact
    assert not res[1].control_intact
    assert smallest_ring_nm(res) == 480.0
