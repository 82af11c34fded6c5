"""Case 4: the machine's int32 vector-add ceiling, and eventsim's share of it.

The ceiling kernel does what the synaptic scatter does at best: add a
contiguous int32 weight run into rows of an accumulator, with no event
decoding, bounds or border logic, on 2 threads.  Two rates are compared
with it:

* ``scatter_fraction_of_add_ceiling``: the scatter kernel alone, replaying
  the recorded events of the natural-rate run (synops / scatter time);
* ``engine_fraction_of_add_ceiling``: the whole engine (synops / run time,
  which also includes neuron updates, emission and bookkeeping).
"""
from __future__ import annotations


import numba
import numpy as np
from numba import prange

from eventsim import Simulator
from eventsim.kernels import plan as kp
from eventsim.kernels.jit import OPTIONS
from eventsim.kernels.synapses import scatter

from .common import Bench, input_spikes, test_images, time_interleaved


@numba.njit(**OPTIONS)
def _add_block_rows(a, weights, run, reps):
    rows = a.shape[0] // run
    for r in range(reps):
        for i in range(rows):
            dst = a[i * run : (i + 1) * run]
            src = weights[(rows - 1 - i) * run : (rows - i) * run]
            for j in range(run):
                dst[j] += src[j]


@numba.njit(parallel=True, **OPTIONS)
def _add_rows(acc, weights, run, reps):
    """Each of ``acc``'s blocks (spread over the threads) gets ``run``-long weight blocks added."""
    for th in prange(acc.shape[0]):
        _add_block_rows(acc[th], weights, run, reps)
    return acc


def add_ceiling_job(blocks=8, run=192, rows=16, reps=5000):
    """A callable doing ``blocks * rows * run * reps`` int32 adds the ideal way, and that count.

    Blocks are shared among the threads like images are in the engine; each
    block of ``rows * run`` int32 (12 KiB by default) stays in the L1 cache:
    the best case for a scatter, whose real accumulators are larger.
    """
    acc = np.zeros((blocks, rows * run), np.int32)
    weights = np.ones(rows * run, np.int32)
    _add_rows(acc, weights, run, 1)
    return (lambda: _add_rows(acc, weights, run, reps)), blocks * rows * run * reps


@numba.njit(parallel=True, **OPTIONS)
def _replay(meta, weights, events, signs, offsets, n_acc):
    """Scatter pre-recorded events: ``offsets[i, t, l]`` bounds image i's events of layer l at step t."""
    n_img, steps, n_layers = offsets.shape[0], offsets.shape[1], offsets.shape[2] - 1
    total = np.zeros(n_img, np.int64)
    for i in prange(n_img):
        acc = np.zeros(n_acc, np.int32)
        for t in range(steps):
            for l in range(n_layers):
                lo, hi = offsets[i, t, l], offsets[i, t, l + 1]
                src = meta[l, kp.SRC]
                sg = signs[lo:hi] if src == kp.INPUT else signs[0:0]
                total[i] += scatter(meta[l], events[:, lo:hi], hi - lo, sg, weights, acc)
    return total


def _event_lists(plan, model, spikes, result):
    """Flatten the recorded source events of every layer, step and image for :func:`_replay`."""
    n, steps = spikes.shape[:2]
    names = ["input"] + list(plan.names)
    ev, sg, offsets = [], [], np.zeros((n, steps, len(plan.names) + 1), np.int64)
    pos = 0
    for i in range(n):
        for t in range(steps):
            for l, row in enumerate(plan.meta):
                offsets[i, t, l] = pos
                src = names[0] if row[kp.SRC] == kp.INPUT else names[1 + row[kp.SRC]]
                x = spikes[i, t] if src == "input" else result.spikes[src][i, t]
                c, y, xx = np.nonzero(x)
                ev.append(np.stack([y, xx, c]).astype(np.int32))
                sg.append(x[c, y, xx].astype(np.int8))
                pos += c.size
            offsets[i, t, len(plan.names)] = pos
    return np.ascontiguousarray(np.concatenate(ev, axis=1)), np.concatenate(sg), offsets


def run(ctx: Bench) -> dict:
    model, label, quick = ctx.model, ctx.label, ctx.quick
    spikes = input_spikes(model, test_images(model, 8 if quick else 16))
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    sim = Simulator(model, sam_layers=[])
    result = sim.run(spikes=spikes, record_spikes=True)
    synops = sum(int(c["synops"].sum()) for c in result.counts.values())
    plan = sim._plan
    events, signs, offsets = _event_lists(plan, model, spikes, result)
    replay = lambda: _replay(plan.meta, plan.weights, events, signs, offsets, plan.n_neurons)  # noqa: E731
    assert int(replay().sum()) == synops, "replayed scatter must do exactly the engine's synaptic ops"
    add_job, adds = add_ceiling_job(reps=1000 if quick else 5000)
    t = time_interleaved({"engine": lambda: sim.run(spikes=spikes), "scatter": replay, "ceiling": add_job},
                         repeats=3 if quick else 9)
    ceiling = adds / t["ceiling"]
    return {"model": label, "ceiling_adds_per_s": ceiling, "scatter_synops_per_s": synops / t["scatter"],
            "engine_synops_per_s": synops / t["engine"],
            "scatter_fraction_of_add_ceiling": synops / t["scatter"] / ceiling,
            "engine_fraction_of_add_ceiling": synops / t["engine"] / ceiling}
