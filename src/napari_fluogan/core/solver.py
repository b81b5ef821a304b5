"""The FluoGAN optimisation loop, as a generator of :class:`Snapshot` s (DESIGN 2-4).

Everything inside runs in *normalised* units: photons divided by ``u``, the photon
level of the structure (the mean light above the field's dimmest part,
:mod:`.signal_level`). Step sizes come from Lipschitz constants, and the
regularisation weights are relative to that level, so the same defaults work on
0.4 and on 2000 photons per pixel per frame, and on a structure with or without a
uniform background under it.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field

import numpy as np
import torch

from .background_bound import (
    FluctuationSlope,
    describe_background_bound,
    even_fluctuations_warning,
    fluctuates_evenly,
    steady_light,
)
from .calibrate import estimate_camera
from .camera_check import camera_warning, quietness
from .config import FluoGANConfig
from .critic import Critic, critic_loss
from .cumulant import CumulantTerm
from .dark import DarkCalibration, describe_dark
from .defective_pixels import DEAD_KIND as DEAD
from .defective_pixels import FLAG_KIND as DEFECTIVE
from .defective_pixels import (
    defect_warning,
    describe_defects,
    left_out,
    pixel_statistics,
    repaired,
)
from .drift import (
    DriftEstimate,
    describe_drift,
    drift_kernel,
    drift_runs,
    estimate_drift,
    registered_mean,
)
from .dye_carpet import (
    TRIAL_ITERATIONS,
    carpet_floor,
    describe_carpet_floor,
    floor_misfit,
    keeps_the_floor,
)
from .errors import FluoGANError, OutOfMemory, ReconstructionDiverged
from .estimators import exact_gradient, pathwise_from_frames, sample_differentiable
from .memory import check_memory
from .noise_correlation import correlated_noise_warning, neighbour_noise_correlation
from .physics import (
    BlockedPsi,
    FramewisePsi,
    PsiOperator,
    estimate_fluctuation_gain,
    simulate_photons,
)
from .priors import (
    divergence_adjoint,
    forward_differences,
    hyperbolic_tv_gradient,
    hyperbolic_tv_lipschitz,
)
from .psf_choice import PSFModelChoice, choose_psf_model, describe_psf_model, trial_config
from .saturation import FLAG_KIND as SATURATED
from .saturation import LEFT_OUT_KIND as SATURATED_LEFT_OUT
from .saturation import (
    describe_saturation,
    saturated_pixels,
    saturation_warning,
    too_clipped,
)
from .signal_level import (
    dark_level,
    no_structure_warning,
    structure_level,
    structure_significance,
)
from .stack import Stack, crop_roi, to_photons, validate_frames
from .surroundings import Surroundings
from .trend import TemporalTrend

LIVE_KEYS = ("lambda1", "lambda2", "lambda_tv", "gamma", "adv_weight")


@dataclass
class Snapshot:
    """State of a run: ``x`` (fine grid) and ``b`` (camera grid) in photons per frame."""

    iteration: int
    x: np.ndarray
    b: np.ndarray
    losses: dict[str, float]
    elapsed: float
    config: FluoGANConfig
    done: bool = False
    info: dict[str, float] = field(default_factory=dict)
    #: camera pixels of the ROI the run flagged, as (N, 2) row, column indices by kind:
    #: "saturated" (light restored), "saturated, left out", "hot or noisy" and "dead" (the
    #: last three left out of the fit)
    flagged_pixels: dict[str, np.ndarray] = field(default_factory=dict)

    def describe_model(self, sep: str = " · ") -> str:
        """What the run assumed, for a status line or log: the PSF shape (and, when
        auto chose it, by what ratio), the dark stack subtracted, the drift modelled,
        whether ``b`` was capped by fluctuations, the dye carpet ``x`` was kept above,
        and the saturated and the hot, noisy or dead pixels, if any."""
        parts = [
            describe_psf_model(self.config, self.info),
            describe_dark(self.info),
            describe_drift(self.info),
            describe_background_bound(self.info),
            describe_carpet_floor(self.info),
            describe_saturation(self.info),
            describe_defects(self.info),
        ]
        return sep.join(part for part in parts if part is not None)

    def warnings(self) -> list[str]:
        """What the user should be told about the data of this run (saturated pixels,
        many pixels left out as defective, correlated noise, a field that fluctuates
        evenly or shows nothing above its noise, camera values under which the frames
        are quieter than photon counting), once per run: they are known from the
        data, from the first snapshot."""
        found = [
            saturation_warning(self.info),
            defect_warning(self.info, self.b.size, self.config.effective_psf_fwhm_nm),
            correlated_noise_warning(self.info),
            even_fluctuations_warning(self.info),
            no_structure_warning(self.info),
            camera_warning(self.info),
        ]
        return [text for text in found if text is not None]


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise FluoGANError("device 'cuda' was asked for but no CUDA GPU is available; use 'auto'.")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise FluoGANError("device 'mps' was asked for but is not available; use 'auto'.")
    return torch.device(name)


def prepare_photons(
    stack: Stack | np.ndarray, config: FluoGANConfig, dark: DarkCalibration | None = None
) -> tuple[np.ndarray, FluoGANConfig]:
    """Validate, crop to the ROI and convert to photons; fill in estimated camera values.

    Returns the photon frames (T, h, w) and the config with ``alpha``, ``offset``
    and ``sigma`` resolved (so that the saved config reproduces the run). ``dark``: a
    dark stack's measurement, whose offset pattern is subtracted and which gives the
    offset and read noise not set in ``config``.
    """
    prepared = _prepare(stack, config, dark)
    return prepared.photons, prepared.config


@dataclass(frozen=True)
class _Prepared:
    """A run's input: the whole raw stack (validated, ADU), the ROI's photon frames, the
    config with the camera values resolved, and the offset pattern (ADU, whole frame)
    of a dark stack, or None."""

    frames: np.ndarray
    photons: np.ndarray
    config: FluoGANConfig
    offset_pattern: np.ndarray | None


def _prepare(
    stack: Stack | np.ndarray, config: FluoGANConfig, dark: DarkCalibration | None = None
) -> _Prepared:
    """What :func:`prepare_photons` does, with everything a run needs of it."""
    frames = stack.frames if isinstance(stack, Stack) else validate_frames(stack)
    pattern = None
    if dark is not None:
        pattern = dark.pattern_adu(frames.shape[1:])
        config = config.replace(
            offset=config.offset if config.offset is not None else dark.offset_adu,
            sigma=config.sigma if config.sigma is not None else dark.read_noise_adu,
        )
    if config.alpha is None or config.offset is None or config.sigma is None:
        est = estimate_camera(frames)
        config = config.replace(
            alpha=config.alpha if config.alpha is not None else est.alpha,
            offset=config.offset if config.offset is not None else est.offset,
            sigma=config.sigma if config.sigma is not None else est.sigma,
        )
    assert config.alpha is not None and config.offset is not None and config.sigma is not None
    roi_frames = crop_roi(frames, config.roi)
    roi_pattern = None if pattern is None else crop_roi(pattern[None], config.roi)[0]
    photons = to_photons(roi_frames, config.alpha, config.offset, roi_pattern)
    if float(photons.mean()) <= 0:
        raise FluoGANError(
            "After subtracting the camera offset the stack holds no signal: the offset "
            f"({config.offset:g} ADU) is too high; check the offset."
        )
    return _Prepared(frames, photons, config, pattern)


#: a run needs at least this share of the ROI's pixels in its data term (saturated in
#: nearly every frame, or defective, they are left out)
MIN_KEPT_SHARE = 0.1


def _kept(*left_out: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """1 on the pixels none of the ``left_out`` masks holds, 0 on the others; None
    where no mask is given."""
    masks = [mask for mask in left_out if mask is not None]
    if not masks:
        return None
    return (~torch.stack(masks).any(dim=0)).to(dtype)


@dataclass(frozen=True)
class _DriftRuns:
    """The runs of frames a drifting stack is fitted in (drift.drift_runs): which
    frames, their means (photons, (n_runs, m1, m2)), each run's target (the mean image
    plus the run's departure from it, so the repairs of clipped and defective pixels
    are kept), each frame's run, and the runs' operators with their brightness."""

    indices: list[np.ndarray]
    means: torch.Tensor
    targets: torch.Tensor
    frame_run: torch.Tensor
    psi: BlockedPsi
    brightness: torch.Tensor

    @classmethod
    def measure(
        cls,
        problem: _Problem,
        indices: list[np.ndarray],
        operator: Callable[[np.ndarray | None], PsiOperator],
    ) -> _DriftRuns:
        assert problem.drift is not None
        device = problem.device
        overall = problem.frames.mean(dim=0)
        means = torch.stack(
            [problem.frames[torch.as_tensor(idx, device=device)].mean(dim=0) for idx in indices]
        )
        # each run's light above the field's dimmest part against the stack's: dyes
        # that bleach are brighter in the early runs, at the early positions
        signal = float((overall - problem.dark).mean())
        brightness = [
            float((mean - problem.dark).mean()) / signal if signal > 0 else 1.0 for mean in means
        ]
        return cls(
            indices=indices,
            means=means,
            targets=problem.target + (means - overall) / problem.unit,
            frame_run=torch.cat(
                [torch.full((len(idx),), k, device=device) for k, idx in enumerate(indices)]
            ),
            psi=BlockedPsi([operator(problem.drift.path_px[idx]) for idx in indices], brightness),
            brightness=torch.as_tensor(brightness, device=device, dtype=problem.frames.dtype),
        )


class _Problem:
    """Tensors and operators of one run (normalised units), shared by the loop steps."""

    def __init__(
        self,
        photons: np.ndarray,
        config: FluoGANConfig,
        device: torch.device,
        surroundings: Surroundings | None = None,
    ) -> None:
        self.config = config
        self.device = device
        self.frames = torch.as_tensor(photons, device=device)
        self.n_frames, m1, m2 = self.frames.shape
        # fluctuations are measured around the local (bleaching) trend, not the global mean
        self.trend = TemporalTrend(self.frames, config.detrend_frames)
        # pixels the camera clipped (saturation.py), or None: their light restored from
        # the frames under the maximum, or, clipped in most frames, left out of the data
        # term; the critic never sees them (simulated frames are not clipped)
        self.saturated = saturated_pixels(self.frames)
        self.too_clipped = too_clipped(self.frames, self.saturated)
        # hot, noisy and dead camera pixels (defective_pixels.py), by kind: left out of
        # the data term and the critic, and the field's statistics measured with their
        # neighbours' values
        self.mean_image, self.variance_image, defects = pixel_statistics(
            self.frames,
            self.trend,
            config.psf_fwhm_px,
            config.leave_out_defective_pixels,
            self.saturated,
        )
        self.defective = left_out(defects)
        self.weight = _kept(self.defective, self.too_clipped, dtype=self.frames.dtype)
        if self.weight is not None and float(self.weight.sum()) < MIN_KEPT_SHARE * m1 * m2:
            raise FluoGANError(
                f"{int(m1 * m2 - self.weight.sum())} of the ROI's {m1 * m2} pixels are "
                "saturated in nearly every frame (or defective): too little is left to fit. "
                "Lower the exposure or the laser power, or draw the ROI where the camera "
                "does not clip."
            )
        self.critic_weight = _kept(self.defective, self.saturated, dtype=self.frames.dtype)
        self.scale = float(self.mean_image.mean())  # c: photons per pixel per frame
        # the light of the field's dimmest part, and u: the unit of x, b and the priors,
        # the light above it (signal_level.py)
        self.dark = dark_level(self.mean_image)
        self.unit = structure_level(self.mean_image, self.dark)
        # the quietest pixels' variance over what photon counting needs: well under 1,
        # the camera values are wrong (a warning)
        self.quietness = quietness(
            self.mean_image,
            self.variance_image,
            config.read_noise_photons,
            self.n_frames,
            self.saturated,
        )
        # whether the field shows anything above its noise (a warning below 10)
        self.structure_z = structure_significance(
            self.mean_image, self.variance_image, self.n_frames, config.psf_fwhm_px
        )
        variance = self.variance_image.mean()
        self.critic_scale = float(variance.clamp_min(1e-12).sqrt())  # s: fluctuation std
        # variance of the normalised mean image (shot noise and fluctuations, over T frames)
        self.mean_noise_var = float(variance) / (self.n_frames * self.unit**2)
        self.read_noise = config.read_noise_photons
        # the sample's drift over the stack (drift.py), or None: modelled as a blur of
        # the PSF where it matters; the frames stay as the camera wrote them
        self.drift: DriftEstimate | None = None
        if config.drift_correction:
            estimate = estimate_drift(
                photons, None if self.defective is None else self.defective.cpu().numpy()
            )
            if estimate is not None and estimate.matters(config.psf_fwhm_px):
                self.drift = estimate
        psf = config.make_psf()

        def operator(path_px: np.ndarray | None) -> PsiOperator:
            kernel = None if path_px is None else drift_kernel(path_px, config.upsample)
            return PsiOperator(
                psf,
                config.pixel_size_nm,
                config.upsample,
                (m1, m2),
                device,
                margin=config.effective_margin_px,
                drift_kernel=kernel,
            )

        self._operator = operator
        # the model of the mean image (the PSF blurred by the whole drift path)
        self.psi = operator(None if self.drift is None else self.drift.path_px)
        self.target = self.mean_image / self.unit  # normalised mean image
        # under drift the data term fits runs of frames apart, each with the PSF at its
        # own positions (drift.drift_runs), and so keeps the detail that the path's blur
        # would erase; None for a still stack, or a drift one run covers
        self.runs: _DriftRuns | None = None
        if self.drift is not None:
            runs = drift_runs(self.drift.path_px, config.psf_fwhm_px)
            if len(runs) > 1:
                self.runs = _DriftRuns.measure(self, runs, operator)
        # neighbouring pixels' noise correlation: about 0 for raw frames (noise_correlation.py)
        self.noise_correlation = neighbour_noise_correlation(self.frames)
        # (too_clipped is a part of saturated: None where saturated is)
        restored = (
            self.saturated if self.too_clipped is None else self.saturated & ~self.too_clipped
        )
        self.flagged_pixels = {
            kind: torch.nonzero(mask).cpu().numpy()
            for kind, mask in (
                (SATURATED, restored),
                (SATURATED_LEFT_OUT, self.too_clipped),
                *defects.items(),
            )
            if mask is not None and bool(mask.any())
        }
        self.n_coarse = m1 * m2
        # the most light b may hold per camera pixel (normalised), or None: no bound
        self.b_upper = None
        self.bound_from_surroundings = False
        # the light per camera pixel of a carpet of dyes under the whole field, which x
        # is kept above (dye_carpet.py); 0: none
        self.carpet_photons = 0.0
        self.carpet_from_surroundings = False
        if config.background_bound:

            def fallback() -> FluctuationSlope | None:
                # only where the ROI's own fit fails; then the bound comes from around it
                fit = surroundings.slope() if surroundings is not None else None
                self.bound_from_surroundings = fit is not None
                return fit

            steady = steady_light(
                self.mean_image,
                self.variance_image,
                self.read_noise,
                config.psf_fwhm_px,
                fallback,
                self.n_frames,
            )
            if steady is not None:
                self.b_upper = steady.background_bound() / self.unit
                if config.carpet_floor:
                    floor = carpet_floor(self.mean_image, steady.light, config.psf_fwhm_px)
                    if floor is None and surroundings is not None:
                        # an ROI drawn tightly around structure on a carpet
                        floor = surroundings.carpet()
                        self.carpet_from_surroundings = floor is not None
                    self.carpet_photons = floor if floor is not None else 0.0
        # no bound over a field that fluctuates evenly: b may hold the dyes (a warning
        # whose advice, a larger ROI, helps only with the bound on)
        self.even_fluctuations = (
            config.background_bound
            and self.b_upper is None
            and fluctuates_evenly(
                self.mean_image,
                self.variance_image,
                self.read_noise,
                config.psf_fwhm_px,
                self.n_frames,
            )
        )

    def flagged_count(self, kind: str) -> int:
        """How many camera pixels of the ROI are flagged as ``kind``."""
        return len(self.flagged_pixels.get(kind, ()))

    def x_floor(self, enabled: bool = True) -> torch.Tensor:
        """What ``x`` is kept above (normalised, fine grid): the carpet's light per fine
        pixel inside the region, nothing on the margin (which only explains light from
        outside); zeros where the field lies on no carpet or ``enabled`` is False."""
        psi = self.psi
        floor = torch.zeros(psi.fine_shape, device=self.device, dtype=psi.dtype)
        if enabled and self.carpet_photons > 0:
            # the camera light of one unit per fine pixel, away from the region's border
            per_fine = float(psi(torch.ones_like(floor)).median())
            psi.crop_region(floor).fill_(self.carpet_photons / (self.unit * per_fine))
        return floor

    def register_drift(self) -> None:
        """Make this the data of a PSF-shape trial: the runs' means moved back to the
        stack's mean position (:func:`~napari_fluogan.core.drift.registered_mean`),
        fitted with the PSF standing still. Under a steady drift the mean image is the
        sample blurred along the path, which washes out the rings that tell an Airy
        pattern from a Gaussian (residual ratio 0.96 at 300 nm, 0.79 on the same
        stack still); the runs' own means are sharp, but the dyes' slow blinking
        leaves each with a misfit much larger than the shapes' difference (0.89, and
        0.96 where the mean image gave 0.72 after a jump). Saturated pixels, whose light
        only the mean image restores, keep the mean image."""
        runs = self.runs
        if runs is None or self.saturated is not None:
            return
        assert self.drift is not None
        means = repaired(runs.means, self.defective).cpu().numpy()
        positions = np.stack([self.drift.path_px[idx].mean(axis=0) for idx in runs.indices])
        registered = registered_mean(means, positions, [len(idx) for idx in runs.indices])
        self.target = torch.as_tensor(registered, device=self.device).to(self.frames.dtype)
        self.target = self.target / self.unit
        self.psi = self._operator(None)
        self.runs = None

    def psi_for_frames(self, index: torch.Tensor) -> PsiOperator | FramewisePsi:
        """What images the sample as real frames ``index`` saw it: ``Psi``, or under
        drift each frame's run's operator."""
        if self.runs is None:
            return self.psi
        return FramewisePsi(self.runs.psi.operators, self.runs.frame_run[index])

    def signal_seen_by(self, index: torch.Tensor, b_ph: torch.Tensor) -> torch.Tensor:
        """The dyes' light (photons, above ``b_ph``) where real frames ``index`` saw
        them, at the stack's mean brightness: the mean image (m1, m2), or under drift
        each frame's run's mean over its brightness (B, m1, m2)."""
        if self.runs is None:
            return (self.mean_image - b_ph).clamp_min(0.0)
        run = self.runs.frame_run[index]
        brightness = self.runs.brightness[run].clamp_min(1e-3)[:, None, None]
        return (self.runs.means[run] - b_ph).clamp_min(0.0) / brightness

    def residual(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The data term's residual (m1, m2); under drift, per run (n_runs, m1, m2)."""
        if self.runs is None:
            residual = self.psi(x) + b - self.target
        else:
            residual = self.runs.psi(x) + b - self.runs.targets
        return residual if self.weight is None else residual * self.weight

    @property
    def data_norm_sq(self) -> float:
        """Upper bound of the data term's operator norm squared (its Lipschitz constant)."""
        return (self.psi if self.runs is None else self.runs.psi).norm_sq

    def residual_adjoint(self, residual: torch.Tensor) -> torch.Tensor:
        """The data term's gradient on x from :meth:`residual`."""
        return (self.psi if self.runs is None else self.runs.psi).adjoint(residual)

    def mean_residual(self, residual: torch.Tensor) -> torch.Tensor:
        """The residual of the mean image (the runs' mean): the gradient on ``b``, and
        the reported misfit, comparable with and without drift."""
        return residual if self.runs is None else residual.mean(dim=0)

    def project_background(self, b: torch.Tensor) -> torch.Tensor:
        """``b`` onto its feasible set: ``b >= 0`` and, with the fluctuation bound,
        ``b <= b_upper``."""
        b = torch.relu(b)
        return b if self.b_upper is None else torch.minimum(b, self.b_upper)

    def critic_input(self, frames_ph: torch.Tensor, reference_ph: torch.Tensor) -> torch.Tensor:
        centred = (frames_ph - reference_ph) / self.critic_scale
        return centred if self.critic_weight is None else centred * self.critic_weight


class _Adversary:
    """The critic, its optimiser, and the adversarial gradient for the generator step."""

    def __init__(self, problem: _Problem, config: FluoGANConfig, gen: torch.Generator) -> None:
        self.problem = problem
        self.config = config
        self.gen = gen
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            critic = Critic(config.critic_channels)
        self.critic = critic.to(problem.device)
        self.optimiser = torch.optim.Adam(
            self.critic.parameters(), lr=config.critic_lr, betas=(0.5, 0.9)
        )
        self.steps = 0
        self.fluctuation_gain = config.fluctuation_gain
        # mean photons of each frame's trend: how bright the dyes still are (bleaching)
        frames = torch.arange(problem.n_frames, device=problem.device)
        self.frame_level = problem.trend.level_at(frames)
        self.bleaching_range = float(
            (self.frame_level.max() - self.frame_level.min()) / max(problem.scale, 1e-12)
        )

    def calibrate(self, x_ph: torch.Tensor) -> float:
        """Fix the fluctuation gain (if not configured) from the warm-start fit."""
        if self.fluctuation_gain is None:
            problem = self.problem
            self.fluctuation_gain = estimate_fluctuation_gain(
                problem.mean_image,
                problem.variance_image,
                problem.psi,
                x_ph,
                problem.read_noise,
            )
        return self.fluctuation_gain

    def _level(self) -> torch.Tensor | None:
        """The common centring of ``critic_input="raw"``; None for fluctuation input."""
        if self.config.critic_input == "fluctuation":
            return None
        return torch.full((), self.problem.scale, device=self.problem.device)

    def _real_reference(self, index: torch.Tensor) -> torch.Tensor:
        """What real frames ``index`` are centred on: their local (bleaching) trend."""
        level = self._level()
        return self.problem.trend.at(index) if level is None else level

    def _fake_reference(self, expectation: torch.Tensor) -> torch.Tensor:
        """What simulated frames are centred on: their expectation ``Psi x + b``."""
        level = self._level()
        return expectation if level is None else level

    def _brightness(self, index: torch.Tensor, b_ph: torch.Tensor) -> torch.Tensor | None:
        """The dyes' brightness in frames ``index`` relative to the stack's mean, on the
        fine grid: (B, n1, n2).

        A bleaching stack is a mixture: early frames bright and strongly fluctuating,
        late frames dim, with only the surviving dyes lit. Frames simulated from the
        time-averaged ``x`` would all be alike, a difference the critic learns to spot
        whatever ``x`` is (with x the ground truth, its Wasserstein estimate grows
        without bound on a stack whose dyes bleach within it), so each simulated frame
        is drawn from ``x`` scaled, camera pixel by camera pixel, as the signal (the
        trend above the background) was at the real frame it stands beside. Pixels with
        little signal lean on the whole region's ratio. None when the stack does not
        bleach measurably or the exact estimator (tests) is used.
        """
        problem = self.problem
        if self.config.estimator == "exact" or self.bleaching_range < 0.02:
            return None
        floor = 1e-3 * problem.scale
        mean_signal = float((problem.mean_image - b_ph).clamp_min(0.0).mean())
        level = (self.frame_level[index] - float(b_ph.mean())) / max(mean_signal, floor)  # (B,)
        shrink = max(0.1 * mean_signal, floor)
        now = (problem.trend.at(index) - b_ph).clamp_min(0.0)
        # under drift against the light where the frame's run saw the dyes: against the
        # stack's mean, the sample's shift would read as brightness at its edges
        signal = problem.signal_seen_by(index, b_ph)
        ratio = (now + shrink * level[:, None, None]) / (signal + shrink)
        # a hot pixel's trend is not the dyes' brightness: its neighbours' ratio is
        ratio = repaired(ratio, problem.defective)
        return problem.psi.to_fine_grid(ratio.clamp(0.0, 10.0))

    def _simulate(
        self,
        x_ph: torch.Tensor,
        b_ph: torch.Tensor,
        index: torch.Tensor,
        differentiable: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Frames standing beside real frames ``index``, their expectation, and the
        leaves (x, b) they depend on when ``differentiable``."""
        problem, config = self.problem, self.config
        gain = self.calibrate(x_ph)
        brightness = self._brightness(index, b_ph)
        psi = problem.psi_for_frames(index)
        args = (psi, x_ph, b_ph, problem.read_noise, index.numel(), self.gen)
        if differentiable:
            scaled = config.estimator == "pathwise"
            frames, x_leaf, b_leaf = sample_differentiable(*args, gain, scaled, brightness)
        else:
            frames = simulate_photons(*args, fluctuation_gain=gain, frame_brightness=brightness)
            x_leaf = b_leaf = None
        # from the non-leaf x and b: the centring is a constant for the gradient, as in
        # the exact estimator, so that both differentiate the same objective
        rate = x_ph if brightness is None else x_ph * brightness
        expectation = psi(rate) + b_ph
        return frames, expectation, x_leaf, b_leaf

    def _critic_step(
        self, fake: torch.Tensor, expectation: torch.Tensor, index: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        problem, config = self.problem, self.config
        real_in = problem.critic_input(problem.frames[index], self._real_reference(index))
        fake_in = problem.critic_input(fake, self._fake_reference(expectation))
        # Lazy gradient penalty: every gp_every steps, weighted gp_every times.
        gp_now = self.steps % config.gp_every == 0
        lambda_gp = config.lambda_gp * config.gp_every if gp_now else 0.0
        loss, w_distance = critic_loss(self.critic, real_in, fake_in, lambda_gp, self.gen)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        self.steps += 1
        return {"critic": loss.detach(), "w_distance": w_distance}

    def gradient(
        self, x_ph: torch.Tensor, b_ph: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Train the critic ``n_critic`` steps, then d E[D(Y_sim)] / d(x, b) in photons."""
        problem, config = self.problem, self.config
        pathwise = config.estimator != "exact"

        def real_index() -> torch.Tensor:
            return torch.randint(
                problem.n_frames, (config.batch_size,), generator=self.gen, device=problem.device
            )

        losses: dict[str, torch.Tensor] = {}
        for k in range(config.n_critic):
            index = real_index()
            last = k == config.n_critic - 1
            # one sample serves the critic's last step and the generator
            fake, expectation, x_leaf, b_leaf = self._simulate(
                x_ph, b_ph, index, differentiable=pathwise and last
            )
            losses = self._critic_step(fake.detach(), expectation.detach(), index)
        reference = self._fake_reference(expectation)

        def score_fn(frames_ph: torch.Tensor) -> torch.Tensor:
            return self.critic(problem.critic_input(frames_ph, reference))

        self.critic.requires_grad_(False)
        try:
            if pathwise:
                assert x_leaf is not None and b_leaf is not None
                grad_x, grad_b = pathwise_from_frames(score_fn, fake, x_leaf, b_leaf)
            else:
                grad_x, grad_b = exact_gradient(
                    problem.psi, score_fn, x_ph, b_ph, problem.read_noise, config.batch_size,
                    self.gen, fluctuation_gain=self.calibrate(x_ph),
                )
        finally:
            self.critic.requires_grad_(True)
        return grad_x, grad_b, losses


def reconstruct_iter(
    stack: Stack | np.ndarray,
    config: FluoGANConfig,
    live: MutableMapping[str, float] | None = None,
    on_stage: StageCallback | None = None,
    dark: DarkCalibration | None = None,
) -> Iterator[Snapshot]:
    """Run FluoGAN, yielding a :class:`Snapshot` every ``config.snapshot_every`` iterations.

    ``stack`` holds raw frames (T, H, W) in ADU; ``dark``, when given, the camera's
    offset pixel by pixel (``core/dark.py``), whose pattern is subtracted and which gives
    the offset and read noise not set in ``config``. ``live`` is an optional mapping
    read at every iteration: values for ``lambda1``, ``lambda2``, ``lambda_tv``, ``gamma`` and
    ``adv_weight`` replace the configured ones from the next iteration on, and a true
    ``stop`` ends the run after the current iteration (with a final snapshot).
    Closing the generator also stops the run. NaN or Inf raise
    :class:`ReconstructionDiverged` carrying the last good snapshot. ``on_stage(stage,
    done, total)``, when given, reports the work before the first snapshot that takes
    time (the trial fits of ``psf_model = "auto"`` and of a floor over a dye carpet),
    from the thread that runs the generator.
    """
    prepared = _prepare(stack, config, dark)
    photons, config = prepared.photons, prepared.config
    device = resolve_device(config.device)
    # asked only where the ROI's own estimates fail (the trial fits of "auto" do not
    # cap b), and measured once for the run and its trial fits
    surroundings = Surroundings(prepared.frames, config, device, prepared.offset_pattern)
    check_memory(photons.shape, config, device.type)
    live = live if live is not None else {}
    last: Snapshot | None = None
    try:
        choice = None
        if config.psf_model == "auto":
            choice = choose_psf_model_for(photons, config, device, _StopOnly(live), on_stage)
            config = config.replace(psf_model=choice.model)
        # the last snapshot is kept for the error below
        for last in _run(  # noqa: B007
            photons, config, device, live, choice, surroundings, on_stage=on_stage
        ):
            # frames of the dark stack whose offset pattern was subtracted (0: none)
            last.info["dark_frames"] = float(dark.n_frames if dark is not None else 0)
            yield last
    except torch.OutOfMemoryError:
        raise OutOfMemory(
            "The device ran out of memory during the run; reduce the ROI, the upsampling L "
            f"(now {config.upsample}) or the batch size (now {config.batch_size}). The last "
            "result is kept.",
            last,
        ) from None


class _StopOnly(Mapping[str, float]):
    """A run's ``live`` mapping seen through its ``stop`` key alone: the trial fits of
    ``psf_model = "auto"`` keep the configured weights but end when the user stops."""

    def __init__(self, live: Mapping[str, float]) -> None:
        self._live = live

    def __getitem__(self, key: str) -> float:
        if key != "stop":
            raise KeyError(key)
        return self._live["stop"]

    def __iter__(self) -> Iterator[str]:
        return iter(["stop"] if "stop" in self._live else [])

    def __len__(self) -> int:
        return int("stop" in self._live)


#: choices of ``psf_model = "auto"`` already made in this process, by data and trial config
_PSF_CHOICES: OrderedDict[tuple[str, str, str], PSFModelChoice] = OrderedDict()
PSF_CHOICES_KEPT = 16


def _psf_choice_key(
    photons: np.ndarray, config: FluoGANConfig, device: torch.device
) -> tuple[str, str, str]:
    digest = hashlib.blake2b(np.ascontiguousarray(photons).view(np.uint8), digest_size=16)
    digest.update(repr((photons.shape, photons.dtype.str)).encode())
    return digest.hexdigest(), trial_config(config).to_json(), device.type


#: ``on_stage(stage, done, total)``: progress of work before a run's first iteration
StageCallback = Callable[[str, int, int], None]


def choose_psf_model_for(
    photons: np.ndarray,
    config: FluoGANConfig,
    device: torch.device,
    live: Mapping[str, float] | None = None,
    on_stage: StageCallback | None = None,
) -> PSFModelChoice:
    """Resolve ``psf_model = "auto"`` on photon frames: L2 fits of both shapes
    (core/psf_choice.py). A true ``live["stop"]`` ends them early. ``on_stage`` is
    called with ``("PSF shape: gaussian fit", iterations done, iterations)`` as they go.

    The choice is remembered for the same frames and trial settings (the run's priors
    and PSF size; not its mode, length or critic settings), so a second run on the same
    ROI, e.g. with the critic after an L2 preview, starts at once. Choices made from
    fits that were stopped are not remembered."""
    live = live if live is not None else {}
    key = _psf_choice_key(photons, config, device)
    if key in _PSF_CHOICES:
        _PSF_CHOICES.move_to_end(key)
        return _PSF_CHOICES[key]

    def fit_residual(trial: FluoGANConfig) -> float:
        last = None
        stage = f"PSF shape: {trial.psf_model} fit"
        problem = _Problem(photons, trial, device)
        problem.register_drift()
        for last in _run(photons, trial, device, live, problem=problem):
            if on_stage is not None:
                on_stage(stage, last.iteration, trial.iterations)
        assert last is not None
        return last.losses["data"]

    choice = choose_psf_model(config, fit_residual)
    if not live.get("stop"):
        _PSF_CHOICES[key] = choice
        while len(_PSF_CHOICES) > PSF_CHOICES_KEPT:
            _PSF_CHOICES.popitem(last=False)
    return choice


def _run(
    photons: np.ndarray | None,
    config: FluoGANConfig,
    device: torch.device,
    live: Mapping[str, float],
    psf_choice: PSFModelChoice | None = None,
    surroundings: Surroundings | None = None,
    on_stage: StageCallback | None = None,
    problem: _Problem | None = None,
) -> Iterator[Snapshot]:
    """The run itself; ``on_stage`` reports the trial fits of a floor over a dye carpet.
    ``problem``: the data of a run this one is a trial fit of (its floor already
    decided, and kept only where ``config.carpet_floor``); ``photons`` are then not
    read."""
    start = time.perf_counter()
    carpet_misfit = 0.0
    trial = problem is not None
    if problem is None:
        assert photons is not None
        problem = _Problem(photons, config, device, surroundings)
        if problem.carpet_photons > 0:
            carpet_misfit = _carpet_floor_misfit(config, device, live, problem, on_stage)
            if not keeps_the_floor(carpet_misfit):
                problem.carpet_photons = 0.0
    psi = problem.psi
    gen = torch.Generator(device=device)
    gen.manual_seed(config.seed)
    adversary = _Adversary(problem, config, gen) if config.use_critic else None
    cumulant = None
    factors = psi.separable_factors
    if config.cumulant_weight > 0 and factors is not None:
        cumulant = CumulantTerm(problem.frames, *factors, config.cumulant_lag)
        if not cumulant.active:  # no significant lagged correlation in the data
            cumulant = None

    # Hyperbolic TV on x (normalised units): eps relative to the mean fine-pixel level.
    tv_eps = config.tv_smoothing / config.upsample**2
    tv_lip = hyperbolic_tv_lipschitz(tv_eps)
    # MAP weighting: the data term is 1/2 ||r||^2 instead of 1/(2 s^2) ||r||^2, so the
    # prior enters multiplied by s^2, the error variance of the normalised mean image:
    # its noise, but never less than the model's own error (the PSF is never known to
    # better than a few per cent), which is what limits bright, long stacks.
    # The noise part is taken relative to the mean light c, not to u: in photons the
    # weight is then lambda_tv Var / (T c), which shot noise from a background does not
    # raise; relative to u, dim stacks on a background got a prior c / u times stronger
    # (the demo's line pairs, u = 0.58 c: 210 -> 240 nm). The floor, a model error of
    # the structure, is relative to u.
    tv_noise_var = max(
        problem.mean_noise_var * problem.unit / problem.scale, config.psf_model_error**2
    )
    # the cumulant term, weighted the same way: relative to the mean image's error variance
    cumulant_weight = (
        config.cumulant_weight * tv_noise_var / max(cumulant.noise_var, 1e-30)
        if cumulant is not None
        else 0.0
    )

    # l1 per photon that reaches the ROI: a fine pixel whose light the ROI sees only in
    # part (the margin, the ROI's own border) pays l1 on that part alone. Charged in
    # full, the margin could not take the light that spills in from outside, so the
    # ROI's border took it as a bright rim, and in a field full of dyes the rim rang
    # through x as a lattice of dots (docs/quality.md, "An ROI inside a field of dyes")
    observed = torch.ones_like(problem.target) if problem.weight is None else problem.weight
    seen = psi.adjoint(observed)
    l1_share = seen / seen.max()

    # Initialisation from the mean image: b the level of the field's dimmest part, x the
    # back-projection of the rest. A uniform level left in x moves to b only as fast as
    # l1 pushes it, and until it has, x has no zeros for l1 and positivity to sharpen
    # against (a pair on a background 20 times the benchmark's merged from half the level)
    target = problem.target
    # positivity and l1 act on x above this floor (a carpet of dyes; else 0)
    x_floor = problem.x_floor(config.carpet_floor)
    dark = torch.full_like(target, problem.dark / problem.unit)
    if trial:
        # x's floor already explains the carpet's share of the dark level: each short
        # trial starts b below it by that much, near its own solution, so that the two
        # fits are compared and not their distances from one start (started at the
        # whole level, b came down too slowly where a steady background raised its cap,
        # and a carpet on 10 times the background was refused)
        dark = dark - psi(x_floor)
    b = problem.project_background(dark)
    x = torch.maximum(psi.adjoint(target - b) / psi.norm_sq, x_floor)
    x_prev = x.clone()
    momentum_t = torch.ones((), device=device)
    losses: dict[str, torch.Tensor] = {}
    last_good: Snapshot | None = None

    lambda2_factor, tv_factor = config.smoothness_sampling_factor, config.tv_weight_factor

    def params() -> dict[str, float]:
        values = {k: float(live.get(k, getattr(config, k))) for k in LIVE_KEYS}
        # the smoothness priors per PSF area and per length, not per pixel (config)
        values["lambda2"] *= lambda2_factor
        values["lambda_tv"] *= tv_factor
        return values

    def snapshot(iteration: int, done: bool) -> Snapshot:
        nonlocal last_good
        x_np = (psi.crop_region(x) * problem.unit).cpu().numpy()
        b_np = (b * problem.unit).cpu().numpy()
        values = {k: float(v) for k, v in losses.items()}
        if not (np.isfinite(x_np).all() and np.isfinite(b_np).all()):
            raise ReconstructionDiverged(
                f"The reconstruction diverged (NaN or Inf) at iteration {iteration}; lower "
                "step_scale or adv_weight, or check the camera gain and offset. The last good "
                "result is kept.",
                last_good,
            )
        snap = Snapshot(
            iteration,
            x_np,
            b_np,
            values,
            time.perf_counter() - start,
            config,
            done,
            {
                "photons_per_pixel": problem.scale,
                # the unit of the priors: photons per pixel above the field's dimmest part
                "structure_photons_per_pixel": problem.unit,
                "structure_z": problem.structure_z,
                "critic_scale": problem.critic_scale,
                "cumulant_z": cumulant.z_score if cumulant is not None else 0.0,
                "fluctuation_gain": float(adversary.fluctuation_gain or 0.0)
                if adversary is not None
                else 0.0,
                # 1 when b is capped at the light that does not fluctuate
                "background_bound_active": float(problem.b_upper is not None),
                "background_bound_from_surroundings": float(problem.bound_from_surroundings),
                # photons per camera pixel of a carpet of dyes x is kept above (0: none)
                "carpet_photons_per_pixel": problem.carpet_photons,
                "carpet_from_surroundings": float(problem.carpet_from_surroundings),
                # how much the floor worsened the trial fits (0: no trial)
                "carpet_floor_misfit": carpet_misfit,
                "even_fluctuations": float(problem.even_fluctuations),
                "saturated_pixels": float(
                    problem.flagged_count(SATURATED) + problem.flagged_count(SATURATED_LEFT_OUT)
                ),
                # of those, clipped in too many frames to restore: left out of the fit
                "saturated_left_out": float(problem.flagged_count(SATURATED_LEFT_OUT)),
                "neighbour_noise_correlation": problem.noise_correlation,
                # the quietest pixels' variance over photon counting's (camera_check.py):
                # about 1 or more where the camera values are right
                "quietness": problem.quietness,
                "defective_pixels": float(problem.flagged_count(DEFECTIVE)),
                "dead_pixels": float(problem.flagged_count(DEAD)),
                # the largest extent of the drift path put in the model, nm (0: none)
                "drift_nm": float(problem.drift.extent_px.max()) * config.pixel_size_nm
                if problem.drift is not None
                else 0.0,
                # psf_model "auto": the Airy / Gaussian residual ratio it was chosen by
                "psf_residual_ratio": psf_choice.residual_ratio if psf_choice else 0.0,
            },
            problem.flagged_pixels,
        )
        last_good = snap
        return snap

    yield snapshot(0, False)
    for it in range(1, config.iterations + 1):
        p = params()
        gamma = p["gamma"]
        critic_on = adversary is not None and it > config.warm_start_iterations
        lipschitz_x = gamma * problem.data_norm_sq if gamma > 0 else psi.norm_sq
        tau_b = config.step_scale / ((gamma if gamma > 0 else 1.0) + 8.0 * p["lambda2"])

        if critic_on:
            assert adversary is not None
            gx_ph, gb_ph, critic_losses = adversary.gradient(x * problem.unit, b * problem.unit)
            losses.update(critic_losses)
            # d/dx_norm of -W E[D], W = adv_weight sqrt(n) s c / u^2: scale and size free,
            # and weighed against the data term 1 / (2 u^2) ||r_photons||^2 as it was
            # when u was c (the mean level), so that the unit moves the priors only
            adv = (
                p["adv_weight"] * math.sqrt(problem.n_coarse) * problem.critic_scale
                * problem.scale / problem.unit
            )
            adv_x, adv_b = -adv * gx_ph, -adv * gb_ph
        else:
            adv_x = adv_b = None

        # Proximal gradient step on x (FISTA momentum with adaptive restart).
        if config.fista:
            t_next = 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * momentum_t**2))
            y = x + ((momentum_t - 1.0) / t_next) * (x - x_prev)
        else:
            y = x
        grad_x = (
            gamma * problem.residual_adjoint(problem.residual(y, b))
            if gamma > 0
            else torch.zeros_like(x)
        )
        if cumulant is not None:
            grad_c, losses["cumulant"] = cumulant.gradient(y)
            grad_x = grad_x + cumulant_weight * grad_c
            lipschitz_x = lipschitz_x + cumulant_weight * cumulant.lipschitz()
        if p["lambda_tv"] > 0:
            tv_weight = p["lambda_tv"] * tv_noise_var
            grad_tv, tv_value = hyperbolic_tv_gradient(y, tv_eps)
            grad_x = grad_x + tv_weight * grad_tv
            lipschitz_x = lipschitz_x + tv_weight * tv_lip
            losses["tv"] = tv_weight * tv_value / problem.n_coarse
        tau_x = config.step_scale / lipschitz_x
        if adv_x is not None:
            grad_x = grad_x + adv_x
        x_new = x_floor + torch.relu(
            y - x_floor - tau_x * grad_x - (tau_x * p["lambda1"]) * l1_share
        )
        if config.fista:
            # adaptive restart, kept on the device (no synchronisation per iteration)
            restart = ((y - x_new) * (x_new - x)).sum() > 0
            momentum_t = torch.where(restart, torch.ones_like(t_next), t_next)
        x_prev, x = x, x_new

        # Projected gradient step on b (smooth background, 0 <= b <= its bound).
        residual = problem.mean_residual(problem.residual(x, b))
        # the smoothness prior's gradient: D^T D b for 1/2 ||D b||^2 (Neumann border)
        smooth_b = divergence_adjoint(*forward_differences(b))
        grad_b = gamma * residual + p["lambda2"] * smooth_b
        if adv_b is not None:
            grad_b = grad_b + adv_b
        b = problem.project_background(b - tau_b * grad_b)

        losses["data"] = 0.5 * gamma * (residual**2).mean()
        # reported for the ROI the user sees (x also extends over the margin)
        losses["l1"] = p["lambda1"] * psi.crop_region(x).sum() / problem.n_coarse
        if live.get("stop"):
            yield snapshot(it, True)
            return
        if it % config.snapshot_every == 0 or it == config.iterations:
            yield snapshot(it, it == config.iterations)


def _carpet_floor_misfit(
    config: FluoGANConfig,
    device: torch.device,
    live: Mapping[str, float],
    problem: _Problem,
    on_stage: StageCallback | None,
) -> float:
    """:func:`.dye_carpet.floor_misfit` from two short L2 fits on ``problem``'s data,
    with and without the floor: dense structure looks like a carpet through the PSF,
    and the floor is kept only where it costs the fit of the mean image little."""
    trial = config.replace(
        use_critic=False, iterations=TRIAL_ITERATIONS, snapshot_every=TRIAL_ITERATIONS // 4
    )
    data = []
    for floor in (True, False):
        stage = f"Dye carpet: fit {'with' if floor else 'without'} a floor"
        for last in _run(  # noqa: B007 - the last snapshot's data term is wanted
            None, trial.replace(carpet_floor=floor), device, _StopOnly(live), problem=problem
        ):
            if on_stage is not None:
                on_stage(stage, last.iteration, TRIAL_ITERATIONS)
        data.append(last.losses["data"] / max(config.gamma, 1e-12))
    return floor_misfit(*data, problem.carpet_photons, problem.unit)


def reconstruct(
    stack: Stack | np.ndarray,
    config: FluoGANConfig,
    live: MutableMapping[str, float] | None = None,
    dark: DarkCalibration | None = None,
) -> Snapshot:
    """Run :func:`reconstruct_iter` to the end and return the final snapshot."""
    snapshots = reconstruct_iter(stack, config, live, dark=dark)
    last = next(snapshots)
    for last in snapshots:  # noqa: B007 - only the final snapshot is returned
        pass
    return last
