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
(its pooling Convs, see :func:`aggregation_stages`, plus the weight Conv or
Dense) has the offset ``d_l = d_{l-1} + n`` (``d_input = 0``) and works on

.. math:: \\ell = \\tau - 1 - d_l, \\quad k = \\lfloor \\ell / T \\rfloor,
          \\quad t = \\ell \\bmod T, \\qquad 0 \\le \\ell < N T .

So every layer sees exactly the inputs eventsim gives it, samples follow
each other without gaps, and ``N T + d_out`` Lava steps run ``N`` samples.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from eventsim.result import COUNTER_NAMES
from eventsim.topology import Connection, Pool, conv_reach

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
    stages : tuple of eventsim.topology.Pool
        The pooling Convs before the synapse, in order (:func:`aggregation_stages`).
    sam : bool
        The layer computes a SAM map.
    segments : tuple of Segment
        Layout of the record vector the neuron sends to its sink.
    """

    conn: Connection
    offset: int
    lava_shape: tuple
    stages: tuple
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
        output layer always records what its logits come from: its final
        voltage (accumulating readout) or its spikes (spiking readout).
    """
    layer = conn.target
    _, h, w = layer.out_shape
    output = layer.kind == "output"
    fields = [("counts", len(COUNTERS), False, "int64")]
    if sam:
        fields.append(("sam", h * w, False, "int64"))
    if layer.spiking and (record_spikes or output):
        fields.append(("spikes", layer.num_neurons, False, "uint8"))
    if record_spikes or (output and not layer.spiking):
        fields.append(("voltage", layer.num_neurons, True, "int32"))
    out, start = [], 0
    for name, size, final, dtype in fields:
        out.append(Segment(name, start, size, final, dtype))
        start += size
    return tuple(out)


def aggregation_stages(conn: Connection) -> tuple:
    """The pooling Convs (grouped, ones kernel) between the source and the synapse.

    Plain pools (``conn.pool >= 1``: square, stride = kernel, no padding)
    compose into one ``p x p`` stride-``p`` sum pool, and a global pool after
    them into one kernel over the whole cropped map ``(p H', p W')``: at most
    one Conv.  General pools (``conn.pool == 0``) cannot be composed exactly
    (the padding and floor cropping of an inner pool act on the map between
    them), so each gets its own Conv, and a global pool one more over the
    pooled map.

    Returns
    -------
    tuple of eventsim.topology.Pool
        Kernel, stride and padding of each stage in eventsim's ``(y, x)``
        order; empty when the synapse reads the source directly.
    """
    _, hp, wp = conn.pooled_shape
    if conn.pool:
        p = conn.pool
        if conn.gap:
            whole = (p * hp, p * wp)
            return (Pool(whole, whole, (0, 0)),)
        return (Pool((p, p), (p, p), (0, 0)),) if p > 1 else ()
    stages = tuple(conn.pools)
    if conn.gap:
        stages += (Pool((hp, wp), (hp, wp), (0, 0)),)
    return stages


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
        stages = aggregation_stages(conn)
        offset += len(stages) + 1
        sam = conn.target.name in sam_layers
        plans.append(LayerPlan(conn, offset, neuron_shape(conn), stages, sam,
                               record_segments(conn, sam, record_spikes)))
    return plans


def pool_adjoint(grad: np.ndarray, pool: Pool, in_size) -> np.ndarray:
    """Transpose of the zero-padded sum pool: what each input position contributes to ``grad``.

    For the pool ``out[oy, ox] = sum_{a, b} xpad[oy s_y + a, ox s_x + b]``,

    .. math:: f[y, x] = \\sum_{(o, a):\\, o s_y + a - p_y = y} \\;
              \\sum_{(o', b):\\, o' s_x + b - p_x = x} g[o, o']

    so that ``sum(pool(x) * g) == sum(x * f)`` for every ``x``.

    Parameters
    ----------
    grad : ndarray of int64, shape (H_out, W_out)
        Weight of each pooled position.
    pool : eventsim.topology.Pool
    in_size : tuple of int
        ``(H, W)`` of the pool's input.

    Returns
    -------
    ndarray of int64, shape (H, W)
    """
    (ky, kx), (sy, sx), (py, px) = pool
    h, w = in_size
    ho, wo = grad.shape
    padded = np.zeros((h + 2 * py + sy * ho + ky, w + 2 * px + sx * wo + kx), np.int64)
    for a in range(ky):
        for b in range(kx):
            padded[a : a + sy * (ho - 1) + 1 : sy, b : b + sx * (wo - 1) + 1 : sx] += grad
    return padded[py : py + h, px : px + w]


def fanout(conn: Connection) -> np.ndarray:
    """Synaptic operations one spike of each source neuron causes in ``conn.target``.

    Matches eventsim's ``synops`` counter, which is linear in the pooled
    event counts: ``C_out * sum_q events[q] R[q]`` with ``R`` the
    border-clipped conv reach (:func:`eventsim.topology.conv_reach`) for a
    conv target and 1 for a dense one.  Pulling ``R`` back through the pools
    (:func:`pool_adjoint`, last pool first) gives each source position's
    share: a value ``x`` there causes ``|x|`` times it (zero for positions no
    pool window holds).

    Returns
    -------
    ndarray of int64, shape ``conn.source_shape`` (C, H, W)
    """
    c, h, w = conn.source_shape
    _, hp, wp = conn.pooled_shape
    layer = conn.target
    reach = conv_reach(hp, wp, layer) if layer.kind == "conv" else np.ones((hp, wp), np.int64)
    sizes = [(h, w)]
    for pool in conn.pools:
        sizes.append(pool.out_size(*sizes[-1]))
    for pool, size in zip(reversed(conn.pools), reversed(sizes[:-1])):
        reach = pool_adjoint(reach, pool, size)
    return np.broadcast_to(reach * layer.out_shape[0], (c, h, w)).astype(np.int64)
