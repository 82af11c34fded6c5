"""Case 3: eventsim vs dense PyTorch on the same model and the same input spikes.

Baselines, all running the model file's float parameters:

* step by step (benchmarks/dense_torch.py): ``eager`` (paper-style loop),
  ``tuned`` (channels-last, folded affine, inference mode) and ``compile``
  (``torch.compile`` of the tuned step);
* layer by layer over all T steps (benchmarks/layerwise_torch.py), the
  strongest: ``layerwise_eager``, ``layerwise`` (``torch.compile``, float32:
  the headline) and ``layerwise_bf16`` (compiled, bfloat16 convolutions).

Each configuration (spike rate, batch) times every contender at 1 and at 2
threads in interleaved rounds: a round runs all contenders at 1 thread, then
all at 2 threads.  A ratio is ``t_torch / t_eventsim``; its headline value
is the ratio of the medians over the rounds, and ``*_spread`` gives the
min / median / max of the per-round ratios.  The headline takes each
contender at its *own best* thread count (with passive OpenMP waiting,
PyTorch's small per-step ops can run slower on 2 threads than on 1).
``--quick`` measures exactly the headline configuration (natural rate,
batch 16, 1 and 2 threads) with fewer rounds, so it agrees with the full
run; the full run adds batch 1 and hidden rates of 5, 10 and 20%.
"""
from __future__ import annotations

import os

import numba
import numpy as np
import torch

from eventsim import Simulator

from .common import (Bench, hidden_rate, input_spikes, model_at_rate, ratio_spread, test_images,
                     time_rounds)
from .dense_torch import DenseTorchSNN
from .layerwise_torch import LayerwiseTorchSNN

STYLES = ("eager", "tuned", "compile", "layerwise_eager", "layerwise", "layerwise_bf16")
THREADS = (1, 2)
BATCH = 16


def set_threads(n: int):
    """Threads for both Numba's parallel loops and PyTorch's intra-op pool."""
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(n)


def torch_runner(model, style: str, spikes):
    """A callable running one PyTorch baseline ``style`` (see :data:`STYLES`) on ``spikes``."""
    if style.startswith("layerwise"):
        dtype = torch.bfloat16 if style.endswith("bf16") else torch.float32
        dense = LayerwiseTorchSNN(model, compile=style != "layerwise_eager", dtype=dtype)
    else:
        dense = DenseTorchSNN(model, style="eager" if style == "eager" else "tuned", compile=style == "compile")
    return lambda: dense.run(spikes)


def measure(model, spikes, repeats: int, threads=THREADS, styles=STYLES) -> dict:
    """Seconds per round of every contender at every thread count: ``{who: {threads: [s, ...]}}``.

    Contenders are ``eventsim`` and ``torch_<style>``.  Each round runs all
    of them at each thread count in turn (warm-up calls first: two at the
    first thread count, where the compiled baselines compile, one at the others).
    """
    sim = Simulator(model)
    fns = {"eventsim": lambda: sim.run(spikes=spikes)}
    fns.update({f"torch_{style}": torch_runner(model, style, spikes) for style in styles})
    rounds = {who: {th: [] for th in threads} for who in fns}
    for i in range(repeats + 1):
        for j, th in enumerate(threads):
            set_threads(th)
            timed = time_rounds(fns, repeats=1, warmup=(2 if j == 0 else 1) if i == 0 else 0)
            if i > 0:
                for who, secs in timed.items():
                    rounds[who][th] += secs
    return rounds


def best_of_threads(rounds: dict) -> dict:
    """Each contender at its fastest thread count (by median), and the ratios between them.

    Returns
    -------
    dict
        ``<who>_s`` (median seconds), ``<who>_threads``, and per baseline
        ``speedup_vs_<who>`` (ratio of the medians) and
        ``speedup_vs_<who>_spread`` (per-round ratios, each round's
        contenders timed side by side).
    """
    best, pick = {}, {}
    for who, by_threads in rounds.items():
        th = min(by_threads, key=lambda k: np.median(by_threads[k]))
        pick[who] = by_threads[th]
        best[f"{who}_s"], best[f"{who}_threads"] = float(np.median(by_threads[th])), th
    for who in rounds:
        if who != "eventsim":
            best[f"speedup_vs_{who}"] = best[f"{who}_s"] / best["eventsim_s"]
            best[f"speedup_vs_{who}_spread"] = ratio_spread(pick[who], pick["eventsim"])
    return best


def same_threads(rounds: dict) -> list[dict]:
    """One row per thread count: median seconds and ratios with both sides at that count."""
    rows = []
    for th in next(iter(rounds.values())):
        ev = rounds["eventsim"][th]
        row = {"threads": th, "eventsim_s": float(np.median(ev))}
        for who, by_threads in rounds.items():
            if who != "eventsim":
                row[f"{who}_s"] = float(np.median(by_threads[th]))
                row[f"speedup_vs_{who}"] = row[f"{who}_s"] / row["eventsim_s"]
                row[f"speedup_vs_{who}_spread"] = ratio_spread(by_threads[th], ev)
        rows.append(row)
    return rows


def thread_scaling(rounds: dict, who: str = "eventsim") -> tuple[float, dict]:
    """``t(1 thread) / t(2 threads)`` of one contender (ratio of medians) and its per-round spread."""
    one, two = rounds[who][1], rounds[who][2]
    return float(np.median(one) / np.median(two)), ratio_spread(one, two)


def _config(model, spikes, repeats, rate, rate_value) -> dict:
    rounds = measure(model, spikes, repeats)
    n = spikes.shape[0]
    scaling, scaling_spread = thread_scaling(rounds)
    return {"rate": rate, "hidden_rate": rate_value, "batch": n, "rounds": rounds,
            "same_threads": same_threads(rounds), "best": best_of_threads(rounds),
            "thread_scaling_2": scaling, "thread_scaling_2_spread": scaling_spread,
            "ms_per_image": {who: {th: 1e3 * float(np.median(v)) / n for th, v in by.items()}
                             for who, by in rounds.items()}}


def run(ctx: Bench) -> dict:
    model, label, quick = ctx.model, ctx.label, ctx.quick
    load_before = os.getloadavg()
    repeats = 3 if quick else 7
    spikes = input_spikes(model, test_images(model, BATCH))
    natural = hidden_rate(Simulator(model, sam_layers=[]).run(spikes=spikes), model)
    configs = [_config(model, spikes, repeats, "natural", natural)]
    if not quick:
        configs.append(_config(model, spikes[:1], repeats, "natural", natural))
        for target in (0.05, 0.10, 0.20):
            scaled, rate = model_at_rate(model, spikes[:4], target)
            configs.append(_config(scaled, spikes, 5, f"{target:.2f}", rate))
    best = [dict(c["best"], rate=c["rate"], hidden_rate=c["hidden_rate"], batch=c["batch"])
            for c in configs if c["batch"] == BATCH]
    rows = [dict(r, rate=c["rate"], hidden_rate=c["hidden_rate"], batch=c["batch"])
            for c in configs for r in c["same_threads"]]
    _plot(best, ctx.out_dir / "torch_speedup_vs_rate.png")
    head = configs[0]
    out = {"model": label, "natural_hidden_rate": natural, "configs": configs, "rows": rows, "best_of_threads": best,
           "load_average": {"before": load_before, "after": os.getloadavg()},
           "thread_scaling_2": head["thread_scaling_2"], "thread_scaling_2_spread": head["thread_scaling_2_spread"],
           "ms_per_image": head["ms_per_image"]}
    for style in STYLES:
        out[f"speedup_vs_torch_{style}"] = head["best"][f"speedup_vs_torch_{style}"]
        out[f"speedup_vs_torch_{style}_spread"] = head["best"][f"speedup_vs_torch_{style}_spread"]
    return out


def _plot(best, path):
    from eventsim.plots import pyplot, save_figure

    plt = pyplot()
    sel = sorted(best, key=lambda r: r["hidden_rate"])
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for style in STYLES:
        xs = [r["hidden_rate"] for r in sel]
        ys = [r[f"speedup_vs_torch_{style}"] for r in sel]
        lo = [r[f"speedup_vs_torch_{style}_spread"]["min"] for r in sel]
        hi = [r[f"speedup_vs_torch_{style}_spread"]["max"] for r in sel]
        ax.errorbar(xs, ys, yerr=[np.subtract(ys, lo).clip(0), np.subtract(hi, ys).clip(0)], fmt="o-", capsize=2,
                    label=f"vs torch {style}")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("hidden spike rate")
    ax.set_ylabel("speed-up of eventsim")
    ax.set_yscale("log")
    ax.set_title(f"eventsim vs dense PyTorch (batch {BATCH}, each at its best thread count;\n"
                 "bars: min-max over rounds)", fontsize=8)
    ax.legend(fontsize=6)
    fig.tight_layout()
    save_figure(fig, path)
