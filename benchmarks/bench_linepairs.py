"""Line-pair phantom (DESIGN 6) with the model's own double-Poisson simulator.

Prints the dip contrast per separation for the mean image, FluoGAN's L2-only mode and
full FluoGAN (default settings), with iterations and wall time, and the smallest
resolved separation (pairs whose narrow control bar splits do not count).

    python benchmarks/bench_linepairs.py [--frames 500] [--iterations N] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import torch

from napari_fluogan import FluoGANConfig
from napari_fluogan.demo import compare, demo_config, format_table, make_demo_data, save_figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--iterations", type=int, default=FluoGANConfig().iterations)
    parser.add_argument("--seed", type=int, default=0, help="simulation seed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--figure", default=None, help="write a comparison PNG here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = make_demo_data(n_frames=args.frames, seed=args.seed)
    configs = {
        "FluoGAN L2-only": demo_config(use_critic=False, iterations=args.iterations),
        "FluoGAN full": demo_config(use_critic=True, iterations=args.iterations),
    }
    start = time.perf_counter()
    results = compare(data, configs)
    print(f"# line pairs, double-Poisson model, T={args.frames}, seed {args.seed}, "
          f"FWHM 318 nm, 100 nm pixels, L=4, {args.threads} CPU threads")
    print(format_table(results))
    print(f"# total {time.perf_counter() - start:.0f} s")
    if args.figure:
        save_figure(results, data.truth, args.figure)


if __name__ == "__main__":
    main()
