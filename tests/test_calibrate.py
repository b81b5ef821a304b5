import numpy as np
import pytest

from napari_fluogan.core.blinking import REGIMES, simulate_blinking
from napari_fluogan.core.calibrate import estimate_camera
from napari_fluogan.core.errors import FluoGANError
from napari_fluogan.core.phantoms import FilamentPhantom
from napari_fluogan.core.psf import AiryPSF, GaussianPSF
from napari_fluogan.core.simulate import line_pair_phantom, simulate_stack

from .conftest import BENCH_CAMERA


@pytest.mark.parametrize(
    "alpha,offset,sigma,background",
    [(2.0, 100.0, 3.0, 0.5), (0.8, 400.0, 1.5, 0.3), (5.0, 50.0, 8.0, 1.0)],
)
def test_estimates_within_ten_percent(alpha, offset, sigma, background):
    phantom = line_pair_phantom(separations_nm=(390, 300, 210))
    truth = phantom.render(100.0, 2) * 2.0
    frames = simulate_stack(truth, GaussianPSF(318.0), 100.0, 2, 400, background, alpha,
                            offset, sigma, seed=4)
    est = estimate_camera(frames)
    assert est.alpha == pytest.approx(alpha, rel=0.10)
    assert est.offset == pytest.approx(offset, rel=0.10)
    assert est.sigma == pytest.approx(sigma, rel=0.10)


def test_flat_stack_is_refused():
    frames = np.full((20, 16, 16), 7.0)
    with pytest.raises(FluoGANError, match="by hand"):
        estimate_camera(frames)


@pytest.mark.parametrize("photons", [5.0, 20.0, 200.0])
def test_featureless_stack_is_refused(photons):
    # uniform Poisson light: the pixels' means vary by noise alone, and the slope
    # through them gave gains of 0.6-1.2 for 1 and offsets up to 296 ADU for 100
    rng = np.random.default_rng(0)
    frames = 100.0 + rng.poisson(photons, (200, 32, 32)).astype(np.float64)
    with pytest.raises(FluoGANError, match="varies no more than its noise"):
        estimate_camera(frames)


@pytest.mark.parametrize("seed", [4, 5])
def test_offset_where_even_the_darkest_pixels_blink(seed):
    """20 bright filaments seen with 160 nm pixels: the darkest pixels hold blinking
    dyes, whose third cumulant took the offset to -895 and -339 ADU (true 100)."""
    photophysics, background = REGIMES["bright"]
    filaments = FilamentPhantom(height_nm=3200.0, width_nm=3200.0, n_filaments=20, seed=seed)
    frames = simulate_blinking(
        filaments, AiryPSF.with_fwhm(318.0), 160.0, 4, 200, density_per_nm=1.0,
        photophysics=photophysics, camera=BENCH_CAMERA, background_photons=background, seed=seed,
    ).frames
    est = estimate_camera(frames)
    assert est.alpha == pytest.approx(2.0, rel=0.05)
    assert est.offset == pytest.approx(100.0, abs=50.0)  # measured 56 and 82
