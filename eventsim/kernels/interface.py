"""The named interfaces between the plan, the driver and the layer kernels.

Kernels receive these NamedTuples (Numba passes them as structs), so every
argument has a name, a dtype and a documented shape instead of a column of
an integer metadata row.  Batch arrays have a leading image axis ``N``;
neuron state is channels-last (neuron ``(c, y, x)`` at ``(y * W + x) * C + c``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

# counter rows, in the order of eventsim.reference.COUNTER_NAMES
CNT_SPIKES, CNT_SYNOPS, CNT_SAM, CNT_SAT = 0, 1, 2, 3


class Neurons(NamedTuple):
    """Integer parameters of one neuron layer (the kernels' view of a :class:`~eventsim.model.NeuronLayer`).

    Attributes
    ----------
    gain : ndarray of int64, shape (T_g, C)
        Gain mantissas ``G[t, c]``; row ``t`` is used at step ``t`` when
        ``T_g > 1``, row 0 otherwise.
    bias : ndarray of int64, shape (T_g, C)
        ``B[t, c]``, voltage units.
    shift : int
        ``S``.
    theta : ndarray of int64, shape (C,)
        Threshold per channel, voltage units (``OUTPUT_THETA`` for an
        accumulating output layer).
    lam12 : int
        Leak, Q12.
    reset_zero : bool
        A spike resets the voltage to zero instead of subtracting ``theta``
        (:func:`eventsim.fixed_point.neuron_step`).
    """

    gain: np.ndarray
    bias: np.ndarray
    shift: int
    theta: np.ndarray
    lam12: int
    reset_zero: bool


class Sam(NamedTuple):
    """On-line SAM of one layer for a batch (DESIGN section 4).

    Attributes
    ----------
    table : ndarray of int64, shape (T + 1,)
        :func:`eventsim.fixed_point.sam_decay_table`.
    reference : bool
        ``"reference"`` convention.
    trace : ndarray of int64, shape (N, neurons)
        Q24 traces, channels-last neuron order.
    t_last : ndarray of int32, shape (N, neurons)
        Step of each neuron's last spike.
    count : ndarray of int32, shape (N, neurons) or (N, 0)
        Earlier spikes per neuron (``"reference"`` only).
    maps : ndarray of float32, shape (N, T, H*W) or (N, 0, 0)
        Output ``M_t``; ``(N, 0, 0)`` when this layer has no SAM.
    """

    table: np.ndarray
    reference: bool
    trace: np.ndarray
    t_last: np.ndarray
    count: np.ndarray
    maps: np.ndarray


class Outputs(NamedTuple):
    """What one layer kernel writes for a batch.

    Attributes
    ----------
    bits : ndarray of uint64, shape (N, T, H*W*NW)
        Spike bitmaps of every step (row 0 stays 0: ``v[-1] = 0``), or
        ``(N, 0, 0)`` for the non-spiking output layer.
    vol : ndarray of int32, shape (N, neurons)
        Voltages, channels-last; ``v[T-1]`` on return.
    counters : ndarray of int64, shape (N, 4, T)
        Rows ``CNT_SPIKES``, ``CNT_SYNOPS``, ``CNT_SAM``, ``CNT_SAT``.
    """

    bits: np.ndarray
    vol: np.ndarray
    counters: np.ndarray


class Geometry(NamedTuple):
    """Where a layer's synaptic input comes from.

    Attributes
    ----------
    h, w : int
        The layer's map (1, 1 for dense layers).
    src_h, src_w : int
        The source's map (the input image for the first layer).
    pool_shift : int
        ``log2(p)`` of the sum-pool factor ``p`` between source and layer.
    pooled_h, pooled_w : int
        ``src // p`` (floor-cropped): sources beyond are dropped.
    gap : bool
        Dense target fed by the pooled map summed per channel.
    """

    h: int
    w: int
    src_h: int
    src_w: int
    pool_shift: int
    pooled_h: int
    pooled_w: int
    gap: bool


class Fanout(NamedTuple):
    """Where one event of each source position goes: a CSR table for the generic kernels.

    An event of value ``x`` at source channel ``c`` and position ``pos``
    (``y * SW + x``) adds, for every entry ``e`` in
    ``start[pos] <= e < start[pos + 1]``,

    .. math:: I[\\mathrm{out}_e : \\mathrm{out}_e + C_{out}] \\mathrel{+}=
              x \\, m_e \\, W[c \\, \\mathrm{cstride} + \\mathrm{wo}_e : \\ldots + C_{out}]

    where ``m_e`` counts the paths from the source position through the
    chain of pool windows to the pooled position the entry reads (sum pools
    with overlapping windows reach a position several times).

    Attributes
    ----------
    start : ndarray of int64, shape (SH*SW + 1,)
        Row pointers per source position.
    out : ndarray of int64, shape (E,)
        Offset of the target position's ``C_out`` synaptic sums (channels-last).
    wo : ndarray of int64, shape (E,)
        Offset of the weight row of the entry's tap (conv) or pooled feature (dense) for channel 0.
    mult : ndarray of int64, shape (E,)
        Multiplicity ``m_e >= 1``.
    fan : ndarray of int64, shape (SH*SW,)
        Synaptic operations of one unit event at each position: ``C_out sum_e m_e``.
    cstride : int
        Weight offset between consecutive source channels.
    c_out : int
        Channels of the target layer (the width of every row).
    """

    start: np.ndarray
    out: np.ndarray
    wo: np.ndarray
    mult: np.ndarray
    fan: np.ndarray
    cstride: int
    c_out: int
