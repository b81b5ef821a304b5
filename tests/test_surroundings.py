"""An ROI inside a region full of dyes: the fluctuation slope from around it
(core/surroundings.py), and a carpet of dyes that comes out as a carpet."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.core.background_bound import describe_background_bound
from napari_fluogan.core.blinking import REGIMES, simulate_blinking
from napari_fluogan.core.phantoms import LinePairEmitters
from napari_fluogan.core.psf import AiryPSF
from napari_fluogan.core.simulate import Bar, Phantom
from napari_fluogan.core.surroundings import MAX_MARGIN_PX, surroundings_window

from .conftest import BENCH_CAMERA

FWHM_NM, PIXEL_NM, L = 318.0, 100.0, 4


def test_window_reaches_past_the_roi_inside_the_frame():
    # grown by the ROI's longer side on each side
    assert surroundings_window((20, 30, 10, 16), (100, 100)) == (4, 14, 42, 48)
    # clipped at the frame's edges
    assert surroundings_window((2, 3, 10, 10), (30, 30)) == (0, 0, 22, 23)
    # at most MAX_MARGIN_PX around a large ROI
    assert surroundings_window((100, 100, 200, 200), (1000, 1000)) == (
        100 - MAX_MARGIN_PX, 100 - MAX_MARGIN_PX, 200 + 2 * MAX_MARGIN_PX, 200 + 2 * MAX_MARGIN_PX
    )
    # nothing around: no ROI, or an ROI that fills the frame
    assert surroundings_window(None, (30, 30)) is None
    assert surroundings_window((0, 0, 30, 30), (30, 30)) is None


def _binned_contrast(image: np.ndarray) -> float:
    h, w = image.shape[0] // L, image.shape[1] // L
    binned = image[: h * L, : w * L].reshape(h, L, w, L).mean(axis=(1, 3))
    return float(binned.std() / binned.mean())


@pytest.fixture(scope="module")
def dye_square():
    """A 2.4 um square full of blinking dyes in a 4.8 um field, Airy PSF, bright."""
    field = Phantom(4800.0, 4800.0, [Bar(2400.0, 2400.0, 1200.0, 3600.0, 0.3)])
    photophysics, background = REGIMES["bright"]
    return simulate_blinking(
        LinePairEmitters(field), AiryPSF.with_fwhm(FWHM_NM), PIXEL_NM, L, 150,
        density_per_nm=1.0, photophysics=photophysics, camera=BENCH_CAMERA,
        background_photons=background, seed=3,
    )


def test_an_roi_inside_dyes_comes_out_as_a_carpet_of_dyes(dye_square):
    """From its own frames a uniform field of dyes looks like a uniform background:
    b takes it and x keeps a few noise peaks as blobs. Drawn on the whole field, the
    engine fits the fluctuation slope where the dyes end, caps b, and x holds the
    carpet, smooth: no blobs, and no lattice rung from the ROI's border."""
    config = FluoGANConfig(
        alpha=BENCH_CAMERA.gain_adu_per_e, offset=BENCH_CAMERA.offset_adu,
        sigma=BENCH_CAMERA.read_noise_adu, use_critic=False, psf_model="airy",
        psf_fwhm_nm=FWHM_NM, pixel_size_nm=PIXEL_NM, iterations=1000, device="cpu",
    )
    roi = (18, 18, 12, 12)  # inside the square (12-36 px)
    truth = dye_square.truth[18 * L : 30 * L, 18 * L : 30 * L]
    alone = reconstruct(dye_square.frames[:, 18:30, 18:30], config)
    in_field = reconstruct(dye_square.frames, config.replace(roi=roi))
    assert describe_background_bound(alone.info) == "b uncapped"
    assert alone.x.sum() < 0.3 * truth.sum()  # measured 0.06: b took the dyes
    assert _binned_contrast(alone.x) > 1.0  # measured 2.3: blobs
    # ... which the user is told, with what to do; and not where the cap held
    (warning,) = alone.warnings()
    assert "fluctuates evenly" in warning and "Draw the ROI larger" in warning
    assert in_field.warnings() == []
    assert in_field.info["background_bound_from_surroundings"] == 1.0
    assert "fitted around the ROI" in describe_background_bound(in_field.info)
    # measured: 0.9 of the light at contrast 0.1 (truth 0.2); l1 charged in full on
    # the margin rang a lattice of dots through x (contrast 0.9)
    assert in_field.x.sum() > 0.7 * truth.sum()
    assert _binned_contrast(in_field.x) < 0.3
