"""Case: where the engine's time goes, layer by layer, with and without SAM.

Each layer kernel of the engine is timed inside one run (one thread, thread
CPU time, so other load on the machine disturbs it less), for the default
model at its natural rate, batch 16: ``ms_per_image[layer]`` with SAM on
every conv layer and without SAM, and SAM's share per layer.  Rounds
alternate SAM on and off; each layer reports its fastest round.
"""
from __future__ import annotations

import numba

from eventsim import Simulator
from eventsim import fixed_point as fp
from eventsim.kernels import engine

from .common import Bench, input_spikes, test_images


def layer_times(model, spikes, sam_layers, rounds: int) -> dict:
    """Fastest per-layer kernel seconds over ``rounds`` runs: ``{layer: s}``."""
    sim = Simulator(model, sam_layers=sam_layers)
    sim.run(spikes=spikes[:1])
    steps = spikes.shape[1]
    best = {}
    for _ in range(rounds):
        clock = {}
        engine.run(sim._plans, spikes, fp.sam_decay_table(sim.sam_gamma, steps), False, sim.sam_layers,
                   model.output_layer.voltage_scale, layer_clock=clock, workspace=sim._workspace)
        best = {k: min(v, best.get(k, v)) for k, v in clock.items()}
    return best


def run(ctx: Bench) -> dict:
    model, label = ctx.model, ctx.label
    spikes = input_spikes(model, test_images(model, 16))
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        rounds = 3 if ctx.quick else 7
        with_sam = layer_times(model, spikes, None, rounds)
        without = layer_times(model, spikes, [], rounds)
    finally:
        numba.set_num_threads(threads)
    n = spikes.shape[0]
    rows = [{"layer": name, "ms_with_sam": 1e3 * with_sam[name] / n, "ms_without_sam": 1e3 * without[name] / n,
             "sam_share": (with_sam[name] - without[name]) / with_sam[name]} for name in with_sam]
    total_on, total_off = sum(with_sam.values()), sum(without.values())
    return {"model": label, "images": n, "threads": 1, "layers": rows,
            "ms_per_image_with_sam": 1e3 * total_on / n, "ms_per_image_without_sam": 1e3 * total_off / n,
            "sam_share_of_kernels": (total_on - total_off) / total_on}
