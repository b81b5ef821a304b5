"""The validated run configuration (:class:`FluoGANConfig`), with JSON round-trip."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import FluoGANError
from .psf import FWHM_PER_SIGMA, PSF, PSF_MODELS, AiryPSF, psf_from_model

DEVICES = ("auto", "cpu", "cuda", "mps")
#: camera pixels per PSF FWHM at which the smoothness priors' defaults were chosen
#: (318 nm PSF, 100 nm pixels); see FluoGANConfig.smoothness_sampling_factor
REFERENCE_PX_PER_FWHM = 3.18
#: the upsampling L at which lambda_tv's default was chosen; see FluoGANConfig.tv_weight_factor
REFERENCE_UPSAMPLE = 4
ESTIMATORS = ("pathwise", "straight-through", "exact")
#: the engine's psf_model values: "auto" (chosen from the data, core/psf_choice.py) or a shape
PSF_MODEL_CHOICES = ("auto", *PSF_MODELS)
CRITIC_INPUTS = ("fluctuation", "raw")


def fwhm_from_na(emission_wavelength_nm: float, na: float) -> float:
    """PSF FWHM in nm from the numerical aperture, as ``0.61 * lambda / NA`` (DESIGN 2)."""
    return 0.61 * emission_wavelength_nm / na


@dataclass
class FluoGANConfig:
    """Everything that defines a reconstruction, with units in the names.

    Camera parameters (``alpha`` gain in ADU per photon, ``offset`` baseline in ADU,
    ``sigma`` read noise in ADU) left as ``None`` are estimated from the stack.
    Regularisation weights are relative to the photon level of the structure (the
    mean light above the ROI's dimmest part), so the same values work on dim and
    bright stacks, with or without a uniform background.
    """

    # optics and sampling
    psf_fwhm_nm: float | None = 318.0
    pixel_size_nm: float = 100.0
    upsample: int = 4
    na: float | None = None
    emission_wavelength_nm: float | None = None
    # the PSF shape the engine assumes: "auto" (default) fits both to the mean image
    # and takes the Airy pattern only when it explains the data clearly better
    # (core/psf_choice.py); "gaussian" (robust: under-resolves a true Airy pattern
    # rather than invent detail); "airy" (an ideal widefield objective; finer on such
    # data, but a PSF with weaker rings than the model, or a FWHM given 5 % too narrow,
    # splits solid structures; docs/quality.md)
    psf_model: str = "auto"
    # camera (ADU); None = estimate from the data
    alpha: float | None = None
    offset: float | None = None
    sigma: float | None = None
    # region of interest on the camera grid: (y, x, height, width); None = whole frame
    roi: tuple[int, int, int, int] | None = None
    # objective
    lambda1: float = 0.02
    # smoothness of the background b: b has no l1 cost, so a rough b takes the
    # interior of a wide solid structure and leaves x its two edges (a 490 nm bar came
    # out hollow at 1); 5 leaves such bars far less hollow and still follows haze a
    # few um wide (docs/quality.md). Like lambda_tv, it is the weight at 3.18 camera
    # pixels per FWHM; finer pixels scale both (smoothness_sampling_factor)
    lambda2: float = 5.0
    # cap b at the light that does not fluctuate, estimated at scales of a few PSF
    # widths (core/background_bound.py), so it cannot take the pedestal of crowded
    # structure
    background_bound: bool = True
    # where the whole field lies on a carpet of blinking dyes, keep x above the
    # carpet's light, so that positivity and l1 sharpen the structure on it
    # (core/dye_carpet.py); needs background_bound
    carpet_floor: bool = True
    # leave hot, noisy and dead camera pixels (sharper than the PSF allows) out of the fit
    # (core/defective_pixels.py)
    leave_out_defective_pixels: bool = True
    # measure the sample's drift over the stack and put its path in the model (a blur
    # of the PSF, core/drift.py) where it is clear of its noise and widens the PSF
    # enough to matter; the frames are not resampled
    drift_correction: bool = True
    # hyperbolic total variation of x (core/priors.py), in units of the noise variance
    # of the normalised mean image, floored at psf_model_error**2 (a MAP weighting: dim
    # or short stacks get a stronger prior; bright long ones are limited by the PSF
    # model instead); tv_smoothing is its eps as a fraction of the mean fine-pixel
    # level of x
    lambda_tv: float = 1.5
    tv_smoothing: float = 0.5
    # relative error trusted in the mean image (rms, as a fraction of it): a floor under
    # its noise in the TV weight, so bright stacks stay regularised. It stands for the
    # PSF model error and for what the mean image cannot tell apart (a line pair and
    # a solid bar of the same second moment differ only in 4th moments): with an exact
    # Gaussian PSF, 0.015 split 210 nm control bars; 0.02 kept them whole with the
    # FWHM given right but split them with it given 5 % too narrow (for either shape,
    # and 2 % too narrow for the Airy model); 0.025 keeps them whole (docs/quality.md)
    psf_model_error: float = 0.025
    gamma: float = 1.0
    use_critic: bool = True
    # the critic's weight: 0.02 split control bars on stacks whose dyes bleach within
    # the stack (docs/quality.md, "Dye and stack conditions"); 0.01 keeps them whole
    adv_weight: float = 0.01
    # camera pixels by which x extends beyond the ROI (None: two PSF sigmas)
    margin_px: int | None = None
    # weight of the lagged cross-cumulant (second-order) data term (core/cumulant.py),
    # relative to its MAP weight (mean image's error variance over the term's noise
    # variance); 0 = off. Off by default: at 1 it resolves 180 nm on the Airy-bright
    # benchmark (210 without), but splits a 210 nm control bar on small bright stacks
    # simulated with the exact PSF; measured, its noise makes that weight 5-7x too
    # high, and at the measured weight it gains no step (docs/quality.md)
    cumulant_weight: float = 0.0
    cumulant_lag: int = 1
    # optimisation
    iterations: int = 1000
    warm_start_iterations: int = 200
    batch_size: int = 32
    n_critic: int = 1
    critic_lr: float = 2e-4
    critic_channels: int = 16
    critic_input: str = "fluctuation"
    # frames per block of the local temporal mean that real frames are centred on, so
    # that bleaching is not taken for fluctuation (core/trend.py); None = global mean
    detrend_frames: int | None = 50
    lambda_gp: float = 10.0
    gp_every: int = 4
    step_scale: float = 1.0
    fista: bool = True
    estimator: str = "pathwise"
    # photons per fluctuation event in the simulator, Z = k Poisson(x / k): 1 is the
    # plain double-Poisson model; None = estimated from the data's excess variance
    # after the warm start (blinking dyes emit in bursts: k is tens for bright dyes)
    fluctuation_gain: float | None = None
    # bookkeeping
    snapshot_every: int = 50
    device: str = "auto"
    seed: int = 0
    max_memory_gb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.roi is not None:
            self.roi = tuple(int(v) for v in self.roi)  # type: ignore[assignment]
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`FluoGANError` with a clear message for any bad setting."""
        if self.psf_fwhm_nm is None:
            if self.na is None or self.emission_wavelength_nm is None:
                raise FluoGANError(
                    "Give the PSF FWHM in nm, or both the numerical aperture (NA) "
                    "and the emission wavelength in nm."
                )
            _positive("NA", self.na)
            _positive("emission wavelength (nm)", self.emission_wavelength_nm)
        else:
            _positive("PSF FWHM (nm)", self.psf_fwhm_nm)
        _positive("pixel size (nm)", self.pixel_size_nm)
        if not isinstance(self.upsample, int) or isinstance(self.upsample, bool):
            raise FluoGANError(f"Upsampling L must be a whole number, got {self.upsample!r}.")
        if not 1 <= self.upsample <= 8:
            raise FluoGANError(
                f"Upsampling L must be between 1 and 8, got {self.upsample}; 4 is a good start."
            )
        if self.alpha is not None:
            _positive("gain alpha (ADU per photon)", self.alpha)
        if self.sigma is not None:
            _finite("read noise sigma (ADU)", self.sigma)
            if self.sigma < 0:
                raise FluoGANError(f"Read noise sigma must be >= 0 ADU, got {self.sigma}.")
        if self.offset is not None:
            _finite("camera offset (ADU)", self.offset)
        if self.roi is not None:
            if len(self.roi) != 4:
                raise FluoGANError("The ROI must be four numbers: y x height width.")
            y, x, h, w = self.roi
            if y < 0 or x < 0:
                raise FluoGANError(f"The ROI origin must not be negative, got y={y}, x={x}.")
            if h < 4 or w < 4:
                raise FluoGANError(f"The ROI must be at least 4 x 4 camera pixels, got {h} x {w}.")
        for name in (
            "lambda1",
            "lambda2",
            "lambda_tv",
            "gamma",
            "adv_weight",
            "lambda_gp",
            "cumulant_weight",
            "psf_model_error",
        ):
            value = getattr(self, name)
            _finite(name, value)
            if value < 0:
                raise FluoGANError(f"{name} must be >= 0, got {value}.")
        for name in (
            "use_critic",
            "fista",
            "background_bound",
            "carpet_floor",
            "leave_out_defective_pixels",
            "drift_correction",
        ):
            if not isinstance(getattr(self, name), bool):
                raise FluoGANError(
                    f"{name} must be true or false, got {getattr(self, name)!r}."
                )
        if self.gamma == 0 and not self.use_critic:
            raise FluoGANError(
                "With gamma = 0 and the critic off there is nothing to fit: "
                "set gamma > 0 or turn the critic on."
            )
        for name in (
            "iterations",
            "batch_size",
            "snapshot_every",
            "n_critic",
            "critic_channels",
            "gp_every",
            "cumulant_lag",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise FluoGANError(f"{name} must be a whole number >= 1, got {value!r}.")
        if not isinstance(self.warm_start_iterations, int) or self.warm_start_iterations < 0:
            raise FluoGANError(
                f"warm_start_iterations must be a whole number >= 0, got "
                f"{self.warm_start_iterations!r}."
            )
        _positive("TV smoothing", self.tv_smoothing)
        _whole_or_none("detrend_frames", self.detrend_frames, 2, " (or None for the global mean)")
        _whole_or_none("margin_px", self.margin_px, 0)
        _positive("critic learning rate", self.critic_lr)
        _positive("step scale", self.step_scale)
        if self.fluctuation_gain is not None:
            _positive("fluctuation gain (photons per event)", self.fluctuation_gain)
        if self.step_scale > 1.9:
            raise FluoGANError(
                f"step_scale must be <= 1.9 (larger steps diverge), got {self.step_scale}."
            )
        if self.device not in DEVICES:
            raise FluoGANError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}.")
        if self.estimator not in ESTIMATORS:
            raise FluoGANError(
                f"estimator must be one of {', '.join(ESTIMATORS)}, got {self.estimator!r}."
            )
        if self.psf_model not in PSF_MODEL_CHOICES:
            raise FluoGANError(
                f"psf_model must be one of {', '.join(PSF_MODEL_CHOICES)}, "
                f"got {self.psf_model!r}."
            )
        if self.critic_input not in CRITIC_INPUTS:
            raise FluoGANError(
                f"critic_input must be one of {', '.join(CRITIC_INPUTS)}, "
                f"got {self.critic_input!r}."
            )
        if self.max_memory_gb is not None:
            _positive("memory limit (GB)", self.max_memory_gb)

    # ----------------------------------------------------------------- derived
    @property
    def effective_psf_fwhm_nm(self) -> float:
        """The PSF FWHM in nm, from the FWHM field or from NA and wavelength."""
        if self.psf_fwhm_nm is not None:
            return float(self.psf_fwhm_nm)
        assert self.na is not None and self.emission_wavelength_nm is not None
        return fwhm_from_na(self.emission_wavelength_nm, self.na)

    def make_psf(self) -> PSF:
        """The PSF the engine assumes: ``psf_model`` of the effective FWHM, or, for an
        Airy model given by NA and wavelength, the Airy pattern of that objective.
        ``psf_model = "auto"`` must be resolved first (the solver does it)."""
        if self.psf_model == "auto":
            raise FluoGANError(
                'psf_model "auto" is chosen from the data when a run starts; give '
                '"gaussian" or "airy" to sample a PSF without data.'
            )
        if self.psf_model == "airy" and self.psf_fwhm_nm is None:
            assert self.na is not None and self.emission_wavelength_nm is not None
            return AiryPSF(self.na, self.emission_wavelength_nm)
        return psf_from_model(self.psf_model, self.effective_psf_fwhm_nm)

    @property
    def smoothness_sampling_factor(self) -> float:
        """Factor on ``lambda_tv`` and ``lambda2`` for pixels finer than the reference.

        The data term counts camera pixels, the smoothness priors act over lengths set by
        the PSF: with more pixels per PSF the same weights regularise less. At 65 nm
        pixels (4.9 per FWHM) the unscaled defaults split solid control bars on the
        benchmark's Gaussian stacks; scaled by ``(px per FWHM / 3.18)^2`` they keep them
        whole, as at 100 nm. Never below 1: at 160 nm pixels (2 per FWHM, undersampled)
        the unscaled defaults kept controls whole and weaker priors split them
        (docs/quality.md, "Pixel size and upsampling").
        """
        return max(1.0, (self.psf_fwhm_px / REFERENCE_PX_PER_FWHM) ** 2)

    @property
    def psf_fwhm_px(self) -> float:
        """The PSF FWHM in camera pixels."""
        return self.effective_psf_fwhm_nm / self.pixel_size_nm

    @property
    def read_noise_photons(self) -> float:
        """The read noise in photons (``sigma / alpha``; 0 while ``sigma`` is unresolved)."""
        return float(self.sigma or 0.0) / float(self.alpha or 1.0)

    @property
    def tv_weight_factor(self) -> float:
        """Factor on ``lambda_tv``: the pixel-size factor times ``upsample / 4``.

        The total variation of x is summed over fine pixels: for the same image it
        shrinks as 1/L, so the same weight regularises less on a finer grid (at L = 6
        the unscaled default split the Gaussian benchmark's control bars: 0.35). With
        ``L / 4`` the steps and controls at L = 2, 3 and 6 match L = 4's or better
        (docs/quality.md, "Pixel size and upsampling").
        """
        return self.smoothness_sampling_factor * self.upsample / REFERENCE_UPSAMPLE

    @property
    def effective_margin_px(self) -> int:
        """Camera pixels by which x extends beyond the ROI on each side.

        ``margin_px``, else two PSF standard deviations (3 px for 318 nm at 100 nm
        pixels): emitters that close to the ROI send light into it, and without room
        for them the reconstruction piles their light on the ROI's border pixels.
        """
        if self.margin_px is not None:
            return self.margin_px
        sigma_px = self.psf_fwhm_px / FWHM_PER_SIGMA
        return math.ceil(2.0 * sigma_px)

    @property
    def fine_pixel_size_nm(self) -> float:
        """Pixel size of the super-resolved grid in nm."""
        return self.pixel_size_nm / self.upsample

    def replace(self, **changes: Any) -> FluoGANConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    # -------------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if data["roi"] is not None:
            data["roi"] = list(data["roi"])
        return data

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise to JSON text; also write it to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FluoGANConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FluoGANError(f"Unknown configuration field(s): {', '.join(unknown)}.")
        return cls(**data)

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> FluoGANConfig:
        """Load from JSON text or from a path to a JSON file."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            path = Path(text_or_path)
            if not path.is_file():
                raise FluoGANError(f"Configuration file not found: {path}.")
            text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FluoGANError(f"The configuration is not valid JSON ({exc.msg}).") from None
        return cls.from_dict(data)


def _finite(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise FluoGANError(f"{name} must be a finite number, got {value!r}.")


def _whole_or_none(name: str, value: Any, minimum: int, none_means: str = "") -> None:
    """``value`` is None or a whole number >= ``minimum`` (``none_means`` says what None does)."""
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or value < minimum
    ):
        raise FluoGANError(
            f"{name} must be a whole number >= {minimum}{none_means}, got {value!r}."
        )


def _positive(name: str, value: Any) -> None:
    _finite(name, value)
    if value <= 0:
        raise FluoGANError(f"{name} must be > 0, got {value}.")
