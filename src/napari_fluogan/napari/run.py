"""Qt-free glue between the widget and the engine: one run as a generator of snapshots.

:func:`engine_run` wraps :func:`napari_fluogan.reconstruct_iter` so that no exception
escapes to the GUI: it yields every :class:`Snapshot` and *returns* a
:class:`RunOutcome` saying how the run ended (finished, stopped, failed with a
user-facing message), with the last good snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.dark import DarkCalibration
from ..core.errors import FluoGANError, ReconstructionDiverged
from ..core.solver import LIVE_KEYS, Snapshot, StageCallback, reconstruct_iter

log = logging.getLogger(__name__)

LIVE_PARAMETERS = LIVE_KEYS
"""Parameters the engine re-reads from the ``live`` mapping at every iteration."""


@dataclass
class RunOutcome:
    """How a run ended: ``severity`` is ``"ok"``, ``"warning"`` or ``"error"``."""

    snapshot: Snapshot | None
    message: str | None = None
    severity: str = "ok"
    stopped: bool = False


def engine_run(
    frames: np.ndarray,
    config: Any,
    live: MutableMapping[str, Any],
    on_stage: StageCallback | None = None,
    dark_frames: np.ndarray | None = None,
) -> Generator[Snapshot, None, RunOutcome]:
    """Yield the engine's snapshots; return a :class:`RunOutcome` instead of raising.

    Closing the generator (the worker quitting) closes the engine with it. ``on_stage``
    is the engine's report of its work before the first snapshot (called from the
    worker thread). ``dark_frames``: a dark stack (T, H, W) in ADU, measured here, in
    the worker (a large one takes seconds), or None.
    """
    last: Snapshot | None = None
    try:
        dark = None if dark_frames is None else DarkCalibration.from_frames(dark_frames)
        for snap in reconstruct_iter(frames, config, live=live, on_stage=on_stage, dark=dark):
            last = snap
            yield snap
    except ReconstructionDiverged as exc:
        return RunOutcome(exc.last_snapshot or last, str(exc), "warning")
    except FluoGANError as exc:
        kept = getattr(exc, "last_snapshot", None) or last
        return RunOutcome(kept, str(exc), "error")
    except Exception as exc:  # a bug, not a user mistake: log it, tell the user briefly
        log.exception("FluoGAN run failed")
        return RunOutcome(
            last,
            f"The reconstruction failed unexpectedly ({type(exc).__name__}: {exc}). "
            "The last result is kept; please report this with the log.",
            "error",
        )
    return RunOutcome(last, None, "ok", stopped=bool(live.get("stop")))


class RateMeter:
    """Iterations per second and time left, measured from the first snapshot on
    (the first one includes the start-up: calibration, operator set-up)."""

    def __init__(self, total_iterations: int) -> None:
        self.total = total_iterations
        self._origin: tuple[int, float] | None = None

    def update(self, iteration: int, elapsed_s: float) -> tuple[float | None, float | None]:
        """``(iterations per second, seconds left)``; ``None`` until measurable."""
        if self._origin is None:
            self._origin = (iteration, elapsed_s)
            return None, None
        d_it = iteration - self._origin[0]
        d_t = elapsed_s - self._origin[1]
        if d_it <= 0 or d_t <= 0:
            return None, None
        rate = d_it / d_t
        return rate, max(self.total - iteration, 0) / rate

    def describe(self, iteration: int, elapsed_s: float) -> str:
        """``"iteration 120 / 500 · 35.2 it/s · 11 s left"``."""
        rate, left = self.update(iteration, elapsed_s)
        text = f"iteration {iteration} / {self.total}"
        if rate is not None and left is not None:
            text += f" · {rate:.3g} it/s · {_duration(left)} left"
        return text


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {(seconds % 3600) // 60:02.0f} min"
