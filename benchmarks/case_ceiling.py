"""Case 4: the machine's int32 vector-add ceiling, and eventsim's share of it.

The ceiling kernel does what a one-add-per-synaptic-op scatter does at
best: add a contiguous int32 weight run into rows of an accumulator, with
no event decoding, bounds or border logic, on 2 threads.  The engine's rate
(synaptic ops / run time, which also includes neuron updates, emission and
bookkeeping) is compared with it: ``engine_fraction_of_add_ceiling``.  The
register-blocked engine does fewer memory adds than synaptic ops, so it can
exceed 1 (docs/engine.md).
"""
from __future__ import annotations


import numba
import numpy as np
from numba import prange

from eventsim import Simulator
from eventsim.kernels.jit import OPTIONS

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


def run(ctx: Bench) -> dict:
    model, label, quick = ctx.model, ctx.label, ctx.quick
    spikes = input_spikes(model, test_images(model, 8 if quick else 16))
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    sim = Simulator(model, sam_layers=[])
    result = sim.run(spikes=spikes, record_spikes=True)
    synops = sum(int(c["synops"].sum()) for c in result.counts.values())
    add_job, adds = add_ceiling_job(reps=1000 if quick else 5000)
    t = time_interleaved({"engine": lambda: sim.run(spikes=spikes), "ceiling": add_job}, repeats=3 if quick else 9)
    ceiling = adds / t["ceiling"]
    return {"model": label, "ceiling_adds_per_s": ceiling, "engine_synops_per_s": synops / t["engine"],
            "engine_fraction_of_add_ceiling": synops / t["engine"] / ceiling}
