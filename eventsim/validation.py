"""Structural and range checks shared by the model loader and the builder.

Every check raises :class:`~eventsim.errors.ModelFormatError` whose message
starts with ``where`` (an HDF5 path such as ``model.h5:/layers/conv1`` or a
builder layer name) and says what was expected.
"""
from __future__ import annotations

import math

import numpy as np

from . import fixed_point as fp
from .errors import ModelFormatError
from .model import INPUT_ENCODINGS, READOUTS
from .topology import walk, window_out

#: Refuse models larger than this before allocating anything.
MAX_NEURONS = 1 << 27
MAX_WEIGHTS = 1 << 28
#: Largest image height or width.
MAX_SIDE = 1 << 16


def next_shape(kind, in_shape, flat, where, weight_shape=None, window=None):
    """Output shape of one layer given its input; the shape-chaining rules.

    Parameters
    ----------
    kind : str
        Layer kind.
    in_shape : tuple of int
        ``(C, H, W)`` of the input.
    flat : bool
        Whether the input is already flattened (after ``flatten``, ``gap`` or
        a dense layer).
    where : str
        Location for error messages.
    weight_shape : tuple of int, optional
        Shape of the weight dataset for neuron layers.
    window : dict, optional
        ``stride`` and ``padding`` of a conv layer (default 1 and "same"),
        ``kernel``, ``stride`` and ``padding`` of a pool (default 2, the
        kernel, 0); each a pair ``(y, x)``.

    Returns
    -------
    out_shape : tuple of int
    out_flat : bool
    """
    c, h, w = in_shape
    window = window or {}
    if kind in ("conv", "avgpool", "sumpool", "gap", "flatten") and flat:
        raise ModelFormatError(f"{where}: a {kind} layer needs a spatial (C, H, W) input, "
                               f"but its input is already flattened to {in_shape}")
    if kind == "conv":
        if weight_shape is None or len(weight_shape) != 4:
            raise ModelFormatError(f"{where}: conv weight must be 4-D (C_out, C_in, k_y, k_x), got {weight_shape}")
        c_out, c_in, kh, kw = weight_shape
        if c_in != c:
            raise ModelFormatError(f"{where}: conv weight has C_in={c_in} but its input has {c} channels")
        if c_out < 1:
            raise ModelFormatError(f"{where}: conv layer needs at least one output channel")
        stride = window.get("stride", (1, 1))
        padding = window.get("padding", (kh // 2, kw // 2))
        ho, wo = _window_out(where, "conv", (h, w), (kh, kw), stride, padding, max_pad=(kh - 1, kw - 1))
        return (c_out, ho, wo), False
    if kind in ("avgpool", "sumpool"):
        kernel = window.get("kernel", (2, 2))
        stride = window.get("stride", kernel)
        padding = window.get("padding", (0, 0))
        ho, wo = _window_out(where, kind, (h, w), kernel, stride, padding,
                             max_pad=(kernel[0] // 2, kernel[1] // 2))
        return (c, ho, wo), False
    if kind == "gap":
        return (c, 1, 1), True
    if kind == "flatten":
        return (c * h * w, 1, 1), True
    if kind in ("dense", "output"):
        if not flat:
            raise ModelFormatError(f"{where}: a {kind} layer needs a flattened input; "
                                   f"put a 'flatten' or 'gap' layer before it (input is {in_shape})")
        if weight_shape is None or len(weight_shape) != 2:
            raise ModelFormatError(f"{where}: {kind} weight must be 2-D (C_out, F_in), got {weight_shape}")
        c_out, f_in = weight_shape
        if f_in != c:
            raise ModelFormatError(f"{where}: {kind} weight has F_in={f_in} but its input has {c} features")
        if c_out < 1:
            raise ModelFormatError(f"{where}: {kind} layer needs at least one output neuron")
        return (c_out, 1, 1), True
    raise ModelFormatError(f"{where}: unknown layer kind {kind!r}; supported kinds are "
                           "conv, avgpool, sumpool, gap, flatten, dense, output")


def _window_out(where, kind, size, kernel, stride, padding, max_pad):
    """Checked output ``(H, W)`` of a sliding window (conv or pool)."""
    for label, pair, low in (("kernel", kernel, 1), ("stride", stride, 1), ("padding", padding, 0)):
        if len(pair) != 2 or min(pair) < low or max(pair) > MAX_SIDE:
            raise ModelFormatError(f"{where}: {kind} {label} must be two integers in [{low}, {MAX_SIDE}] "
                                   f"(y, x), got {tuple(pair)}")
    if padding[0] > max_pad[0] or padding[1] > max_pad[1]:
        limit = "k - 1 (padding larger than the kernel)" if kind == "conv" else "k // 2 (half the kernel)"
        raise ModelFormatError(f"{where}: {kind} padding {tuple(padding)} exceeds {limit} for kernel "
                               f"{tuple(kernel)}; expected at most {tuple(max_pad)}")
    out = tuple(window_out(n, k, s, p) for n, k, s, p in zip(size, kernel, stride, padding))
    if min(out) < 1:
        raise ModelFormatError(f"{where}: {kind} kernel {tuple(kernel)} with padding {tuple(padding)} does not fit "
                               f"the {size[0]}x{size[1]} input (output would be {out[0]}x{out[1]})")
    return out


def layer_window(layer) -> dict:
    """The ``window`` argument of :func:`next_shape` for a layer object."""
    if layer.kind == "conv":
        return {"stride": layer.stride, "padding": layer.padding}
    if layer.kind in ("avgpool", "sumpool"):
        return {"kernel": layer.kernel, "stride": layer.stride, "padding": layer.padding}
    return {}


def check_input(input_shape, mean, std, where):
    """Input shape and normalization: 3 positive ints, finite mean, std > 0."""
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ModelFormatError(f"{where}: input_shape must be three positive ints (C, H, W), got {input_shape}")
    if math.prod(int(v) for v in input_shape) > MAX_NEURONS or max(input_shape[1:]) > MAX_SIDE:
        raise ModelFormatError(f"{where}: input_shape {input_shape} is absurdly large (> {MAX_NEURONS} values "
                               f"or a side > {MAX_SIDE})")
    c = input_shape[0]
    for label, arr in (("mean", mean), ("std", std)):
        if np.shape(arr) != (c,):
            raise ModelFormatError(f"{where}/{label}: expected shape ({c},) (one value per input channel), "
                                   f"got {np.shape(arr)}")
        if not np.all(np.isfinite(arr)):
            raise ModelFormatError(f"{where}/{label}: values must be finite")
    if np.any(np.asarray(std) <= 0):
        raise ModelFormatError(f"{where}/std: values must be > 0")


def check_ranges(layer, where):
    """Integer ranges of one neuron layer (DESIGN section 3)."""
    checks = (
        ("gain", layer.gain, fp.GAIN_MIN, fp.GAIN_MAX),
        ("bias", layer.bias, fp.V_MIN, fp.V_MAX),
    )
    for label, arr, lo, hi in checks:
        if arr.size and (arr.min() < lo or arr.max() > hi):
            raise ModelFormatError(f"{where}/{label}: values must lie in [{lo}, {hi}], "
                                   f"found [{arr.min()}, {arr.max()}]")
    if not 0 <= layer.shift <= fp.SHIFT_MAX:
        raise ModelFormatError(f"{where}: shift must lie in [0, {fp.SHIFT_MAX}], got {layer.shift}")
    if layer.spiking:
        theta = layer.theta
        if theta.shape != (layer.out_shape[0],) or theta.min() < 1 or theta.max() > fp.V_MAX:
            raise ModelFormatError(f"{where}: theta must be one value or one per channel ({layer.out_shape[0]}) in "
                                   f"[1, {fp.V_MAX}] (24-bit), got {_span(theta)}")
        if not 0 <= layer.lam12 <= fp.LEAK_ONE:
            raise ModelFormatError(f"{where}: lam12 must lie in [0, {fp.LEAK_ONE}], got {layer.lam12}")
    if layer.reset not in fp.RESET_MODES:
        raise ModelFormatError(f"{where}: reset must be one of {fp.RESET_MODES}, got {layer.reset!r}")
    if layer.readout not in READOUTS or (layer.kind != "output" and layer.readout != "accumulate"):
        raise ModelFormatError(f"{where}: readout must be one of {READOUTS} (output layer only), got "
                               f"{layer.readout!r}")
    if not (np.isfinite(layer.voltage_scale) and layer.voltage_scale > 0):
        raise ModelFormatError(f"{where}: voltage_scale must be finite and > 0, got {layer.voltage_scale}")


def _span(arr) -> str:
    arr = np.asarray(arr)
    return f"shape {arr.shape}, values [{arr.min()}, {arr.max()}]" if arr.size else f"shape {arr.shape}"


def check_layer_name(name, where):
    """A layer name usable as an HDF5 group name: a non-empty string without ``/`` or NUL, not ``.``/``..``."""
    if not isinstance(name, str) or not name or "/" in name or "\0" in name or name in (".", ".."):
        raise ModelFormatError(f"{where}: invalid layer name {name!r}; names must be non-empty and contain "
                               "no '/' or NUL (they become HDF5 group names in model and result files)")


def check_floats(layer, where):
    """The float parameters are finite (an accumulating output layer's threshold is +inf)."""
    fl = layer.floats
    for label, arr in (("weight", fl.weight), ("gain", fl.gain), ("bias", fl.bias)):
        if not np.all(np.isfinite(arr)):
            raise ModelFormatError(f"{where}/float/{label}: values must be finite (found NaN or inf)")
    th = np.asarray(fl.threshold, np.float64)
    good_th = np.all(np.isfinite(th) & (th > 0)) if layer.spiking else bool(np.all(th == np.inf))
    if th.ndim == 1 and th.shape != (layer.out_shape[0],):
        good_th = False
    if not (np.isfinite(fl.leak) and good_th):
        raise ModelFormatError(f"{where}/float: threshold (one value or one per channel) must be finite and > 0 "
                               f"(+inf for an accumulating output layer) and leak finite, got threshold "
                               f"{_span(th)}, leak={fl.leak}")


def check_accumulator(layer, input_count, where):
    """The int32 synaptic accumulator can never overflow for this layer."""
    w = layer.weight.reshape(layer.weight.shape[0], -1)
    worst = int(np.abs(w, dtype=np.int16).sum(axis=1, dtype=np.int64).max()) * input_count if w.size else 0
    if worst >= 2**31:
        raise ModelFormatError(f"{where}: worst-case synaptic sum {worst} overflows the int32 accumulator")


def check_gain_steps(gain_steps, default_timesteps, where):
    """Per-step gain length: 1 (constant) or at least the default ``T``."""
    if gain_steps < 1 or gain_steps > fp.MAX_TIMESTEPS:
        raise ModelFormatError(f"{where}: the gain table needs 1 to {fp.MAX_TIMESTEPS} rows, got {gain_steps}")
    if gain_steps != 1 and gain_steps < default_timesteps:
        raise ModelFormatError(f"{where}: per-step gain has {gain_steps} rows but default_timesteps is "
                               f"{default_timesteps}; expected 1 (constant) or >= {default_timesteps}")


def check_model(model, where: str):
    """Full check of an in-memory :class:`~eventsim.model.Model`."""
    check_input(model.input_shape, model.input_mean, model.input_std, where + ":/input")
    if model.input_encoding not in INPUT_ENCODINGS:
        raise ModelFormatError(f"{where}:/input: encoding must be one of {INPUT_ENCODINGS}, "
                               f"got {model.input_encoding!r}")
    if not 1 <= model.default_timesteps <= fp.MAX_TIMESTEPS:
        raise ModelFormatError(f"{where}: default_timesteps must lie in [1, {fp.MAX_TIMESTEPS}], "
                               f"got {model.default_timesteps}")
    names = model.layer_names
    for name in names:
        check_layer_name(name, where)
    if len(set(names)) != len(names):
        raise ModelFormatError(f"{where}: layer names must be unique, got {names}")
    if "input" in names:
        raise ModelFormatError(f"{where}: 'input' is reserved for the encoder and cannot name a layer")
    shape, flat = model.input_shape, False
    neurons = weights = 0
    for i, (layer, fold) in enumerate(walk(model.layers, model.input_shape)):
        lw = f"{where}:/layers/{layer.name}"
        wshape = layer.weight.shape if layer.is_neuron else None
        out, flat = next_shape(layer.kind, shape, flat, lw, wshape, layer_window(layer))
        if tuple(layer.in_shape) != tuple(shape) or tuple(layer.out_shape) != tuple(out):
            raise ModelFormatError(f"{lw}: declared shapes {layer.in_shape} -> {layer.out_shape} do not chain; "
                                   f"expected {shape} -> {out}")
        if layer.kind == "output" and i != len(model.layers) - 1:
            raise ModelFormatError(f"{lw}: the output layer must be the last layer")
        if layer.is_neuron:
            check_ranges(layer, lw)
            check_floats(layer, lw)
            check_gain_steps(layer.gain_steps, model.default_timesteps, lw + "/gain")
            if layer.gain_steps not in (1, model.gain_steps):
                raise ModelFormatError(f"{lw}/gain: {layer.gain_steps} rows, but other layers have "
                                       f"{model.gain_steps}; expected 1 or {model.gain_steps}")
            check_accumulator(layer, fold.max_input_count(model.input_max), lw)
            neurons += layer.num_neurons
            weights += layer.weight.size
        shape = out
    if not model.layers or model.layers[-1].kind != "output":
        raise ModelFormatError(f"{where}: the last layer must be an 'output' layer")
    if neurons > MAX_NEURONS or weights > MAX_WEIGHTS:
        raise ModelFormatError(f"{where}: model too large ({neurons} neurons, {weights} weights; "
                               f"limits {MAX_NEURONS} and {MAX_WEIGHTS})")
