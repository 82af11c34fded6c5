"""Whole-network kernels: one image through all steps, and a batch in parallel.

Per step ``t`` (DESIGN section 5):

1. gather the input events of step ``t`` (sum-pooled first when the input
   is pooled before the first layer);
2. scatter every layer's source events into its accumulator;
3. count and record the spikes of step ``t``;
4. update every layer's neurons, which lists the spikes of step ``t + 1``
   and, in SAM layers, updates their traces and writes ``M_{t+1}``.

Steps 2-3 only read event lists and step 4 only writes them, so one buffer
per layer suffices and the layer order within a step does not matter: every
spike of step ``t`` was decided from ``v[t-1]``.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .jit import kernel, parallel_kernel
from .neurons import emit_spikes, update_voltages
from .plan import (CNT_SAM, CNT_SAT, CNT_SPIKES, CNT_SYNOPS, EV_C, EV_X, EV_Y, INPUT, PH, POOL, POOL_SHIFT, PW,
                   SAM_HW_OFF, SAM_SLOT,
                   SPIKING, SRC, V_OFF, C, H, W)
from .sam import flush_map
from .synapses import gather_input, gather_pooled_input, scatter, scatter_pooled


@kernel
def run_image(net, table, reference, spikes, outs):
    """Simulate one image.

    Parameters
    ----------
    net : tuple
        ``(meta, weights, gains, biases)`` from :class:`~eventsim.kernels.plan.Plan`.
    table : ndarray of int64, shape (T + 1,)
        SAM decay table.
    reference : bool
        SAM convention ``"reference"`` instead of ``"paper"``.
    spikes : ndarray of int8, shape (T, H, W, C)
        Input spikes, channels-last.
    outs : tuple
        ``(out_v (K,), sam (T * sum HW,) float32, counters (L+1, 4, T),
        rec (T, n) or (0, 0), final_v (n,) or (0,))``, written in place.
        ``counters[L]`` holds the input layer; the SAM maps are laid out
        layer by layer, each ``[t][y][x]``.
    """
    meta, weights, gains, biases = net
    out_v, sam_maps, counters, rec, final_v = outs
    steps = spikes.shape[0]
    n_layers = meta.shape[0]
    n = meta[n_layers - 1, V_OFF] + meta[n_layers - 1, C] * meta[n_layers - 1, H] * meta[n_layers - 1, W]
    vol = np.zeros(n, np.int64)
    acc = np.zeros(n, np.int32)
    events = np.empty((3, n), np.int32)
    n_events = np.zeros(n_layers, np.int64)
    n_in_max = spikes.shape[1] * spikes.shape[2] * spikes.shape[3]
    in_events = np.empty((3, n_in_max), np.int32)
    in_signs = np.empty(n_in_max, np.int8)
    no_signs = np.empty(0, np.int8)
    first = meta[0]
    pooled_input = first[POOL] > 1  # pool the signed input before it fans out (synapses.gather_pooled_input)
    pool_counts = np.zeros((first[PH], first[PW], spikes.shape[3], 2) if pooled_input else (0, 0, 0, 2), np.int32)
    pool_values = np.empty((2, pool_counts.shape[0] * pool_counts.shape[1] * pool_counts.shape[2]), np.int32)
    sam_n = sam_px = 0
    for l in range(n_layers):
        if meta[l, SAM_SLOT] >= 0:
            sam_n += meta[l, C] * meta[l, H] * meta[l, W]
            sam_px += meta[l, H] * meta[l, W]
    sam_state = (np.zeros(sam_n, np.int64), np.zeros(sam_n, np.int32), np.zeros(sam_n if reference else 0, np.int32))
    sam_step = np.zeros(sam_px, np.int64)
    for t in range(steps):
        if pooled_input:
            n_in, counters[n_layers, CNT_SPIKES, t] = gather_pooled_input(spikes[t], first[POOL_SHIFT], pool_counts,
                                                                          in_events, pool_values)
        else:
            n_in = gather_input(spikes[t], in_events, in_signs)
            counters[n_layers, CNT_SPIKES, t] = n_in
        for l in range(n_layers):
            src = meta[l, SRC]
            if src == INPUT and pooled_input:
                ops = scatter_pooled(meta[l], in_events, n_in, pool_values, weights, acc)
            elif src == INPUT:
                ops = scatter(meta[l], in_events, n_in, in_signs, weights, acc)
            else:
                ops = scatter(meta[l], events[:, meta[src, V_OFF] :], n_events[src], no_signs, weights, acc)
            counters[l, CNT_SYNOPS, t] = ops
        for l in range(n_layers):
            if meta[l, SPIKING]:
                _observe(meta[l], t, events[:, meta[l, V_OFF] :], n_events[l], rec, counters[l])
        for l in range(n_layers):
            counters[l, CNT_SAT, t] = update_voltages(meta[l], t, vol, acc, gains, biases)
            if meta[l, SPIKING]:
                m = meta[l]
                step_map = sam_step[m[SAM_HW_OFF] : m[SAM_HW_OFF] + m[H] * m[W]]
                sam = (sam_state[0], sam_state[1], sam_state[2], table, step_map, reference)
                n_events[l] = emit_spikes(m, vol, events[:, m[V_OFF] :], sam, t + 1)
                if m[SAM_SLOT] >= 0 and t + 1 < steps:
                    base = steps * m[SAM_HW_OFF] + (t + 1) * m[H] * m[W]
                    flush_map(step_map, sam_maps[base : base + m[H] * m[W]])
                    counters[l, CNT_SAM, t + 1] = n_events[l]
    last = meta[n_layers - 1]
    out_v[:] = vol[last[V_OFF] : last[V_OFF] + last[C]]
    if final_v.shape[0] > 0:
        final_v[:] = vol


@kernel
def _observe(m, t, events, n_events, rec, counter):
    """Count and record the spikes of one layer at step ``t``."""
    counter[CNT_SPIKES, t] = n_events
    if rec.shape[0] > 0:
        for e in range(n_events):
            rec[t, m[V_OFF] + (events[EV_Y, e] * m[W] + events[EV_X, e]) * m[C] + events[EV_C, e]] = 1


@parallel_kernel
def run_batch(net, table, reference, spikes, outs):
    """:func:`run_image` for every image, ``prange`` over the batch.

    Each image owns its state and its rows of the outputs, so threads never
    write the same memory.  Shapes as in :func:`run_image` with a leading
    batch axis on ``spikes`` and on every output; when not recording,
    ``rec`` is ``(N, 0, 0)`` and ``final_v`` is ``(N, 0)``.
    """
    out_v, sam_maps, counters, rec, final_v = outs
    for i in prange(spikes.shape[0]):
        run_image(net, table, reference, spikes[i], (out_v[i], sam_maps[i], counters[i], rec[i], final_v[i]))
