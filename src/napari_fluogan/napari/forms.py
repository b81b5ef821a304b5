"""The parameter form of the dock widget (magicgui widgets, superqt collapsible).

Every field is named after the :class:`~napari_fluogan.FluoGANConfig` field it sets,
with its unit in the label and its physical meaning in the tooltip
(docs/parameters.md says more).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
)
from qtpy.QtWidgets import QGroupBox, QVBoxLayout, QWidget
from superqt import QCollapsible

from ..core.config import PSF_MODEL_CHOICES, FluoGANConfig
from ..core.psf import PSF_MODELS, AiryPSF
from .run import LIVE_PARAMETERS
from .settings import CAMERA_FIELDS, PSF_FWHM, PSF_NA

_DEFAULTS = FluoGANConfig(use_critic=True)

CAMERA_LABELS = {
    "alpha": ("Gain α (ADU/photon)", "Camera gain: ADU (grey levels) per detected photon."),
    "offset": ("Offset (ADU)", "Camera baseline: the value of a pixel that received no light."),
    "sigma": ("Read noise σ (ADU)", "Standard deviation of the camera read noise, in ADU."),
}


def available_devices() -> list[str]:
    """``auto`` and ``cpu``, plus ``cuda`` / ``mps`` when present."""
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def _float(
    name: str,
    label: str,
    value: float,
    lo: float,
    hi: float,
    step: float,
    decimals: int,
    tooltip: str,
) -> FloatSpinBox:
    widget = FloatSpinBox(
        name=name, label=label, value=value, min=lo, max=hi, step=step, tooltip=tooltip
    )
    widget.native.setDecimals(decimals)
    widget.value = value
    return widget


def _int(name: str, label: str, value: int, lo: int, hi: int, tooltip: str) -> SpinBox:
    return SpinBox(name=name, label=label, value=value, min=lo, max=hi, tooltip=tooltip)


def _switch(name: str, text: str, tooltip: str) -> CheckBox:
    """A checkbox for the boolean config field ``name``, at its default."""
    return CheckBox(name=name, text=text, value=getattr(_DEFAULTS, name), tooltip=tooltip)


def group(title: str, container: Container) -> QGroupBox:
    """A titled box around a magicgui container."""
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(4, 4, 4, 4)
    container.native.layout().setContentsMargins(0, 0, 0, 0)
    layout.addWidget(container.native)
    return box


class ParameterForm:
    """Optics, camera, reconstruction and advanced settings, with ``values()``."""

    def __init__(self) -> None:
        d = _DEFAULTS
        # ---- optics
        self.psf_mode = ComboBox(
            name="psf_mode",
            label="PSF given as",
            choices=[PSF_FWHM, PSF_NA],
            value=PSF_FWHM,
            tooltip="Give the PSF width directly, or the objective's NA and the emission "
            "wavelength (FWHM = 0.61 λ / NA).",
        )
        self.psf_fwhm_nm = _float(
            "psf_fwhm_nm",
            "PSF FWHM (nm)",
            d.psf_fwhm_nm or 318.0,
            10.0,
            5000.0,
            1.0,
            1,
            "Full width at half maximum of the microscope's point spread function in the "
            "sample plane (a PSF of the shape chosen above and of this width is assumed).",
        )
        self.psf_model = ComboBox(
            name="psf_model",
            label="PSF shape",
            choices=list(PSF_MODEL_CHOICES),
            value=d.psf_model,
            tooltip="auto (default): a short fit of both shapes to the mean image picks "
            "the Airy pattern only when it explains the data clearly better (shown in the "
            "status line when the run starts). gaussian (robust): a real PSF with rings "
            "comes out a little less resolved rather than with invented detail. airy: an "
            "ideal widefield objective; resolves finer on such data, but if your PSF has "
            "weaker rings (aberrations) or the width is given too narrow, solid "
            "structures split.",
        )
        self.na = _float(
            "na", "NA", 1.4, 0.05, 1.7, 0.05, 2, "Numerical aperture of the objective."
        )
        self.emission_wavelength_nm = _float(
            "emission_wavelength_nm",
            "Emission λ (nm)",
            670.0,
            200.0,
            2000.0,
            1.0,
            0,
            "Peak emission wavelength of the fluorophore.",
        )
        self.fwhm_note = Label(label="")
        self.pixel_size_nm = _float(
            "pixel_size_nm",
            "Pixel size (nm)",
            d.pixel_size_nm,
            1.0,
            100000.0,
            1.0,
            2,
            "Size of one camera pixel in the sample plane (camera pixel / magnification). "
            "Read from the layer scale or the file when present.",
        )
        self.upsample = _int(
            "upsample",
            "Upsampling L",
            d.upsample,
            1,
            8,
            "The super-resolved image x has L x L pixels per camera pixel.",
        )
        self.optics = Container(
            widgets=[
                self.psf_mode,
                self.psf_model,
                self.psf_fwhm_nm,
                self.na,
                self.emission_wavelength_nm,
                self.fwhm_note,
                self.pixel_size_nm,
                self.upsample,
            ]
        )
        # ---- camera: value, "auto" (estimate at run time) and an "Estimate" button each
        self.camera_value: dict[str, FloatSpinBox] = {}
        self.camera_auto: dict[str, CheckBox] = {}
        self.camera_estimate: dict[str, PushButton] = {}
        rows = []
        for name in CAMERA_FIELDS:
            label, tip = CAMERA_LABELS[name]
            lo = -1e6 if name == "offset" else (0.0 if name == "sigma" else 1e-4)
            value = _float(name, "", 1.0 if name == "alpha" else 0.0, lo, 1e6, 0.01, 3, tip)
            auto = CheckBox(
                name=f"{name}_auto",
                text="auto",
                value=True,
                tooltip="Estimate this value from the stack when the run starts.",
            )
            estimate = PushButton(
                name=f"{name}_estimate",
                text="Estimate",
                tooltip="Estimate from the data now and fill in the value.",
            )
            value.enabled = False
            value.native.setMinimumWidth(110)
            auto.changed.connect(lambda on, w=value: setattr(w, "enabled", not on))
            self.camera_value[name], self.camera_auto[name] = value, auto
            self.camera_estimate[name] = estimate
            row = Container(
                layout="horizontal", widgets=[value, auto, estimate], labels=False, label=label
            )
            row.margins = (0, 0, 0, 0)
            rows.append(row)
        self.leave_out_defective_pixels = _switch(
            "leave_out_defective_pixels",
            "Leave out hot, noisy and dead pixels",
            "Camera pixels brighter or noisier than their neighbours by more than "
            "the PSF allows (hot pixels, telegraph noise), or reading nearly nothing "
            "between lit neighbours (dead pixels), are left out of the fit; the "
            "status line counts them. Off: every pixel is fitted as light.",
        )
        self.camera = Container(widgets=[*rows, self.leave_out_defective_pixels])
        # ---- reconstruction
        self.lambda1 = _float(
            "lambda1",
            "λ1 sparsity of x",
            d.lambda1,
            0.0,
            100.0,
            0.005,
            4,
            "Weight of the l1 prior on x (relative to the structure's photon level): larger "
            "gives sparser, darker x. Changes take effect at the next iteration.",
        )
        self.lambda2 = _float(
            "lambda2",
            "λ2 smoothness of b",
            d.lambda2,
            0.0,
            1e4,
            0.1,
            3,
            "Weight of the smoothness prior on the background b: larger gives a flatter b. "
            "Changes take effect at the next iteration.",
        )
        self.lambda_tv = _float(
            "lambda_tv",
            "λTV smoothness of x",
            d.lambda_tv,
            0.0,
            1000.0,
            0.1,
            3,
            "Weight of the (smoothed) total-variation prior on x, in units of the error "
            "of the mean image (its noise plus a few per cent of PSF model error): keeps "
            "solid structures solid and lines continuous instead of bead chains. "
            "0 = l1 only. Changes take effect at the next iteration.",
        )
        self.use_critic = _switch(
            "use_critic",
            "Critic (adversarial term)",
            "Off: fast mode (mean-image L2 + priors), to tune λ1 and λ2. On: the "
            "Wasserstein critic also matches the fluctuations (slower, more resolution).",
        )
        self.background_bound = _switch(
            "background_bound",
            "b only where light does not fluctuate",
            "Caps the background b at the light that does not blink, estimated "
            "from the frames' variance over a few PSF widths, so that b cannot take the "
            "blurred pedestal of crowded structure (which then fades in x). Inactive "
            "where the estimate is unreliable (small or uniform fields); the status "
            "line says when it is active. Off: b is limited by λ2 only.",
        )
        self.carpet_floor = _switch(
            "carpet_floor",
            "x above a carpet of dyes",
            "Where the whole ROI lies on a layer of blinking dyes (structure in "
            "labelled cytoplasm), keeps x above that layer's light, so that the "
            "structure on it is sharpened as on a dark field. Needs the cap on b; the "
            "status line says when it is active. Off: x may fall to 0 anywhere.",
        )
        self.drift_correction = _switch(
            "drift_correction",
            "Model the sample's drift",
            "Measures how the sample moved over the stack (registering means of blocks "
            "of frames) and, where the drift widens the PSF enough to matter, fits each "
            "run of frames at its own position; the frames are not resampled. The "
            "status line says how far it drifted. Off: the sample is taken as still.",
        )
        self.iterations = _int(
            "iterations", "Iterations", d.iterations, 1, 1_000_000, "Number of iterations."
        )
        self.main = Container(
            widgets=[
                self.lambda1,
                self.lambda_tv,
                self.lambda2,
                self.background_bound,
                self.carpet_floor,
                self.drift_correction,
                self.use_critic,
                self.iterations,
            ]
        )
        # ---- advanced
        self.gamma = _float(
            "gamma",
            "γ mean-image weight",
            d.gamma,
            0.0,
            1e3,
            0.1,
            3,
            "Weight of the L2 term matching the mean image (0 = purely adversarial). "
            "Changes take effect at the next iteration.",
        )
        self.adv_weight = _float(
            "adv_weight",
            "Adversarial weight",
            d.adv_weight,
            0.0,
            100.0,
            0.005,
            4,
            "Weight of the critic term on x and b (relative). Changes take effect at the "
            "next iteration.",
        )
        self.warm_start_iterations = _int(
            "warm_start_iterations",
            "Warm-start iterations",
            d.warm_start_iterations,
            0,
            1_000_000,
            "Iterations of the fast L2-only mode before the critic is switched on.",
        )
        self.batch_size = _int(
            "batch_size",
            "Batch size (frames)",
            d.batch_size,
            1,
            4096,
            "Real and simulated frames shown to the critic per iteration.",
        )
        self.n_critic = _int(
            "n_critic",
            "Critic steps",
            d.n_critic,
            1,
            100,
            "Critic updates per update of x and b.",
        )
        self.step_scale = _float(
            "step_scale",
            "Step scale",
            d.step_scale,
            0.01,
            1.9,
            0.05,
            2,
            "Gradient step relative to the safe 1/Lipschitz step; lower it if a run diverges.",
        )
        self.snapshot_every = _int(
            "snapshot_every",
            "Update display every",
            10,
            1,
            100_000,
            "Iterations between updates of the x and b layers and of the loss plot.",
        )
        self.device = ComboBox(
            name="device",
            label="Device",
            choices=available_devices(),
            value="auto",
            tooltip="auto: a CUDA GPU, else Apple MPS, else the CPU.",
        )
        self.seed = _int("seed", "Seed", d.seed, 0, 2**31 - 1, "Random seed (reproducible runs).")
        self.advanced = Container(
            widgets=[
                self.gamma,
                self.adv_weight,
                self.warm_start_iterations,
                self.batch_size,
                self.n_critic,
                self.step_scale,
                self.snapshot_every,
                self.device,
                self.seed,
            ]
        )
        self.psf_mode.changed.connect(self._on_psf_mode)
        for w in (self.na, self.emission_wavelength_nm, self.psf_model):
            w.changed.connect(self._update_fwhm_note)
        self._on_psf_mode(self.psf_mode.value)

    # ------------------------------------------------------------------ layout
    def widgets(self, parent: QWidget | None = None) -> list[QWidget]:
        """Qt widgets to stack in the dock: optics, camera, reconstruction, Advanced."""
        collapsible = QCollapsible("Advanced", parent)
        self.advanced.native.layout().setContentsMargins(0, 0, 0, 0)
        collapsible.addWidget(self.advanced.native)
        self.collapsible = collapsible
        return [
            group("Optics", self.optics),
            group("Camera", self.camera),
            group("Reconstruction", self.main),
            collapsible,
        ]

    # ------------------------------------------------------------------ values
    @property
    def value_widgets(self) -> dict[str, Any]:
        """Config field name -> widget, for every field the form sets."""
        names = [
            "psf_mode",
            "psf_model",
            "psf_fwhm_nm",
            "na",
            "emission_wavelength_nm",
            "pixel_size_nm",
            "upsample",
            "lambda1",
            "lambda2",
            "background_bound",
            "carpet_floor",
            "leave_out_defective_pixels",
            "drift_correction",
            "use_critic",
            "iterations",
            "gamma",
            "adv_weight",
            "warm_start_iterations",
            "batch_size",
            "n_critic",
            "lambda_tv",
            "step_scale",
            "snapshot_every",
            "device",
            "seed",
        ]
        widgets = {n: getattr(self, n) for n in names}
        widgets.update(self.camera_value)
        return widgets

    def values(self) -> dict[str, Any]:
        """Current values by config field name (plus ``psf_mode``)."""
        return {name: w.value for name, w in self.value_widgets.items()}

    def auto_camera(self) -> dict[str, bool]:
        """Which camera values are left to the engine to estimate."""
        return {name: box.value for name, box in self.camera_auto.items()}

    def set_camera(self, name: str, value: float, keep_auto: bool = False) -> None:
        """Fill a camera value (an estimate); unticks "auto" unless ``keep_auto``."""
        self.camera_value[name].value = float(value)
        if not keep_auto:
            self.camera_auto[name].value = False

    def connect_live(self, callback: Callable[[str, float], None]) -> None:
        """Call ``callback(name, value)`` when a parameter the engine re-reads changes."""
        for name in LIVE_PARAMETERS:
            widget = getattr(self, name, None)
            if widget is not None:
                widget.changed.connect(lambda v, n=name: callback(n, float(v)))

    # ------------------------------------------------------------------ PSF
    def _on_psf_mode(self, mode: str) -> None:
        by_na = mode == PSF_NA
        self.psf_fwhm_nm.visible = not by_na
        self.na.visible = by_na
        self.emission_wavelength_nm.visible = by_na
        self.fwhm_note.visible = by_na
        self._update_fwhm_note()

    def _update_fwhm_note(self, *_: Any) -> None:
        # the engine's own rule (FluoGANConfig.make_psf) says which PSF the NA gives
        shapes = PSF_MODELS if self.psf_model.value == "auto" else (self.psf_model.value,)
        notes = []
        for shape in shapes:
            psf = FluoGANConfig(
                psf_fwhm_nm=None,
                na=self.na.value,
                emission_wavelength_nm=self.emission_wavelength_nm.value,
                psf_model=shape,
            ).make_psf()
            rule = "Airy pattern, FWHM = 0.51" if isinstance(psf, AiryPSF) else "FWHM = 0.61"
            notes.append(f"{rule} λ / NA = {psf.fwhm_nm:.0f} nm")
        self.fwhm_note.value = "→ " + " or ".join(notes)
