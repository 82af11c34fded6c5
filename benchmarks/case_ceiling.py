"""Case 4: the machine's int32 vector-add ceiling, and eventsim's synaptic-op rate against it.

The ceiling kernel does what a one-add-per-synaptic-op scatter does at best:
add a contiguous int32 weight run into rows of an accumulator held in L1,
with no event decoding, bounds or border logic.  The engine's rate is its
synaptic-op count (the energy model's count: one per weight an event
reaches) over the whole run time (batch 16, natural rate, SAM off), so it
includes neuron updates, emission and bookkeeping.
``synops_rate_vs_add_ceiling`` is the ratio of the two per core at 2
threads (above 1 means the engine does less than one memory add per counted
op, e.g. by register blocking or a dense path); 1 thread is reported
beside it.  Both are timed in interleaved rounds; ``*_spread`` is the
min / median / max of the per-round ratio.
"""
from __future__ import annotations


import numba
import numpy as np
from numba import prange

from eventsim import Simulator
from eventsim.kernels.jit import OPTIONS

from .case_torch import THREADS, set_threads
from .common import Bench, input_spikes, spread, test_images, time_rounds


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
    spikes = input_spikes(model, test_images(model, 16))
    sim = Simulator(model, sam_layers=[])
    result = sim.run(spikes=spikes)
    synops = sum(int(c["synops"].sum()) for c in result.counts.values())
    add_job, adds = add_ceiling_job(reps=5000)
    rounds = {"engine": {}, "ceiling": {}}
    for th in THREADS:
        set_threads(th)
        t = time_rounds({"engine": lambda: sim.run(spikes=spikes), "ceiling": add_job}, repeats=3 if quick else 9)
        rounds["engine"][th], rounds["ceiling"][th] = t["engine"], t["ceiling"]
    out = {"model": label, "synops": synops}
    for th in THREADS:
        engine = synops / np.asarray(rounds["engine"][th])  # synops per second, per round
        ceiling = adds / np.asarray(rounds["ceiling"][th])
        out[f"threads_{th}"] = {"engine_synops_per_s_per_core": float(np.median(engine)) / th,
                                "ceiling_adds_per_s_per_core": float(np.median(ceiling)) / th,
                                "synops_rate_vs_add_ceiling": float(np.median(engine) / np.median(ceiling)),
                                "synops_rate_vs_add_ceiling_spread": spread(engine / ceiling)}
    head = out[f"threads_{THREADS[-1]}"]
    out["synops_rate_vs_add_ceiling"] = head["synops_rate_vs_add_ceiling"]
    out["synops_rate_vs_add_ceiling_spread"] = head["synops_rate_vs_add_ceiling_spread"]
    return out
