"""Peak-memory estimate of a run, and the guard that refuses runs that cannot fit.

The estimate counts the tensors that dominate: the photon frames on the device, the
batch of simulated fine-grid frames with their straight-through copies and
gradients, and the critic's activations for the real, simulated and mixed batches
(with the double backward of the gradient penalty). Constants were fitted to peak
memory measured by ``benchmarks/bench_speed.py`` (CPU RSS and CUDA allocator).
"""

from __future__ import annotations

import os

from .config import FluoGANConfig
from .errors import OutOfMemory

FLOAT_BYTES = 4
FINE_BATCH_COPIES = 7  # z, straight-through z, Psi intermediates, their gradients
CRITIC_FLOATS_PER_PIXEL_CHANNEL = 4.5  # activations per sample, all layers, per channel
CRITIC_PASSES = 6  # real, fake, mix (+ double backward) and the generator pass
FIXED_OVERHEAD = 64 * 2**20


def estimate_peak_bytes(
    frames_shape: tuple[int, int, int], config: FluoGANConfig, device: str = "cpu"
) -> int:
    """Estimated peak memory (bytes) of a run on ``frames_shape = (T, h, w)`` (ROI size)."""
    t, h, w = frames_shape
    if config.roi is not None:
        h, w = config.roi[2], config.roi[3]
    n_coarse = h * w
    margin = config.effective_margin_px
    n_fine = (h + 2 * margin) * (w + 2 * margin) * config.upsample**2
    frames = t * n_coarse * FLOAT_BYTES * (2 if device == "cpu" else 1)  # + host copy
    total = frames + FIXED_OVERHEAD + 8 * n_fine * FLOAT_BYTES
    if config.use_critic:
        fine_batch = FINE_BATCH_COPIES * config.batch_size * n_fine * FLOAT_BYTES
        critic = (
            CRITIC_PASSES
            * config.batch_size
            * CRITIC_FLOATS_PER_PIXEL_CHANNEL
            * config.critic_channels
            * n_coarse
            * FLOAT_BYTES
        )
        total += fine_batch + int(critic)
    return int(total)


def available_bytes(device: str) -> int | None:
    """Free memory on the device (None when unknown)."""
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info()
        return int(free)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


def check_memory(frames_shape: tuple[int, int, int], config: FluoGANConfig, device: str) -> int:
    """Refuse a run that will not fit; return the estimate (bytes)."""
    estimate = estimate_peak_bytes(frames_shape, config, device)
    limit = (
        int(config.max_memory_gb * 2**30)
        if config.max_memory_gb is not None
        else available_bytes(device)
    )
    if limit is not None and estimate > limit:
        raise OutOfMemory(
            f"This run needs about {estimate / 2**30:.1f} GB on {device} but only "
            f"{limit / 2**30:.1f} GB is available; reduce the ROI, the upsampling L "
            f"(now {config.upsample}) or the batch size (now {config.batch_size})."
        )
    return estimate
