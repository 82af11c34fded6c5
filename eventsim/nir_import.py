"""A NIR graph (already read) as a chain of layers, quantized through :class:`~eventsim.ModelBuilder`.

This module works on the node objects of the ``nir`` package without
importing it (it dispatches on the class name), so :mod:`eventsim.nir_io`
keeps ``nir`` an optional extra.  See ``docs/nir.md`` for the mapping.

Per layer the pre-activation the builder receives is

.. math::

    a_c = g_c \\, (W x + b^{lin})_c + b^{neu}_c,

with the NIR parameters turned into one step of ``dt`` by forward Euler
(the discretization snnTorch's NIR import and export use):

* ``IF`` and ``I`` (``dv/dt = R I``): ``v += r I`` per step, so ``g = r``
  (snnTorch and Sinabs write ``r = 1`` and integrate ``I`` once per step);
* ``LIF`` and ``LI`` (``tau dv/dt = (v_leak - v) + R I``):
  ``lambda = 1 - dt / tau``, ``g = r dt / tau``, ``b^{neu} = dt v_leak / tau``;
* ``Threshold``: a memoryless comparator, ``lambda = 0`` with reset to zero;
* ``Scale`` nodes after the linear node multiply ``g`` (and the linear bias);
  before it they multiply the weight's input columns.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .builder import ModelBuilder
from .errors import ModelFormatError, NIRImportError
from .fixed_point import LEAK_ONE, RESET_MODES
from .nir_graph import SPIKING, Group, chain, kind_of, parse
from .topology import window_out


@dataclass(frozen=True)
class ImportOptions:
    """What the caller and the graph metadata add to a NIR graph.

    Attributes
    ----------
    label : str
        The file (or ``"graph"``) for messages.
    reset : str or None
        ``"subtract"`` or ``"zero"`` for every spiking layer (overrides the metadata).
    dt : float or None
        Time step in the unit of the graph's ``tau`` (overrides the metadata).
    timesteps : int or None
        The model's default ``T``.
    name : str or None
        Model name.
    meta : dict
        The graph's ``eventsim`` metadata (empty for graphs other tools wrote).
    """

    label: str
    reset: str = None
    dt: float = None
    timesteps: int = None
    name: str = None
    meta: dict = field(default_factory=dict)


def build(graph, opts: ImportOptions):
    """Quantize the NIR graph into a :class:`~eventsim.model.Model` (see the module docstring)."""
    label, meta = opts.label, opts.meta
    nodes = chain(graph, label)
    shape, vector = _input_shape(nodes[0], label)
    channels = [len(meta[k]) for k in ("input_mean", "input_std") if k in meta]
    if any(n != shape[0] for n in channels):
        raise NIRImportError(f"{label}: graph metadata: input_mean/input_std have {channels} entries for "
                             f"{shape[0]} input channels")
    b = ModelBuilder(shape, mean=meta.get("input_mean"), std=meta.get("input_std"),
                     name=opts.name or meta.get("name") or "nir",
                     default_timesteps=int(opts.timesteps or meta.get("default_timesteps") or 20),
                     theta_bits=int(meta.get("theta_bits", 16)),
                     input_encoding=meta.get("input_encoding", "counts"))
    ops = parse(nodes, label)
    if vector:
        b.flatten(f"{nodes[0][0]}.flatten")  # a 1-D NIR input is a feature vector: (F, 1, 1) flattened
    skip, flat = set(), vector
    for index, op in enumerate(ops):
        if isinstance(op, Group):
            _add_group(b, op, index == len(ops) - 1, opts)
            flat = flat or kind_of(op.node) != "Conv2d"
            continue
        name, node = op
        if name in skip or (flat and kind_of(node) == "Flatten"):
            continue  # a Flatten of an already flat vector changes nothing
        _guard(label, name, node, lambda: _add_shape(b, name, node, ops[index + 1:], meta, skip, label))
        flat = flat or kind_of(node) == "Flatten" or bool(skip)  # skip holds the Flatten after a global pool
    try:
        return b.build(provenance={"source": "nir", "file": opts.label})
    except ModelFormatError as exc:
        raise NIRImportError(f"{label}: {exc}") from None


def _guard(label, name, node, action):
    """Run a builder call; its ModelFormatError becomes a NIRImportError naming the node."""
    try:
        action()
    except ModelFormatError as exc:
        if isinstance(exc, NIRImportError):
            raise
        raise NIRImportError(f"{label}: node {name!r} ({kind_of(node)}): {exc}") from None


def _input_shape(item, label):
    """``((C, H, W), vector)``: the Input node's shape, a 1-D ``(F,)`` as ``(F, 1, 1)`` with ``vector`` True."""
    name, node = item
    shape = np.asarray((node.input_type or {}).get("input"), dtype=object).reshape(-1)
    try:
        dims = tuple(int(v) for v in shape.astype(np.int64))
    except (TypeError, ValueError):
        dims = ()
    if len(dims) not in (1, 3) or min(dims) < 1:
        raise NIRImportError(f"{label}: Input node {name!r} has shape {tuple(shape)}; expected (C, H, W) or (F,)")
    return (dims + (1, 1) if len(dims) == 1 else dims), len(dims) == 1


def _add_shape(b, name, node, rest, meta, skip, label):
    kind = kind_of(node)
    if kind == "Flatten":
        start, end = _int(node.start_dim, name, "start_dim", label), _int(node.end_dim, name, "end_dim", label)
        if start not in (0, 1) or end not in (-1, 2, 3):
            raise NIRImportError(f"{label}: Flatten node {name!r} flattens dims {start}..{end}; eventsim flattens "
                                 "the whole (C, H, W) map (start_dim 0, or 1 counting a batch dim; end_dim -1)")
        b.flatten(name)
        return
    kernel, stride, padding = (_pair(getattr(node, f), name, f, label) for f in ("kernel_size", "stride", "padding"))
    if kind == "AvgPool2d" and meta.get("layers", {}).get(name, {}).get("kind") == "gap":
        if not rest or isinstance(rest[0], Group) or kind_of(rest[0][1]) != "Flatten":
            raise NIRImportError(f"{label}: node {name!r} is marked as a global pool but no Flatten follows it")
        if kernel != tuple(b.shape[1:]) or stride != kernel or padding != (0, 0):
            raise NIRImportError(f"{label}: node {name!r} is marked as a global pool but its window {kernel} does "
                                 f"not cover the {b.shape[1]}x{b.shape[2]} map")
        skip.add(rest[0][0])
        b.gap(name)
        return
    (b.avgpool if kind == "AvgPool2d" else b.sumpool)(name, kernel, stride, padding)


def _pair(value, name, field_name, label, sizes=(1, 2)) -> tuple:
    """An int or a pair of ints ``(y, x)`` as a pair (``sizes``: the accepted counts)."""
    arr = np.asarray(value) if value is not None else np.asarray([])
    flat = arr.reshape(-1)
    if arr.dtype.kind not in "biuf" or flat.size not in sizes or not np.all(np.isfinite(flat)) \
            or not np.all(flat == np.rint(flat)):
        raise NIRImportError(f"{label}: node {name!r}: {field_name} must be an int or a pair of ints, got {value!r}")
    return tuple(int(v) for v in np.broadcast_to(flat, (2,)))


def _int(value, name, field_name, label) -> int:
    return _pair(value, name, field_name, label, sizes=(1,))[0]


def _add_group(b, g: Group, last: bool, opts: ImportOptions):
    label = opts.label
    node, kind = g.node, kind_of(g.node)
    weight = _finite(node.weight, g.name, "weight", label)
    c_out = weight.shape[0] if weight.ndim >= 1 else 0
    bias = np.zeros(c_out) if kind == "Linear" else _finite(node.bias, g.name, "bias", label)
    if bias.size == 1:
        bias = np.full(c_out, float(bias.reshape(-1)[0]))
    if bias.shape != (c_out,):
        raise NIRImportError(f"{label}: node {g.name!r} ({kind}): bias has shape {bias.shape}, expected ({c_out},)")
    window = _conv_window(b, g, weight, label) if kind == "Conv2d" else None
    if kind != "Conv2d" and weight.ndim != 2:
        raise NIRImportError(f"{label}: node {g.name!r} ({kind}): weight must be 2-D (out, in), got {weight.shape}")
    if kind != "Conv2d" and b.shape[1:] != (1, 1):
        raise NIRImportError(f"{label}: node {g.name!r} ({kind}) receives a {b.shape} map; put a Flatten before it")
    if weight.shape[1] != b.shape[0]:
        raise NIRImportError(f"{label}: node {g.name!r} ({kind}): weight expects {weight.shape[1]} input "
                             f"channels or features, but it receives {b.shape[0]}")
    out_shape = (c_out,) + (_conv_out(b.shape, weight, window, g.name, label) if window else ())
    weight = _fold_pre_scales(weight, g.pre, b.shape, label)
    neuron_kind = kind_of(g.neuron[1]) if g.neuron else None
    if not last and neuron_kind not in SPIKING:
        what = f"{neuron_kind} node {g.neuron[0]!r}" if g.neuron else "no neuron node"
        raise NIRImportError(f"{label}: node {g.name!r} ({kind}) is followed by {what}; only the last layer may "
                             "be non-spiking (IF, LIF or Threshold expected)")
    if last and kind == "Conv2d":
        raise NIRImportError(f"{label}: the last layer {g.name!r} is a Conv2d; eventsim's output layer is dense "
                             "(Flatten, then Affine or Linear)")
    gain = np.ones(c_out)
    for sname, snode in g.post:
        gain = gain * _channels(snode.scale, out_shape, sname, "scale", label)
    n = _neuron(g, out_shape, opts)
    gain = gain * n["gain"]
    bias = gain * bias + n["bias"]

    def add():
        if last and n["kind"] not in SPIKING:
            return b.output(g.name, weight, gain=gain, bias=bias, voltage_scale=_pinned_scale(g.name, opts))
        neuron = dict(threshold=n["threshold"], leak=n["leak"], gain=gain, bias=bias, reset=n["reset"])
        if last:
            return b.output(g.name, weight, readout="spikes", **neuron)
        if kind == "Conv2d":
            return b.conv(g.name, weight, **window, **neuron)
        return b.dense(g.name, weight, **neuron)

    _guard(label, g.name, node, add)


def _pinned_scale(name, opts):
    """The voltage unit eventsim's export recorded for an accumulating output (None for other graphs)."""
    text = opts.meta.get("layers", {}).get(name, {}).get("voltage_scale")
    if text is None:
        return None
    try:
        return float.fromhex(text)
    except (TypeError, ValueError):
        raise NIRImportError(f"{opts.label}: graph metadata: voltage_scale of layer {name!r} is not a hex float "
                             f"({text!r})") from None


def _finite(value, name, field_name, label) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise NIRImportError(f"{label}: node {name!r}: {field_name} is not numeric") from None
    if not np.all(np.isfinite(arr)):
        raise NIRImportError(f"{label}: node {name!r}: {field_name} contains NaN or inf")
    return arr


def _conv_window(b, g, weight, label) -> dict:
    node = g.node
    if weight.ndim != 4:
        raise NIRImportError(f"{label}: node {g.name!r} (Conv2d): weight must be 4-D (C_out, C_in, k_y, k_x), "
                             f"got {weight.shape}")
    groups = _int(node.groups, g.name, "groups", label)
    dilation = _pair(node.dilation, g.name, "dilation", label)
    if groups != 1:
        raise NIRImportError(f"{label}: node {g.name!r} (Conv2d): groups={groups}; eventsim convolutions are dense "
                             "(groups 1)")
    if dilation != (1, 1):
        raise NIRImportError(f"{label}: node {g.name!r} (Conv2d): dilation {dilation}; eventsim supports dilation 1")
    stride = _pair(node.stride, g.name, "stride", label)
    if min(stride) < 1:
        raise NIRImportError(f"{label}: node {g.name!r} (Conv2d): stride {stride}; expected at least 1")
    padding = node.padding.decode() if isinstance(node.padding, bytes) else node.padding
    ky, kx = weight.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same" and stride == (1, 1) and ky % 2 == 1 and kx % 2 == 1:
            padding = (ky // 2, kx // 2)
        else:
            raise NIRImportError(f"{label}: node {g.name!r} (Conv2d): padding {padding!r} with stride {stride} and "
                                 f"kernel {ky}x{kx} is asymmetric or ambiguous; give the padding as integers")
    else:
        padding = _pair(padding, g.name, "padding", label)
    if not (0 <= padding[0] < ky and 0 <= padding[1] < kx):
        raise NIRImportError(f"{label}: node {g.name!r} (Conv2d): padding {padding} for a {ky}x{kx} kernel; "
                             "eventsim pads by 0 to k - 1 per side")
    declared = getattr(node, "input_shape", None)
    if declared is not None and _pair(declared, g.name, "input_shape", label, sizes=(2,)) != tuple(b.shape[1:]):
        raise NIRImportError(f"{label}: node {g.name!r} (Conv2d): input_shape {declared!r} but it receives a "
                             f"{b.shape[1]}x{b.shape[2]} map")
    return {"stride": stride, "padding": padding}


def _conv_out(shape, weight, window, name, label) -> tuple:
    (sy, sx), (py, px) = window["stride"], window["padding"]
    out = (window_out(shape[1], weight.shape[2], sy, py), window_out(shape[2], weight.shape[3], sx, px))
    if min(out) < 1:
        raise NIRImportError(f"{label}: node {name!r} (Conv2d): kernel {weight.shape[2:]} with stride {(sy, sx)} "
                             f"and padding {(py, px)} does not fit the {shape[1]}x{shape[2]} map")
    return out


def _fold_pre_scales(weight, pre, in_shape, label):
    for name, node in pre:
        if weight.ndim == 4:
            s = _channels(node.scale, in_shape, name, "scale", label)
            weight = weight * np.broadcast_to(s, (in_shape[0],))[None, :, None, None]
        else:
            s = _finite(node.scale, name, "scale", label).reshape(-1)
            if s.size not in (1, weight.shape[1]):
                raise NIRImportError(f"{label}: node {name!r} (Scale): {s.size} values for {weight.shape[1]} inputs")
            weight = weight * s[None, :]
    return weight


def _channels(value, shape, name, field_name, label):
    """A per-neuron NIR parameter as one float, or one per channel ``(C,)``.

    Accepts a scalar, ``(C,)``, ``(C, 1, 1)`` or the full neuron shape (with
    leading singleton dims, as Sinabs writes); refuses values that vary
    within a channel.
    """
    arr = _finite(value, name, field_name, label)
    while arr.ndim > len(shape) and arr.shape[0] == 1:
        arr = arr[0]
    c = shape[0]
    if arr.size == 1:
        return float(arr.reshape(-1)[0])
    if arr.shape in ((c,), tuple(shape), (c,) + (1,) * (len(shape) - 1)):
        rows = arr.reshape(c, -1)
        if not np.all(rows == rows[:, :1]):
            raise NIRImportError(f"{label}: node {name!r}: {field_name} varies within a channel; eventsim keeps one "
                                 "value per channel (per neuron for dense layers)")
        per = rows[:, 0]
        return float(per[0]) if np.all(per == per[0]) else per
    raise NIRImportError(f"{label}: node {name!r}: {field_name} has shape {arr.shape}; expected a scalar, ({c},) or "
                         f"the neuron shape {tuple(shape)}")


def _neuron(g: Group, shape, opts: ImportOptions) -> dict:
    """Gain, bias, threshold, leak and reset of the neuron node (module docstring)."""
    label = opts.label
    if g.neuron is None:
        return {"kind": None, "gain": 1.0, "bias": 0.0}
    name, node = g.neuron
    kind = kind_of(node)

    def get(field_name):
        return _channels(getattr(node, field_name), shape, name, field_name, label)

    if kind == "Threshold":
        return {"kind": kind, "gain": 1.0, "bias": 0.0, "threshold": get("threshold"), "leak": 0.0, "reset": "zero"}
    if kind in ("IF", "I"):
        gain, bias, leak = get("r"), 0.0, 1.0
    else:
        tau = get("tau")
        if np.ndim(tau) or not tau > 0:
            raise NIRImportError(f"{label}: node {name!r} ({kind}): tau must be one positive value for the whole "
                                 "layer (eventsim has one leak per layer)")
        step = _time_step(name, kind, opts)
        leak = 1.0 - step / tau
        if not 0.0 <= leak <= 1.0:
            raise NIRImportError(f"{label}: node {name!r} ({kind}): tau={tau} is shorter than dt={step}, so the "
                                 f"leak 1 - dt/tau = {leak} leaves [0, 1]")
        gain = get("r") * step / tau
        bias = get("v_leak") * step / tau
    if kind in ("I", "LI"):
        if round(leak * LEAK_ONE) != LEAK_ONE:
            raise NIRImportError(f"{label}: node {name!r} (LI): leak 1 - dt/tau = {leak:.6g}; eventsim's "
                                 "accumulating output has no leak (it must round to 1 in Q12); use an I node")
        return {"kind": kind, "gain": gain, "bias": bias}
    return {"kind": kind, "gain": gain, "bias": bias, "threshold": get("v_threshold"), "leak": leak,
            "reset": _reset(g, node, shape, opts)}


def _time_step(name, kind, opts) -> float:
    step = opts.dt if opts.dt is not None else opts.meta.get("dt")
    if step is None:
        raise NIRImportError(f"{opts.label}: node {name!r} ({kind}): the leak 1 - dt/tau needs the time step, which "
                             "NIR does not store; pass dt in the unit of tau (--dt; snnTorch writes tau in seconds "
                             "with dt = 1e-4, Sinabs in time steps with dt = 1)")
    if not np.isfinite(step) or step <= 0:
        raise NIRImportError(f"{opts.label}: dt must be a positive number, got {step!r}")
    return float(step)


def _reset(g: Group, node, shape, opts) -> str:
    name, label = g.neuron[0], opts.label
    reset = opts.reset or opts.meta.get("layers", {}).get(g.name, {}).get("reset")
    if reset is None:
        raise NIRImportError(f"{label}: node {name!r} ({kind_of(node)}): NIR does not say whether a spike subtracts "
                             "the threshold or sets the voltage to v_reset, and the graph has no eventsim metadata; "
                             "pass reset='subtract' (Sinabs's IAF and LIF) or reset='zero' (NIR's v_reset, "
                             "snnTorch's import of LIF) (--reset)")
    if reset not in RESET_MODES:
        raise NIRImportError(f"{label}: reset must be one of {RESET_MODES}, got {reset!r}")
    if reset == "zero" and np.any(_finite(node.v_reset, name, "v_reset", label) != 0):
        raise NIRImportError(f"{label}: node {name!r}: v_reset is not 0; eventsim's reset to zero sets the voltage "
                             "to 0")
    return reset
