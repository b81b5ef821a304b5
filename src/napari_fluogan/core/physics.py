"""The forward operator ``Psi = D H`` and the double-Poisson simulator (DESIGN 2).

``H`` convolves with the PSF sampled on the fine grid (sum 1); ``D`` sums each
L x L block, so photons are conserved. Both are fused into one strided convolution:
for separable PSFs both are 1-D matrices applied along each axis (two batched
matrix products); other PSFs use an FFT convolution. Inputs are batched:
``(..., n1, n2) -> (..., m1, m2)``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.signal import fftconvolve

from .psf import PSF


def fft_size(n: int) -> int:
    """The smallest even ``2^a 3^b 5^c >= n``: FFTs of such sizes are 3-5x faster than
    of sizes with a large prime factor (one CPU thread, a 2-D real convolution: 658 =
    2 x 7 x 47 points per axis 32 ms, 672 = 2^5 x 3 x 7 10 ms, 720 = 2^4 x 3^2 x 5 8 ms)."""
    best = 2 << max(int(n - 1).bit_length(), 0)  # a power of two is always a candidate
    f5 = 2  # even: rfft's half spectrum then has no odd leftover
    while f5 < best:
        f3 = f5
        while f3 < best:
            f2 = f3
            while f2 < n:
                f2 *= 2
            best = min(best, f2)
            f3 *= 3
        f5 *= 5
    return best


def conv_matrix(profile: np.ndarray, n_fine: int, upsample: int, shift: int = 0) -> np.ndarray:
    """1-D ``D H`` as a dense (n_fine / L, n_fine) matrix: move by ``shift`` fine pixels,
    blur with ``profile`` (odd, centred, zero outside the field) then sum blocks of L.
    The shift moves the profile, not the image, so light moved past the field's edge
    still lands where the profile reaches."""
    k = profile.size
    radius = k // 2
    # p - i - shift + R
    offsets = np.arange(n_fine)[:, None] - np.arange(n_fine)[None, :] + radius - shift
    valid = (offsets >= 0) & (offsets < k)
    h = np.where(valid, profile[np.clip(offsets, 0, k - 1)], 0.0)
    return h.reshape(n_fine // upsample, upsample, n_fine).sum(axis=1)


class PsiOperator:
    """Blur then block-sum: maps fine-grid images to camera-grid images.

    Separable PSFs (with ``profile_1d``) use two batched matrix products,
    ``Psi X = A_y X A_x^T``; under drift, one such product per row of the drift kernel
    (``sum_r A_y^(r) X B_r^T``, ``B_r`` the row's shifted ``A_x`` weighted by the
    kernel). Others use an FFT convolution with a cached OTF (zero padded, so nothing
    wraps around) followed by the block sum.

    Parameters
    ----------
    psf : PSF model (sampled at the fine pixel size ``pixel_size_nm / upsample``).
    pixel_size_nm : camera pixel size.
    upsample : L, fine pixels per camera pixel along each axis.
    coarse_shape : (m1, m2) camera pixels of the region.
    margin : camera pixels by which the fine grid extends beyond the region on each
        side. Emitters just outside an ROI send light into it; with a margin the
        reconstruction can put them where they are instead of piling them up on the
        ROI's border pixels. ``fine_shape`` is ``((m1 + 2 margin) L, (m2 + 2 margin) L)``.
    drift_kernel : the histogram of the frames' positions on the fine grid (odd,
        centred, summing to 1; :func:`~napari_fluogan.core.drift.drift_kernel`), or
        None. The mean of shifted frames is the sample blurred by it, so it is folded
        into the PSF; the fluctuations' variance is the mean over the shifts of the
        squared PSF (:meth:`forward_squared`), not the square of the blurred one.
    """

    def __init__(
        self,
        psf: PSF,
        pixel_size_nm: float,
        upsample: int,
        coarse_shape: tuple[int, int],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        margin: int = 0,
        drift_kernel: np.ndarray | None = None,
    ) -> None:
        self.upsample = int(upsample)
        self.margin = int(margin)
        self.coarse_shape = (int(coarse_shape[0]), int(coarse_shape[1]))
        padded = (self.coarse_shape[0] + 2 * self.margin, self.coarse_shape[1] + 2 * self.margin)
        self._padded_coarse = padded
        self.fine_shape = (padded[0] * upsample, padded[1] * upsample)
        self.device = torch.device(device)
        self.dtype = dtype
        fine_pixel_nm = pixel_size_nm / upsample
        self.psf_kernel = psf.kernel(fine_pixel_nm)
        self.drift_kernel = None if drift_kernel is None else np.asarray(drift_kernel, float)
        # the kernel the mean image sees: the PSF blurred by the drift's path
        self.blurred_kernel = (
            self.psf_kernel
            if self.drift_kernel is None
            else fftconvolve(self.psf_kernel, self.drift_kernel)
        )
        # forward_squared's kernel spectra (non-separable PSFs), per dtype and device
        self._squared_otf_cache: dict = {}
        profile = getattr(psf, "profile_1d", None)
        k = self.blurred_kernel.shape[0]
        # any size >= n + k - 1 keeps the convolution linear (nothing wraps around)
        self._fft_shape = (
            fft_size(self.fine_shape[0] + k - 1),
            fft_size(self.fine_shape[1] + k - 1),
        )
        self.separable = profile is not None and (
            self.drift_kernel is None or self._products_beat_fft(self.drift_kernel)
        )
        if self.separable:
            # A drift path is not separable, but it is a few shifts on the fine grid:
            # rows of the drift kernel (y shifts), each a weighted sum of x shifts.
            g = np.asarray(profile(fine_pixel_nm), dtype=np.float64)
            kernel = np.ones((1, 1)) if self.drift_kernel is None else self.drift_kernel
            rd_y, rd_x = kernel.shape[0] // 2, kernel.shape[1] // 2
            p, (m1, m2) = self.margin, self.coarse_shape

            def shifted(n_fine: int, m: int, shift: int) -> np.ndarray:
                return conv_matrix(g, n_fine, self.upsample, shift)[p : p + m]

            a_x = {
                u2: shifted(self.fine_shape[1], m2, u2 - rd_x)
                for u2 in np.flatnonzero(kernel.any(axis=0))
            }
            terms = []
            for u1 in np.flatnonzero(kernel.any(axis=1)):
                a_y = shifted(self.fine_shape[0], m1, u1 - rd_y)
                row = [(kernel[u1, u2], a_x[u2]) for u2 in np.flatnonzero(kernel[u1])]
                b = sum(w * a for w, a in row)
                # forward_squared: the mean over the shifts of the squared PSF
                b_sq = sum(w * a**2 for w, a in row)
                terms.append((a_y, b, a_y**2, b_sq))
            self._terms = [
                tuple(torch.as_tensor(m, dtype=dtype, device=device) for m in term)
                for term in terms
            ]
        else:
            kernel = torch.as_tensor(self.blurred_kernel, dtype=dtype, device=device)
            self._otf = torch.fft.rfft2(kernel, s=self._fft_shape)
            self._radius = k // 2

    def _products_beat_fft(self, drift_kernel: np.ndarray) -> bool:
        """Whether one pair of matrix products per row of ``drift_kernel`` costs less
        than the FFT convolution. The products' work grows with the field times the
        fine grid's area, the FFT's with that area only; BLAS does a product's
        operation about 4 times faster than the FFT does its own (one CPU thread:
        crossovers at 12, 3-4 and 2 rows on 36, 100 and 200 px square fields), and 3
        keeps a margin on the FFT's side."""
        rows = int(np.count_nonzero(drift_kernel.any(axis=1)))
        (m1, m2), (n1, n2) = self.coarse_shape, self.fine_shape
        products = rows * (m1 * n1 * n2 + m1 * n2 * m2)
        points = self._fft_shape[0] * self._fft_shape[1]
        fft = 5.0 * points * np.log2(points)  # an rfft2 and its inverse
        return products <= 3.0 * fft

    @property
    def separable_factors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(A_y, A_x)`` with ``Psi X = A_y X A_x^T`` (margin included), or None when
        the PSF is not separable or a drift path makes ``Psi`` a sum of such products."""
        if not self.separable or self.drift_kernel is not None:
            return None
        a_y, a_x, _, _ = self._terms[0]
        return a_y, a_x

    @property
    def norm_sq(self) -> float:
        """Upper bound of ``||Psi||^2`` (reached at zero frequency): L^2."""
        return float(self.upsample**2)

    # -- general (FFT) path -------------------------------------------------
    def _conv_same(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        otf = self._otf.conj() if adjoint else self._otf
        spectrum = torch.fft.rfft2(x, s=self._fft_shape)
        full = torch.fft.irfft2(spectrum * otf, s=self._fft_shape)
        r = self._radius
        if adjoint:
            # correlation = convolution with the flipped kernel: same crop after a shift
            full = torch.roll(full, shifts=(2 * r, 2 * r), dims=(-2, -1))
        return full[..., r : r + self.fine_shape[0], r : r + self.fine_shape[1]]

    def _block_sum(self, x: torch.Tensor) -> torch.Tensor:
        """Sum L x L blocks, keeping the camera pixels of the region (not the margin)."""
        (n1, n2), (m1, m2), p = self._padded_coarse, self.coarse_shape, self.margin
        L = self.upsample
        summed = x.reshape(*x.shape[:-2], n1, L, n2, L).sum(dim=(-3, -1))
        return summed[..., p : p + m1, p : p + m2]

    def _block_expand(self, y: torch.Tensor) -> torch.Tensor:
        """Adjoint of :meth:`_block_sum`: zero margin, each camera pixel to its block."""
        L, p = self.upsample, self.margin
        if p:
            y = torch.nn.functional.pad(y, (p, p, p, p))
        return y.repeat_interleave(L, dim=-2).repeat_interleave(L, dim=-1)

    # -- operator -------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``Psi x`` for x of shape (..., n1, n2)."""
        if self.separable:
            return sum(a_y @ x @ a_x.T for a_y, a_x, _, _ in self._terms)
        return self._block_sum(self._conv_same(x, adjoint=False))

    __call__ = forward

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``Psi^T y`` for y of shape (..., m1, m2)."""
        if self.separable:
            return sum(a_y.T @ y @ a_x for a_y, a_x, _, _ in self._terms)
        return self._conv_same(self._block_expand(y), adjoint=True)

    def forward_squared(self, x: torch.Tensor) -> torch.Tensor:
        """``sum_i Psi_ji^2 x_i``: the extra variance that fluctuations add (DESIGN 2)."""
        if self.separable:
            return sum(a_y_sq @ x @ a_x_sq.T for _, _, a_y_sq, a_x_sq in self._terms)
        # General path: a fine pixel at sub-pixel phase (a, b) of its camera pixel sends
        # the same light to the camera pixels around it wherever it is, so Psi^2 is one
        # camera-grid convolution per phase, of x sampled at that phase.
        L, p = self.upsample, self.margin
        n1, n2 = self._padded_coarse
        blocks = x.reshape(-1, n1, L, n2, L)
        phases = blocks.permute(0, 2, 4, 1, 3).reshape(-1, L * L, n1, n2)  # x[L m + a]
        otf, shape, radius = self._squared_otf(x.dtype, x.device)
        spectrum = (torch.fft.rfft2(phases, s=shape) * otf).sum(dim=1)
        full = torch.fft.irfft2(spectrum, s=shape)  # (B, >= n1 + k - 1, >= n2 + k - 1)
        out = full[..., radius + p : radius + p + self.coarse_shape[0],
                   radius + p : radius + p + self.coarse_shape[1]]
        return out.reshape(*x.shape[:-2], *self.coarse_shape)

    def _squared_otf(
        self, dtype: torch.dtype, device: torch.device
    ) -> tuple[torch.Tensor, tuple[int, int], int]:
        """Spectra of the per-phase squared kernels (L*L, H, W//2+1), the FFT shape
        (H, W) and the kernels' radius, built once per dtype and device. The phases'
        convolutions are summed in Fourier space, one inverse FFT per image (a direct
        convolution with the Airy pattern's 35 x 35 squared kernels took seconds per
        critic batch on a CPU)."""
        key = (dtype, device)
        cache = self._squared_otf_cache
        if key not in cache:
            kernels = self._phase_kernels_squared(dtype, device)
            k = kernels.shape[-1]
            n1, n2 = self._padded_coarse
            shape = (fft_size(n1 + k - 1), fft_size(n2 + k - 1))
            cache[key] = (torch.fft.rfft2(kernels, s=shape), shape, k // 2)
        return cache[key]

    def _phase_kernels_squared(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Squared camera-grid kernels ``Psi_(m+d),(L m + a)^2`` per phase a, indexed by
        the camera offset d: shape (L*L, 2D+1, 2D+1). Under drift, the mean over the
        path of the shifted PSF's squared kernels."""
        kernel = np.asarray(self.psf_kernel, dtype=np.float64)
        if self.drift_kernel is None:
            return torch.as_tensor(
                _phase_kernels_squared(kernel, self.upsample), dtype=dtype, device=device
            )
        r, rd = kernel.shape[0] // 2, self.drift_kernel.shape[0] // 2
        total = None
        where = self.drift_kernel > 0
        for (u1, u2), weight in zip(np.argwhere(where), self.drift_kernel[where], strict=True):
            # the PSF moved by (u1 - rd, u2 - rd) fine pixels, in a frame wide enough
            # for every shift of the path
            shifted = np.zeros((2 * (r + rd) + 1,) * 2)
            shifted[u1 : u1 + 2 * r + 1, u2 : u2 + 2 * r + 1] = kernel
            term = weight * _phase_kernels_squared(shifted, self.upsample)
            total = term if total is None else total + term
        return torch.as_tensor(total, dtype=dtype, device=device)

    def crop_region(self, x: torch.Tensor) -> torch.Tensor:
        """The part of a fine-grid image (..., n1, n2) that lies inside the region."""
        q = self.margin * self.upsample
        n1, n2 = self.fine_shape
        return x[..., q : n1 - q, q : n2 - q]

    def to_fine_grid(self, image: torch.Tensor) -> torch.Tensor:
        """A camera-grid image (..., m1, m2) of the region on the fine grid (..., n1, n2):
        each camera pixel repeated L x L times, the margin filled from the nearest edge."""
        p = self.margin
        lead = image.shape[:-2]
        flat = image.reshape(-1, 1, *image.shape[-2:])
        if p > 0:
            flat = torch.nn.functional.pad(flat, (p, p, p, p), mode="replicate")
        L = self.upsample
        fine = flat.repeat_interleave(L, dim=-2).repeat_interleave(L, dim=-1)
        return fine.reshape(*lead, *fine.shape[-2:])

    def column(self, i: int) -> torch.Tensor:
        """Column i of Psi (the camera image of one photon at fine pixel i)."""
        e = torch.zeros(self.fine_shape, device=self.device, dtype=self.dtype)
        e.view(-1)[i] = 1.0
        return self.forward(e)


class BlockedPsi:
    """``Psi`` for runs of frames that saw the sample at different positions (drift)
    and at different brightness (bleaching): one :class:`PsiOperator` per run, and its
    brightness relative to the stack's mean (``brightness``, mean 1). :meth:`forward`
    gives every run's image ``a_k Psi_k x`` (..., n_runs, m1, m2); :meth:`adjoint` the
    mean over runs of ``a_k Psi_k^T y_k``, the gradient of the mean of the runs' data
    terms."""

    def __init__(self, operators: list[PsiOperator], brightness: list[float]) -> None:
        self.operators = operators
        self.brightness = [float(a) for a in brightness]

    @property
    def norm_sq(self) -> float:
        """Upper bound of the mean of the runs' ``||a_k Psi_k||^2``."""
        return float(np.mean(np.square(self.brightness))) * self.operators[0].norm_sq

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Every run's ``a_k Psi_k x``, stacked before the last two axes."""
        return torch.stack(
            [a * op(x) for a, op in zip(self.brightness, self.operators, strict=True)], dim=-3
        )

    __call__ = forward

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``mean_k a_k Psi_k^T y_k`` for y of shape (..., n_runs, m1, m2)."""
        total = self.brightness[0] * self.operators[0].adjoint(y[..., 0, :, :])
        for k, op in enumerate(self.operators[1:], start=1):
            total = total + self.brightness[k] * op.adjoint(y[..., k, :, :])
        return total / len(self.operators)


class FramewisePsi:
    """``Psi`` for a batch of simulated frames that each stand beside a real frame of
    its own run (drift): frame ``i`` is imaged by ``operators[run[i]]``, so simulated
    frames move with the sample as the real ones did, instead of all showing it blurred
    by the whole path (whose fluctuations are smoother than any real frame's)."""

    def __init__(self, operators: list[PsiOperator], run: torch.Tensor) -> None:
        self.operators = operators
        self.run = run
        self._groups = [
            (int(k), torch.nonzero(run == k).squeeze(1)) for k in torch.unique(run).tolist()
        ]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Camera images (B, m1, m2) of fine images (B, n1, n2), or of one fine image
        (n1, n2) seen by every frame of the batch."""
        if z.dim() == 2:
            z = z.expand(self.run.numel(), *z.shape)
        out: torch.Tensor | None = None
        for k, rows in self._groups:
            image = self.operators[k](z.index_select(0, rows))
            if out is None:
                out = image.new_zeros((z.shape[0], *image.shape[-2:]))
            out = out.index_copy(0, rows, image)  # differentiable in ``image``
        assert out is not None
        return out

    __call__ = forward


def _phase_kernels_squared(kernel: np.ndarray, upsample: int) -> np.ndarray:
    """Squared camera-grid kernels of a fine-grid PSF ``kernel`` (odd, centred) per
    sub-pixel phase: shape (L*L, 2D+1, 2D+1), indexed by the camera offset."""
    L = upsample
    r = kernel.shape[0] // 2
    reach = (r + L) // L + 1  # camera pixels the light of one fine pixel can reach
    size = 2 * reach + 1
    # light from a fine pixel at phase a lands at fine offsets u = L d + a' - a in camera
    # pixel d (a' = 0..L-1 its sub-pixels): the PSF zero-padded, indexed by u
    span = L * size + 2 * L
    pad = np.zeros((span, span))
    centre = L * reach + L  # index of u = 0
    pad[centre - r : centre + r + 1, centre - r : centre + r + 1] = kernel
    out = np.empty((L, L, size, size))
    for a in range(L):
        for b in range(L):
            # rows u = L d - a + a' for d = -reach..reach, a' = 0..L-1
            block = pad[centre - L * reach - a : centre - L * reach - a + L * size,
                        centre - L * reach - b : centre - L * reach - b + L * size]
            summed = block.reshape(size, L, size, L).sum(axis=(1, 3))
            out[a, b] = summed**2
    return out.reshape(L * L, size, size)


def poisson_draws(
    rate: torch.Tensor,
    n_draws: int,
    generator: torch.Generator | None = None,
    draw_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """``n_draws`` independent Poisson images of one rate image (..., n1, n2).

    ``draw_scale``, (n_draws, n1, n2), multiplies the rate of each draw pixel by pixel
    (a stack that bleaches). On CPU, pixels of rate 0 (most of a sparse x) are skipped:
    2 to 5 times faster.
    """
    rate = rate.clamp_min(0.0)
    if rate.device.type == "cpu" and rate.dim() == 2:
        flat = rate.reshape(-1)
        support = torch.nonzero(flat > 0).squeeze(1)
        if support.numel() < 0.5 * flat.numel():
            out = torch.zeros(n_draws, flat.numel(), dtype=rate.dtype)
            rates = flat[support].expand(n_draws, -1)
            if draw_scale is None:
                rates = rates.contiguous()
            else:
                rates = rates * draw_scale.reshape(n_draws, -1)[:, support].clamp_min(0.0)
            out[:, support] = torch.poisson(rates, generator=generator)
            return out.reshape(n_draws, *rate.shape)
    rates = rate.expand(n_draws, *rate.shape[-2:])
    rates = rates.contiguous() if draw_scale is None else rates * draw_scale.clamp_min(0.0)
    return torch.poisson(rates, generator=generator)


#: Rate, in Poisson counts, below which the variance-scaled gradient is floored: the
#: estimator's variance grows as 1/rate, and a pixel at rate 0 draws no count to scale.
SCALED_RATE_FLOOR = 0.05


def straight_through(
    rate: torch.Tensor, draw: torch.Tensor, scaled: bool, floor: float
) -> torch.Tensor:
    """``draw`` in value, with a gradient with respect to ``rate``.

    Plain (``scaled=False``): ``rate + (draw - rate).detach()``, gradient 1, blind to
    how the spread of the draw grows with its rate. Scaled: the centred draw is read as
    ``sqrt(rate) * eps`` with ``eps`` fixed, so the gradient is
    ``1 + (draw - rate) / (2 rate)``. For a Poisson draw its expectation is the
    trapezoid rule ``(f'(N) + f'(N + 1)) / 2`` of the exact difference
    ``f(N + 1) - f(N)`` (Stein), exact for statistics quadratic in the draws: the
    covariances that carry the fluctuations' super-resolution information.
    """
    noise = (draw - rate).detach()
    if not scaled:
        return rate + noise
    base = rate.detach()
    return rate + noise * (1.0 + (rate - base) / (2.0 * base.clamp_min(floor)))


def simulate_photons(
    psi: PsiOperator | FramewisePsi,
    x: torch.Tensor,
    b: torch.Tensor,
    read_noise_photons: float,
    n_frames: int,
    generator: torch.Generator | None = None,
    differentiable: bool = False,
    fluctuation_gain: float = 1.0,
    scaled: bool = False,
    frame_brightness: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw ``n_frames`` frames (photons) of the double-Poisson model.

    ``Z = k Poisson(x / k)``, ``Y = Poisson(Psi Z + b) + N(0, s^2)`` with ``k`` the
    fluctuation gain (photons per fluctuation event: 1 is the plain double-Poisson
    model; blinking dyes emit in bursts, so their frames vary ``k`` times more than
    Poisson, see :func:`estimate_fluctuation_gain`). With ``differentiable=True`` both
    Poisson layers are straight-through (:func:`straight_through`, variance-scaled when
    ``scaled``), so autograd gives the pathwise gradient with respect to x and b.
    ``frame_brightness`` (n_frames, n1, n2): frame k is drawn from ``x`` times its
    slice (the dyes' remaining brightness in a bleaching stack); None is 1 everywhere.
    """
    gain = float(fluctuation_gain)
    z = poisson_draws(x.detach() / gain, n_frames, generator, frame_brightness) * gain
    if differentiable:
        rate = x if frame_brightness is None else x * frame_brightness
        z = straight_through(rate, z, scaled, SCALED_RATE_FLOOR * gain)
    mean = psi(z) + b
    y = torch.poisson(mean.detach().clamp_min(0.0), generator=generator)
    if differentiable:
        y = straight_through(mean, y, scaled, SCALED_RATE_FLOOR)
    if read_noise_photons > 0:
        noise = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
        y = y + read_noise_photons * noise
    return y


def estimate_fluctuation_gain(
    mean: torch.Tensor,
    variance: torch.Tensor,
    psi: PsiOperator,
    x: torch.Tensor,
    read_noise_photons: float,
) -> float:
    """Photons per fluctuation event ``k`` that make the model's variance match the data's.

    The model's frame variance is ``Psi x + b + k Psi^2 x + s^2``; the data's excess
    over shot and read noise, summed over pixels, divided by ``sum Psi^2 x``, gives k
    (x from a first, mean-image fit). ``mean`` and ``variance`` are the data's temporal
    mean and variance per camera pixel (photons); the result is at least 1.
    """
    excess = (variance - mean - read_noise_photons**2).sum()
    model = psi.forward_squared(x).sum().clamp_min(1e-12)
    return max(1.0, float(excess / model))


def expected_mean(psi: PsiOperator, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``E[Y] = Psi x + b`` (photons)."""
    return psi(x) + b


def expected_variance(
    psi: PsiOperator, x: torch.Tensor, b: torch.Tensor, read_noise_photons: float
) -> torch.Tensor:
    """``Var[Y_j] = (Psi x + b)_j + sum_i Psi_ji^2 x_i + s^2`` (photons^2)."""
    return psi(x) + b + psi.forward_squared(x) + read_noise_photons**2
