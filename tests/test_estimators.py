import pytest
import torch

from napari_fluogan.core.critic import Critic, critic_loss, gradient_penalty
from napari_fluogan.core.estimators import exact_gradient, pathwise_gradient
from napari_fluogan.core.physics import (
    PsiOperator,
    estimate_fluctuation_gain,
    simulate_photons,
)
from napari_fluogan.core.psf import GaussianPSF


class SmoothCritic(torch.nn.Module):
    """A small smooth random critic on flattened frames (tiny problems only)."""

    def __init__(self, n_pixels: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w1 = torch.randn(n_pixels, 16, generator=g) / n_pixels**0.5
        self.w2 = torch.randn(16, generator=g) / 4

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.tanh(frames.flatten(1) @ self.w1) @ self.w2


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_pathwise_agrees_with_exact_on_tiny_problem():
    psi = PsiOperator(GaussianPSF(318.0), 100.0, 2, (4, 4))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(8, 8, generator=gen) * 3.0 + 0.5
    b = torch.full((4, 4), 5.0)
    critic = SmoothCritic(16)
    level = (psi(x) + b).detach()
    scale = level.mean().sqrt()

    def score(frames):
        return critic((frames - level) / scale)

    ex_x, ex_b = exact_gradient(psi, score, x, b, 0.5, 6000, gen)
    pw_x = torch.zeros_like(x)
    pw_b = torch.zeros_like(b)
    for _ in range(6):
        gx, gb = pathwise_gradient(psi, score, x, b, 0.5, 4000, gen)
        pw_x += gx / 6
        pw_b += gb / 6
    assert _cosine(ex_x, pw_x) > 0.9
    assert _cosine(ex_b, pw_b) > 0.9
    assert 0.7 < float(pw_x.norm() / ex_x.norm()) < 1.4


def test_exact_gradient_matches_finite_difference_of_expectation():
    # The Stein identity gives d/db_j E[D]; check it against a crude finite difference.
    psi = PsiOperator(GaussianPSF(318.0), 100.0, 1, (3, 3))
    gen = torch.Generator().manual_seed(1)
    x = torch.full((3, 3), 2.0)
    b = torch.full((3, 3), 4.0)
    critic = SmoothCritic(9, seed=2)
    score = lambda f: critic(f / 3.0)  # noqa: E731
    _, ex_b = exact_gradient(psi, score, x, b, 0.0, 40000, gen)
    # d/d(scalar shift of all b) = sum of the per-pixel derivatives
    h = 1.0
    plus = score(simulate_photons(psi, x, b + h, 0.0, 200000, gen)).mean()
    minus = score(simulate_photons(psi, x, b - h, 0.0, 200000, gen)).mean()
    fd = float((plus - minus) / (2 * h))
    assert abs(float(ex_b.sum()) - fd) < 0.25 * abs(fd) + 2e-3


def test_critic_shapes_and_gradient_penalty():
    critic = Critic(8)
    frames = torch.randn(5, 23, 17)
    scores = critic(frames)
    assert scores.shape == (5,)
    gp = gradient_penalty(critic, frames, torch.randn(5, 23, 17))
    assert gp.ndim == 0 and gp.item() >= 0
    loss, w = critic_loss(critic, frames, frames + 1, 10.0)
    loss.backward()
    assert all(p.grad is not None for p in critic.parameters())


def test_critic_learns_to_separate_distributions():
    torch.manual_seed(0)
    critic = Critic(8)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    for _ in range(60):
        real = torch.randn(16, 12, 12) * 2.0
        fake = torch.randn(16, 12, 12)
        loss, w = critic_loss(critic, real, fake, 10.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert w.item() > 0.2  # a positive Wasserstein estimate: it tells them apart


def _neighbour_covariance_setup(gain: float, seed: int):
    """A statistic quadratic in the centred fluctuations and its exact gradient.

    ``D(Y) = sum_(j,k neighbours) (Y_j - mu_j)(Y_k - mu_k)`` with ``mu = Psi x + b`` held
    fixed: ``E[D] = k sum_i x_i sum_(j,k) Psi_ji Psi_ki``, so ``d/dx_i E[D]`` is
    ``k sum_(j,k) Psi_ji Psi_ki`` (k the fluctuation gain).
    """
    psi = PsiOperator(GaussianPSF(318.0), 100.0, 2, (4, 4))
    gen = torch.Generator().manual_seed(seed)
    x = gain * (0.2 * torch.rand(8, 8, generator=gen) + 0.1)  # dim: low Monte Carlo variance
    b = torch.full((4, 4), 0.1)
    mu = (psi(x) + b).detach()

    def score(frames):
        c = frames - mu
        return (c[:, :, 1:] * c[:, :, :-1]).sum(dim=(1, 2)) + (c[:, 1:] * c[:, :-1]).sum(
            dim=(1, 2)
        )

    cols = psi(torch.eye(64).reshape(64, 8, 8))  # (fine pixel i, m1, m2): Psi_ji
    analytic = gain * ((cols[:, :, 1:] * cols[:, :, :-1]).sum(dim=(1, 2))
                       + (cols[:, 1:] * cols[:, :-1]).sum(dim=(1, 2))).reshape(8, 8)
    return psi, gen, x, b, score, analytic


def _mean_pathwise(psi, score, x, b, gen, gain, scaled, repeats=5, samples=8000):
    total = torch.zeros_like(x)
    for _ in range(repeats):
        total += pathwise_gradient(psi, score, x, b, 0.0, samples, gen, gain, scaled)[0]
    return total / repeats


def test_straight_through_is_blind_to_a_quadratic_fluctuation_statistic():
    """The plain straight-through gradient is linear in the centred frames: its mean is
    0 for a covariance statistic, whatever the exact (Stein) gradient says."""
    psi, gen, x, b, score, analytic = _neighbour_covariance_setup(1.0, 3)
    ex_x, _ = exact_gradient(psi, score, x, b, 0.0, 12000, gen)
    assert _cosine(ex_x, analytic) > 0.9
    assert 0.7 < float(ex_x.norm() / analytic.norm()) < 1.3
    plain = _mean_pathwise(psi, score, x, b, gen, 1.0, scaled=False)
    assert float(plain.norm()) < 0.15 * float(analytic.norm())


@pytest.mark.parametrize("gain", [1.0, 5.0])
def test_scaled_pathwise_sees_the_covariance_gradient(gain):
    """The variance-scaled draws (the default estimator) recover the second-order
    gradient at the cost of one backward pass, with and without a fluctuation gain."""
    psi, gen, x, b, score, analytic = _neighbour_covariance_setup(gain, 4)
    ex_x, _ = exact_gradient(psi, score, x, b, 0.0, 12000, gen, fluctuation_gain=gain)
    assert _cosine(ex_x, analytic) > 0.9  # the exact estimator knows the gain
    scaled = _mean_pathwise(psi, score, x, b, gen, gain, scaled=True)
    assert _cosine(scaled, analytic) > 0.95
    assert 0.8 < float(scaled.norm() / analytic.norm()) < 1.2


def test_fluctuation_gain_is_recovered_from_model_frames():
    psi = PsiOperator(GaussianPSF(318.0), 100.0, 2, (12, 12))
    gen = torch.Generator().manual_seed(5)
    x = torch.zeros(24, 24)
    x[6:18:3, 4:20] = 30.0  # bright lines: the covariance term is well above shot noise
    b = torch.full((12, 12), 2.0)
    for gain in (1.0, 8.0):
        frames = simulate_photons(psi, x, b, 0.5, 3000, gen, fluctuation_gain=gain)
        estimate = estimate_fluctuation_gain(frames.mean(0), frames.var(0), psi, x, 0.5)
        assert abs(estimate - gain) < 0.15 * gain
