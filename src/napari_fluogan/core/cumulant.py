"""A second-order (SOFI cross-cumulant) data term on x: the fluctuations' information.

The mean image's information stops at the optical cutoff; the covariance of
neighbouring pixels carries the squared PSF, with twice the frequency support (DESIGN
section 3). The critic is meant to see it, but on the benchmark stacks it ties the
L2-only mode (``docs/quality.md``); this term feeds the same covariances to x directly.

The data side is the lag-``tau`` cross-cumulant of neighbouring pixels,
``G_d(j) = <dY_j(t) dY_{j+d}(t + tau)>`` for offsets d in {(0,0), (0,1), (1,0),
(1,1), (1,-1)} (a time lag removes shot and read noise, which are white in time;
``dY`` is the deviation from the mean of blocks of 100 frames, so that bleaching does
not leak in). For emitters that share their photophysics, ``G_d(j) = kappa * sum_i
Psi_ji Psi_{j+d,i} x_i`` with one unknown factor kappa (brightness times blinking
correlation), which is fitted in closed form at every step. The double-Poisson model
has no temporal correlation, so the term is a data term, not part of the simulator.

With a separable PSF every ``Psi_ji Psi_{j+d,i}`` operator is separable too: two
small matrix products per offset, on the same fine grid (margin included) as ``Psi``.
The residual is normalised by the mean of ``G_(0,0)``, so it is free of the photon
scale. The solver weights it as a MAP estimate would: by the ratio of the mean
image's error variance to this term's noise variance per pixel (``noise_var``). A
bright, long stack, whose cumulants are well measured, gets a real share (about 0.007
on the bright benchmark stacks); a dim one, whose cumulants are mostly noise, next to
none (about 0.0002). That weight takes frames and offset maps as independent; measured
from two half-stacks it is 5-7x too high (``docs/quality.md``), one reason the term is
off by default. When the data show no significant lagged correlation (e.g. the
engine's own i.i.d. simulator) the term switches itself off.
"""

from __future__ import annotations

import torch

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
    frames : (T, m1, m2) photons of the region (any scale: G is normalised).
    a_y, a_x : the separable factors of the engine's ``Psi`` (``Psi x = a_y x a_x^T``,
        see :attr:`~napari_fluogan.core.physics.PsiOperator.separable_factors`), so that
        the term sees the same fine grid, margin included, as the mean-image term.
    lag_frames : time lag of the cumulant (>= 1 removes shot noise).
    """

    def __init__(
        self,
        frames: torch.Tensor,
        a_y: torch.Tensor,
        a_x: torch.Tensor,
        lag_frames: int = 1,
        block_frames: int = 100,
    ) -> None:
        n, m1, m2 = frames.shape
        dtype, device = frames.dtype, frames.device
        if a_y.shape[0] != m1 or a_x.shape[0] != m2:
            raise ValueError("a_y and a_x must map onto the frames' rows and columns")
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
        # noise variance of one pixel of the normalised data (the MAP weight's denominator)
        self.noise_var = float(var00.mean()) / level**2
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
