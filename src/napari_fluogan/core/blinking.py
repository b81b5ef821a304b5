"""A realistic fluctuation-stack simulator: blinking, bleaching dyes and a real camera.

Unlike :func:`~napari_fluogan.core.simulate.simulate_stack` (the engine's own
double-Poisson model), this simulator does *not* share the engine's assumptions:

- emitters sit at continuous positions (binned on a simulation grid that does not
  line up with the reconstruction grid);
- each emitter switches on and off with exponential on and off times (means
  ``on_frames``, ``off_frames``, continuous time), starts in its stationary state,
  and bleaches for good once its accumulated on-time passes an exponential budget
  (mean ``bleach_on_frames``); the photons it emits in a frame are proportional to
  the time it spent on during that frame;
- the PSF may be an Airy pattern while the engine assumes a Gaussian;
- the camera has a quantum efficiency, a gain (ADU per photo-electron), an offset,
  Gaussian read noise, rounding and 16-bit clipping.

Everything is vectorised over emitters and frames (one ``searchsorted`` for all the
switching times, one sparse product per chunk of frames): thousands of emitters and
500 frames take seconds.

Units: brightness in photons per frame reaching the camera while an emitter is on;
the ground truth is in detected photo-electrons per frame per fine pixel (what the
engine's ``x`` estimates once ADU are converted with the gain and offset).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from .phantoms import EmitterPhantom, camera_shape
from .physics import PsiOperator
from .psf import PSF


@dataclass(frozen=True)
class Photophysics:
    """Dye behaviour: photons per frame while on, mean on/off times, bleaching."""

    photons_per_frame_on: float = 50.0
    on_frames: float = 2.0
    off_frames: float = 6.0
    bleach_on_frames: float | None = 400.0


@dataclass(frozen=True)
class Camera:
    """sCMOS-like camera: QE, gain (ADU per electron), offset and read noise (ADU)."""

    quantum_efficiency: float = 0.8
    gain_adu_per_e: float = 2.0
    offset_adu: float = 100.0
    read_noise_adu: float = 2.0
    max_adu: int = 65535


#: Photon regimes: "bright" gives tens of detected photons per emitter per on-frame,
#: "dim" a few. Background in photons per camera pixel per frame.
REGIMES: dict[str, tuple[Photophysics, float]] = {
    "bright": (Photophysics(photons_per_frame_on=50.0), 10.0),
    "dim": (Photophysics(photons_per_frame_on=5.0), 1.0),
}


@dataclass
class BlinkingSimulation:
    """A simulated stack with its ground truth.

    ``frames``: (T, m1, m2) uint16 ADU. ``truth``: (m1 L, m2 L) mean detected
    photo-electrons per frame per fine pixel (pixel ``pixel_size_nm / upsample``).
    ``emitter_map``: number of emitters per fine pixel. ``emitters``: (N, 2) (y, x) nm.
    ``on_time``: (N, T) fraction of each frame each emitter spent on.
    """

    frames: np.ndarray
    truth: np.ndarray
    emitter_map: np.ndarray
    emitters: np.ndarray
    on_time: np.ndarray
    pixel_size_nm: float
    upsample: int
    camera: Camera
    photophysics: Photophysics
    background_photons: float
    info: dict[str, float] = field(default_factory=dict)

    @property
    def fine_pixel_size_nm(self) -> float:
        return self.pixel_size_nm / self.upsample


def on_time_fractions(
    n_emitters: int,
    n_frames: int,
    on_frames: float,
    off_frames: float,
    bleach_on_frames: float | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Fraction of each frame (N, T) that each emitter spends on (telegraph process).

    Alternating exponential on and off intervals (means in frames) in continuous time,
    stationary start, and bleaching once the accumulated on-time exceeds an
    exponential budget of mean ``bleach_on_frames`` (None: no bleaching).
    """
    if n_emitters == 0:
        return np.zeros((0, n_frames), dtype=np.float32)
    p_on = on_frames / (on_frames + off_frames)
    starts_on = rng.random(n_emitters) < p_on
    cycle = on_frames + off_frames
    n_int = int(np.ceil(2.0 * n_frames / cycle * 1.3)) + 16
    durations = np.empty((n_emitters, 0))
    states = np.empty((n_emitters, 0), dtype=bool)
    # draw intervals until every emitter's timeline covers the whole stack
    while durations.shape[1] == 0 or durations.sum(axis=1).min() < n_frames:
        k0 = durations.shape[1]
        k = np.arange(k0, k0 + n_int)
        st = starts_on[:, None] ^ (k[None, :] % 2 == 1)
        means = np.where(st, on_frames, off_frames)
        durations = np.concatenate([durations, rng.exponential(1.0, st.shape) * means], axis=1)
        states = np.concatenate([states, st], axis=1)
    ends = np.cumsum(durations, axis=1)  # (N, K) end time of each interval
    on_cum = np.cumsum(durations * states, axis=1)  # accumulated on-time at each end
    n_int_total = ends.shape[1]
    # one global searchsorted: shift each emitter's timeline by its own offset
    span = float(ends[:, -1].max()) + 1.0
    shift = np.arange(n_emitters)[:, None] * span
    flat_ends = (ends + shift).ravel()
    t = np.arange(n_frames + 1, dtype=np.float64)
    query = (t[None, :] + shift).ravel()
    j = np.searchsorted(flat_ends, query, side="right").reshape(n_emitters, n_frames + 1)
    j -= np.arange(n_emitters)[:, None] * n_int_total  # interval index containing t
    j = np.minimum(j, n_int_total - 1)
    rows = np.arange(n_emitters)[:, None]
    prev_end = np.where(j > 0, ends[rows, np.maximum(j - 1, 0)], 0.0)
    prev_on = np.where(j > 0, on_cum[rows, np.maximum(j - 1, 0)], 0.0)
    cum = prev_on + (t[None, :] - prev_end) * states[rows, j]  # on-time in [0, t]
    if bleach_on_frames is not None:
        budget = rng.exponential(bleach_on_frames, n_emitters)
        cum = np.minimum(cum, budget[:, None])
    return np.diff(cum, axis=1).astype(np.float32)


def _bin_matrix(
    emitters: np.ndarray, shape: tuple[int, int], pixel_size_nm: float
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse (pixels x emitters) one-hot matrix binning emitters on a grid; an emitter
    outside the grid (moved out by drift) has an empty column."""
    iy = np.floor(emitters[:, 0] / pixel_size_nm).astype(np.int64)
    ix = np.floor(emitters[:, 1] / pixel_size_nm).astype(np.int64)
    inside = (iy >= 0) & (iy < shape[0]) & (ix >= 0) & (ix < shape[1])
    flat = np.clip(iy, 0, shape[0] - 1) * shape[1] + np.clip(ix, 0, shape[1] - 1)
    n = emitters.shape[0]
    mat = sp.csr_matrix(
        (inside.astype(np.float32), (flat, np.arange(n))), shape=(shape[0] * shape[1], n)
    )
    return mat, flat


def simulate_blinking(
    phantom: EmitterPhantom,
    psf: PSF,
    pixel_size_nm: float = 100.0,
    upsample: int = 4,
    n_frames: int = 500,
    density_per_nm: float = 0.05,
    photophysics: Photophysics | None = None,
    camera: Camera | None = None,
    background_photons: float = 10.0,
    seed: int = 0,
    sim_upsample: int | None = None,
    chunk_frames: int = 32,
    drift_nm: np.ndarray | None = None,
) -> BlinkingSimulation:
    """Simulate a blinking-emitter stack of ``phantom`` seen through ``psf``.

    Parameters
    ----------
    phantom : where the emitters sit (see :mod:`~napari_fluogan.core.phantoms`).
    psf : the PSF used to form the images (Gaussian or Airy).
    pixel_size_nm : camera pixel size in the sample.
    upsample : L of the ground-truth grid (the reconstruction grid).
    n_frames : T.
    density_per_nm : emitters per nm of a reference-width line.
    photophysics, camera : dye and camera models (defaults: the "bright" regime).
    background_photons : uniform background, photons per camera pixel per frame.
    seed : everything random derives from it.
    sim_upsample : simulation grid factor (default ``upsample + 1``: a grid that does
        not line up with the reconstruction grid, so the engine is not handed its own
        discretisation).
    drift_nm : (T, 2) the sample's shift ``(dy, dx)`` in nm at every frame, or None;
        the ground truth is the sample at zero shift, and each chunk of frames is drawn
        at its chunk's mean shift (so keep ``chunk_frames`` small against the drift's
        pace).
    """
    photophysics = photophysics or Photophysics()
    camera = camera or Camera()
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    m1, m2 = camera_shape(phantom, pixel_size_nm)
    emitters = phantom.sample_emitters(rng, density_per_nm)
    inside = (
        (emitters[:, 0] >= 0)
        & (emitters[:, 0] < m1 * pixel_size_nm)
        & (emitters[:, 1] >= 0)
        & (emitters[:, 1] < m2 * pixel_size_nm)
    )
    emitters = emitters[inside]
    n_em = emitters.shape[0]
    on_time = on_time_fractions(
        n_em,
        n_frames,
        photophysics.on_frames,
        photophysics.off_frames,
        photophysics.bleach_on_frames,
        rng,
    )
    qe = camera.quantum_efficiency
    e_per_frame_on = qe * photophysics.photons_per_frame_on  # detected electrons

    # ground truth on the reconstruction grid
    fine_shape = (m1 * upsample, m2 * upsample)
    fine_px = pixel_size_nm / upsample
    truth_mat, _ = _bin_matrix(emitters, fine_shape, fine_px)
    mean_on = on_time.mean(axis=1) if n_frames > 0 else np.zeros(n_em, np.float32)
    truth = (truth_mat @ (e_per_frame_on * mean_on.astype(np.float64))).reshape(fine_shape)
    emitter_map = np.asarray(truth_mat.sum(axis=1)).reshape(fine_shape)

    # frames on a finer simulation grid, blurred and summed onto camera pixels
    s_up = sim_upsample or upsample + 1
    sim_shape = (m1 * s_up, m2 * s_up)
    sim_mat, _ = _bin_matrix(emitters, sim_shape, pixel_size_nm / s_up)
    psi = PsiOperator(psf, pixel_size_nm, s_up, (m1, m2))
    frames = np.empty((n_frames, m1, m2), dtype=np.uint16)
    bg_e = qe * background_photons
    with torch.no_grad():
        for start in range(0, n_frames, chunk_frames):
            stop = min(n_frames, start + chunk_frames)
            weights = on_time[:, start:stop] * e_per_frame_on  # (N, c)
            if drift_nm is not None:
                moved = emitters + np.asarray(drift_nm[start:stop]).mean(axis=0)
                sim_mat, _ = _bin_matrix(moved, sim_shape, pixel_size_nm / s_up)
            images = np.asarray(sim_mat @ weights, dtype=np.float32)  # (P, c)
            images_t = torch.from_numpy(np.ascontiguousarray(images.T)).reshape(-1, *sim_shape)
            expected = psi(images_t).clamp_min(0.0) + bg_e
            electrons = torch.poisson(expected, generator=gen)
            read = torch.randn(electrons.shape, generator=gen) * camera.read_noise_adu
            adu = torch.round(camera.gain_adu_per_e * electrons + camera.offset_adu + read)
            frames[start:stop] = adu.clamp(0, camera.max_adu).numpy().astype(np.uint16)
    info = {
        "n_emitters": float(n_em),
        "electrons_per_emitter_on_frame": float(e_per_frame_on),
        "mean_electrons_per_pixel_frame": float(
            (frames.astype(np.float64).mean() - camera.offset_adu) / camera.gain_adu_per_e
        ),
        # bleaching shows as a decay of the mean on-time between the stack's halves
        "on_time_last_over_first_half": _half_ratio(on_time),
    }
    return BlinkingSimulation(
        frames,
        truth.astype(np.float32),
        emitter_map.astype(np.float32),
        emitters,
        on_time,
        pixel_size_nm,
        upsample,
        camera,
        photophysics,
        background_photons,
        info,
    )


def _half_ratio(on_time: np.ndarray) -> float:
    """Mean on-time in the second half of the stack over that in the first half."""
    half = on_time.shape[1] // 2
    if on_time.size == 0 or half == 0:
        return 1.0
    first = float(on_time[:, :half].mean())
    return float(on_time[:, half:].mean()) / first if first > 0 else 1.0
