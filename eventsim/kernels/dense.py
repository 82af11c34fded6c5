"""Dense layer kernels (hidden spiking ``dense`` and the ``output`` readout), any width.

A dense layer sees its source through the sum pool, then either the
flatten (feature ``f = (c * PH + py) * PW + px``) or the global sum
(``f = c``) of DESIGN section 2.  Each source event adds the weight row
``wt[f]`` (``C_out`` contiguous int32) to the layer's synaptic sums: the
work is one row per event, so it needs no register blocking to be cheap.
The update, emission and SAM are :mod:`eventsim.kernels.neurons`'s
(:func:`~eventsim.kernels.neurons.step_layer`).
"""
from __future__ import annotations

import numpy as np

from .bits import clear_lowest, lowest_bit
from .interface import CNT_SYNOPS
from .jit import inlined, kernel
from .neurons import reset_image, step_layer


@inlined
def _feature(c, py, px, geometry):
    if geometry.gap:
        return c
    return (c * geometry.pooled_h + py) * geometry.pooled_w + px


@kernel
def gather_bits(src, c_src, wt, cur, geometry):
    """Synaptic sums of one step from a spiking source (bitmaps).

    Parameters
    ----------
    src : ndarray of uint64, shape (SH*SW*NW,)
        Source spikes of this step.
    c_src : int
        Source channels.
    wt : ndarray of int32, shape (F*C_out,)
        Weights ``[f][c_out]``.
    cur : ndarray of int32, shape (C_out,)
        Synaptic sums, added to.
    geometry : eventsim.kernels.interface.Geometry

    Returns
    -------
    int
        Synaptic operations (``C_out`` per event inside the crop).
    """
    c_out = cur.shape[0]
    nw = (c_src + 63) >> 6
    ps = geometry.pool_shift
    n = 0
    for y in range(geometry.pooled_h << ps):
        for x in range(geometry.pooled_w << ps):
            pos = y * geometry.src_w + x
            for k in range(nw):
                bits = src[pos * nw + k]
                while bits != 0:
                    f = _feature((k << 6) + lowest_bit(bits), y >> ps, x >> ps, geometry)
                    row = wt[f * c_out : (f + 1) * c_out]
                    for j in range(c_out):
                        cur[j] += row[j]
                    n += 1
                    bits = clear_lowest(bits)
    return n * c_out


@kernel
def gather_input(spk, wt, cur, geometry):
    """Synaptic sums of one step from the encoder (signed spikes or event counts).

    Parameters
    ----------
    spk : ndarray of int8, shape (C, SH, SW)
        Input of this step; a value ``x`` adds ``x`` times its weight row.
    wt, cur, geometry
        As in :func:`gather_bits`.

    Returns
    -------
    n_in : int
        Input events ``sum |x|``, cropped ones included.
    synops : int
        ``C_out sum |x|`` over the values inside the crop.
    """
    c_out = cur.shape[0]
    ps = geometry.pool_shift
    n_in = n = 0
    for c in range(spk.shape[0]):
        for y in range(spk.shape[1]):
            for x in range(spk.shape[2]):
                inside = (y >> ps) < geometry.pooled_h and (x >> ps) < geometry.pooled_w
                s = np.int64(spk[c, y, x])
                if s == 0:
                    continue
                n_in += abs(s)
                if inside:
                    f = _feature(c, y >> ps, x >> ps, geometry)
                    row = wt[f * c_out : (f + 1) * c_out]
                    for j in range(c_out):
                        cur[j] += s * row[j]
                    n += abs(s)
    return n_in, n * c_out


@kernel
def run_from_bits(i, src, c_src, wt, neurons, sam, outs, geometry, acc):
    """All steps of a dense layer fed by a spiking layer, for image ``i``.

    ``src`` is the source's bitmaps ``(N, T, SH*SW*NW)``; ``acc`` scratch
    ``(N, C_out)`` int32 (cleared here); the rest as in
    :func:`eventsim.kernels.conv.run_events`.
    """
    reset_image(i, outs, sam)
    acc[i, :] = 0
    for t in range(src.shape[1]):
        outs.counters[i, CNT_SYNOPS, t] = gather_bits(src[i, t], c_src, wt, acc[i], geometry)
        step_layer(i, t, neurons, sam, outs, acc[i])


@kernel
def run_from_input(i, spikes, wt, neurons, sam, outs, geometry, acc, in_spikes):
    """All steps of a dense layer fed by the encoder, for image ``i``.

    ``spikes`` is ``(N, T, C, SH, SW)`` int8; ``in_spikes`` ``(N, T)``
    receives the input events per step.
    """
    reset_image(i, outs, sam)
    acc[i, :] = 0
    for t in range(spikes.shape[1]):
        in_spikes[i, t], outs.counters[i, CNT_SYNOPS, t] = gather_input(spikes[i, t], wt, acc[i], geometry)
        step_layer(i, t, neurons, sam, outs, acc[i])


@kernel
def batch_from_bits(lo, hi, src, c_src, wt, neurons, sam, outs, geometry, acc):
    """:func:`run_from_bits` for images ``lo..hi-1`` (the driver gives each thread its own range)."""
    for i in range(lo, hi):
        run_from_bits(i, src, c_src, wt, neurons, sam, outs, geometry, acc)


@kernel
def batch_from_input(lo, hi, spikes, wt, neurons, sam, outs, geometry, acc, in_spikes):
    """:func:`run_from_input` for images ``lo..hi-1``."""
    for i in range(lo, hi):
        run_from_input(i, spikes, wt, neurons, sam, outs, geometry, acc, in_spikes)
