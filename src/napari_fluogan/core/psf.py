"""Point-spread-function models, sampled on a pixel grid and normalised to sum 1.

A PSF is any object with ``kernel(pixel_size_nm) -> np.ndarray`` (odd square,
centred, sum 1), so a measured PSF can be plugged in later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
# First zero of J1(v)/v and the Airy FWHM in units of lambda/NA.
AIRY_FWHM_PER_LAMBDA_NA = 0.5145


class PSF(Protocol):
    """Anything that can be sampled on a square pixel grid.

    A separable PSF may also offer ``profile_1d(pixel_size_nm)``: the operator then
    uses two small matrix products instead of a 2-D convolution (much faster).
    """

    def kernel(self, pixel_size_nm: float) -> np.ndarray: ...


@dataclass(frozen=True)
class GaussianPSF:
    """Isotropic Gaussian PSF of the given full width at half maximum (nm)."""

    fwhm_nm: float
    radius_sigmas: float = 4.0

    def profile_1d(self, pixel_size_nm: float) -> np.ndarray:
        """The separable 1-D factor (odd length, centred, sum 1)."""
        sigma_px = self.fwhm_nm / FWHM_PER_SIGMA / pixel_size_nm
        radius = max(1, math.ceil(self.radius_sigmas * sigma_px))
        r = np.arange(-radius, radius + 1, dtype=np.float64)
        g = np.exp(-0.5 * (r / sigma_px) ** 2)
        return g / g.sum()

    def kernel(self, pixel_size_nm: float) -> np.ndarray:
        g = self.profile_1d(pixel_size_nm)
        return np.outer(g, g).astype(np.float32)


@dataclass(frozen=True)
class AiryPSF:
    """Airy pattern of a circular pupil (NA, emission wavelength in nm).

    Sampled with 4 x 4 sub-pixel points per pixel to avoid aliasing the central peak;
    truncated at ``radius_rings`` dark rings.
    """

    na: float
    emission_wavelength_nm: float
    radius_rings: float = 4.0

    @property
    def fwhm_nm(self) -> float:
        return AIRY_FWHM_PER_LAMBDA_NA * self.emission_wavelength_nm / self.na

    @classmethod
    def with_fwhm(cls, fwhm_nm: float, emission_wavelength_nm: float = 600.0) -> AiryPSF:
        """The Airy PSF of a given FWHM (the NA is chosen to match it)."""
        return cls(
            AIRY_FWHM_PER_LAMBDA_NA * emission_wavelength_nm / fwhm_nm, emission_wavelength_nm
        )

    def kernel(self, pixel_size_nm: float) -> np.ndarray:
        from scipy.special import j1  # scipy ships with napari; only needed here

        first_zero_nm = 0.61 * self.emission_wavelength_nm / self.na
        radius = max(2, math.ceil(self.radius_rings * first_zero_nm / pixel_size_nm))
        sub = 4
        offsets = (np.arange(sub) + 0.5) / sub - 0.5
        r = np.arange(-radius, radius + 1, dtype=np.float64)
        fine = (r[:, None] + offsets[None, :]).ravel() * pixel_size_nm
        yy, xx = np.meshgrid(fine, fine, indexing="ij")
        rho = np.hypot(yy, xx)
        v = 2.0 * math.pi * self.na * rho / self.emission_wavelength_nm
        with np.errstate(invalid="ignore", divide="ignore"):
            amp = np.where(v > 1e-9, 2.0 * j1(v) / v, 1.0)
        intensity = amp**2
        size = 2 * radius + 1
        k = intensity.reshape(size, sub, size, sub).sum(axis=(1, 3))
        return (k / k.sum()).astype(np.float32)


#: PSF shapes the engine and the deconvolution baselines can assume
PSF_MODELS = ("gaussian", "airy")


def psf_from_model(model: str, fwhm_nm: float) -> GaussianPSF | AiryPSF:
    """The PSF of shape ``model`` (one of :data:`PSF_MODELS`) and FWHM ``fwhm_nm``."""
    if model == "gaussian":
        return GaussianPSF(fwhm_nm)
    if model == "airy":
        return AiryPSF.with_fwhm(fwhm_nm)
    raise ValueError(f"PSF model must be one of {', '.join(PSF_MODELS)}, got {model!r}")


def measure_fwhm_px(kernel: np.ndarray) -> float:
    """FWHM in pixels of a centred kernel, from its central row (linear interpolation)."""
    row = np.asarray(kernel, dtype=np.float64)[kernel.shape[0] // 2]
    c = row.size // 2
    half = row[c] / 2.0

    def crossing(direction: int) -> float:
        i = c
        while 0 <= i + direction < row.size and row[i + direction] > half:
            i += direction
        j = i + direction
        if not 0 <= j < row.size:
            return float(abs(i - c))
        frac = (row[i] - half) / (row[i] - row[j])
        return abs(i - c) + frac

    return crossing(1) + crossing(-1)
