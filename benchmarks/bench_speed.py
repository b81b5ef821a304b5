"""Speed and memory of one FluoGAN iteration as the problem grows (prints a table).

Each configuration runs in a fresh subprocess so that its peak memory is its own:
peak RSS (CPU) or ``torch.cuda.max_memory_allocated`` (GPU). The memory column
``est`` is the engine's own estimate (the one the memory guard uses).

    python benchmarks/bench_speed.py                 # the issue's grid on CPU (+ GPU if any)
    python benchmarks/bench_speed.py --quick         # a few rows
    python benchmarks/bench_speed.py --reference     # 50x50, L=6, batch 32 (reference size)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from napari_fluogan import FluoGANConfig, reconstruct_iter
from napari_fluogan.core.memory import estimate_peak_bytes
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
rng = np.random.default_rng(0)
m, L, T = args["roi"], args["upsample"], args["frames"]
frames = rng.poisson(2.0, size=(T, m, m)).astype(np.float32)
frames[:, m // 3, :] += rng.poisson(8.0, size=(T, m))  # some structure, sparse x
cfg = FluoGANConfig(alpha=1.0, offset=0.0, sigma=0.5, upsample=L, batch_size=args["batch"],
                    use_critic=args["critic"], warm_start_iterations=0,
                    iterations=args["warmup"] + args["iters"], snapshot_every=10**6,
                    device=args["device"], critic_channels=args["channels"])
if args["device"] == "cuda":
    torch.cuda.reset_peak_memory_stats()
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in reconstruct_iter(frames, cfg.replace(iterations=args["warmup"],
                                               snapshot_every=args["warmup"])):
    pass  # warm-up: allocator, oneDNN kernels, CUDA context
if args["device"] == "cuda":
    torch.cuda.synchronize()
cfg_t = cfg.replace(iterations=args["iters"], snapshot_every=args["iters"])
g = reconstruct_iter(frames, cfg_t)
first = next(g)
t0, c0 = time.perf_counter(), time.process_time()
last = next(g)  # runs all timed iterations, one snapshot at the end (includes a sync)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
if args["device"] == "cuda":
    peak = torch.cuda.max_memory_allocated()
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
est = estimate_peak_bytes((T, m, m), cfg, args["device"])
n = args["iters"]
print(json.dumps({"s_per_it": dt / n, "cpu_per_it": cpu / n, "peak": peak, "est": est,
                  "rss0": rss0 * 1024}))
"""


def run_one(**kw) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(kw)], capture_output=True,
                         text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rows only")
    parser.add_argument("--reference", action="store_true",
                        help="the reference problem: 50x50 coarse, L=6, batch 32")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--device", choices=("cpu", "cuda", "both"), default="both")
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--channels", type=int, default=None, help="critic channels")
    args = parser.parse_args()

    import torch

    from napari_fluogan import FluoGANConfig

    channels = args.channels or FluoGANConfig().critic_channels
    devices = ["cpu", "cuda"] if args.device == "both" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        devices.remove("cuda")
        print("# no CUDA GPU here: CPU rows only")
    if args.reference:
        grid = [(50, 6, 32)]
    elif args.quick:
        grid = [(32, 4, 32), (64, 4, 32), (128, 4, 32)]
    else:
        grid = [(m, 4, 32) for m in (32, 64, 128, 256)]
        grid += [(64, L, 32) for L in (2, 6)] + [(64, 4, B) for B in (16, 64)]
    print(f"# torch {torch.__version__}, {args.threads} CPU threads, T={args.frames} frames, "
          f"critic channels {channels}")
    print(f"{'device':6} {'ROI':>5} {'L':>2} {'batch':>5} {'mode':>6} {'ms/it':>9} {'it/s':>8} "
          f"{'cpu ms/it':>9} {'peak MB':>8} {'est MB':>7}")
    for device in devices:
        for m, L, B in grid:
            for critic in (True, False):
                iters = 200 if device == "cuda" else max(3, int(20 * (64 / m) ** 2 / (L / 4)))
                if not critic:
                    iters *= 10
                res = run_one(roi=m, upsample=L, batch=B, critic=critic, device=device,
                              threads=args.threads, frames=args.frames, iters=iters,
                              warmup=max(2, iters // 5), channels=channels)
                mode = "GAN" if critic else "L2"
                if "error" in res:
                    print(f"{device:6} {m:5d} {L:2d} {B:5d} {mode:>6} error: {res['error']}")
                    continue
                extra = 0 if device == "cuda" else res["rss0"]
                print(f"{device:6} {m:5d} {L:2d} {B:5d} {mode:>6} {1000 * res['s_per_it']:9.2f} "
                      f"{1 / res['s_per_it']:8.1f} {1000 * res['cpu_per_it']:9.2f} "
                      f"{(res['peak'] - extra) / 2**20:8.0f} "
                      f"{res['est'] / 2**20:7.0f}", flush=True)
    print("# ms/it: wall clock; cpu ms/it: process CPU time (all threads), robust to other load;")
    print(f"# CPU peak MB: RSS growth over the process after imports; done {time.strftime('%c')}")


if __name__ == "__main__":
    main()
