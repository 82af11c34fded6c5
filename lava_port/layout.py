"""How an eventsim model is laid out in the Lava graph: shapes, delays, records.

Pure NumPy, no Lava import: the graph builder, the ProcessModels and the host
that reads the results all use these definitions.

Axis order
----------
eventsim stores neuron maps as ``(C, H, W)``.  Lava's ``Conv`` works on
``(X, Y, C) = (W, H, C)``.  A conv layer of ``lava_port`` therefore has the
Lava shape ``(W, H, C)``; dense and output layers have ``(C,)``.  A flattened
Lava map is C-order over ``(W, H, C)``: neuron ``(c, y, x)`` sits at
``(x * H + y) * C + c``.

Timing (DESIGN section 3)
-------------------------
Every Lava ``Conv``/``Dense`` sends at Lava step ``tau + 1`` what it received
at ``tau``; neurons and sinks receive and send within one step.  The source
sends sample ``k``, step ``t`` at Lava step ``tau = k T + t + 1``.  A neuron
layer whose input passes ``n`` synapse processes after the previous layer
(``n = 2`` with a pooling Conv, else 1) has the offset
``d_l = d_{l-1} + n`` (``d_input = 0``) and works on

.. math:: \\ell = \\tau - 1 - d_l, \\quad k = \\lfloor \\ell / T \\rfloor,
          \\quad t = \\ell \\bmod T, \\qquad 0 \\le \\ell < N T .

So every layer sees exactly the inputs eventsim gives it, samples follow
each other without gaps, and ``N T + d_out`` Lava steps run ``N`` samples.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from eventsim.result import COUNTER_NAMES
from eventsim.topology import Connection, conv_taps

#: Per-step counters sent by every neuron (int64), in the order of
#: :data:`eventsim.result.COUNTER_NAMES` with ``synops`` replaced by
#: ``synops_next``: the synaptic operations the layer's spikes cause in the
#: next layer (a neuron cannot see the operations arriving at it; the host
#: shifts them one layer down).
COUNTERS = tuple("synops_next" if name == "synops" else name for name in COUNTER_NAMES)


class Segment(NamedTuple):
    """One field of a neuron's per-step record vector.

    Attributes
    ----------
    name : str
        ``counts``, ``sam``, ``spikes`` or ``voltage``.
    start, size : int
        Slice ``[start, start + size)`` of the int64 record vector.
    final : bool
        Stored once per sample at ``t = T - 1`` (shape ``(N, size)``) instead
        of every step (shape ``(N, T, size)``).
    dtype : str
        NumPy dtype of the stored array.
    """

    name: str
    start: int
    size: int
    final: bool
    dtype: str


class LayerPlan(NamedTuple):
    """Everything the graph needs to know about one neuron layer.

    Attributes
    ----------
    conn : Connection
        The synaptic path into the layer (from :func:`eventsim.topology.connections`).
    offset : int
        ``d_l``, the Lava-step delay of this layer behind the source.
    lava_shape : tuple of int
        ``(W, H, C)`` for conv, ``(C,)`` for dense and output layers.
    aggregate : bool
        A pooling Conv (sum-pool and/or global sum) precedes the synapse.
    sam : bool
        The layer computes a SAM map.
    segments : tuple of Segment
        Layout of the record vector the neuron sends to its sink.
    """

    conn: Connection
    offset: int
    lava_shape: tuple
    aggregate: bool
    sam: bool
    segments: tuple

    @property
    def name(self) -> str:
        return self.conn.target.name

    @property
    def record_size(self) -> int:
        return sum(s.size for s in self.segments)


def lava_shape(shape) -> tuple:
    """Lava shape ``(W, H, C)`` of an eventsim map ``(C, H, W)``."""
    c, h, w = shape
    return (w, h, c)


def neuron_shape(conn: Connection) -> tuple:
    """Lava shape of the neurons of ``conn.target``."""
    layer = conn.target
    return lava_shape(layer.out_shape) if layer.kind == "conv" else (layer.out_shape[0],)


def to_lava(a: np.ndarray) -> np.ndarray:
    """``(..., C, H, W)`` to ``(..., W, H, C)`` (a view)."""
    return np.swapaxes(a, -1, -3)


def from_lava(flat: np.ndarray, shape) -> np.ndarray:
    """``(..., F)`` in Lava order to ``(..., C, H, W)`` for the eventsim ``shape``."""
    c, h, w = shape
    lead = flat.shape[:-1]
    return np.ascontiguousarray(np.swapaxes(flat.reshape(lead + (w, h, c)), -1, -3))


def record_segments(conn: Connection, sam: bool, record_spikes: bool) -> tuple:
    """Record layout of one neuron layer: counters, SAM map, spikes, final voltage.

    Parameters
    ----------
    conn : Connection
    sam : bool
        Include the SAM map ``M_t`` (``H * W`` values, Q24).
    record_spikes : bool
        Include the spikes (spiking layers) and the final voltages.  The
        output layer always records its final voltage (the logits).
    """
    layer = conn.target
    _, h, w = layer.out_shape
    fields = [("counts", len(COUNTERS), False, "int64")]
    if sam:
        fields.append(("sam", h * w, False, "int64"))
    if record_spikes and layer.spiking:
        fields.append(("spikes", layer.num_neurons, False, "uint8"))
    if record_spikes or not layer.spiking:
        fields.append(("voltage", layer.num_neurons, True, "int32"))
    out, start = [], 0
    for name, size, final, dtype in fields:
        out.append(Segment(name, start, size, final, dtype))
        start += size
    return tuple(out)


def plan_layers(conns, sam_layers, record_spikes) -> list:
    """One :class:`LayerPlan` per neuron layer, with the delays of the module docstring.

    Parameters
    ----------
    conns : list of Connection
    sam_layers : collection of str
    record_spikes : bool

    Returns
    -------
    list of LayerPlan
    """
    plans, offset = [], 0
    for conn in conns:
        aggregate = conn.pool > 1 or conn.gap
        offset += 2 if aggregate else 1
        sam = conn.target.name in sam_layers
        plans.append(LayerPlan(conn, offset, neuron_shape(conn), aggregate, sam,
                               record_segments(conn, sam, record_spikes)))
    return plans


def fanout(conn: Connection) -> np.ndarray:
    """Synaptic operations one spike of each source neuron causes in ``conn.target``.

    Matches eventsim's ``synops`` counter: a spike at ``(c, y, x)`` lands on
    the pooled position ``(y // p, x // p)`` (none if cropped) and adds
    ``taps * C_out`` weights (conv, border-clipped) or ``C_out`` (dense).

    Returns
    -------
    ndarray of int64, shape ``conn.source_shape`` (C, H, W)
    """
    c, h, w = conn.source_shape
    p = conn.pool
    _, hp, wp = conn.pooled_shape
    layer = conn.target
    c_out = layer.out_shape[0]
    if layer.kind == "conv":
        per_pooled = conv_taps(hp, wp, layer.kernel_size) * c_out
    else:
        per_pooled = np.full((hp, wp), c_out, np.int64)
    out = np.zeros((c, h, w), np.int64)
    out[:, : hp * p, : wp * p] = np.repeat(np.repeat(per_pooled, p, axis=0), p, axis=1)[None]
    return out
