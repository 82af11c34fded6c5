"""Build and run the Lava process graph of an eventsim model.

Per neuron layer (see ``docs/lava.md`` for the reasoning)::

    source/previous neurons --[Conv: sum-pool and/or global sum, ones kernel]--
        --[Conv (flipped kernel) | Dense (num_weight_bits=9)]--> SamNeuron --> RecordSink

``N`` samples run back to back in one graph for ``N T + d_out`` Lava steps;
every neuron resets its state at the first step of each sample (the offsets
are in :mod:`lava_port.layout`).
"""
from __future__ import annotations

import numpy as np

from lava_port import _lava  # noqa: F401  (must run before the first Lava import)
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.conv.process import Conv
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.utils.weightutils import SignMode

from eventsim import fixed_point as fp
from eventsim.topology import max_input_count
from lava_port.errors import UnsupportedModelError
from lava_port.layout import LayerPlan, fanout, lava_shape, to_lava
from lava_port.processes import RecordSink, SamNeuron

#: Lava's ``Conv`` output wraps at 24 bits (``utils.signed_clamp``).
CONV_WRAP = 1 << (fp.VOLTAGE_BITS - 1)
#: ``Conv`` keeps ``groups``, ``kernel_size`` and ``stride`` in int8 Vars.
INT8_MAX = 127


def conv_weight(weight: np.ndarray) -> np.ndarray:
    """eventsim kernel to Lava ``Conv`` kernel.

    eventsim cross-correlates ``(C_out, C_in, k_y, k_x)`` over ``(C, H, W)``;
    Lava convolves (``scipy.signal.convolve2d``) a ``(C_out, k_x, k_y, C_in)``
    kernel over ``(W, H, C)``.  Transposing and flipping both spatial axes
    makes them equal:

    .. math:: w^{lava}_{o, a, b, c} = W_{o, c, k-1-b, k-1-a}

    Returns
    -------
    ndarray of int32, shape (C_out, k, k, C_in)
    """
    return np.ascontiguousarray(weight.transpose(0, 3, 2, 1)[:, ::-1, ::-1, :]).astype(np.int32)


def dense_weight(weight: np.ndarray, source_shape) -> np.ndarray:
    """eventsim dense weight with its columns in Lava's flattening order.

    eventsim flattens ``(C, H, W)`` C-major; Lava flattens ``(W, H, C)``.

    Parameters
    ----------
    weight : ndarray of int8, shape (C_out, F)
    source_shape : tuple of int
        ``(C, H, W)`` with ``C H W = F``.

    Returns
    -------
    ndarray of int32, shape (C_out, F)
    """
    order = to_lava(np.arange(weight.shape[1]).reshape(source_shape)).reshape(-1)
    return np.ascontiguousarray(weight[:, order]).astype(np.int32)


def message_bits(max_abs: int, signed: bool) -> int:
    """``num_message_bits`` for inputs bounded by ``max_abs``: 0 means binary spikes."""
    if max_abs <= 1 and not signed:
        return 0
    return int(max_abs).bit_length() + int(signed)


def aggregation_shape(conn) -> tuple:
    """Kernel ``(k_x, k_y)`` of the pooling Conv: ``p x p``, or the whole cropped map for ``gap``."""
    p = conn.pool
    _, hp, wp = conn.pooled_shape
    return (p * wp, p * hp) if conn.gap else (p, p)


def pool_weight(channels: int, kernel) -> tuple:
    """Ones kernel of a per-channel sum-pool as a grouped Lava ``Conv``.

    Lava 0.10 keeps ``groups`` in an int8 Var (a Conv with ``groups >= 128``
    hangs), so ``groups`` is the largest divisor of ``C`` up to 127 and each
    group maps its ``C / groups`` channels one to one.

    Parameters
    ----------
    channels : int
        ``C``.
    kernel : tuple of int
        ``(k_x, k_y)``.

    Returns
    -------
    weight : ndarray of int32, shape (C, k_x, k_y, C / groups)
        ``1`` where input channel ``j`` of the group is output channel ``o``.
    groups : int
    """
    groups = max(g for g in range(1, min(channels, INT8_MAX) + 1) if channels % g == 0)
    per_group = channels // groups
    weight = np.zeros((channels,) + tuple(kernel) + (per_group,), np.int32)
    weight[np.arange(channels), :, :, np.arange(channels) % per_group] = 1
    return weight, groups


def check_supported(conns) -> None:
    """Prove that no Lava ``Conv`` of the graph can wrap or overflow its int8 Vars.

    The bound is exact: inputs are in {-1, 0, 1}, so the largest synaptic sum
    of output channel ``o`` is ``sum |W_o|`` times the largest pooled count.

    Raises
    ------
    UnsupportedModelError
        Naming the layer and the limit.
    """
    for conn in conns:
        layer = conn.target
        where = f"layer {layer.name!r}"
        count = max_input_count(conn.pools, conn.pooled_shape[1] * conn.pooled_shape[2] if conn.gap else 0)
        if conn.pool > 1 or conn.gap:
            kernel = aggregation_shape(conn)
            if max(kernel) > INT8_MAX:
                raise UnsupportedModelError(
                    f"{where}: its pooling Conv needs a {kernel[0]}x{kernel[1]} kernel, but Lava 0.10's Conv "
                    f"keeps kernel_size and stride in int8 Vars (at most {INT8_MAX})")
        if layer.kind == "conv":
            worst = int(np.abs(layer.weight.astype(np.int64)).reshape(layer.weight.shape[0], -1).sum(axis=1).max())
            worst *= count
            if worst >= CONV_WRAP:
                raise UnsupportedModelError(
                    f"{where}: the worst-case synaptic sum {worst} reaches the 24-bit wrap of Lava's Conv "
                    f"(2^23 = {CONV_WRAP}); the Lava graph could not be exact")


def _aggregation(conn, port, shape, signed):
    """Sum-pool (and global sum) as a grouped Conv with a ones kernel; returns (process, out shape)."""
    kx, ky = aggregation_shape(conn)
    weight, groups = pool_weight(shape[-1], (kx, ky))
    conv = Conv(weight=weight, input_shape=shape, stride=(kx, ky), groups=groups,
                num_message_bits=message_bits(1, signed), name=f"{conn.target.name}/pool")
    port.connect(conv.s_in)
    return conv, conv.output_shape


def _synapse(conn, port, shape, graded):
    """Lava Conv or Dense carrying the layer's weights, fed from ``port``."""
    layer = conn.target
    bits = message_bits(graded[0], graded[1])
    if layer.kind == "conv":
        k = layer.kernel_size
        syn = Conv(weight=conv_weight(layer.weight), input_shape=shape, padding=k // 2,
                   num_message_bits=bits, name=f"{layer.name}/conv")
        port.connect(syn.s_in)
        return syn
    source = (conn.pooled_shape[0], 1, 1) if conn.gap else conn.pooled_shape
    syn = Dense(weights=dense_weight(layer.weight, source), num_message_bits=bits, num_weight_bits=9,
                weight_exp=0, sign_mode=SignMode.MIXED, name=f"{layer.name}/dense")
    flat = (int(np.prod(shape)),)
    (port.reshape(flat) if tuple(shape) != flat else port).connect(syn.s_in)
    return syn


def build_graph(model, plans, spikes, *, decay, reference, files, run_dir):
    """Create every Process and connect them.

    Parameters
    ----------
    model : eventsim.Model
    plans : list of LayerPlan
    spikes : ndarray of int8, shape (N, T, C, H, W)
    decay : ndarray of int64, shape (T + 1,)
    reference : bool
        ``"reference"`` SAM convention.
    files : list of dict of str to str
        Per layer, the ``.npy`` path of each record segment.
    run_dir : str

    Returns
    -------
    source : RingBuffer
        The input Process (any Process of the graph can run it).
    num_steps : int
        ``N T + d_out``.
    """
    n, steps = spikes.shape[:2]
    num_steps = n * steps + plans[-1].offset
    shape = lava_shape(model.input_shape)
    data = np.zeros(shape + (num_steps,), np.int32)
    data[..., : n * steps] = np.moveaxis(to_lava(spikes).reshape((n * steps,) + shape), 0, -1)
    source = RingBuffer(data=data)
    port, signed = source.s_out, True
    nexts = [p.conn for p in plans[1:]] + [None]
    for plan, after, paths in zip(plans, nexts, files):
        port, shape, graded = _wire_layer(plan, port, shape, signed)
        syn = _synapse(plan.conn, port, shape, graded)
        neuron = _neuron(plan, after, (plan.offset, steps, n), decay, reference, run_dir)
        syn.a_out.connect(neuron.a_in)
        sink = RecordSink(size=plan.record_size, segments=plan.segments, paths=paths,
                          schedule=(plan.offset, steps, n), run_dir=run_dir, name=f"{plan.name}/sink")
        neuron.rec_out.connect(sink.a_in)
        port, shape, signed = neuron.s_out, plan.lava_shape, False
    return source, num_steps


def _wire_layer(plan: LayerPlan, port, shape, signed):
    """Insert the pooling Conv if the layer needs one; returns (port, shape, (max |input|, signed))."""
    if not plan.aggregate:
        return port, shape, (1, signed)
    conv, out_shape = _aggregation(plan.conn, port, shape, signed)
    kx, ky = aggregation_shape(plan.conn)
    return conv.a_out, out_shape, (kx * ky, signed)


def _neuron(plan: LayerPlan, after, schedule, decay, reference, run_dir):
    layer = plan.conn.target
    out = np.zeros(layer.out_shape, np.int64) if after is None else fanout(after)
    return SamNeuron(shape=plan.lava_shape, gain=layer.gain, bias=layer.bias, shift=layer.shift, theta=layer.theta,
                     lam12=layer.lam12, fanout=to_lava(out).reshape(plan.lava_shape), schedule=schedule, decay=decay,
                     sam=plan.sam, reference=reference, segments=plan.segments, run_dir=run_dir, name=plan.name)


def run_graph(source, num_steps) -> None:
    """Run the graph on Lava's CPU backend (``Loihi2SimCfg``, ``fixed_pt``) and always stop it."""
    try:
        source.run(condition=RunSteps(num_steps=num_steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    finally:
        source.stop()
