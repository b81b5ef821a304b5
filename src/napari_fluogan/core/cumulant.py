"""A second-order (SOFI cross-cumulant) data term for the generator step.

Why (historical): the plain straight-through gradient of ``E[D(Y_sim)]`` is first order: for
a critic statistic that is a sum of products of centred neighbouring pixels
(the centring ``Psi x + b`` held fixed) its expectation is exactly zero, while the true
derivative of ``Cov(Y_j, Y_k) = sum_i Psi_ji Psi_ki x_i`` is ``Psi_ji Psi_ki``
(``tests/test_estimators.py::test_straight_through_is_blind_to_a_quadratic_fluctuation_statistic``).
The default ``pathwise`` estimator now scales its draws and sees those covariances
through the critic; this term, which feeds them to x directly, stays experimental.

The data side is the lag-``tau`` cross-cumulant of neighbouring pixels,
``G_d(j) = <dY_j(t) dY_{j+d}(t + tau)>`` for offsets d in {(0,0), (0,1), (1,0),
(1,1), (1,-1)} (a time lag removes shot and read noise, which are white in time;
``dY`` is the deviation from the mean of blocks of 100 frames, so that bleaching does
not leak in). For emitters that share their photophysics, ``G_d(j) = kappa * sum_i
Psi_ji Psi_{j+d,i} x_i`` with one unknown factor kappa (brightness times blinking
correlation), which is fitted in closed form at every step. The double-Poisson model
has no temporal correlation, so the term is a data term, not part of the simulator.

With a separable PSF every ``Psi_ji Psi_{j+d,i}`` operator is separable too: two
small matrix products per offset. The residual is normalised by the mean of
``G_(0,0)``, so the weight is free of the photon scale. When the data show no
significant lagged correlation (e.g. the engine's own i.i.d. simulator) the term
switches itself off.
"""

from __future__ import annotations

import numpy as np
import torch

from .physics import conv_matrix
from .psf import GaussianPSF

OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1), (1, -1))
MIN_Z_SCORE = 5.0


def _pair_rows(a: torch.Tensor, d: int) -> torch.Tensor:
    """Row products ``a[j] * a[j + d]`` for the valid j (d may be negative)."""
    if d == 0:
        return a * a
    if d > 0:
        return a[:-d] * a[d:]
    return a[-d:] * a[:d]


def _pair_data(dy: torch.Tensor, dy_lag: torch.Tensor, oy: int, ox: int) -> torch.Tensor:
    """Sum over frames of ``dY_j(t) dY_{j+d}(t+lag)``, symmetrised, on the valid region."""
    m1, m2 = dy.shape[-2:]

    def window(t: torch.Tensor, sy: int, sx: int) -> torch.Tensor:
        y0, x0 = max(sy, 0), max(sx, 0)
        return t[..., y0 : y0 + m1 - abs(oy), x0 : x0 + m2 - abs(ox)]

    a0 = window(dy, 0 if oy >= 0 else -oy, 0 if ox >= 0 else -ox)
    a1 = window(dy_lag, oy if oy >= 0 else 0, ox if ox >= 0 else 0)
    b0 = window(dy, oy if oy >= 0 else 0, ox if ox >= 0 else 0)
    b1 = window(dy_lag, 0 if oy >= 0 else -oy, 0 if ox >= 0 else -ox)
    return 0.5 * ((a0 * a1).sum(dim=0) + (b0 * b1).sum(dim=0))


class CumulantTerm:
    """``1/2 || kappa P(x) - G ||^2`` over the offsets, with kappa fitted (x normalised).

    Parameters
    ----------
    frames : (T, m1, m2) photons (any scale: G is normalised).
    psf : the engine's Gaussian PSF model.
    pixel_size_nm, upsample : the engine's grids.
    lag_frames : time lag of the cumulant (>= 1 removes shot noise).
    """

    def __init__(
        self,
        frames: torch.Tensor,
        psf: GaussianPSF,
        pixel_size_nm: float,
        upsample: int,
        lag_frames: int = 1,
        block_frames: int = 100,
    ) -> None:
        n, m1, m2 = frames.shape
        dtype, device = frames.dtype, frames.device
        g = np.asarray(psf.profile_1d(pixel_size_nm / upsample), dtype=np.float64)
        a_y = torch.as_tensor(conv_matrix(g, m1 * upsample, upsample), dtype=dtype, device=device)
        a_x = torch.as_tensor(conv_matrix(g, m2 * upsample, upsample), dtype=dtype, device=device)
        self.ops = [(_pair_rows(a_y, oy), _pair_rows(a_x, ox)) for oy, ox in OFFSETS]
        sums = [torch.zeros_like(b_y[:, :1] @ b_x[:, :1].T) for b_y, b_x in self.ops]
        sq00 = torch.zeros((m1, m2), dtype=dtype, device=device)
        count = 0
        for start in range(0, n, block_frames):
            chunk = frames[start : start + block_frames]
            if chunk.shape[0] <= lag_frames + 1:
                continue
            d = chunk - chunk.mean(dim=0)
            k = chunk.shape[0] - lag_frames
            head, tail = d[:k], d[lag_frames : lag_frames + k]
            for i, (oy, ox) in enumerate(OFFSETS):
                sums[i] += _pair_data(head, tail, oy, ox)
            sq00 += ((head * tail) ** 2).sum(dim=0)
            count += k
        count = max(count, 1)
        data = [s / count for s in sums]
        # significance of the lag correlation: z-score of the summed auto-cumulant
        var00 = (sq00 / count - data[0] ** 2).clamp_min(0) / count
        z = float(data[0].sum() / var00.sum().clamp_min(1e-30).sqrt())
        self.z_score = z
        self.active = z >= MIN_Z_SCORE
        level = float(data[0].mean()) if self.active else 1.0
        self.data = [dd / level for dd in data]
        self.op_norm_sq = sum(
            float(torch.linalg.matrix_norm(b_y, ord=2) * torch.linalg.matrix_norm(b_x, ord=2))
            ** 2
            for b_y, b_x in self.ops
        )
        self.kappa = 0.0

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [b_y @ x @ b_x.T for b_y, b_x in self.ops]

    def gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient wrt x (kappa refitted, then held: envelope theorem) and the loss."""
        model = self.forward(x)
        num = sum((m * g).sum() for m, g in zip(model, self.data, strict=True))
        den = sum((m * m).sum() for m in model)
        kappa = (num / den.clamp_min(1e-30)).clamp_min(0.0)
        self.kappa = float(kappa)
        grad = torch.zeros_like(x)
        loss = torch.zeros((), dtype=x.dtype, device=x.device)
        for (b_y, b_x), m, g in zip(self.ops, model, self.data, strict=True):
            r = kappa * m - g
            grad = grad + kappa * (b_y.T @ r @ b_x)
            loss = loss + 0.5 * (r * r).sum()
        return grad, loss

    def lipschitz(self) -> float:
        """Lipschitz constant of the gradient at the current kappa."""
        return self.kappa**2 * self.op_norm_sq
