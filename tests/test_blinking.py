import numpy as np
import pytest

from napari_fluogan.core.blinking import (
    REGIMES,
    Camera,
    Photophysics,
    on_time_fractions,
    simulate_blinking,
)
from napari_fluogan.core.phantoms import (
    BeadPhantom,
    FilamentPhantom,
    LinePairEmitters,
    RingPhantom,
)
from napari_fluogan.core.psf import AiryPSF, GaussianPSF
from napari_fluogan.core.simulate import line_pair_phantom

from .conftest import BENCH_CAMERA


def test_on_times_follow_the_telegraph_process():
    rng = np.random.default_rng(0)
    on = on_time_fractions(2000, 400, on_frames=2.0, off_frames=6.0, bleach_on_frames=None,
                           rng=rng)
    assert on.shape == (2000, 400)
    assert on.min() >= 0 and on.max() <= 1 + 1e-6
    assert on.mean() == pytest.approx(0.25, abs=0.01)  # duty cycle Ton / (Ton + Toff)
    # partial frames exist (continuous time), and neighbouring frames are correlated
    assert ((on > 0.05) & (on < 0.95)).mean() > 0.1
    d = on - on.mean(axis=1, keepdims=True)
    lag1 = (d[:, 1:] * d[:, :-1]).mean() / (d * d).mean()
    lag20 = (d[:, 20:] * d[:, :-20]).mean() / (d * d).mean()
    assert lag1 > 0.4 and abs(lag20) < 0.05


def test_bleaching_makes_the_signal_decay():
    rng = np.random.default_rng(1)
    on = on_time_fractions(1000, 400, 2.0, 6.0, bleach_on_frames=30.0, rng=rng)
    first, last = on[:, :50].mean(), on[:, -50:].mean()
    assert last < 0.3 * first
    # bleached emitters stay off
    budget_hit = on.sum(axis=1)
    assert budget_hit.mean() == pytest.approx(30.0, rel=0.15)


def _small_pairs():
    return LinePairEmitters(line_pair_phantom((300.0, 150.0), line_length_nm=800.0,
                                              gap_nm=500.0, margin_nm=500.0))


def test_simulated_stack_matches_its_truth_and_camera():
    pp, bg = REGIMES["bright"]
    sim = simulate_blinking(_small_pairs(), GaussianPSF(318.0), 100.0, 4, 200,
                            density_per_nm=0.05, photophysics=pp, camera=BENCH_CAMERA,
                            background_photons=bg, seed=3)
    t, m1, m2 = sim.frames.shape
    assert t == 200 and sim.frames.dtype == np.uint16
    assert sim.truth.shape == (4 * m1, 4 * m2) and sim.emitter_map.shape == sim.truth.shape
    assert sim.emitter_map.sum() == sim.emitters.shape[0] > 100
    # photons are conserved: camera signal = truth + QE * background
    electrons = (sim.frames.astype(np.float64) - 100.0) / 2.0
    expected = sim.truth.sum() + 0.8 * bg * m1 * m2
    assert electrons.mean(axis=0).sum() == pytest.approx(expected, rel=0.03)
    # truth sits on the lines: more photons in line pixels than in the gaps
    assert sim.truth.max() > 0 and (sim.truth > 0).mean() < 0.2


def test_airy_and_gaussian_differ_and_seed_is_reproducible():
    kw = dict(pixel_size_nm=100.0, upsample=4, n_frames=30, seed=5)
    a = simulate_blinking(_small_pairs(), GaussianPSF(318.0), **kw)
    b = simulate_blinking(_small_pairs(), GaussianPSF(318.0), **kw)
    c = simulate_blinking(_small_pairs(), AiryPSF.with_fwhm(318.0), **kw)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.truth, c.truth)  # same emitters and blinking
    assert not np.array_equal(a.frames, c.frames)


def test_camera_clips_to_16_bits():
    pp = Photophysics(photons_per_frame_on=1e5, bleach_on_frames=None)
    sim = simulate_blinking(_small_pairs(), GaussianPSF(318.0), n_frames=5, photophysics=pp,
                            camera=Camera(gain_adu_per_e=50.0), seed=0)
    assert sim.frames.max() == 65535


def test_dim_regime_has_a_few_photons_per_emitter():
    pp_dim, _ = REGIMES["dim"]
    pp_bright, _ = REGIMES["bright"]
    qe = Camera().quantum_efficiency
    assert 1 <= qe * pp_dim.photons_per_frame_on <= 9
    assert 10 <= qe * pp_bright.photons_per_frame_on <= 99


def test_filament_and_bead_phantoms_place_emitters():
    rng = np.random.default_rng(0)
    fil = FilamentPhantom(n_filaments=3, seed=1)
    length = sum(np.hypot(*np.diff(p, axis=0).T).sum() for p in fil.paths())
    pts = fil.sample_emitters(rng, 0.1)
    assert pts.shape[0] == pytest.approx(0.1 * length, rel=0.15)
    assert (pts >= 0).all() and (pts[:, 0] < fil.height_nm).all()
    beads = BeadPhantom(n_beads=5, seed=2)
    centres = beads.centres()
    assert centres.shape == (5, 2)
    d = np.hypot(*(centres[:, None] - centres[None]).transpose(2, 0, 1))
    assert d[np.triu_indices(5, 1)].min() >= beads.min_distance_nm
    pts = beads.sample_emitters(rng, 0.5)
    nearest = np.hypot(*(pts[:, None] - centres[None]).transpose(2, 0, 1)).min(axis=1)
    assert nearest.max() <= beads.diameter_nm / 2 + 1e-9
    sim = simulate_blinking(beads, GaussianPSF(318.0), n_frames=10, density_per_nm=0.5)
    assert sim.frames.shape[1:] == (32, 32)


def test_stratified_bars_are_solid_across_their_width():
    """Control bars must be solid: stratified emitters fill each 25 nm column of a bar
    evenly, while independent uniform positions leave random lanes (and count noise)."""
    from napari_fluogan.core.phantoms import bar_emitters

    phantom = line_pair_phantom(separations_nm=(300.0,), line_length_nm=1000.0)
    bar = max(phantom.bars, key=lambda b: b.width_nm)  # the control bar
    spreads = {}
    for stratified in (True, False):
        pts = bar_emitters(phantom, np.random.default_rng(0), 0.2, stratified=stratified)
        in_x = np.abs(pts[:, 1] - bar.x_nm) < bar.width_nm / 2
        inside = pts[in_x & (pts[:, 0] >= bar.y0_nm) & (pts[:, 0] <= bar.y1_nm)]
        edges = bar.x_nm - bar.width_nm / 2 + 25.0 * np.arange(int(bar.width_nm // 25) + 1)
        counts, _ = np.histogram(inside[:, 1], edges)
        spreads[stratified] = counts.std() / counts.mean()
        expected = 0.2 * 1000.0 * bar.intensity * bar.width_nm / 100.0
        if stratified:  # the bar carries exactly its share of emitters
            assert len(inside) == round(expected)
    assert spreads[True] < 0.1
    assert spreads[False] > 2 * spreads[True]


def test_ring_phantom_pairs_each_ring_with_a_solid_disc_of_equal_light():
    """Rings show their hole in the ground truth and their control discs none, and each
    disc carries as many emitters as its ring (the same total brightness)."""
    from napari_fluogan.core.metrics import evaluate_rings

    ph = RingPhantom(diameters_nm=(420.0, 240.0, 150.0))
    pts = ph.sample_emitters(np.random.default_rng(4), 1.0)
    for d, ring, disc in zip(ph.diameters_nm, ph.centres_nm(), ph.centres_nm(True), strict=True):
        r_ring = np.hypot(*(pts - ring).T)
        r_disc = np.hypot(*(pts - disc).T)
        n = ph.emitters_per_ring(d, 1.0)
        assert (r_ring <= d / 2).sum() == n == (r_disc <= d / 2).sum()
        assert r_ring[r_ring <= d / 2].min() >= d / 2 - ph.wall_nm - 1e-9  # hollow
        assert r_disc[r_disc <= d / 2].min() < 0.1 * d  # filled to the middle
    sim = simulate_blinking(ph, GaussianPSF(318.0), n_frames=40, density_per_nm=1.0)
    assert sim.frames.shape[1:] == (20, 30)
    for r in evaluate_rings(sim.truth, 25.0, ph):
        assert r.contrast >= 0.4 and r.control_contrast < 0.2
