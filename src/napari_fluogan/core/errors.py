"""User-facing error types.

Every mistake a user can make is raised as a :class:`FluoGANError` whose message is
one sentence saying what is wrong and what to do. The CLI prints it on one line and
exits with code 2; the napari widget shows it as a notification.
"""

from __future__ import annotations

from typing import Any


class FluoGANError(ValueError):
    """A problem with the user's input or settings (message says what to do)."""


class ReconstructionDiverged(RuntimeError):
    """The optimisation produced NaN or Inf; ``last_snapshot`` holds the last good state."""

    def __init__(self, message: str, last_snapshot: Any = None) -> None:
        super().__init__(message)
        self.last_snapshot = last_snapshot


class OutOfMemory(FluoGANError):
    """The run does not fit in the memory of the chosen device."""

    def __init__(self, message: str, last_snapshot: Any = None) -> None:
        super().__init__(message)
        self.last_snapshot = last_snapshot
