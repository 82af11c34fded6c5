"""Case 1: event counts, synaptic operations vs dense MACs, and an energy estimate.

Energy constants come from :mod:`eventsim.energy` (its sets ``horowitz45-fp32``
and ``horowitz45-int32``, with their sources): a spiking network performs one
accumulate per synaptic event (``synops``), a dense network one
multiply-accumulate per connection per step (``MACs``).  The estimate counts
arithmetic only (no memory traffic), as the SNN literature using these
constants does.  ``energy_sets`` adds the full estimate of every named set
(synops, neuron updates and spikes, :func:`eventsim.energy.estimate_energy`).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from eventsim import Simulator
from eventsim.energy import CONSTANT_SETS, HOROWITZ, estimate_energy
from eventsim.topology import connections

from .common import Bench, input_spikes, test_images

E_PJ = {prec: {"ac": CONSTANT_SETS[f"horowitz45-{prec}"].add_pj, "mac": CONSTANT_SETS[f"horowitz45-{prec}"].mac_pj}
        for prec in ("fp32", "int32")}


def dense_macs(model) -> dict:
    """Multiply-accumulates per image per step of each neuron layer, computed densely."""
    macs = {}
    for conn in connections(model):
        layer = conn.target
        if layer.kind == "conv":
            c_out, c_in, k, _ = layer.weight.shape
            macs[layer.name] = layer.out_shape[1] * layer.out_shape[2] * c_out * c_in * k * k
        else:
            macs[layer.name] = int(layer.weight.size)
    return macs


def independent_synops(model, result, spikes) -> dict:
    """Synaptic ops from recorded spikes: input spikes x per-position fan-out (border-aware).

    Computed independently of the engine, the way Sinabs counts them: the
    fan-out map of a conv layer is the transposed convolution of an all-ones
    map with an all-ones kernel (how many outputs each input position
    reaches) times ``C_out``.
    """
    out = {}
    for conn in connections(model):
        layer = conn.target
        src = np.abs(spikes) if conn.source == "input" else result.spikes[conn.source]
        counts = torch.from_numpy(src.sum(axis=(1, 2)).astype(np.float64))  # (N, H, W) spikes over t and c
        if conn.pool > 1:
            counts = F.avg_pool2d(counts[:, None], conn.pool)[:, 0] * conn.pool**2
        c_out = layer.out_shape[0]
        if layer.kind == "conv":
            k = layer.kernel_size
            ones = torch.ones((1, 1) + tuple(counts.shape[1:]), dtype=torch.float64)
            fan = F.conv_transpose2d(ones, torch.ones(1, 1, k, k, dtype=torch.float64), padding=k // 2)[0, 0]
            out[layer.name] = float((counts * fan).sum()) * c_out / counts.shape[0]
        else:
            out[layer.name] = float(counts.sum()) * c_out / counts.shape[0]
    return out


def run(ctx: Bench) -> dict:
    model, label = ctx.model, ctx.label
    n = 64  # quick too: the counts are cheap, and quick must report the same numbers as the full run
    spikes = input_spikes(model, test_images(model, n))
    result = Simulator(model, sam_layers=[]).run(spikes=spikes, record_spikes=True)
    steps = result.timesteps
    macs = dense_macs(model)
    indep = independent_synops(model, result, spikes)
    rows, per_step = [], {}
    for name in model.spiking_layers + [model.output_layer.name]:
        c = result.counts[name]
        neurons = model.layer(name).num_neurons
        synops = float(c["synops"].sum(axis=1).mean())
        dense = float(macs[name] * steps)
        rows.append({"layer": name, "neurons": neurons, "spikes_per_image": float(c["spikes"].sum(axis=1).mean()),
                     "spike_rate": float(c["spikes"].mean() / neurons), "synops_per_image": synops,
                     "synops_independent": indep[name], "dense_macs_per_image": dense,
                     "synops_per_dense_mac": synops / dense})
        per_step[name] = (c["spikes"].mean(axis=0) / neurons).tolist()
    synops_total = sum(r["synops_per_image"] for r in rows)
    macs_total = sum(r["dense_macs_per_image"] for r in rows)
    energy = {prec: {"snn_uJ": synops_total * e["ac"] * 1e-6, "dense_uJ": macs_total * e["mac"] * 1e-6}
              for prec, e in E_PJ.items()}
    cross_ok = all(abs(r["synops_per_image"] - r["synops_independent"]) <= 1e-9 * max(1.0, r["synops_per_image"])
                   for r in rows)
    _plot(per_step, steps, ctx.out_dir / "events_spike_rate_per_step.png", model.name)
    return {"model": label, "images": n, "timesteps": steps, "layers": rows,
            "synops_per_image": synops_total, "dense_macs_per_image": macs_total,
            "synops_crosscheck_equal": bool(cross_ok), "energy": energy,
            "energy_constants_pJ": E_PJ, "energy_source": HOROWITZ,
            "energy_sets": {name: estimate_energy(result, name)["total_j"] for name in CONSTANT_SETS}}


def _plot(per_step, steps, path, title):
    from eventsim.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, rates in per_step.items():
        if any(rates):
            ax.plot(np.arange(steps), rates, marker=".", label=name)
    ax.set_xlabel("time step")
    ax.set_ylabel("spikes per neuron")
    ax.set_title(f"spike rate per layer and step ({title})", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(fig, path)
