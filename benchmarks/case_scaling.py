"""Case 6: how time and memory scale.

* time vs T (constant-gain model, so T is free), vs image size 32/64/128
  (the same small VGG widened to the input), vs batch size;
* peak RSS vs T for eventsim and for dense torch with spike recording (each
  measured in a fresh process; the number is the growth above the RSS after
  imports).
"""
from __future__ import annotations

from eventsim import Simulator

from .common import Bench, constant_gain_model, input_spikes, peak_memory, test_images, time_interleaved


def _eventsim_job(steps, n):
    """For :func:`peak_memory`: eventsim with every spike recorded."""
    model = constant_gain_model((3, 32, 32))
    spikes = input_spikes(model, test_images(model, n), timesteps=steps)
    sim = Simulator(model)
    return (lambda: sim.run(spikes=spikes[:1, :2])), (lambda: sim.run(spikes=spikes, record_spikes=True))


def _torch_job(steps, n):
    """For :func:`peak_memory`: dense torch keeping every step's spikes."""
    from .dense_torch import DenseTorchSNN

    model = constant_gain_model((3, 32, 32))
    spikes = input_spikes(model, test_images(model, n), timesteps=steps)
    dense = DenseTorchSNN(model)
    return (lambda: dense.run(spikes[:1, :2], keep_spikes=True)), (lambda: dense.run(spikes, keep_spikes=True))


def run(ctx: Bench) -> dict:
    quick = ctx.quick
    n = 2 if quick else 16
    reps = 1 if quick else 5
    const = constant_gain_model((3, 32, 32))
    sim = Simulator(const)
    images = test_images(const, 8 if quick else 64)
    by_t = []
    for steps in (10, 100) if quick else (10, 30, 100, 300):
        spikes = input_spikes(const, images[:n], timesteps=steps)
        t = time_interleaved({"eventsim": lambda: sim.run(spikes=spikes)}, repeats=reps)["eventsim"]
        by_t.append({"T": steps, "seconds_per_image": t / n})
    by_size = []
    for size in (32, 64) if quick else (32, 64, 128):
        model = constant_gain_model((3, size, size))
        s = Simulator(model)
        spikes = input_spikes(model, test_images(model, n), timesteps=30)
        t = time_interleaved({"eventsim": lambda: s.run(spikes=spikes)}, repeats=reps)["eventsim"]
        by_size.append({"size": size, "seconds_per_image": t / n})
    by_batch = []
    spikes = input_spikes(const, images, timesteps=30)
    for batch in (1, 8) if quick else (1, 4, 16, 64):
        t = time_interleaved({"eventsim": lambda: sim.run(spikes=spikes[:batch])}, repeats=reps)["eventsim"]
        by_batch.append({"batch": batch, "seconds_per_image": t / batch})
    memory = []
    for steps in (10, 100) if quick else (10, 30, 100, 300):
        ev = peak_memory(_eventsim_job, steps, n)
        th = peak_memory(_torch_job, steps, n)
        memory.append({"T": steps, "eventsim_mb": ev["peak_mb"], "torch_mb": th["peak_mb"]})
    _plot(by_t, by_size, by_batch, memory, ctx.out_dir / "scaling.png")
    return {"time_vs_T": by_t, "time_vs_size": by_size, "time_vs_batch": by_batch, "peak_rss_vs_T": memory}


def _plot(by_t, by_size, by_batch, memory, path):
    from eventsim.plots import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(13, 3))
    panels = [(by_t, "T", "time steps T"), (by_size, "size", "image size"), (by_batch, "batch", "batch size")]
    for ax, (rows, key, xlabel) in zip(axes, panels):
        ax.loglog([r[key] for r in rows], [1e3 * r["seconds_per_image"] for r in rows], "o-")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("ms per image")
    axes[3].plot([r["T"] for r in memory], [r["eventsim_mb"] for r in memory], "o-", label="eventsim (spikes recorded)")
    axes[3].plot([r["T"] for r in memory], [r["torch_mb"] for r in memory], "s-", label="dense torch (spikes recorded)")
    axes[3].set_xscale("log")
    axes[3].set_xlabel("time steps T")
    axes[3].set_ylabel("peak RSS growth (MB)")
    axes[3].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle("eventsim scaling (constant-gain small VGG)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
