"""Choosing the PSF shape the engine assumes (``psf_model = "auto"``) from the data.

Both shapes are fitted to the whole field's mean image with the L2 data term and the
run's priors (no critic; :data:`TRIAL_ITERATIONS` each, whatever the run's length,
since the ratio moves until the fits converge). The Airy
pattern is taken only when it explains the mean image clearly better than the
Gaussian: its residual at most :data:`AIRY_RESIDUAL_RATIO` of the Gaussian's.

On the benchmark's Airy stacks the ratio is 0.86-0.93 (FWHM given right, up to 2 % too
narrow, or 5 % too wide); on its Gaussian stacks 1.3-1.4; on widefield PSFs with
defocus or heavy-tailed ones without rings above 1. With the FWHM given 5 % too narrow
on Airy data it is about 1.0: there the Airy model would split solid bars (its rings
sit where the data have none) and the Gaussian does not. The ratio also depends on the
content (0.58 on sparse filaments, 1.0 on dense ones, same PSF). docs/quality.md,
"Choosing the PSF shape".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .config import FluoGANConfig

#: the Airy model is chosen when its residual is at most this fraction of the Gaussian's
AIRY_RESIDUAL_RATIO = 0.95
#: iterations of each trial fit, whatever the run's length: the ratio moves until the
#: fits converge (on a 200-frame Airy stack 0.68 / 0.93 / 0.88 after 100 / 300 / 1000
#: iterations, and a 6-iteration fit took the Airy pattern on Gaussian data)
TRIAL_ITERATIONS = 1000
#: the trial fits report their progress (``on_stage``) every this many iterations
TRIAL_PROGRESS_EVERY = 100


@dataclass(frozen=True)
class PSFModelChoice:
    """The chosen shape and the two trial fits' mean-image residuals (normalised)."""

    model: str
    residual_gaussian: float
    residual_airy: float

    @property
    def residual_ratio(self) -> float:
        """Airy residual over Gaussian residual: below :data:`AIRY_RESIDUAL_RATIO` picks Airy."""
        return self.residual_airy / max(self.residual_gaussian, 1e-30)


def trial_config(config: FluoGANConfig) -> FluoGANConfig:
    """The config of both trial fits (before their ``psf_model`` is set): an L2 fit
    with the run's priors and PSF size, whatever the run's mode and length."""
    return config.replace(
        use_critic=False,
        cumulant_weight=0.0,
        # the shape is the optics' question: a cap on b (a prior on the background)
        # would change which shape can fit (with it, the Gaussian fitted the Airy
        # line pairs as well as the Airy pattern: ratio 1.02 instead of 0.87)
        background_bound=False,
        gamma=1.0,  # an L2 fit, also when the run itself is purely adversarial
        iterations=TRIAL_ITERATIONS,
        warm_start_iterations=0,
        snapshot_every=TRIAL_PROGRESS_EVERY,
    )


def choose_psf_model(
    config: FluoGANConfig, fit_residual: Callable[[FluoGANConfig], float]
) -> PSFModelChoice:
    """Fit both shapes with ``fit_residual`` (an L2 run returning the mean-image
    residual for a config) and choose as described in the module docstring."""
    trial = trial_config(config)
    residual_gaussian = fit_residual(trial.replace(psf_model="gaussian"))
    residual_airy = fit_residual(trial.replace(psf_model="airy"))
    model = "airy" if residual_airy <= AIRY_RESIDUAL_RATIO * residual_gaussian else "gaussian"
    return PSFModelChoice(model, residual_gaussian, residual_airy)


def describe_psf_model(config: FluoGANConfig, info: dict[str, float]) -> str:
    """One line for a status bar or log: the shape a run assumes and, when it was
    chosen automatically, the residual ratio it was chosen by (``Snapshot.info``)."""
    ratio = info.get("psf_residual_ratio", 0.0)
    if ratio > 0:
        return (
            f"PSF {config.psf_model} (auto: Airy residual {ratio:.2f} x the Gaussian's, "
            f"Airy below {AIRY_RESIDUAL_RATIO:.2f})"
        )
    return f"PSF {config.psf_model}"
