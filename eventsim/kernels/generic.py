"""Generic event-driven kernels: any conv (kernel, stride, padding), any chain of pools, any dense layer.

Layers the specialised kernels do not cover (:mod:`eventsim.kernels.plan`)
run here.  Their whole topology is a precomputed table
(:class:`~eventsim.kernels.interface.Fanout`, built by
:mod:`eventsim.kernels.fanout`): for each source position, the list of
``(target position, weight row, multiplicity)`` entries that one event
there reaches through the pool windows and the conv window (or the
flattened or globally pooled feature of a dense layer).  Per step, every
event (a set bit of the source's bitmaps, or a non-zero value of the
input) ``(c, x)`` at source position ``pos`` adds, for every entry ``e`` of
``pos``:

.. math:: I[\\mathrm{out}_e : \\mathrm{out}_e + C_{out}] \\mathrel{+}=
          x \\, m_e \\, W[c \\, \\mathrm{cstride} + \\mathrm{wo}_e : \\ldots + C_{out}]

so the work is one ``C_out``-wide row per event and entry (the ``synops``
counter divided by ``C_out``, except that a multiplicity ``m_e > 1`` costs
one row, not ``m_e``), and nothing is done where there are no events.  Widths are read at run time:
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
def add_event(cur, wt, fanout, pos, off, x):
    """Add one event of value ``x`` at source position ``pos`` to the synaptic sums of its entries.

    Parameters
    ----------
    cur : ndarray of int32, shape (H*W*C_out,)
        Synaptic sums, channels-last; added to.
    wt : ndarray of int32
        Weights, row ``c * cstride + wo_e`` of ``C_out`` values per channel and entry.
    fanout : eventsim.kernels.interface.Fanout
    pos : int
        Source position ``y * SW + x``.
    off : int
        ``c * fanout.cstride`` of the event's channel ``c``.
    x : int
        The event's value (1 for a spike, the signed count for the input).
    """
    width = np.uint64(fanout.c_out)
    for e in range(fanout.start[pos], fanout.start[pos + 1]):
        # unsigned offsets: no negative-index wrap-around in the loop, so it vectorizes
        w0, d0 = np.uint64(off + fanout.wo[e]), np.uint64(fanout.out[e])
        scale = np.int32(x * fanout.mult[e])  # |x m w| <= the int32 accumulator bound of validation
        for j in range(width):
            cur[d0 + j] += scale * wt[w0 + j]


@kernel
def scatter_bits(src, c_src, wt, cur, fanout):
    """Synaptic sums of one step from a spiking source.

    Parameters
    ----------
    src : ndarray of uint64, shape (SH*SW*NW,)
        Source spikes of this step (bitmaps, :mod:`eventsim.kernels.neurons`).
    c_src : int
        Source channels.
    wt, cur, fanout
        As in :func:`add_event`.

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
        for k in range(nw):
            bits = src[pos * nw + k]
            while bits != 0:
                add_event(cur, wt, fanout, pos, ((k << 6) + lowest_bit(bits)) * fanout.cstride, 1)
                synops += fanout.fan[pos]
                bits = clear_lowest(bits)
    return synops


@kernel
def scatter_input(spk, wt, cur, fanout):
    """Synaptic sums of one step from the encoder: signed spikes or event counts.

    Parameters
    ----------
    spk : ndarray of int8, shape (C, SH, SW)
        Input of this step; a value ``x`` adds ``x`` times its weight rows.
    wt, cur, fanout
        As in :func:`scatter_bits`.

    Returns
    -------
    n_in : int
        Input events ``sum |x|``, also those in no pool window.
    synops : int
        ``|x| fanout.fan[pos]`` summed over the values.
    """
    c_in, h, w = spk.shape
    n_in = synops = 0
    for c in range(c_in):
        for y in range(h):
            row = spk[c, y]
            for x in range(w):
                v = np.int64(row[x])
                if v != 0:
                    pos = y * w + x
                    n_in += abs(v)
                    synops += abs(v) * fanout.fan[pos]
                    add_event(cur, wt, fanout, pos, c * fanout.cstride, v)
    return n_in, synops


@kernel
def run_from_bits(i, src, c_src, wt, neurons, sam, outs, fanout, acc):
    """All steps of a generic layer fed by a spiking layer, for image ``i``.

    ``src`` is the source's bitmaps ``(N, T, SH*SW*NW)``; ``acc`` scratch
    ``(N, H*W*C_out)`` int32 (cleared here); ``neurons``, ``sam``, ``outs``
    as in :func:`eventsim.kernels.conv.run_events`.
    """
    reset_image(i, outs, sam)
    acc[i, :] = 0
    for t in range(src.shape[1]):
        outs.counters[i, CNT_SYNOPS, t] = scatter_bits(src[i, t], c_src, wt, acc[i], fanout)
        step_layer(i, t, neurons, sam, outs, acc[i])


@kernel
def run_from_input(i, spikes, wt, neurons, sam, outs, fanout, acc, in_spikes):
    """All steps of a generic layer fed by the encoder, for image ``i``.

    ``spikes`` is ``(N, T, C, SH, SW)`` int8; ``in_spikes`` ``(N, T)``
    receives the input events ``sum |x|`` per step; the rest as in :func:`run_from_bits`.
    """
    reset_image(i, outs, sam)
    acc[i, :] = 0
    for t in range(spikes.shape[1]):
        in_spikes[i, t], outs.counters[i, CNT_SYNOPS, t] = scatter_input(spikes[i, t], wt, acc[i], fanout)
        step_layer(i, t, neurons, sam, outs, acc[i])


@kernel
def batch_from_bits(lo, hi, src, c_src, wt, neurons, sam, outs, fanout, acc):
    """:func:`run_from_bits` for images ``lo..hi-1`` (the driver gives each thread its own range)."""
    for i in range(lo, hi):
        run_from_bits(i, src, c_src, wt, neurons, sam, outs, fanout, acc)


@kernel
def batch_from_input(lo, hi, spikes, wt, neurons, sam, outs, fanout, acc, in_spikes):
    """:func:`run_from_input` for images ``lo..hi-1``."""
    for i in range(lo, hi):
        run_from_input(i, spikes, wt, neurons, sam, outs, fanout, acc, in_spikes)
