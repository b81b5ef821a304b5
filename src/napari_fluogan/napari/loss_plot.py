"""A small live plot of the losses, embedded in the dock (matplotlib's Qt canvas)."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

# (loss key, legend, axis): "data" is the generator's L2 term on the mean image.
CURVES = (
    ("data", "data term (L2)", 0),
    ("l1", "sparsity (λ1·|x|₁)", 0),
    ("critic", "critic loss", 1),
    ("w_distance", "Wasserstein estimate", 1),
)


class LossPlot(QWidget):
    """Generator data term (log scale, top) and critic losses (bottom) against iteration."""

    MIN_REDRAW_S = 0.3

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # A fixed layout: matplotlib's constrained layout costs ~0.5 s per redraw.
        self.figure = Figure(figsize=(3.2, 2.6), dpi=80)
        self.figure.subplots_adjust(left=0.2, right=0.97, top=0.97, bottom=0.14, hspace=0.12)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(180)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.axes = self.figure.subplots(2, 1, sharex=True)
        self.history: dict[str, list[tuple[int, float]]] = {}
        self._last_draw = 0.0
        self._lines: dict[str, object] = {}
        self.clear()

    def clear(self, total_iterations: int | None = None) -> None:
        """Forget the curves (a new run of ``total_iterations`` starts)."""
        self.history = {key: [] for key, _, _ in CURVES}
        for ax in self.axes:
            ax.clear()
            ax.tick_params(labelsize=7)
        self.axes[0].set_yscale("log")
        self.axes[0].set_ylabel("generator", fontsize=8)
        self.axes[1].set_ylabel("critic", fontsize=8)
        self.axes[1].set_xlabel("iteration", fontsize=8)
        self._lines = {}
        for key, label, row in CURVES:
            (line,) = self.axes[row].plot([], [], label=label, lw=1.2)
            self._lines[key] = line
        for ax in self.axes:
            ax.legend(fontsize=6, loc="upper right")
        self.axes[1].set_xlim(0, total_iterations or 100)
        self._last_draw = 0.0
        self.canvas.draw_idle()

    def record(self, iteration: int, losses: Mapping[str, float]) -> bool:
        """Append the losses of one snapshot (no redraw); True when something was new."""
        changed = False
        for key, _, _ in CURVES:
            value = losses.get(key)
            if value is None or not np.isfinite(value):
                continue
            if key in ("data", "l1") and value <= 0:
                continue
            self.history[key].append((int(iteration), float(value)))
            changed = True
        return changed

    def redraw(self, force: bool = False) -> None:
        """Show the recorded curves (at most every :attr:`MIN_REDRAW_S` unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._last_draw < self.MIN_REDRAW_S:
            return
        self._last_draw = now
        for key, points in self.history.items():
            if points:
                its, vals = zip(*points, strict=True)
                self._lines[key].set_data(its, vals)  # type: ignore[attr-defined]
        for ax in self.axes:
            ax.relim()
            ax.autoscale_view()
        self.canvas.draw_idle()

    def add(self, iteration: int, losses: Mapping[str, float]) -> None:
        """Record the losses of one snapshot and redraw."""
        if self.record(iteration, losses):
            self.redraw(force=True)
