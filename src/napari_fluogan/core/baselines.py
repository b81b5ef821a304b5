"""Baseline reconstructions to compare FluoGAN against (pure functions, photon units).

- :func:`mean_image`: the widefield image.
- :func:`richardson_lucy`: Richardson-Lucy deconvolution of the mean on the fine grid
  with the engine's own ``Psi`` (x >= 0), jointly with a constant background.
- :func:`sofi2`: second-order SOFI auto-cumulant with a time lag (shot noise and read
  noise are white in time, so a lag >= 1 removes their contribution), computed in
  blocks of frames so that slow bleaching does not leak in.
- :func:`sofi2_rl`: SOFI2 deconvolved on the fine grid with the squared forward
  operator ``sum_i Psi_ji^2 (.)_i`` (the PSF squared, then block-summed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import FluoGANError
from .physics import PsiOperator, conv_matrix
from .psf import PSF, GaussianPSF, psf_from_model

METHODS = ("mean", "rl", "sofi2", "sofi2-rl")


def mean_image(photons: np.ndarray) -> np.ndarray:
    """Temporal mean of a (T, H, W) stack: the widefield image."""
    return np.asarray(photons, dtype=np.float32).mean(axis=0)


def sofi2(photons: np.ndarray, lag_frames: int = 1, block_frames: int = 100) -> np.ndarray:
    """Second-order SOFI image ``<dF(t) dF(t + lag)>`` per pixel (camera grid).

    ``dF`` is the deviation from the mean of each block of ``block_frames`` frames.
    Can be slightly negative where there is no signal (noise); not clipped.
    """
    frames = np.asarray(photons, dtype=np.float64)
    n = frames.shape[0]
    if lag_frames < 0 or lag_frames >= n - 1:
        raise ValueError(f"lag_frames must be in [0, {n - 2}], got {lag_frames}")
    block = max(block_frames, 2 * lag_frames + 2)
    total = np.zeros(frames.shape[1:])
    weight = 0
    for start in range(0, n, block):
        chunk = frames[start : start + block]
        if chunk.shape[0] <= lag_frames + 1:
            continue
        d = chunk - chunk.mean(axis=0)
        k = chunk.shape[0] - lag_frames
        total += (d[: k] * d[lag_frames : lag_frames + k]).sum(axis=0)
        weight += k
    return (total / max(weight, 1)).astype(np.float32)


@dataclass
class SquaredPsi:
    """The operator ``(Psi^(2) x)_j = sum_i Psi_ji^2 x_i`` for a separable PSF, with adjoint."""

    a_y: torch.Tensor  # (m1, n1), already squared
    a_x: torch.Tensor  # (m2, n2), already squared

    @classmethod
    def from_psf(
        cls, psf: GaussianPSF, pixel_size_nm: float, upsample: int, coarse_shape: tuple[int, int]
    ) -> SquaredPsi:
        g = np.asarray(psf.profile_1d(pixel_size_nm / upsample), dtype=np.float64)
        a_y = conv_matrix(g, coarse_shape[0] * upsample, upsample) ** 2
        a_x = conv_matrix(g, coarse_shape[1] * upsample, upsample) ** 2
        return cls(torch.as_tensor(a_y), torch.as_tensor(a_x))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.a_y @ x @ self.a_x.T

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.a_y.T @ y @ self.a_x


def _rl(
    data: torch.Tensor,
    forward,
    adjoint,
    fine_shape: tuple[int, int],
    iterations: int,
    fit_background: bool,
) -> tuple[torch.Tensor, float]:
    """Multiplicative Richardson-Lucy updates for x >= 0 over a constant background.

    The background is held at the 5th percentile of the data (fitting it by EM
    drifts: a flat x and a flat background explain the data equally well).
    """
    data = data.clamp_min(0.0)
    ones = torch.ones_like(data)
    norm = adjoint(ones).clamp_min(1e-12)
    level = float(data.mean())
    b = float(torch.quantile(data.flatten(), 0.05)) if fit_background else 0.0
    x = torch.full(fine_shape, max(level - b, 1e-6) / float(norm.mean()), dtype=data.dtype)
    eps = 1e-9 * max(level, 1e-12)
    for _ in range(iterations):
        estimate = forward(x) + b
        ratio = data / estimate.clamp_min(eps)
        x = x * adjoint(ratio) / norm
    return x, b


def richardson_lucy(
    image: np.ndarray,
    psf: PSF | None = None,
    pixel_size_nm: float = 100.0,
    upsample: int = 4,
    iterations: int = 100,
    psf_fwhm_nm: float = 318.0,
    fit_background: bool = True,
) -> np.ndarray:
    """Richardson-Lucy deconvolution of a camera image onto the fine grid with ``Psi``.

    ``image`` (m1, m2) in photons (e.g. :func:`mean_image`); the PSF defaults to the
    engine's Gaussian of ``psf_fwhm_nm``. Returns x (m1 L, m2 L) in photons per fine
    pixel, non-negative; a constant background (5th percentile) is taken apart.
    """
    image_t = torch.as_tensor(np.asarray(image, dtype=np.float64))
    psf = psf if psf is not None else GaussianPSF(psf_fwhm_nm)
    psi = PsiOperator(psf, pixel_size_nm, upsample, image_t.shape, dtype=torch.float64)
    x, _ = _rl(image_t, psi.forward, psi.adjoint, psi.fine_shape, iterations, fit_background)
    return x.numpy().astype(np.float32)


def sofi2_rl(
    photons: np.ndarray,
    pixel_size_nm: float = 100.0,
    upsample: int = 4,
    iterations: int = 100,
    psf_fwhm_nm: float = 318.0,
    lag_frames: int = 1,
    block_frames: int = 100,
) -> np.ndarray:
    """SOFI2 (lagged) deconvolved with the squared operator onto the fine grid.

    Uses the engine's Gaussian PSF model. Returns (m1 L, m2 L), non-negative, in the
    SOFI2 units (photons^2 per frame^2 per fine pixel).
    """
    image = sofi2(photons, lag_frames, block_frames)
    image_t = torch.as_tensor(image.astype(np.float64))
    op = SquaredPsi.from_psf(GaussianPSF(psf_fwhm_nm), pixel_size_nm, upsample, image_t.shape)
    fine = (image_t.shape[0] * upsample, image_t.shape[1] * upsample)
    x, _ = _rl(image_t, op, op.adjoint, fine, iterations, fit_background=False)
    return x.numpy().astype(np.float32)


def run_baseline(
    method: str,
    photons: np.ndarray,
    pixel_size_nm: float = 100.0,
    upsample: int = 4,
    psf_fwhm_nm: float = 318.0,
    iterations: int = 100,
    lag_frames: int = 1,
    psf_model: str = "gaussian",
) -> tuple[np.ndarray, float]:
    """Run one baseline by name; returns the image and its pixel size in nm.

    ``mean`` and ``sofi2`` are on the camera grid, ``rl`` and ``sofi2-rl`` on the
    fine grid (``pixel_size_nm / upsample``). ``psf_model`` is the PSF shape RL
    assumes (as the engine's ``psf_model``); SOFI2 + RL needs the Gaussian.
    """
    if psf_model != "gaussian" and method == "sofi2-rl":
        raise FluoGANError(
            "SOFI2 + RL needs the Gaussian PSF model (its squared PSF is separable); "
            "choose the Gaussian, or RL for the Airy model."
        )
    if method == "mean":
        return mean_image(photons), pixel_size_nm
    if method == "sofi2":
        return sofi2(photons, lag_frames), pixel_size_nm
    if method == "rl":
        img = richardson_lucy(
            mean_image(photons),
            psf_from_model(psf_model, psf_fwhm_nm),
            pixel_size_nm=pixel_size_nm,
            upsample=upsample,
            iterations=iterations,
            psf_fwhm_nm=psf_fwhm_nm,
        )
        return img, pixel_size_nm / upsample
    if method == "sofi2-rl":
        img = sofi2_rl(
            photons, pixel_size_nm, upsample, iterations, psf_fwhm_nm, lag_frames=lag_frames
        )
        return img, pixel_size_nm / upsample
    raise FluoGANError(f"Unknown baseline {method!r}; choose one of {', '.join(METHODS)}.")
