"""eventsim vs a dense PyTorch float simulation, side by side, at controlled spike rates.

Same network (a small VGG on 32x32 inputs, T=30), same input spikes, batch 16,
2 threads for both.  Hidden spike rates of about 5, 10 and 20% are reached
by scaling the thresholds of a random model.  Prints the speed-up of eventsim
over each dense baseline as a ratio of medians of interleaved repeats.

Run: ``.venv/bin/python benchmarks/engine_vs_torch.py [--quick] [--json OUT]``
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.dense_torch import DenseTorchSNN  # noqa: E402
from eventsim import Simulator, encode_poisson  # noqa: E402
from eventsim.random_models import random_model  # noqa: E402

BENCH_ARCH = (("conv", 32), ("pool", 0), ("conv", 64), ("pool", 0), ("conv", 64), ("gap", 0), ("dense", 64))


def hidden_rate(result, model) -> float:
    """Spikes per hidden neuron per step, over all spiking layers."""
    spikes = sum(int(result.counts[n]["spikes"].sum()) for n in model.spiking_layers)
    neurons = sum(model.layer(n).num_neurons for n in model.spiking_layers)
    return spikes / (neurons * result.logits.shape[0] * result.timesteps)


def model_at_rate(target, input_shape=(3, 32, 32), timesteps=30, arch=BENCH_ARCH, seed=0):
    """Random model whose mean hidden spike rate is close to ``target`` (bisection on thresholds)."""
    images = np.random.default_rng(seed).uniform(0, 1, (4,) + input_shape)
    lo, hi = np.log(0.05), np.log(20.0)
    best = None
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        model = random_model(seed=seed, input_shape=input_shape, arch=arch, timesteps=timesteps,
                             firing=float(np.exp(mid)), name=f"bench-rate-{target}")
        rate = hidden_rate(Simulator(model, sam_layers=[]).run(images=images), model)
        if best is None or abs(rate - target) < abs(best[1] - target):
            best = (model, rate)
        if abs(rate - target) < 0.1 * target:
            break
        lo, hi = (mid, hi) if rate < target else (lo, mid)
    return best


def time_interleaved(fns: dict, repeats: int) -> dict:
    """Median seconds of each callable, run round-robin so drift hits all alike."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def measure(model, spikes, repeats=5, threads=2, baselines=("eager", "tuned")) -> dict:
    """Seconds per batch for eventsim (with SAM on every conv layer) and dense torch."""
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(threads)
    sim = Simulator(model)
    sim.run(spikes=spikes[:1, :2])  # compile
    fns = {"eventsim": lambda: sim.run(spikes=spikes)}
    for style in baselines:
        dense = DenseTorchSNN(model, style=style)
        dense.run(spikes[:1, :2])
        fns[f"torch_{style}"] = (lambda d: lambda: d.run(spikes))(dense)
    return time_interleaved(fns, repeats)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats, batch 8")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    p.add_argument("--rates", default="0.05,0.10,0.20")
    args = p.parse_args(argv)
    batch, repeats = (8, 3) if args.quick else (16, 7)
    images = np.random.default_rng(1).uniform(0, 1, (batch, 3, 32, 32))
    rows = []
    print(f"batch {batch}, T=30, 2 threads, small VGG 32x32 (conv32-pool-conv64-pool-conv64-gap-fc64-out10)")
    print(f"{'target':>7} {'rate':>6} {'eventsim ms':>12} {'eager ms':>9} {'tuned ms':>9} "
          f"{'x eager':>8} {'x tuned':>8}")
    for target in [float(r) for r in args.rates.split(",")]:
        model, rate = model_at_rate(target)
        spikes = encode_poisson(images, 30, seed=2, mean=model.input_mean, std=model.input_std)
        t = measure(model, spikes, repeats=repeats)
        row = {"target_rate": target, "hidden_rate": rate, **{f"{k}_s": v for k, v in t.items()},
               "speedup_vs_eager": t["torch_eager"] / t["eventsim"],
               "speedup_vs_tuned": t["torch_tuned"] / t["eventsim"]}
        rows.append(row)
        print(f"{target:>7.2f} {rate:>6.3f} {1e3 * t['eventsim']:>12.1f} {1e3 * t['torch_eager']:>9.1f} "
              f"{1e3 * t['torch_tuned']:>9.1f} {row['speedup_vs_eager']:>8.2f} {row['speedup_vs_tuned']:>8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"batch": batch, "timesteps": 30, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
