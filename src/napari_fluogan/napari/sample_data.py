"""npe2 sample data: a small simulated line-pair stack and its ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.psf import GaussianPSF
from ..core.simulate import line_pair_phantom, simulate_stack, to_uint16_counts
from .geometry import overlay_transform

LayerData = tuple[Any, dict[str, Any], str]

SAMPLE_SEPARATIONS_NM = (390.0, 300.0, 210.0, 150.0)
SAMPLE_PIXEL_SIZE_NM = 100.0
SAMPLE_PSF_FWHM_NM = 318.0
SAMPLE_UPSAMPLE = 4
SAMPLE_FRAMES = 200
SAMPLE_CAMERA = {"alpha": 2.0, "offset": 100.0, "sigma": 2.0}


def line_pair_stack(n_frames: int = SAMPLE_FRAMES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Camera frames (T, H, W, uint16 ADU) and the fine-grid ground truth (photons).

    Four pairs of 100 nm lines (390, 300, 210 and 150 nm apart) with a solid control
    bar below each, PSF FWHM 318 nm, 100 nm camera pixels, about 43 x 48 pixels.
    """
    phantom = line_pair_phantom(
        SAMPLE_SEPARATIONS_NM, line_length_nm=1200.0, gap_nm=700.0, margin_nm=600.0
    )
    truth = phantom.render(SAMPLE_PIXEL_SIZE_NM, SAMPLE_UPSAMPLE)
    frames = simulate_stack(
        truth,
        GaussianPSF(SAMPLE_PSF_FWHM_NM),
        SAMPLE_PIXEL_SIZE_NM,
        SAMPLE_UPSAMPLE,
        n_frames,
        background_photons=1.0,
        seed=seed,
        **SAMPLE_CAMERA,
    )
    return to_uint16_counts(frames), truth


def make_line_pair_sample() -> list[LayerData]:
    """The sample as two layers: the stack to reconstruct and its ground truth."""
    frames, truth = line_pair_stack()
    pixel_um = SAMPLE_PIXEL_SIZE_NM / 1000.0
    fine = overlay_transform((0, 0), SAMPLE_UPSAMPLE, (pixel_um, pixel_um))
    stack_meta = {
        "axes": "TYX",
        "pixel_size_nm": SAMPLE_PIXEL_SIZE_NM,
        "psf_fwhm_nm": SAMPLE_PSF_FWHM_NM,
        "camera": dict(SAMPLE_CAMERA),
        "line_pair_separations_nm": list(SAMPLE_SEPARATIONS_NM),
    }
    return [
        (
            frames,
            {
                "name": "line pairs",
                "scale": (1.0, pixel_um, pixel_um),
                "units": ("pixel", "micrometer", "micrometer"),
                "axis_labels": ("t", "y", "x"),
                "metadata": stack_meta,
                "colormap": "gray",
            },
            "image",
        ),
        (
            truth,
            {
                "name": "line pairs ground truth",
                "scale": fine.scale,
                "translate": fine.translate,
                "units": ("micrometer", "micrometer"),
                "axis_labels": ("y", "x"),
                "metadata": {"pixel_size_nm": SAMPLE_PIXEL_SIZE_NM / SAMPLE_UPSAMPLE},
                "colormap": "cyan",
                "blending": "additive",
                "visible": False,
            },
            "image",
        ),
    ]
