"""Generic event-driven kernels: any conv (kernel, stride, padding), any chain of pools, any dense layer.

Layers the specialised kernels do not cover (:mod:`eventsim.kernels.plan`)
run here.  Their whole topology is a precomputed table
(:class:`~eventsim.kernels.interface.Fanout`, built by
:mod:`eventsim.kernels.fanout`): for each source position, the list of
``(target position, weight row, multiplicity)`` entries that one event
there reaches through the pool windows and the conv window (or the
flattened or globally pooled feature of a dense layer).  Per step and
source position, the events (set bits of the source's bitmaps, or the
non-zero values of the input) are listed once; then for every entry ``e``
and event ``(c, x)``:

.. math:: I[\\mathrm{out}_e : \\mathrm{out}_e + C_{out}] \\mathrel{+}=
          x \\, m_e \\, W[c \\, \\mathrm{cstride} + \\mathrm{wo}_e : \\ldots + C_{out}]

so the work is exactly one ``C_out``-wide row per synaptic fan-out of an
event (the ``synops`` counter divided by ``C_out``, for unit events), and
nothing is done where there are no events.  Widths are read at run time:
these kernels compile once for every model.  The update, emission and SAM
are :func:`eventsim.kernels.neurons.step_layer`.
"""
from __future__ import annotations

import numpy as np

from .bits import clear_lowest, lowest_bit
from .interface import CNT_SYNOPS
from .jit import kernel
from .neurons import reset_image, step_layer


@kernel
def add_position(cur, wt, fanout, pos, ev, n):
    """Add the ``n`` listed events of source position ``pos`` to the synaptic sums of its entries.

    Parameters
    ----------
    cur : ndarray of int32, shape (H*W*C_out,)
        Synaptic sums, channels-last; added to.
    wt : ndarray of int32
        Weights, row ``c * cstride + wo_e`` of ``C_out`` values per channel and entry.
    fanout : eventsim.kernels.interface.Fanout
    pos : int
        Source position ``y * SW + x``.
    ev : ndarray of int64, shape (2, >= n)
        Row 0: weight offset ``c * cstride`` of each event's channel; row 1: its value ``x``.
    n : int
    """
    c_out = fanout.c_out
    offs, vals = ev[0], ev[1]
    for e in range(fanout.start[pos], fanout.start[pos + 1]):
        dst = cur[fanout.out[e] : fanout.out[e] + c_out]
        m = fanout.mult[e]
        base = fanout.wo[e]
        for q in range(n):
            o = offs[q] + base
            wrow = wt[o : o + c_out]  # slices, not offset indexing: the loops vectorize
            scale = vals[q] * m
            if scale == 1:
                for j in range(c_out):
                    dst[j] += wrow[j]
            else:
                for j in range(c_out):
                    dst[j] += scale * wrow[j]


@kernel
def scatter_bits(src, c_src, wt, cur, fanout, ev):
    """Synaptic sums of one step from a spiking source.

    Parameters
    ----------
    src : ndarray of uint64, shape (SH*SW*NW,)
        Source spikes of this step (bitmaps, :mod:`eventsim.kernels.neurons`).
    c_src : int
        Source channels.
    wt, cur, fanout
        As in :func:`add_position`.
    ev : ndarray of int64, shape (2, >= c_src)
        Scratch: the events of one position.

    Returns
    -------
    int
        Synaptic operations: ``fanout.fan[pos]`` per event.
    """
    nw = (c_src + 63) >> 6
    synops = 0
    for pos in range(fanout.fan.shape[0]):
        if fanout.start[pos] == fanout.start[pos + 1]:
            continue  # in no pool window: its events add nothing
        n = 0
        for k in range(nw):
            bits = src[pos * nw + k]
            while bits != 0:
                ev[0, n] = ((k << 6) + lowest_bit(bits)) * fanout.cstride
                ev[1, n] = 1
                n += 1
                bits = clear_lowest(bits)
        if n > 0:
            synops += n * fanout.fan[pos]
            add_position(cur, wt, fanout, pos, ev, n)
    return synops


@kernel
def scatter_input(spk, wt, cur, fanout, ev):
    """Synaptic sums of one step from the encoder: signed spikes or event counts.

    Parameters
    ----------
    spk : ndarray of int8, shape (C, SH, SW)
        Input of this step; a value ``x`` adds ``x`` times its weight rows.
    wt, cur, fanout, ev
        As in :func:`scatter_bits`.

    Returns
    -------
    n_in : int
        Input events ``sum |x|``, also those in no pool window.
    synops : int
        ``|x| fanout.fan[pos]`` summed over the values.
    """
    c_in, _, w = spk.shape
    n_in = synops = 0
    for pos in range(fanout.fan.shape[0]):
        y, x = pos // w, pos % w
        n = total = 0
        for c in range(c_in):
            v = np.int64(spk[c, y, x])
            if v != 0:
                ev[0, n] = c * fanout.cstride
                ev[1, n] = v
                n += 1
                total += abs(v)
        n_in += total
        if n > 0:
            synops += total * fanout.fan[pos]
            add_position(cur, wt, fanout, pos, ev, n)
    return n_in, synops


@kernel
def run_from_bits(i, src, c_src, wt, neurons, sam, outs, fanout, acc, ev):
    """All steps of a generic layer fed by a spiking layer, for image ``i``.

    ``src`` is the source's bitmaps ``(N, T, SH*SW*NW)``; ``acc`` scratch
    ``(N, H*W*C_out)`` int32 (cleared here); ``ev`` scratch ``(N, 2, c_src)``;
    ``neurons``, ``sam``, ``outs`` as in :func:`eventsim.kernels.conv.run_events`.
    """
    reset_image(i, outs, sam)
    acc[i, :] = 0
    for t in range(src.shape[1]):
        outs.counters[i, CNT_SYNOPS, t] = scatter_bits(src[i, t], c_src, wt, acc[i], fanout, ev[i])
        step_layer(i, t, neurons, sam, outs, acc[i])


@kernel
def run_from_input(i, spikes, wt, neurons, sam, outs, fanout, acc, ev, in_spikes):
    """All steps of a generic layer fed by the encoder, for image ``i``.

    ``spikes`` is ``(N, T, C, SH, SW)`` int8; ``in_spikes`` ``(N, T)``
    receives the input events ``sum |x|`` per step; the rest as in :func:`run_from_bits`.
    """
    reset_image(i, outs, sam)
    acc[i, :] = 0
    for t in range(spikes.shape[1]):
        in_spikes[i, t], outs.counters[i, CNT_SYNOPS, t] = scatter_input(spikes[i, t], wt, acc[i], fanout, ev[i])
        step_layer(i, t, neurons, sam, outs, acc[i])


@kernel
def batch_from_bits(lo, hi, src, c_src, wt, neurons, sam, outs, fanout, acc, ev):
    """:func:`run_from_bits` for images ``lo..hi-1`` (the driver gives each thread its own range)."""
    for i in range(lo, hi):
        run_from_bits(i, src, c_src, wt, neurons, sam, outs, fanout, acc, ev)


@kernel
def batch_from_input(lo, hi, spikes, wt, neurons, sam, outs, fanout, acc, ev, in_spikes):
    """:func:`run_from_input` for images ``lo..hi-1``."""
    for i in range(lo, hi):
        run_from_input(i, spikes, wt, neurons, sam, outs, fanout, acc, ev, in_spikes)
