"""Case 2: what SAM costs.

* eventsim with SAM on every spiking layer vs SAM off, runs interleaved:
  ``sam_overhead = (t_on - t_off) / t_off`` (fraction of simulation time,
  from the medians; ``sam_overhead_spread`` over the rounds);
* SAM updates per spike (1.0 by construction: the trace is touched only
  when its neuron spikes);
* on-line SAM vs off-line SAM.  Off-line is the released-code way: record
  every spike, then for every step ``t`` loop over all earlier steps
  (``eventsim.reference.sam_float``).  Time and peak memory for
  T = 10, 30, 100, 300 on a constant-gain model (any ``T`` can run).
"""
from __future__ import annotations

import numpy as np

from eventsim import Simulator
from eventsim.reference import sam_float

from .common import (Bench, constant_gain_model, input_spikes, peak_memory, ratio_spread, test_images,
                     time_interleaved, time_rounds)


def _online(model, spikes, gamma):
    return Simulator(model, sam_gamma=gamma).run(spikes=spikes)


def _offline(model, spikes, gamma):
    result = Simulator(model, sam_layers=[]).run(spikes=spikes, record_spikes=True)
    return {name: sam_float(result.spikes[name], gamma) for name in model.conv_layers}


def _memory_job(mode, steps, n):
    """For :func:`peak_memory`: a warm-up and one on-line or off-line SAM run."""
    model = constant_gain_model((3, 32, 32))
    spikes = input_spikes(model, test_images(model, n), timesteps=steps)
    fn = _online if mode == "online" else _offline
    return (lambda: fn(model, spikes[:1, :2], 0.5)), (lambda: fn(model, spikes, 0.5))


def run(ctx: Bench) -> dict:
    model, label, quick = ctx.model, ctx.label, ctx.quick
    n = 16 if quick else 32
    spikes = input_spikes(model, test_images(model, n))
    on = Simulator(model, sam_layers=model.spiking_layers)
    off = Simulator(model, sam_layers=[])
    rounds = time_rounds({"sam_on": lambda: on.run(spikes=spikes), "sam_off": lambda: off.run(spikes=spikes)},
                         repeats=5 if quick else 15)
    t = {k: float(np.median(v)) for k, v in rounds.items()}
    res = on.run(spikes=spikes)
    updates = sum(int(res.counts[k]["sam_updates"].sum()) for k in model.spiking_layers)
    fired = sum(int(res.counts[k]["spikes"].sum()) for k in model.spiking_layers)
    overhead = (t["sam_on"] - t["sam_off"]) / t["sam_off"]
    rows = _online_vs_offline(quick)
    _plot(rows, ctx.out_dir / "sam_online_vs_offline.png")
    return {"model": label, "images": n, "sam_on_s": t["sam_on"], "sam_off_s": t["sam_off"],
            "sam_overhead": overhead,
            "sam_overhead_spread": ratio_spread(np.subtract(rounds["sam_on"], rounds["sam_off"]), rounds["sam_off"]),
            "sam_updates_per_spike": updates / max(fired, 1), "online_vs_offline": rows}


def _online_vs_offline(quick):
    const = constant_gain_model((3, 32, 32))
    n = 1 if quick else 8
    images = test_images(const, n)
    rows = []
    for steps in (10, 30, 100, 300):
        spikes = input_spikes(const, images, timesteps=steps)
        reps = 1 if (quick or steps >= 100) else 3
        t = time_interleaved({"online": lambda: _online(const, spikes, 0.5),
                              "offline": lambda: _offline(const, spikes, 0.5)}, repeats=reps)
        row = {"T": steps, "online_s": t["online"], "offline_s": t["offline"],
               "speedup": t["offline"] / t["online"]}
        if not quick or steps in (30, 300):
            row.update(online_peak_mb=peak_memory(_memory_job, "online", steps, n)["peak_mb"],
                       offline_peak_mb=peak_memory(_memory_job, "offline", steps, n)["peak_mb"])
        rows.append(row)
    return rows


def _plot(rows, path):
    from eventsim.plots import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    ts = [r["T"] for r in rows]
    axes[0].loglog(ts, [r["online_s"] for r in rows], "o-", label="on-line (eventsim trace)")
    axes[0].loglog(ts, [r["offline_s"] for r in rows], "s-", label="off-line (record, loop over t' < t)")
    axes[0].set_xlabel("time steps T")
    axes[0].set_ylabel("seconds per batch")
    axes[0].legend(fontsize=7)
    mem = [r for r in rows if "online_peak_mb" in r]
    axes[1].plot([r["T"] for r in mem], [r["online_peak_mb"] for r in mem], "o-", label="on-line")
    axes[1].plot([r["T"] for r in mem], [r["offline_peak_mb"] for r in mem], "s-", label="off-line")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("time steps T")
    axes[1].set_ylabel("peak RSS above start (MB)")
    axes[1].legend(fontsize=7)
    fig.suptitle("SAM: on-line trace vs off-line recomputation", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
