"""Emitter phantoms for the blinking simulator: where the fluorophores sit (nm).

Every phantom has a field ``height_nm x width_nm`` and ``sample_emitters(rng,
density_per_nm)`` returning emitter positions ``(N, 2)`` as (y, x) in nm from the
top-left corner. ``density_per_nm`` is the number of emitters per nm of a line of
the phantom's reference width (100 nm for the line pairs), so a control bar that
carries the same total brightness as its pair also carries the same number of
emitters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .simulate import Phantom


class EmitterPhantom(Protocol):
    """Anything that can place emitters in a field of ``height_nm x width_nm``."""

    height_nm: float
    width_nm: float

    def sample_emitters(self, rng: np.random.Generator, density_per_nm: float) -> np.ndarray: ...


def camera_shape(phantom: EmitterPhantom, pixel_size_nm: float) -> tuple[int, int]:
    """Camera pixels needed to cover the phantom's field."""
    return (
        int(math.ceil(phantom.height_nm / pixel_size_nm - 1e-9)),
        int(math.ceil(phantom.width_nm / pixel_size_nm - 1e-9)),
    )


def bar_emitters(
    phantom: Phantom,
    rng: np.random.Generator,
    density_per_nm: float,
    reference_width_nm: float = 100.0,
    stratified: bool = True,
) -> np.ndarray:
    """Emitters spread over the bars of a line-pair phantom.

    A bar of intensity I and width w gets ``density * length * I * w / ref`` emitters:
    a 100 nm line of intensity 1 gets ``density`` per nm of its length. ``stratified``
    (the default) places them on a jittered grid across the bar, one per equal slice of
    its width, so a control bar is solid at every scale: with independent uniform
    positions (``stratified=False``, count drawn from a Poisson law) the emitters'
    own clustering splits a bar into lanes that the control metric reads as a split,
    and even the ground truth fails its controls.
    """
    chunks = []
    for bar in phantom.bars:
        length = bar.y1_nm - bar.y0_nm
        expected = density_per_nm * length * bar.intensity * bar.width_nm / reference_width_nm
        x0 = bar.x_nm - bar.width_nm / 2
        if stratified:
            n = int(round(expected))
            slices = rng.permutation(n)
            x = x0 + bar.width_nm * (slices + rng.uniform(0.0, 1.0, n)) / max(n, 1)
        else:
            n = rng.poisson(expected)
            x = rng.uniform(x0, x0 + bar.width_nm, n)
        y = rng.uniform(bar.y0_nm, bar.y1_nm, n)
        chunks.append(np.stack([y, x], axis=1))
    if not chunks:
        return np.zeros((0, 2))
    return np.concatenate(chunks, axis=0)


@dataclass(frozen=True)
class LinePairEmitters:
    """The line-pair phantom (with its control bars) as an emitter phantom."""

    phantom: Phantom

    @property
    def height_nm(self) -> float:
        return self.phantom.height_nm

    @property
    def width_nm(self) -> float:
        return self.phantom.width_nm

    def sample_emitters(self, rng: np.random.Generator, density_per_nm: float) -> np.ndarray:
        return bar_emitters(self.phantom, rng, density_per_nm)


@dataclass(frozen=True)
class FilamentPhantom:
    """Random tubulin-like filaments: smooth worm-like curves crossing the field.

    Each filament starts on the border, heads inwards and bends with a persistence
    length ``persistence_nm``; emitters sit along it with a Gaussian spread of
    ``label_sd_nm`` across (antibody labelling around a 25 nm tube).
    """

    height_nm: float = 3200.0
    width_nm: float = 3200.0
    n_filaments: int = 6
    persistence_nm: float = 4000.0
    label_sd_nm: float = 10.0
    seed: int = 0

    def paths(self) -> list[np.ndarray]:
        """The filaments' centre lines, each (K, 2) in nm, sampled every 5 nm."""
        rng = np.random.default_rng(self.seed)
        step = 5.0
        n_steps = int(2.5 * max(self.height_nm, self.width_nm) / step)
        out = []
        for _ in range(self.n_filaments):
            side = rng.integers(4)
            u = rng.uniform(0.1, 0.9)
            start = {
                0: (0.0, u * self.width_nm),
                1: (self.height_nm, u * self.width_nm),
                2: (u * self.height_nm, 0.0),
                3: (u * self.height_nm, self.width_nm),
            }[int(side)]
            inward = {0: 0.5 * math.pi, 1: -0.5 * math.pi, 2: 0.0, 3: math.pi}[int(side)]
            angle = inward + rng.uniform(-0.6, 0.6)
            turns = rng.normal(0.0, math.sqrt(step / self.persistence_nm), n_steps)
            angles = angle + np.cumsum(turns)
            dy = step * np.sin(angles)
            dx = step * np.cos(angles)
            pts = np.stack([start[0] + np.cumsum(dy), start[1] + np.cumsum(dx)], axis=1)
            inside = (
                (pts[:, 0] >= 0)
                & (pts[:, 0] <= self.height_nm)
                & (pts[:, 1] >= 0)
                & (pts[:, 1] <= self.width_nm)
            )
            # keep the first run inside the field
            outside = np.flatnonzero(~inside)
            end = outside[0] if outside.size else pts.shape[0]
            out.append(pts[:end])
        return out

    def sample_emitters(self, rng: np.random.Generator, density_per_nm: float) -> np.ndarray:
        chunks = []
        for path in self.paths():
            if path.shape[0] < 2:
                continue
            seg = np.diff(path, axis=0)
            seg_len = np.hypot(seg[:, 0], seg[:, 1])
            arc = np.concatenate([[0.0], np.cumsum(seg_len)])
            n = rng.poisson(density_per_nm * arc[-1])
            s = rng.uniform(0.0, arc[-1], n)
            y = np.interp(s, arc, path[:, 0]) + rng.normal(0.0, self.label_sd_nm, n)
            x = np.interp(s, arc, path[:, 1]) + rng.normal(0.0, self.label_sd_nm, n)
            chunks.append(np.stack([y, x], axis=1))
        if not chunks:
            return np.zeros((0, 2))
        pts = np.concatenate(chunks, axis=0)
        keep = (
            (pts[:, 0] >= 0)
            & (pts[:, 0] < self.height_nm)
            & (pts[:, 1] >= 0)
            & (pts[:, 1] < self.width_nm)
        )
        return pts[keep]


@dataclass(frozen=True)
class BeadPhantom:
    """Fluorescent beads (discs of ``diameter_nm``) at random, non-overlapping places.

    ``sample_emitters`` puts ``density_per_nm * diameter_nm`` emitters in each bead
    on average (a bead is as bright as a line segment of its own length).
    """

    height_nm: float = 3200.0
    width_nm: float = 3200.0
    n_beads: int = 12
    diameter_nm: float = 100.0
    min_distance_nm: float = 400.0
    seed: int = 0

    def centres(self) -> np.ndarray:
        """Bead centres (n, 2) in nm, at least ``min_distance_nm`` apart (rejection)."""
        rng = np.random.default_rng(self.seed)
        margin = 300.0
        found: list[np.ndarray] = []
        for _ in range(200 * self.n_beads):
            if len(found) == self.n_beads:
                break
            c = rng.uniform([margin, margin], [self.height_nm - margin, self.width_nm - margin])
            if all(np.hypot(*(c - f)) >= self.min_distance_nm for f in found):
                found.append(c)
        return np.array(found).reshape(-1, 2)

    def sample_emitters(self, rng: np.random.Generator, density_per_nm: float) -> np.ndarray:
        chunks = []
        r_max = self.diameter_nm / 2
        for c in self.centres():
            n = rng.poisson(density_per_nm * self.diameter_nm)
            r = r_max * np.sqrt(rng.uniform(0.0, 1.0, n))
            phi = rng.uniform(0.0, 2 * math.pi, n)
            chunks.append(np.stack([c[0] + r * np.sin(phi), c[1] + r * np.cos(phi)], axis=1))
        if not chunks:
            return np.zeros((0, 2))
        return np.concatenate(chunks, axis=0)


def _spiral_disc(
    rng: np.random.Generator, n: int, r_inner_nm: float, r_outer_nm: float
) -> np.ndarray:
    """``n`` offsets (y, x) nm spread evenly over an annulus (a disc where the inner
    radius is 0): a sunflower spiral, equal area per emitter, turned at random and
    jittered by a fifth of the spacing, so the shape is solid at every scale (random
    uniform positions clump, and a clumped disc reads as hollow or split)."""
    if n == 0:
        return np.zeros((0, 2))
    k = np.arange(n) + rng.uniform(-0.2, 0.2, n)
    area_share = np.clip((k + 0.5) / n, 0.0, 1.0)
    r = np.sqrt(r_inner_nm**2 + (r_outer_nm**2 - r_inner_nm**2) * area_share)
    golden = math.pi * (3.0 - math.sqrt(5.0))
    phi = rng.uniform(0.0, 2 * math.pi) + golden * np.arange(n)
    return np.stack([r * np.sin(phi), r * np.cos(phi)], axis=1)


@dataclass(frozen=True)
class RingPhantom:
    """Rings (hollow circles: vesicles, coated pits, pores), each over a solid disc.

    Column k holds a ring of outer diameter ``diameters_nm[k]`` with a wall
    ``wall_nm`` thick (top row) and, below it, its negative control: a solid disc of
    the same outer diameter and the same number of emitters (same total brightness).
    A method that shows the ring's hole has resolved it; one that shows a hole in the
    disc has invented it. Centres are ``spacing_nm`` apart, so neighbours do not
    overlap through the PSF. A ring gets as many emitters as a 100 nm line of the same
    area (``density_per_nm * area / 100 nm``).
    """

    diameters_nm: tuple[float, ...] = (480.0, 420.0, 360.0, 300.0, 240.0, 180.0, 150.0)
    wall_nm: float = 50.0
    spacing_nm: float = 1000.0

    @property
    def height_nm(self) -> float:
        return 2 * self.spacing_nm

    @property
    def width_nm(self) -> float:
        return len(self.diameters_nm) * self.spacing_nm

    def centres_nm(self, control: bool = False) -> list[tuple[float, float]]:
        """(y, x) centres of the rings, or of their control discs."""
        y = (1.5 if control else 0.5) * self.spacing_nm
        return [(y, (k + 0.5) * self.spacing_nm) for k in range(len(self.diameters_nm))]

    def inner_radius_nm(self, diameter_nm: float) -> float:
        """Radius of a ring's hole."""
        return max(diameter_nm / 2 - self.wall_nm, 0.0)

    def emitters_per_ring(self, diameter_nm: float, density_per_nm: float) -> int:
        r_out, r_in = diameter_nm / 2, self.inner_radius_nm(diameter_nm)
        return int(round(density_per_nm * math.pi * (r_out**2 - r_in**2) / 100.0))

    def sample_emitters(self, rng: np.random.Generator, density_per_nm: float) -> np.ndarray:
        chunks = []
        rings, discs = self.centres_nm(), self.centres_nm(control=True)
        for d, ring, disc in zip(self.diameters_nm, rings, discs, strict=True):
            n = self.emitters_per_ring(d, density_per_nm)
            chunks.append(np.asarray(ring) + _spiral_disc(rng, n, self.inner_radius_nm(d), d / 2))
            chunks.append(np.asarray(disc) + _spiral_disc(rng, n, 0.0, d / 2))
        return np.concatenate(chunks, axis=0)
