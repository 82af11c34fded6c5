"""Build and run the Lava process graph of an eventsim model.

Per neuron layer (see ``docs/lava.md`` for the reasoning)::

    source/previous neurons --[pooling Convs: grouped, ones kernel, one per stage]--
        --[Conv (flipped kernel, stride, padding) | Dense (num_weight_bits=9)]--> SamNeuron --> RecordSink

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
from lava_port.errors import UnsupportedModelError
from lava_port.layout import LayerPlan, aggregation_stages, fanout, lava_shape, to_lava
from lava_port.processes import RecordSink, SamNeuron

#: Lava's ``Conv`` output wraps at 24 bits (``utils.signed_clamp``).
CONV_WRAP = 1 << (fp.VOLTAGE_BITS - 1)
#: ``Conv`` keeps ``groups``, ``kernel_size``, ``stride`` and ``padding`` in int8 Vars.
INT8_MAX = 127


def conv_weight(weight: np.ndarray) -> np.ndarray:
    """eventsim kernel to Lava ``Conv`` kernel.

    eventsim cross-correlates ``(C_out, C_in, k_y, k_x)`` over ``(C, H, W)``;
    Lava convolves (``scipy.signal.convolve2d`` in "valid" mode on the
    zero-padded input, then keeps every stride-th output) a
    ``(C_out, k_x, k_y, C_in)`` kernel over ``(W, H, C)``.  Transposing and
    flipping both spatial axes makes them equal, for any kernel shape,
    stride and padding (given to Lava as ``(X, Y)`` pairs):

    .. math:: w^{lava}_{o, a, b, c} = W_{o, c, k_y-1-b, k_x-1-a}

    Returns
    -------
    ndarray of int32, shape (C_out, k_x, k_y, C_in)
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


def lava_pair(pair) -> tuple:
    """An eventsim ``(y, x)`` pair as Lava's ``(X, Y)`` pair."""
    return (int(pair[1]), int(pair[0]))


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


def _check_int8(where, what, **pairs):
    """Refuse Conv parameters beyond Lava's int8 Vars (``kernel_size``, ``stride``, ``padding``)."""
    for name, pair in pairs.items():
        if max(pair) > INT8_MAX:
            raise UnsupportedModelError(
                f"{where}: {what} needs {name} {tuple(int(v) for v in pair)}, but Lava 0.10's Conv keeps "
                f"kernel_size, stride and padding in int8 Vars (at most {INT8_MAX})")


def _check_wrap(where, what, worst):
    if worst >= CONV_WRAP:
        raise UnsupportedModelError(
            f"{where}: the worst-case sum {worst} of {what} reaches the 24-bit wrap of Lava's Conv "
            f"(2^23 = {CONV_WRAP}); the Lava graph could not be exact")


def check_supported(conns, input_max: int = fp.POISSON_MAX) -> None:
    """Prove that no Lava ``Conv`` of the graph can wrap or overflow its int8 Vars.

    The bounds hold for every input (they are worst cases, reached when
    every value in reach has the largest magnitude and the right sign).  A
    source value is at most ``input_max`` in
    magnitude (``model.input_max``: 1 for spikes, 128 for int8 event counts)
    for the input layer and 1 for neuron spikes; a pooling stage with a
    ``k_y x k_x`` window multiplies the bound by ``k_y k_x`` (a global pool
    by the map area), and a weight Conv's output channel ``o`` by
    ``sum |W_o|``.  Each Conv's output must stay below ``2^23``.

    Parameters
    ----------
    conns : list of Connection
    input_max : int
        ``model.input_max``.

    Raises
    ------
    UnsupportedModelError
        Naming the layer and the limit.
    """
    for conn in conns:
        layer = conn.target
        where = f"layer {layer.name!r}"
        count = int(input_max) if conn.source == "input" else 1
        for i, stage in enumerate(aggregation_stages(conn)):
            what = f"its pooling Conv {i + 1}"
            _check_int8(where, what, kernel=stage.kernel, stride=stage.stride, padding=stage.padding)
            count *= int(stage.kernel[0]) * int(stage.kernel[1])
            _check_wrap(where, what, count)
        if layer.kind == "conv":
            _check_int8(where, "its Conv", kernel=layer.kernel, stride=layer.stride, padding=layer.padding)
            worst = int(np.abs(layer.weight.astype(np.int64)).reshape(layer.weight.shape[0], -1).sum(axis=1).max())
            _check_wrap(where, "its synaptic input", worst * count)


def _synapse(conn, port, shape, graded):
    """Lava Conv or Dense carrying the layer's weights, fed from ``port``; ``graded`` = (max |value|, signed)."""
    layer = conn.target
    bits = message_bits(graded[0], graded[1])
    if layer.kind == "conv":
        syn = Conv(weight=conv_weight(layer.weight), input_shape=tuple(shape), stride=lava_pair(layer.stride),
                   padding=lava_pair(layer.padding), num_message_bits=bits, name=f"{layer.name}/conv")
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
    port, bound, signed = source.s_out, model.input_max, True
    nexts = [p.conn for p in plans[1:]] + [None]
    for plan, after, paths in zip(plans, nexts, files):
        port, shape, graded = _wire_layer(plan, port, shape, bound, signed)
        syn = _synapse(plan.conn, port, shape, graded)
        neuron = _neuron(plan, after, (plan.offset, steps, n), decay, reference, run_dir)
        syn.a_out.connect(neuron.a_in)
        sink = RecordSink(size=plan.record_size, segments=plan.segments, paths=paths,
                          schedule=(plan.offset, steps, n), run_dir=run_dir, name=f"{plan.name}/sink")
        neuron.rec_out.connect(sink.a_in)
        port, shape, bound, signed = neuron.s_out, plan.lava_shape, 1, False
    return source, num_steps


def _wire_layer(plan: LayerPlan, port, shape, bound, signed):
    """Insert the layer's pooling Convs; returns (port, Lava shape, (max |value|, signed)) for the synapse.

    Each stage is a grouped Conv with a ones kernel (:func:`pool_weight`)
    and the pool's stride and padding, in Lava's ``(X, Y)`` order.
    """
    for i, stage in enumerate(plan.stages):
        kernel = lava_pair(stage.kernel)
        weight, groups = pool_weight(shape[-1], kernel)
        conv = Conv(weight=weight, input_shape=tuple(shape), stride=lava_pair(stage.stride),
                    padding=lava_pair(stage.padding), groups=groups, num_message_bits=message_bits(bound, signed),
                    name=f"{plan.name}/pool{i + 1}")
        port.connect(conv.s_in)
        port, shape = conv.a_out, conv.output_shape
        bound *= kernel[0] * kernel[1]
    return port, shape, (bound, signed)


def _neuron(plan: LayerPlan, after, schedule, decay, reference, run_dir):
    layer = plan.conn.target
    out = np.zeros(layer.out_shape, np.int64) if after is None else fanout(after)
    return SamNeuron(shape=plan.lava_shape, gain=layer.gain, bias=layer.bias, shift=layer.shift, theta=layer.theta,
                     lam12=layer.lam12, reset_zero=layer.reset_zero, fanout=to_lava(out).reshape(plan.lava_shape),
                     schedule=schedule, decay=decay, sam=plan.sam, reference=reference, segments=plan.segments,
                     run_dir=run_dir, name=plan.name)


def run_graph(source, num_steps) -> None:
    """Run the graph on Lava's CPU backend (``Loihi2SimCfg``, ``fixed_pt``) and always stop it."""
    try:
        source.run(condition=RunSteps(num_steps=num_steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    finally:
        source.stop()
