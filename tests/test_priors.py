"""The hyperbolic total-variation prior on x (core/priors.py) and its use in the solver."""

import numpy as np
import pytest
import torch

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.core.priors import (
    divergence_adjoint,
    forward_differences,
    hyperbolic_tv,
    hyperbolic_tv_gradient,
    hyperbolic_tv_lipschitz,
)


def test_gradient_matches_autograd():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((9, 11), generator=gen, dtype=torch.float64, requires_grad=True)
    eps = 0.05
    hyperbolic_tv(x, eps).backward()
    grad, value = hyperbolic_tv_gradient(x.detach(), eps)
    torch.testing.assert_close(grad, x.grad)
    assert float(value) == pytest.approx(float(hyperbolic_tv(x.detach(), eps)))


def test_differences_and_adjoint_are_adjoint():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn((7, 8), generator=gen, dtype=torch.float64)
    py, px = torch.randn((2, 7, 8), generator=gen, dtype=torch.float64)
    dy, dx = forward_differences(x)
    lhs = (dy * py).sum() + (dx * px).sum()
    rhs = (x * divergence_adjoint(py, px)).sum()
    assert float(lhs) == pytest.approx(float(rhs))


def test_lipschitz_bound_holds():
    eps = 0.02
    gen = torch.Generator().manual_seed(2)
    bound = hyperbolic_tv_lipschitz(eps)
    worst = 0.0
    for _ in range(20):
        a = torch.rand((10, 10), generator=gen, dtype=torch.float64)
        b = a + 0.01 * torch.randn((10, 10), generator=gen, dtype=torch.float64)
        ga, _ = hyperbolic_tv_gradient(a, eps)
        gb, _ = hyperbolic_tv_gradient(b, eps)
        worst = max(worst, float((ga - gb).norm() / (a - b).norm()))
    assert 0 < worst <= bound


def test_flat_region_stays_flat():
    x = torch.full((12, 12), 0.3, dtype=torch.float64)
    grad, value = hyperbolic_tv_gradient(x, 0.01)
    assert float(value) == 0.0 and float(grad.abs().max()) == 0.0
    # a flat plateau inside a step edge: no force in its interior
    x[:, 6:] = 1.0
    grad, _ = hyperbolic_tv_gradient(x, 0.01)
    assert float(grad[:, 8:11].abs().max()) == 0.0 and float(grad[:, :4].abs().max()) == 0.0


def test_tv_denoising_evens_a_bead_chain_but_keeps_the_line():
    # min 1/2 ||x - x0||^2 + mu TV(x), x >= 0, on a 3-pixel-wide line of 3-row beads
    x0 = torch.zeros((24, 13), dtype=torch.float64)
    x0[:, 5:8] = torch.tensor(([1.0] * 3 + [0.3] * 3) * 4, dtype=torch.float64)[:, None]
    eps, mu = 0.01, 0.5
    tau = 1.0 / (1.0 + mu * hyperbolic_tv_lipschitz(eps))
    x = x0.clone()
    for _ in range(2000):
        x = torch.relu(x - tau * ((x - x0) + mu * hyperbolic_tv_gradient(x, eps)[0]))

    def modulation(t: torch.Tensor) -> float:
        line = t[3:-3, 6]
        return float(line.std() / line.mean())

    assert modulation(x) < 0.5 * modulation(x0)  # the beads are evened out
    assert float(x[3:-3, 6].min()) > 2 * float(x[:, [0, 1, 11, 12]].max())  # still a line


@pytest.mark.parametrize("lambda_tv", [0.0, 2.0])
def test_result_scales_with_the_camera_gain(small_stack, lambda_tv):
    """Photons times 7 give x times 7: the prior (normalised units) does not see the scale.

    The background cap is off here: it subtracts shot noise from the variance, so it
    reads the photon calibration itself (times 7 at gain 1 is not a Poisson stack)."""
    frames = small_stack["frames"].astype(np.float64)
    photons = (frames - 100.0) / 2.0
    cfg = FluoGANConfig(psf_model="gaussian", alpha=2.0, offset=100.0, sigma=0.0, use_critic=False,
                        iterations=40, snapshot_every=40, lambda_tv=lambda_tv, device="cpu",
                        background_bound=False)
    a = reconstruct(frames, cfg).x
    b = reconstruct(photons * 7.0 + 10.0, cfg.replace(alpha=1.0, offset=10.0)).x
    np.testing.assert_allclose(b / 7.0, a, rtol=2e-3, atol=1e-3 * a.max())
