"""Neuron kernels of any width: the voltage update (leak, per-step gain, soft
reset, 24-bit saturation) fused with the emission of the next step's spikes
as bitmaps, and the on-line SAM pass over those bitmaps.

Spike bitmaps
-------------
A spiking layer of ``C`` channels on an ``H x W`` map emits, per step, one
group of ``NW = ceil(C / 64)`` uint64 words per position, channels-last:
channel ``c`` of position ``pos = y * W + x`` is bit ``c % 64`` of word
``pos * NW + c // 64``.  The compare ``v > theta`` of a whole position is a
vector compare packed into one word, and consumers walk the set bits.

The specialised conv kernels (:mod:`eventsim.kernels.conv`) inline
fixed-width copies of :func:`update_layer` and :func:`sam_pass`; the tests
compare each with its NumPy twin.
"""
from __future__ import annotations

import numpy as np

from .. import fixed_point as fp
from .bits import clear_lowest, lowest_bit, popcount
from .interface import CNT_SAM, CNT_SPIKES
from .jit import kernel

U1 = np.uint64(1)

@kernel
def reset_image(i, outs, sam):
    """Clear the state image ``i`` reads before writing: voltages, counters, the
    step-0 bitmap (no spikes at ``t = 0``) and the SAM traces."""
    outs.vol[i, :] = 0
    outs.counters[i, :, :] = 0
    if outs.bits.shape[2] > 0:
        outs.bits[i, 0, :] = 0
    sam.trace[i, :] = 0
    sam.t_last[i, :] = 0
    sam.count[i, :] = 0


@kernel
def update_layer(t, vol, cur, neurons, words):
    """Advance a layer from ``v[t-1]`` to ``v[t]`` and emit the spikes of step ``t + 1``.

    Every neuron gets :func:`eventsim.fixed_point.neuron_step`; its synaptic
    sum is read from ``cur`` and cleared.  When ``words`` is not empty,
    ``v[t] > theta`` is packed into it (the bitmap layout of this module).

    Parameters
    ----------
    t : int
    vol : ndarray of int32, shape (H*W*C,)
        Voltages, channels-last, updated in place.
    cur : ndarray of int32, shape (H*W*C,)
        Synaptic sums ``I[t]``; zeroed on return.
    neurons : eventsim.kernels.interface.Neurons
    words : ndarray of uint64, shape (H*W*NW,) or (0,)
        Output bitmap of step ``t + 1`` (overwritten).

    Returns
    -------
    saturated : int
        Neurons clamped at step ``t``.
    spikes : int
        Set bits written.
    """
    c_out = neurons.gain.shape[1]
    row = t if neurons.gain.shape[0] > 1 else 0
    g, b = neurons.gain[row], neurons.bias[row]
    nw = (c_out + 63) >> 6
    emit = words.shape[0] > 0
    n_sat = n_spk = 0
    for pos in range(vol.shape[0] // c_out):
        for k in range(nw if emit else 0):
            words[pos * nw + k] = 0
        for c in range(c_out):
            i = pos * c_out + c
            v, _, sat = fp.neuron_step(np.int64(vol[i]), np.int64(cur[i]), g[c], b[c], neurons.shift,
                                       neurons.theta, neurons.lam12, False)
            vol[i] = v
            cur[i] = 0
            n_sat += sat
            if emit and v > neurons.theta:
                words[pos * nw + (c >> 6)] |= U1 << np.uint64(c & 63)
                n_spk += 1
    return n_sat, n_spk


@kernel
def sam_pass(words, c_out, t, sam, i):
    """On-line SAM for the spikes of step ``t`` of image ``i``: the trace of
    every spiking neuron is updated (:func:`eventsim.fixed_point.sam_spike`)
    and its NCS summed into ``sam.maps[i, t]``.

    O(1) per spike; positions without spikes are not written (the maps start
    at zero).

    Parameters
    ----------
    words : ndarray of uint64, shape (H*W*NW,)
        Spikes of step ``t`` (the bitmap layout of this module).
    c_out : int
        Channels ``C``.
    t : int
    sam : eventsim.kernels.interface.Sam
    i : int
        Image index into the batch arrays of ``sam``.
    """
    nw = (c_out + 63) >> 6
    out = sam.maps[i, t]
    trace, t_last = sam.trace[i], sam.t_last[i]
    count = sam.count[i]
    for pos in range(out.shape[0]):
        total = 0
        for k in range(nw):
            bits = words[pos * nw + k]
            while bits != 0:
                n = pos * c_out + (k << 6) + lowest_bit(bits)
                earlier = count[n] if sam.reference else 0
                ncs, trace[n] = fp.sam_spike(trace[n], t_last[n], earlier, t, sam.table, sam.reference)
                t_last[n] = t
                if sam.reference:
                    count[n] += 1
                total += ncs
                bits = clear_lowest(bits)
        if total != 0:
            out[pos] = np.float32(total / float(fp.SAM_ONE))


@kernel
def count_spikes(words, sam, counters, t):
    """Write the spike count of step ``t`` (and, for a SAM layer, its SAM update count) into ``counters``.

    ``counters`` is one image's ``(4, T)`` block of :class:`~eventsim.kernels.interface.Outputs`.
    """
    n = 0
    for k in range(words.shape[0]):
        n += popcount(words[k])
    counters[CNT_SPIKES, t] = n
    if sam.maps.shape[1] > 0:
        counters[CNT_SAM, t] = n


@kernel
def after_emit(words, c_out, sam, counters, t, i):
    """:func:`count_spikes` of step ``t`` of image ``i``, then :func:`sam_pass` when the layer has SAM."""
    count_spikes(words, sam, counters, t)
    if sam.maps.shape[1] > 0:
        sam_pass(words, c_out, t, sam, i)
