import numpy as np
import pytest
import torch

from napari_fluogan.core.baselines import (
    SquaredPsi,
    mean_image,
    richardson_lucy,
    run_baseline,
    sofi2,
    sofi2_rl,
)
from napari_fluogan.core.errors import FluoGANError
from napari_fluogan.core.physics import PsiOperator
from napari_fluogan.core.psf import GaussianPSF


def _two_points(shape=(64, 64), gap_px=12):
    x = np.zeros(shape)
    c = shape[0] // 2
    x[c, c - gap_px // 2] = x[c, c + gap_px // 2] = 100.0
    return x


def test_sofi2_with_lag_removes_shot_noise():
    rng = np.random.default_rng(0)
    steady = rng.poisson(20.0, size=(400, 8, 8)).astype(np.float32)
    assert sofi2(steady, lag_frames=0).mean() == pytest.approx(20.0, rel=0.1)  # variance
    assert abs(sofi2(steady, lag_frames=1).mean()) < 0.5
    # a blinking pixel (correlated over frames) survives the lag
    blink = np.repeat(rng.random(100) < 0.3, 4)[:, None, None] * 50.0
    frames = steady + blink
    assert sofi2(frames, lag_frames=1)[0, 0] > 100.0


def test_rl_sharpens_and_keeps_photons():
    psi = PsiOperator(GaussianPSF(318.0), 100.0, 4, (16, 16), dtype=torch.float64)
    truth = _two_points()
    image = psi(torch.as_tensor(truth)).numpy() + 5.0
    x = richardson_lucy(image, pixel_size_nm=100.0, upsample=4, iterations=300)
    assert x.shape == (64, 64) and x.min() >= 0
    assert x.sum() == pytest.approx(truth.sum(), rel=0.05)  # background taken apart
    row = x[32]
    assert row[32] < 0.5 * min(row[26], row[38])  # two points 300 nm apart are split
    assert mean_image(np.stack([image, image])).shape == (16, 16)


def test_squared_operator_is_adjoint_and_matches_psi_squared():
    op = SquaredPsi.from_psf(GaussianPSF(318.0), 100.0, 4, (6, 7))
    psi = PsiOperator(GaussianPSF(318.0), 100.0, 4, (6, 7), dtype=torch.float64)
    rng = np.random.default_rng(1)
    x = torch.as_tensor(rng.random((24, 28)))
    y = torch.as_tensor(rng.random((6, 7)))
    assert float((op(x) * y).sum()) == pytest.approx(float((x * op.adjoint(y)).sum()))
    np.testing.assert_allclose(op(x).numpy(), psi.forward_squared(x).numpy(), rtol=1e-6)


def test_sofi2_rl_splits_two_blinking_points():
    rng = np.random.default_rng(2)
    psi = PsiOperator(GaussianPSF(318.0), 100.0, 4, (16, 16), dtype=torch.float64)
    c = 32
    a = np.zeros((64, 64))
    a[c, c - 4] = 1.0
    b = np.zeros((64, 64))
    b[c, c + 4] = 1.0
    pa, pb = psi(torch.as_tensor(a)).numpy(), psi(torch.as_tensor(b)).numpy()
    states = np.repeat(rng.random((150, 2)) < 0.3, 4, axis=0)  # blinks last 4 frames
    frames = 200 * (states[:, 0, None, None] * pa + states[:, 1, None, None] * pb) + 2.0
    frames = rng.poisson(frames).astype(np.float32)
    x = sofi2_rl(frames, 100.0, 4, iterations=200)
    row = x[c]
    assert row[c] < 0.5 * min(row[c - 4], row[c + 4])  # 200 nm apart, FWHM 318 nm


def test_run_baseline_dispatch_and_grids():
    frames = np.random.default_rng(0).poisson(5.0, (20, 8, 8)).astype(np.float32)
    for method, px in (("mean", 100.0), ("sofi2", 100.0), ("rl", 25.0), ("sofi2-rl", 25.0)):
        img, pixel = run_baseline(method, frames, iterations=5)
        assert pixel == px and np.isfinite(img).all()
        assert img.shape == ((8, 8) if px == 100.0 else (32, 32))
    with pytest.raises(FluoGANError, match="Unknown baseline"):
        run_baseline("srrf", frames)


def test_rl_takes_the_psf_model():
    """RL with the Airy model deconvolves with the Airy pattern (another image than with
    the Gaussian); SOFI2 + RL, whose squared PSF must be separable, refuses it."""
    frames = np.random.default_rng(1).poisson(5.0, (20, 8, 8)).astype(np.float32)
    gauss, _ = run_baseline("rl", frames, iterations=5)
    airy, pixel = run_baseline("rl", frames, iterations=5, psf_model="airy")
    assert pixel == 25.0 and airy.shape == gauss.shape and np.isfinite(airy).all()
    assert not np.allclose(airy, gauss, rtol=1e-3)
    with pytest.raises(FluoGANError, match="Gaussian PSF model"):
        run_baseline("sofi2-rl", frames, psf_model="airy")
