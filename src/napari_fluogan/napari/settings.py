"""Qt-free mapping from the widget's values to a validated :class:`FluoGANConfig`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.config import FluoGANConfig

PSF_FWHM = "FWHM"
PSF_NA = "NA + wavelength"
CAMERA_FIELDS = ("alpha", "offset", "sigma")


def build_config(
    values: Mapping[str, Any],
    camera_auto: Mapping[str, bool],
    roi: tuple[int, int, int, int] | None,
) -> FluoGANConfig:
    """A config from form values (config field names), the "auto" camera boxes and the ROI.

    ``values["psf_mode"]`` picks the FWHM or NA + wavelength; camera values whose
    "auto" box is ticked are left to the engine to estimate. Raises
    :class:`~napari_fluogan.FluoGANError` with a user-facing message when invalid.
    """
    data = {k: v for k, v in values.items() if k != "psf_mode"}
    if values.get("psf_mode", PSF_FWHM) == PSF_NA:
        data["psf_fwhm_nm"] = None
    else:
        data["na"] = None
        data["emission_wavelength_nm"] = None
    for name in CAMERA_FIELDS:
        if camera_auto.get(name, True):
            data[name] = None
    data["roi"] = roi
    for name in (
        "upsample",
        "iterations",
        "batch_size",
        "snapshot_every",
        "seed",
        "n_critic",
        "warm_start_iterations",
    ):
        if name in data and data[name] is not None:
            data[name] = int(data[name])
    return FluoGANConfig.from_dict(data)
