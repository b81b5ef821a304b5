"""Gradients of ``E[D(Y_sim(x, b))]`` with respect to x and b (DESIGN 3).

``score_fn`` maps a batch of simulated frames in photons, shape (B, m1, m2), to
critic scores of shape (B,). Both estimators return ``(grad_x, grad_b)`` in photon
units, with the shapes of x and b.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .physics import FramewisePsi, PsiOperator, simulate_photons

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


def sample_differentiable(
    psi: PsiOperator | FramewisePsi,
    x: torch.Tensor,
    b: torch.Tensor,
    read_noise_photons: float,
    n_samples: int,
    generator: torch.Generator | None = None,
    fluctuation_gain: float = 1.0,
    scaled: bool = True,
    frame_brightness: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Straight-through frames and the leaf tensors (x, b) they depend on."""
    x = x.detach().requires_grad_(True)
    b = b.detach().requires_grad_(True)
    frames = simulate_photons(
        psi, x, b, read_noise_photons, n_samples, generator, True, fluctuation_gain, scaled,
        frame_brightness,
    )
    return frames, x, b


def pathwise_from_frames(
    score_fn: ScoreFn, frames: torch.Tensor, x: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pathwise gradient of the mean score over straight-through ``frames``."""
    expectation = score_fn(frames).mean()
    grad_x, grad_b = torch.autograd.grad(expectation, (x, b))
    return grad_x, grad_b


def pathwise_gradient(
    psi: PsiOperator,
    score_fn: ScoreFn,
    x: torch.Tensor,
    b: torch.Tensor,
    read_noise_photons: float,
    n_samples: int,
    generator: torch.Generator | None = None,
    fluctuation_gain: float = 1.0,
    scaled: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pathwise estimator, one backward pass through straight-through Poisson draws.

    ``scaled=False``: each draw ``P(w)`` is ``w + (P(w) - w).detach()``, the
    first-order Taylor expansion of :func:`exact_gradient`, blind to second-order
    statistics. ``scaled=True`` (the default): the centred draw also scales with
    ``sqrt(w)`` (:func:`physics.straight_through`), which in expectation is the
    trapezoid rule of the exact difference: second-order accurate at the same cost.
    """
    frames, x_leaf, b_leaf = sample_differentiable(
        psi, x, b, read_noise_photons, n_samples, generator, fluctuation_gain, scaled
    )
    return pathwise_from_frames(score_fn, frames, x_leaf, b_leaf)


@torch.no_grad()
def exact_gradient(
    psi: PsiOperator,
    score_fn: ScoreFn,
    x: torch.Tensor,
    b: torch.Tensor,
    read_noise_photons: float,
    n_samples: int,
    generator: torch.Generator | None = None,
    chunk: int = 64,
    fluctuation_gain: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Poisson (Stein) identity, unbiased: one critic evaluation per pixel and sample.

    ``d/dx_i E[D] = (E[D(Y(x, b + k C_i))] - E[D(Y(x, b))]) / k`` (k the fluctuation
    gain: one more fluctuation event at pixel i adds k photons) and
    ``d/db_j E[D] = E[D(Y + e_j)] - E[D(Y)]``. Uses the coupling
    ``Poisson(mu + C_i) = Poisson(mu) + Poisson(C_i)`` (common random numbers), so the
    differences have low variance. Only for tiny problems.
    """
    gain = float(fluctuation_gain)
    base_frames = simulate_photons(
        psi, x, b, read_noise_photons, n_samples, generator, fluctuation_gain=gain
    )
    base = score_fn(base_frames)  # (N,)

    n_fine = x.numel()
    grad_x = torch.empty(n_fine, device=x.device, dtype=x.dtype)
    columns = psi.forward(
        torch.eye(n_fine, device=x.device, dtype=x.dtype).reshape(n_fine, *x.shape[-2:])
    )  # (n_fine, m1, m2)
    for start in range(0, n_fine, chunk):
        cols = columns[start : start + chunk]  # (c, m1, m2)
        extra = torch.poisson(
            gain * cols[:, None].expand(-1, n_samples, -1, -1).contiguous(), generator=generator
        )
        shifted = base_frames[None] + extra  # (c, N, m1, m2)
        scores = score_fn(shifted.reshape(-1, *b.shape)).reshape(cols.shape[0], n_samples)
        grad_x[start : start + chunk] = (scores - base[None]).mean(dim=1) / gain

    n_coarse = b.numel()
    grad_b = torch.empty(n_coarse, device=b.device, dtype=b.dtype)
    eye = torch.eye(n_coarse, device=b.device, dtype=b.dtype).reshape(n_coarse, *b.shape)
    for start in range(0, n_coarse, chunk):
        units = eye[start : start + chunk]
        shifted = base_frames[None] + units[:, None]
        scores = score_fn(shifted.reshape(-1, *b.shape)).reshape(units.shape[0], n_samples)
        grad_b[start : start + chunk] = (scores - base[None]).mean(dim=1)
    return grad_x.reshape(x.shape), grad_b.reshape(b.shape)
