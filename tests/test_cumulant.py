"""The second-order (lagged cross-cumulant) data term: its operator, gradient and
MAP weight (core/cumulant.py)."""

import numpy as np
import pytest
import torch

from napari_fluogan import FluoGANConfig, reconstruct
from napari_fluogan.core.cumulant import CumulantTerm
from napari_fluogan.core.physics import PsiOperator
from napari_fluogan.core.psf import GaussianPSF
from napari_fluogan.core.stack import to_photons

from .conftest import BENCH_CAMERA, blinking_line_pairs


def _blinking_photons(regime: str, n_frames: int = 200, seed: int = 0) -> np.ndarray:
    _, sim = blinking_line_pairs((240.0,), regime, n_frames, seed, line_length_nm=600.0,
                                 gap_nm=400.0, margin_nm=400.0)
    return to_photons(sim.frames, BENCH_CAMERA.gain_adu_per_e, BENCH_CAMERA.offset_adu)


def _term(photons: np.ndarray, margin: int) -> tuple[CumulantTerm, PsiOperator]:
    frames = torch.as_tensor(photons, dtype=torch.float64)
    psi = PsiOperator(GaussianPSF(318.0), 100.0, 4, frames.shape[1:], dtype=torch.float64,
                      margin=margin)
    return CumulantTerm(frames, *psi.separable_factors), psi


def test_operator_is_the_squared_psi_on_the_margin_grid():
    """Offset (0, 0) is ``sum_i Psi_ji^2 x_i``, on the same fine grid (margin included)
    as Psi; a fine pixel in the margin still reaches the region's border pixels."""
    term, psi = _term(_blinking_photons("bright", 60), margin=3)
    a_y, a_x = psi.separable_factors
    x = torch.rand(psi.fine_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = (a_y**2) @ x @ (a_x**2).T
    torch.testing.assert_close(term.forward(x)[0], expected)
    assert term.forward(x)[0].shape == psi.coarse_shape
    edge = torch.zeros(psi.fine_shape, dtype=torch.float64)
    edge[psi.fine_shape[0] // 2, 1] = 1.0  # in the margin, left of the region
    assert float(term.forward(edge)[0][:, 0].sum()) > 0


def test_gradient_is_that_of_the_loss_with_kappa_refitted():
    """Envelope theorem: with kappa fitted in closed form, the gradient of the profiled
    loss is kappa B^T r; checked against autograd, kappa included."""
    term, psi = _term(_blinking_photons("bright", 80), margin=0)
    x = torch.rand(psi.fine_shape, dtype=torch.float64,
                   generator=torch.Generator().manual_seed(1)).requires_grad_(True)

    def profiled_loss(v: torch.Tensor) -> torch.Tensor:
        model = term.forward(v)
        kappa = sum((m * g).sum() for m, g in zip(model, term.data, strict=True)) / sum(
            (m * m).sum() for m in model
        )
        return sum(0.5 * ((kappa * m - g) ** 2).sum() for m, g in zip(model, term.data,
                                                                     strict=True))

    (auto,) = torch.autograd.grad(profiled_loss(x), x)
    grad, loss = term.gradient(x.detach())
    torch.testing.assert_close(grad, auto, rtol=1e-6, atol=1e-9)
    assert float(loss) == pytest.approx(float(profiled_loss(x.detach())), rel=1e-9)


def test_map_weight_follows_the_cumulant_noise():
    """Blinking data switch the term on; a dim stack's cumulants are noisier (relative
    to their level) than a bright one's, so the solver gives them less weight; i.i.d.
    frames (the engine's own simulator) have no lagged correlation: the term is off."""
    bright, _ = _term(_blinking_photons("bright"), margin=0)
    dim, _ = _term(_blinking_photons("dim"), margin=0)
    assert bright.active and dim.active
    assert dim.noise_var > 10 * bright.noise_var
    rng = np.random.default_rng(0)
    iid, _ = _term(rng.poisson(50.0, size=(200, 8, 8)).astype(float), margin=0)
    assert not iid.active


def test_solver_uses_the_term_and_keeps_the_margin():
    photons = _blinking_photons("bright", 120)
    cfg = FluoGANConfig(psf_model="gaussian", alpha=1.0, offset=0.0, sigma=1.0,
                        use_critic=False, device="cpu", iterations=60,
                        warm_start_iterations=0, snapshot_every=60)
    without = reconstruct(photons, cfg)
    with_term = reconstruct(photons, cfg.replace(cumulant_weight=1.0))
    assert cfg.replace(cumulant_weight=1.0).effective_margin_px == cfg.effective_margin_px > 0
    assert with_term.info["cumulant_z"] > 5 and "cumulant" in with_term.losses
    assert without.info["cumulant_z"] == 0.0
    assert with_term.x.shape == without.x.shape
    assert not np.allclose(with_term.x, without.x)
