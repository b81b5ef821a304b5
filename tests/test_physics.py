import numpy as np
import pytest
import torch

from napari_fluogan.core.physics import (
    PsiOperator,
    expected_mean,
    expected_variance,
    fft_size,
    simulate_photons,
)
from napari_fluogan.core.psf import AiryPSF, GaussianPSF, measure_fwhm_px


class ExplicitKernel:
    """A non-separable PSF given as an array (takes the FFT path)."""

    def __init__(self, kernel: np.ndarray) -> None:
        self._k = kernel

    def kernel(self, pixel_size_nm: float) -> np.ndarray:
        return self._k


@pytest.mark.parametrize("margin", [0, 2])
@pytest.mark.parametrize("upsample", [1, 2, 4, 8])
@pytest.mark.parametrize("psf", [GaussianPSF(318.0), AiryPSF.with_fwhm(318.0)])
def test_adjointness(psf, upsample, margin):
    psi = PsiOperator(psf, 100.0, upsample, (7, 9), margin=margin)
    assert psi.fine_shape == ((7 + 2 * margin) * upsample, (9 + 2 * margin) * upsample)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, *psi.fine_shape, generator=gen, dtype=torch.float32)
    y = torch.rand(3, 7, 9, generator=gen)
    lhs = (psi(x) * y).sum().item()
    rhs = (x * psi.adjoint(y)).sum().item()
    assert lhs == pytest.approx(rhs, rel=1e-5)


@pytest.mark.parametrize("margin", [0, 3])
def test_separable_and_fft_paths_agree(margin):
    gaussian = GaussianPSF(318.0)
    sep = PsiOperator(gaussian, 100.0, 4, (10, 8), margin=margin)
    fft = PsiOperator(ExplicitKernel(gaussian.kernel(25.0)), 100.0, 4, (10, 8), margin=margin)
    assert sep.separable and not fft.separable
    x = torch.rand(2, *sep.fine_shape)
    y = torch.rand(2, 10, 8)
    assert torch.allclose(sep(x), fft(x), atol=1e-5)
    assert torch.allclose(sep.adjoint(y), fft.adjoint(y), atol=1e-5)
    assert torch.allclose(sep.forward_squared(x), fft.forward_squared(x), atol=1e-5)


@pytest.mark.parametrize("margin", [0, 3])
def test_separable_path_under_drift_agrees_with_the_fft_path(margin):
    """Under drift a Gaussian keeps its matrix-product path: one per row of the drift
    kernel, the same operator as the FFT convolution with the path-blurred PSF."""
    gaussian = GaussianPSF(318.0)
    drift = np.zeros((7, 7))
    drift[3, 3], drift[1, 4], drift[5, 0], drift[6, 6] = 0.4, 0.3, 0.2, 0.1
    sep = PsiOperator(gaussian, 100.0, 4, (10, 8), margin=margin, drift_kernel=drift)
    fft = PsiOperator(ExplicitKernel(gaussian.kernel(25.0)), 100.0, 4, (10, 8), margin=margin,
                      drift_kernel=drift)
    assert sep.separable and not fft.separable
    assert sep.separable_factors is None  # a sum of products, not one
    x = torch.rand(2, *sep.fine_shape)
    y = torch.rand(2, 10, 8)
    assert torch.allclose(sep(x), fft(x), atol=1e-5)
    assert torch.allclose(sep.adjoint(y), fft.adjoint(y), atol=1e-5)
    assert torch.allclose(sep.forward_squared(x), fft.forward_squared(x), atol=1e-5)
    # the drift moves a point's image: not the still operator's
    point = torch.zeros(sep.fine_shape)
    point[sep.fine_shape[0] // 2, sep.fine_shape[1] // 2] = 1.0
    still = PsiOperator(gaussian, 100.0, 4, (10, 8), margin=margin)
    assert (sep(point) - still(point)).abs().max() > 0.05 * still(point).max()
    # where one product per row would cost more than the FFT (a wide field, a long
    # path), the FFT path takes it
    rows = np.zeros((13, 13))
    rows[::2, 6] = 1.0 / 7
    assert not PsiOperator(gaussian, 100.0, 4, (200, 200), drift_kernel=rows).separable
    assert PsiOperator(gaussian, 100.0, 4, (200, 200)).separable  # still: always products


def test_fft_size_is_the_smallest_even_5_smooth_size():
    def fast(m: int) -> bool:
        if m % 2:
            return False
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        return m == 1

    for n in range(1, 2000):
        size = fft_size(n)
        assert size >= n and fast(size)
        assert not any(fast(m) for m in range(n, size))
    assert fft_size(658) == 720  # the 128 x 128 px ROI's Airy convolution (was 658)


@pytest.mark.parametrize("upsample,margin", [(4, 2), (3, 0), (1, 1)])
def test_squared_operator_of_a_non_separable_psf_matches_its_columns(upsample, margin):
    """``sum_i Psi_ji^2 x_i`` on the FFT path (one camera-grid convolution per sub-pixel
    phase) equals the sum over Psi's explicit columns, for an asymmetric kernel."""
    fine_nm = 100.0 / upsample
    base = AiryPSF.with_fwhm(318.0).kernel(fine_nm).astype(np.float64)
    tilt = 1.0 + 0.5 * np.linspace(-1.0, 1.0, base.shape[0])[:, None]
    psi = PsiOperator(ExplicitKernel(base * tilt / (base * tilt).sum()), 100.0, upsample,
                      (5, 6), dtype=torch.float64, margin=margin)
    n = psi.fine_shape[0] * psi.fine_shape[1]
    columns = psi(torch.eye(n, dtype=torch.float64).reshape(n, *psi.fine_shape)).reshape(n, -1)
    x = torch.rand(2, *psi.fine_shape, dtype=torch.float64,
                   generator=torch.Generator().manual_seed(0))
    expected = (x.reshape(2, n) @ columns**2).reshape(2, 5, 6)
    torch.testing.assert_close(psi.forward_squared(x), expected, rtol=1e-10, atol=1e-12)


def test_photon_conservation_and_column_sums():
    psi = PsiOperator(GaussianPSF(318.0), 100.0, 4, (16, 16))
    x = torch.zeros(64, 64)
    x[24:40, 24:40] = torch.rand(16, 16)  # farther than the PSF radius from the border
    assert psi(x).sum().item() == pytest.approx(x.sum().item(), rel=1e-5)
    col_sums = psi.adjoint(torch.ones(16, 16))
    assert col_sums[32, 32].item() == pytest.approx(1.0, abs=1e-5)  # interior
    assert col_sums[0, 0].item() < 0.5  # photons near the border leave the field
    assert col_sums.max().item() <= 1.0 + 1e-5


def test_norm_bound_holds():
    psi = PsiOperator(GaussianPSF(250.0), 100.0, 4, (12, 12))
    x = torch.randn(48, 48)
    for _ in range(50):  # power iteration on Psi^T Psi
        x = psi.adjoint(psi(x))
        x = x / x.norm()
    largest = (psi(x).norm() ** 2).item()
    assert largest <= psi.norm_sq * (1 + 1e-4)
    assert largest > 0.8 * psi.norm_sq  # nearly tight (DC passes; borders lose a little)


@pytest.mark.parametrize("fwhm_nm,pixel_nm", [(318.0, 25.0), (250.0, 10.0), (300.0, 50.0)])
def test_sampled_gaussian_fwhm(fwhm_nm, pixel_nm):
    k = GaussianPSF(fwhm_nm).kernel(pixel_nm)
    assert k.sum() == pytest.approx(1.0, abs=1e-5)
    assert measure_fwhm_px(k) * pixel_nm == pytest.approx(fwhm_nm, rel=0.03)


def test_airy_fwhm_matches_request():
    psf = AiryPSF.with_fwhm(318.0)
    k = psf.kernel(10.0)
    assert measure_fwhm_px(k) * 10.0 == pytest.approx(318.0, rel=0.05)
    assert k.sum() == pytest.approx(1.0, abs=1e-5)


def test_double_poisson_moments_match_closed_form():
    # A narrow PSF makes the fluctuation term large enough to see clearly.
    psi = PsiOperator(GaussianPSF(120.0), 100.0, 2, (6, 6))
    gen = torch.Generator().manual_seed(3)
    x = torch.zeros(12, 12)
    x[3:9, 5:7] = 3.0
    b = torch.full((6, 6), 0.5)
    s = 0.7
    frames = simulate_photons(psi, x, b, s, 40000, gen)
    mean = frames.mean(0)
    var = frames.var(0)
    assert torch.allclose(mean, expected_mean(psi, x, b), rtol=0.03, atol=0.02)
    expected = expected_variance(psi, x, b, s)
    assert torch.allclose(var, expected, rtol=0.05, atol=0.03)
    # the fluctuation term is really there: plain Poisson variance is clearly lower
    plain = psi(x) + b + s**2
    excess = psi.forward_squared(x)
    assert excess.max() > 0.1 * plain.max()
    assert (var - expected).abs().mean() < 0.3 * (var - plain).abs().mean()


def test_margin_sees_light_from_outside_the_region():
    psi = PsiOperator(GaussianPSF(318.0), 100.0, 4, (10, 10), margin=2)
    x = torch.zeros(psi.fine_shape)
    x[20, 2] = 1.0  # an emitter 1.5 camera pixels left of the region
    image = psi(x)
    assert image.shape == (10, 10)
    assert 0.05 < image.sum().item() < 0.5  # part of its light falls inside
    assert image[:, 0].sum() > image[:, 3].sum()  # on the near border
    inside = torch.zeros(psi.fine_shape)
    inside[40, 40] = 1.0
    assert psi.crop_region(inside).shape == (40, 40)
    assert psi.crop_region(inside)[32, 32] == 1.0
    same = PsiOperator(GaussianPSF(318.0), 100.0, 4, (10, 10))
    assert torch.allclose(psi(inside), same(psi.crop_region(inside)), atol=1e-6)


@pytest.mark.parametrize("sparse", [True, False])
def test_frame_brightness_scales_each_draw(sparse):
    """A bleaching stack is simulated frame by frame from x times the dyes' remaining
    brightness: frames at brightness 0 hold only background, at 2 twice the signal.
    ``sparse`` covers both draw paths (most of x zero, and x dense)."""
    psi = PsiOperator(GaussianPSF(200.0), 100.0, 2, (5, 6), margin=1)
    x = torch.zeros(psi.fine_shape)
    if sparse:
        x[4:8, 5:9] = 6.0
    else:
        x += 3.0
    b = torch.full((5, 6), 0.5)
    n = 20000
    camera = torch.stack([torch.zeros(5, 6), torch.full((5, 6), 2.0)])
    brightness = psi.to_fine_grid(camera).repeat_interleave(n // 2, dim=0)
    assert brightness.shape == (n, *psi.fine_shape)
    gen = torch.Generator().manual_seed(0)
    frames = simulate_photons(psi, x, b, 0.0, n, gen, fluctuation_gain=2.0,
                              frame_brightness=brightness)
    dark, bright = frames[: n // 2].mean(0), frames[n // 2 :].mean(0)
    assert torch.allclose(dark, b, rtol=0.05)
    assert torch.allclose(bright, 2.0 * psi(x) + b, rtol=0.03, atol=0.02)
    # the pathwise gradient sees the scaled rate too
    xl = x.clone().requires_grad_(True)
    sims = simulate_photons(psi, xl, b, 0.0, 400, gen, True, 2.0, True,
                            torch.full((400, *psi.fine_shape), 3.0))
    (grad,) = torch.autograd.grad(sims.sum() / 400, xl)
    expected = 3.0 * psi.adjoint(torch.ones(5, 6))
    assert float(grad.mean()) == pytest.approx(float(expected.mean()), rel=0.05)


def test_to_fine_grid_repeats_camera_pixels_into_the_margin():
    psi = PsiOperator(GaussianPSF(318.0), 100.0, 3, (2, 3), margin=1)
    image = torch.arange(6.0).reshape(2, 3)
    fine = psi.to_fine_grid(image)
    assert fine.shape == psi.fine_shape == (12, 15)
    assert torch.equal(psi.crop_region(fine)[::3, ::3], image)
    assert torch.equal(fine[:3, :3], torch.zeros(3, 3))  # corner margin: nearest pixel
    assert torch.equal(fine[-3:, -3:], torch.full((3, 3), 5.0))
    assert psi.to_fine_grid(image.expand(4, 2, 3)).shape == (4, 12, 15)
