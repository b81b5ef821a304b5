"""Smooth priors on the super-resolved image ``x`` (DESIGN 3: keep solid structure solid).

The l1 prior alone favours isolated bright pixels: on noisy data it turns a
continuous filament into a chain of beads. A total-variation term penalises exactly
that (every bead costs its rise and its fall along the line) while letting a sharp
edge cost no more than a smooth one of the same height.

We use the *hyperbolic* (smoothed) isotropic total variation

    TV_eps(x) = sum_p  sqrt(|grad x|_p^2 + eps^2) - eps

with forward differences and a Neumann border (no difference across the edge of the
field). It is differentiable, its gradient is ``D^T (D x / sqrt(|D x|^2 + eps^2))``
and that gradient is Lipschitz with constant ``||D||^2 / eps <= 8 / eps``, which the
solver adds to the Lipschitz constant of the data term to choose the x step.

Units: ``x`` is in the solver's *normalised* units (photons divided by the data's
mean photon level per camera pixel and frame), so ``TV_eps`` and its weight do not
depend on the brightness of the data. ``eps`` is given per fine pixel in the same
units: the solver uses ``eps = tv_smoothing / L^2`` (``1 / L^2`` is the mean
fine-pixel level of ``x`` in normalised units), so it is also independent of L's
effect on the per-pixel level.
"""

from __future__ import annotations

import torch

#: ||D||^2 for 2-D forward differences (4 from each axis), the bound used for steps.
DIFF_NORM_SQ = 8.0


def forward_differences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along rows (dy) and columns (dx), zero on the last row/column."""
    dy = torch.zeros_like(x)
    dx = torch.zeros_like(x)
    dy[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    dx[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return dy, dx


def divergence_adjoint(py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """``D^T (py, px)``: the adjoint of :func:`forward_differences` (minus the divergence)."""
    out = torch.zeros_like(py)
    out[..., :-1, :] -= py[..., :-1, :]
    out[..., 1:, :] += py[..., :-1, :]
    out[..., :, :-1] -= px[..., :, :-1]
    out[..., :, 1:] += px[..., :, :-1]
    return out


def hyperbolic_tv(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``TV_eps(x) = sum sqrt(|grad x|^2 + eps^2) - eps`` (a 0-d tensor, no sync)."""
    dy, dx = forward_differences(x)
    return (torch.sqrt(dy * dy + dx * dx + eps * eps) - eps).sum()


def hyperbolic_tv_gradient(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of :func:`hyperbolic_tv` with respect to ``x``, and the value itself.

    Both are tensors on ``x``'s device; nothing is copied to the host.
    """
    if eps <= 0:
        raise ValueError(f"the TV smoothing eps must be > 0, got {eps}")
    dy, dx = forward_differences(x)
    norm = torch.sqrt(dy * dy + dx * dx + eps * eps)
    grad = divergence_adjoint(dy / norm, dx / norm)
    return grad, (norm - eps).sum()


def hyperbolic_tv_lipschitz(eps: float) -> float:
    """An upper bound of the Lipschitz constant of the TV gradient: ``8 / eps``."""
    return DIFF_NORM_SQ / eps

