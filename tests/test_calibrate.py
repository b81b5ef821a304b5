import numpy as np
import pytest

from napari_fluogan.core.calibrate import estimate_camera
from napari_fluogan.core.errors import FluoGANError
from napari_fluogan.core.psf import GaussianPSF
from napari_fluogan.core.simulate import line_pair_phantom, simulate_stack


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
