"""An eventsim :class:`~eventsim.model.Model` as a NIR graph that re-imports to the same integers.

The graph describes the network eventsim simulates, dequantized: for a
neuron layer with int8 weights ``W``, gain mantissas ``G``, shift ``S``, bias
``B``, thresholds ``Theta`` and voltage unit ``s_v`` (all per channel ``c``),

.. math::

    k_c = G_c \\, 2^{-S} s_v / a, \\qquad
    \\text{weight}_c = W_c \\, f_c, \\quad \\text{Scale}_c = s_c, \\quad f_c s_c = k_c, \\qquad
    \\text{bias}_c = B_c s_v / s_c, \\qquad v^{th}_c = \\Theta_c s_v,

where ``a`` is the averaging the pools before the layer fold into its gain
(``1 / (k_y k_x)`` per ``AvgPool2d``; NIR's ``AvgPool2d`` divides by it
again).  Normally ``s_c = 1`` and no ``Scale`` node is written; a layer with a
negative or zero gain mantissa, or a channel without weights, gets a
``Scale`` node so that the signs and the mantissas come back unchanged.
Neurons: ``IF`` (``r = 1``) when ``lambda = 1``, else ``LIF`` with
``dt = 1``, ``tau = 4096 / (4096 - lam12)`` and ``r = tau`` (so the import's
``r dt / tau`` is exactly 1); an accumulating output is an ``I`` node.
:func:`channel_factors` and :func:`nudge` hold the per-channel ``f`` and
``s`` that :mod:`eventsim.nir_io` adjusts by single float ulps until the
re-import reproduces every integer (see ``docs/nir.md``).
"""
from __future__ import annotations

import json

import numpy as np

from .errors import NIRExportError
from .fixed_point import LEAK_ONE
from .nir_graph import META_FORMAT, META_KEY
from .topology import walk

#: Time step written into the graph: ``tau`` is in steps (as Sinabs writes it).
DT = 1.0


def channel_factors(model, mean_gain=False) -> dict:
    """Per neuron layer: ``{"f", "s", "bias", "free"}`` arrays of shape (C,) (module docstring).

    ``free`` marks, per channel, whether ``f`` (True) or ``s`` (False) carries
    the magnitude that :func:`nudge` adjusts.

    Raises
    ------
    NIRExportError
        For per-step gains (``T_g > 1``) unless ``mean_gain``: NIR has no
        time-varying parameters.
    """
    out = {}
    for layer, fold in walk(model.layers, model.input_shape):
        if not layer.is_neuron:
            continue
        if layer.gain_steps > 1 and not mean_gain:
            raise NIRExportError(f"layer {layer.name!r} has per-step (BNTT) gains for {layer.gain_steps} steps; NIR "
                                 "has no time-varying parameters. Export with mean_gain=True (--mean-gain) to write "
                                 "their mean over the steps (lossy: the re-imported model differs)")
        v = float(layer.voltage_scale)
        k = np.ldexp(layer.gain.astype(np.float64), -layer.shift).mean(axis=0) * v / fold.average
        bias = layer.bias.astype(np.float64).mean(axis=0) * v
        has_w = np.abs(layer.weight.reshape(layer.weight.shape[0], -1)).max(axis=1) > 0
        f = np.where(has_w, np.abs(k), 1.0)
        s = np.where(has_w, np.sign(k), k)
        f = np.where(f == 0, 1.0, f)
        out[layer.name] = {"f": f, "s": s, "bias": bias, "free": has_w & (k != 0)}
    return out


def nudge(factors: dict, name: str, original, imported) -> bool:
    """Move the largest-gain channels of layer ``name`` by one ulp towards the original integers.

    A re-import can miss by one ulp where the gain mantissa peaks at
    ``2^15 - 1``: the builder then picks a shift one lower, or (for a layer
    whose voltage unit came from the gain bound) another unit.  Returns False
    when the mismatch is of another kind (nothing to nudge).
    """
    v, v2 = float(original.voltage_scale), float(imported.voltage_scale)
    if abs(v2 - v) > 1e-9 * v or original.gain_steps > 1:
        return False
    down = v2 > v or imported.shift < original.shift
    if not down and v2 == v:
        return False
    entry = factors[name]
    peak = np.abs(original.gain[0]) == np.abs(original.gain[0]).max()
    for key, chosen in (("f", peak & entry["free"]), ("s", peak & ~entry["free"])):
        arr = entry[key]
        target = np.where(down, 0.0, np.copysign(np.inf, arr))
        entry[key] = np.where(chosen, np.nextafter(arr, target), arr)
    return True


def metadata(model) -> dict:
    """The ``eventsim`` graph metadata: what NIR cannot say (reset rule, time step, encoding, units)."""
    layers = {}
    for layer in model.layers:
        if layer.is_neuron:
            layers[layer.name] = {"reset": layer.reset, "voltage_scale": float(layer.voltage_scale).hex()}
        elif layer.kind == "gap":
            layers[layer.name] = {"kind": "gap"}
    spiking = [int(layer.theta.max()) for layer in model.neuron_layers if layer.spiking]
    theta_int = max(spiking) if spiking else 1 << 15
    return {
        "format": META_FORMAT, "version": 1, "name": model.name, "dt": DT,
        "default_timesteps": int(model.default_timesteps),
        "theta_bits": int(min(max(int(theta_int - 1).bit_length() + 1, 8), 23)),
        "input_encoding": model.input_encoding,
        "input_mean": [float(v) for v in model.input_mean], "input_std": [float(v) for v in model.input_std],
        "layers": layers,
    }


def to_graph(nir, model, factors: dict):
    """The ``nir.NIRGraph`` of ``model`` with the per-channel ``factors`` of :func:`channel_factors`."""
    nodes, names = {"input": nir.Input(input_type=np.array(model.input_shape))}, ["input"]

    def add(name, node):
        if name in nodes:
            raise NIRExportError(f"NIR node name {name!r} is used twice (layer names clash with eventsim's node "
                                 "suffixes .if/.lif/.i/.scale/.flatten); rename the layer")
        nodes[name] = node
        names.append(name)

    for layer in model.layers:
        if layer.is_neuron:
            _add_neuron_layer(nir, add, layer, factors[layer.name])
        elif layer.kind in ("avgpool", "sumpool"):
            cls = nir.AvgPool2d if layer.kind == "avgpool" else nir.SumPool2d
            add(layer.name, cls(kernel_size=np.array(layer.kernel), stride=np.array(layer.stride),
                                padding=np.array(layer.padding)))
        elif layer.kind == "gap":
            _, h, w = layer.in_shape
            add(layer.name, nir.AvgPool2d(kernel_size=np.array([h, w]), stride=np.array([h, w]),
                                          padding=np.array([0, 0])))
            add(f"{layer.name}.flatten", nir.Flatten(input_type={"input": np.array([layer.in_shape[0], 1, 1])},
                                                     start_dim=0, end_dim=-1))
        else:
            add(layer.name, nir.Flatten(input_type={"input": np.array(layer.in_shape)}, start_dim=0, end_dim=-1))
    out = "output" if "output" not in nodes else "output.nir"
    add(out, nir.Output(output_type=np.array([model.num_classes])))
    edges = list(zip(names[:-1], names[1:]))
    meta = {META_KEY: json.dumps(metadata(model), sort_keys=True)}
    # nir 1.0.8 infers a Conv2d's output from the kernel height alone, so its type check refuses
    # non-square kernels; such graphs are built without it (eventsim's import checks every shape).
    square = all(layer.kernel[0] == layer.kernel[1] for layer in model.neuron_layers if layer.kind == "conv")
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=square)


def neuron_node(layer) -> str:
    """Name of the NIR node holding the neurons of eventsim neuron layer ``layer``."""
    if not layer.spiking:
        return f"{layer.name}.i"
    return f"{layer.name}.if" if layer.lam12 == LEAK_ONE else f"{layer.name}.lif"


def _add_neuron_layer(nir, add, layer, entry):
    c = layer.out_shape[0]
    shape = (c,) + tuple(layer.out_shape[1:]) if layer.kind == "conv" else (c,)
    f, s = entry["f"], entry["s"]
    lin_bias = np.where(s != 0, entry["bias"] / np.where(s == 0, 1.0, s), 0.0)
    weight = layer.weight.astype(np.float64) * f.reshape((-1,) + (1,) * (layer.weight.ndim - 1))
    if layer.kind == "conv":
        add(layer.name, nir.Conv2d(input_shape=tuple(layer.in_shape[1:]), weight=weight, stride=layer.stride,
                                   padding=layer.padding, dilation=(1, 1), groups=1, bias=lin_bias))
    else:
        add(layer.name, nir.Affine(weight=weight, bias=lin_bias))
    if np.any(s != 1):
        add(f"{layer.name}.scale", nir.Scale(scale=_per_neuron(s, shape)))
    ones = np.ones(shape)
    if not layer.spiking:
        add(neuron_node(layer), nir.I(r=ones))
        return
    threshold = _per_neuron(layer.theta.astype(np.float64) * float(layer.voltage_scale), shape)
    if layer.lam12 == LEAK_ONE:
        add(neuron_node(layer), nir.IF(r=ones, v_threshold=threshold, v_reset=np.zeros(shape)))
        return
    tau = np.full(shape, LEAK_ONE / (LEAK_ONE - layer.lam12))
    add(neuron_node(layer), nir.LIF(tau=tau, r=tau.copy(), v_leak=np.zeros(shape), v_threshold=threshold,
                                     v_reset=np.zeros(shape)))


def _per_neuron(per_channel, shape) -> np.ndarray:
    return np.broadcast_to(np.asarray(per_channel, np.float64).reshape((-1,) + (1,) * (len(shape) - 1)),
                           shape).copy()


def same_layer(a, b) -> bool:
    """Whether two neuron layers have the same integers, voltage unit, window and rules."""
    return (a.kind == b.kind and a.shift == b.shift and a.lam12 == b.lam12 and a.reset == b.reset
            and a.readout == b.readout and tuple(a.stride) == tuple(b.stride) and tuple(a.padding) == tuple(b.padding)
            and float(a.voltage_scale) == float(b.voltage_scale)
            and all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("weight", "gain", "bias", "theta")))
