"""Model file format (versions 1 and 2): HDF5 writer and validating reader.

The layout is documented in ``docs/model-format.md``.  The reader refuses
links, virtual datasets and external storage before it reads anything
(:mod:`eventsim._h5safe`), checks every attribute and dataset *before*
reading array data, charges each dataset's declared size against
:data:`MAX_MODEL_BYTES`, and verifies the stored content checksum, so a
malformed or hostile file fails with a
:class:`~eventsim.errors.ModelFormatError` that names the HDF5 path, never
with an h5py traceback or a giant allocation.  See ``docs/security.md``.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import h5py
import numpy as np

from . import fixed_point as fp
from ._h5safe import Budget, open_checked
from .io import atomic_output, h5_image
from .errors import EventsimError, ModelFormatError, ModelIntegrityError, UnsafeModelFileError
from .model import (FORMAT_NAME, FORMAT_VERSIONS, INPUT_ENCODINGS, LAYER_KINDS, POOL_KINDS, READOUTS, FloatParams,
                    Model, NeuronLayer, ShapeLayer)
from .validation import MAX_NEURONS, MAX_SIDE, MAX_WEIGHTS, check_layer_name, check_model, next_shape

#: Layer kinds of format version 1.
V1_LAYER_KINDS = ("conv", "dense", "output", "avgpool", "gap", "flatten")

#: Bytes of array data (declared, i.e. after decompression) one model file may make the loader read.
MAX_MODEL_BYTES = 1 << 30
#: Root attribute holding :func:`content_sha256` of the model.
CHECKSUM_ATTR = "content_sha256"


def content_sha256(model: Model) -> str:
    """SHA-256 of everything :func:`load_model` returns, stored in the file on save.

    Unlike :attr:`Model.sha256` (what affects results) it also covers the name,
    provenance, float parameters and quantization errors, so any change to
    what a reader would get is detected.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    h = hashlib.sha256()

    def put(obj):
        h.update(json.dumps(obj, sort_keys=True).encode() + b"\n")

    def arr(a, dt):
        a = np.asarray(a)
        put([str(np.dtype(dt)), list(a.shape)])
        h.update(np.ascontiguousarray(a, dtype=dt).tobytes())

    version = model.format_version
    put([FORMAT_NAME, version, model.name, model.default_timesteps, list(model.input_shape), model.provenance])
    arr(model.input_mean, "<f8")
    arr(model.input_std, "<f8")
    if version > 1:
        put(["input", model.input_encoding])
    for layer in model.layers:
        put([layer.name, layer.kind, list(layer.in_shape), list(layer.out_shape)])
        if version > 1 and not layer.is_neuron:
            put([list(layer.kernel), list(layer.stride), list(layer.padding)])
        if not layer.is_neuron:
            continue
        arr(layer.weight, "<i1")
        arr(layer.gain, "<i2")
        arr(layer.bias, "<i4")
        fl = layer.floats
        if version == 1:
            theta, threshold = int(layer.theta[0]), float(fl.threshold).hex()
        else:
            theta = [int(v) for v in layer.theta]
            threshold = [float(v).hex() for v in np.ravel(fl.threshold)]
        put([layer.shift, theta, layer.lam12, float(layer.voltage_scale).hex(), threshold,
             float(fl.leak).hex(), sorted((k, float(v).hex()) for k, v in layer.quant_error.items())])
        if version > 1:
            put([list(layer.stride), list(layer.padding), layer.reset, layer.readout])
        for a in (fl.weight, fl.gain, fl.bias):
            arr(a, "<f4")
    return h.hexdigest()


def save_model(model: Model, path) -> Path:
    """Write ``model`` to ``path`` (HDF5) atomically, with its content checksum.

    The file is format version 1 when the model uses no version-2 feature
    (:attr:`Model.format_version`), so older readers still read it.

    Parameters
    ----------
    model : Model
    path : str or Path
        Target file; its directory must exist.

    Returns
    -------
    Path
    """
    with atomic_output(path) as tmp:
        with h5_image(tmp) as f:
            version = model.format_version
            f.attrs.update(format=FORMAT_NAME, format_version=version, name=model.name,
                           default_timesteps=model.default_timesteps,
                           input_shape=np.asarray(model.input_shape, np.int64),
                           provenance=json.dumps(model.provenance, sort_keys=True))
            f.attrs[CHECKSUM_ATTR] = content_sha256(model)
            g = f.create_group("input")
            g.attrs.update(encoding=model.input_encoding, rescale=2.0)
            g.create_dataset("mean", data=model.input_mean.astype(np.float64))
            g.create_dataset("std", data=model.input_std.astype(np.float64))
            layers = f.create_group("layers")
            layers.attrs["order"] = json.dumps(model.layer_names)
            for layer in model.layers:
                _write_layer(layers.create_group(layer.name), layer, version)
    return Path(path)


def _write_layer(g, layer, version):
    g.attrs.update(kind=layer.kind, in_shape=np.asarray(layer.in_shape, np.int64),
                   out_shape=np.asarray(layer.out_shape, np.int64))
    if version > 1 and layer.kind in POOL_KINDS:
        g.attrs.update({k: np.asarray(getattr(layer, k), np.int64) for k in ("kernel", "stride", "padding")})
    if not layer.is_neuron:
        return
    g.create_dataset("weight", data=layer.weight.astype(np.int8))
    g.create_dataset("gain", data=layer.gain.astype(np.int16))
    g.create_dataset("bias", data=layer.bias.astype(np.int32))
    g.attrs.update(shift=layer.shift, voltage_scale=float(layer.voltage_scale))
    if layer.spiking:
        theta = layer.uniform_theta
        g.attrs.update(theta=np.asarray(layer.theta, np.int64) if theta is None else theta, lam12=layer.lam12)
    if version > 1:
        g.attrs.update(reset=layer.reset)
        if layer.kind == "conv":
            g.attrs.update(stride=np.asarray(layer.stride, np.int64), padding=np.asarray(layer.padding, np.int64))
        if layer.kind == "output":
            g.attrs.update(readout=layer.readout)
    fl = g.create_group("float")
    for name in ("weight", "gain", "bias"):
        fl.create_dataset(name, data=getattr(layer.floats, name))
    threshold = layer.floats.threshold
    fl.attrs.update(threshold=threshold if np.ndim(threshold) else float(threshold), leak=float(layer.floats.leak))
    g.create_group("quant").attrs.update({k: float(v) for k, v in layer.quant_error.items()})


class _Reader:
    """Checked access to one open model file; every error names the HDF5 path."""

    def __init__(self, f, label, max_bytes=None):
        self.f, self.label = f, label
        self.budget = Budget(MAX_MODEL_BYTES if max_bytes is None else max_bytes, label, ModelFormatError)

    def fail(self, where, msg):
        raise ModelFormatError(f"{self.label}:{where}: {msg}")

    def group(self, where):
        obj = self.f.get(where)
        if not isinstance(obj, h5py.Group):
            self.fail(where, "missing group" if obj is None else "expected a group, found a dataset")
        return obj

    def has_attr(self, where, name):
        return name in self.f[where].attrs

    def attr(self, where, name, kind):
        obj = self.f[where]
        if name not in obj.attrs:
            self.fail(where, f"missing attribute {name!r}")
        try:
            val = obj.attrs[name]
        except (OSError, ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
            self.fail(where, f"attribute {name!r} cannot be read: {type(exc).__name__}")
        return self.convert(where, name, val, kind)

    def convert(self, where, name, val, kind):
        if kind is str:
            if isinstance(val, np.ndarray) and val.shape == () and val.dtype.kind in "SUO":
                val = val[()]
            if isinstance(val, bytes):
                try:
                    val = val.decode()
                except UnicodeDecodeError:
                    self.fail(where, f"attribute {name!r} is not valid UTF-8")
            if not isinstance(val, str):
                self.fail(where, f"attribute {name!r} must be a string")
            return val
        arr = np.asarray(val)
        if kind is int:
            if arr.shape != () or arr.dtype.kind not in "iu":
                self.fail(where, f"attribute {name!r} must be an integer scalar, got {_brief(arr)}")
            return int(arr)
        if kind is float:
            if arr.shape != () or arr.dtype.kind not in "iuf":
                self.fail(where, f"attribute {name!r} must be a real number, got {_brief(arr)}")
            return float(arr)
        if kind == "shape":
            if arr.shape != (3,) or arr.dtype.kind not in "iu":
                self.fail(where, f"attribute {name!r} must be three integers (C, H, W), got {_brief(arr)}")
            return tuple(int(v) for v in arr)
        if kind == "pair":
            if arr.shape not in ((), (2,)) or arr.dtype.kind not in "iu":
                self.fail(where, f"attribute {name!r} must be an integer or two integers (y, x), got {_brief(arr)}")
            if arr.min() < 0 or arr.max() > MAX_SIDE:
                self.fail(where, f"attribute {name!r} must lie in [0, {MAX_SIDE}], got {arr.tolist()}")
            return tuple(int(v) for v in np.broadcast_to(arr, (2,)))
        if isinstance(kind, tuple) and kind[0] == "per_channel":
            size, real = kind[1], kind[2]
            if arr.shape not in ((), (size,)) or arr.dtype.kind not in ("iuf" if real else "iu"):
                what = "a real number" if real else "an integer"
                self.fail(where, f"attribute {name!r} must be {what} or one per channel ({size}), got {_brief(arr)}")
            if not real and (arr.min() < -(1 << 62) or arr.max() > (1 << 62)):
                self.fail(where, f"attribute {name!r} is out of range")
            return arr.astype(np.float64 if real else np.int64)
        raise AssertionError(kind)

    def dataset(self, where, dtype, shape):
        """Check dtype and shape from metadata, charge the byte budget, then read."""
        obj = self.f.get(where)
        if not isinstance(obj, h5py.Dataset):
            self.fail(where, "missing dataset" if obj is None else "expected a dataset, found a group")
        if obj.dtype != np.dtype(dtype):
            self.fail(where, f"expected dtype {np.dtype(dtype).name}, found {obj.dtype}")
        if shape is not None and tuple(obj.shape) != tuple(shape):
            self.fail(where, f"expected shape {tuple(shape)}, found {tuple(obj.shape)}")
        self.budget.charge(obj, where)
        try:
            return obj[()]
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            self.fail(where, f"data cannot be read (truncated or corrupt file?): {type(exc).__name__}")


def _brief(arr) -> str:
    """A short description of an attribute value (never its bytes)."""
    return f"dtype {arr.dtype}, shape {arr.shape}"


def load_model(path, verify=True) -> Model:
    """Read and validate a model file.

    Parameters
    ----------
    path : str or Path
    verify : bool
        Check the stored content checksum (files written before checksums
        existed have none and load either way).  ``False`` is for forensic
        use on a file known to be modified.

    Returns
    -------
    Model

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFormatError
        If the file is not a valid eventsim model file (version 1 or 2); the message names
        the HDF5 path and what was expected.  Subclasses:
        :class:`~eventsim.errors.UnsafeModelFileError` (not a regular file,
        links, virtual or external datasets) and
        :class:`~eventsim.errors.ModelIntegrityError` (checksum mismatch).
    """
    f = open_checked(path, "model", ModelFormatError, UnsafeModelFileError)
    path = Path(path)
    try:
        with f:
            r = _Reader(f, str(path))
            model = _read_model(r)
            stored = r.attr("/", CHECKSUM_ATTR, str) if r.has_attr("/", CHECKSUM_ATTR) else None
    except EventsimError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, OverflowError) as exc:
        raise ModelFormatError(f"{path}: corrupt model file: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
    check_model(model, str(path))
    if verify and stored is not None:
        actual = content_sha256(model)
        if stored != actual:
            raise ModelIntegrityError(f"{path}: content checksum mismatch (stored {stored[:16]}..., content "
                                      f"{actual[:16]}...): the file was modified or corrupted; load it with "
                                      "verify=False (--no-verify) only to inspect it")
    return model


def _read_model(r: _Reader) -> Model:
    fmt = r.attr("/", "format", str) if "format" in r.f.attrs else None
    if fmt != FORMAT_NAME:
        r.fail("/", f"not an eventsim model file (attribute 'format' should be {FORMAT_NAME!r}, found {fmt!r})")
    version = r.attr("/", "format_version", int)
    if version not in FORMAT_VERSIONS:
        r.fail("/", f"unsupported format_version {version}; this eventsim reads versions "
                    f"{', '.join(map(str, FORMAT_VERSIONS))}")
    input_shape = r.attr("/", "input_shape", "shape")
    if min(input_shape) < 1 or math.prod(input_shape) > MAX_NEURONS or max(input_shape[1:]) > MAX_SIDE:
        r.fail("/", f"input_shape {input_shape} must be positive, at most {MAX_NEURONS} values and "
                    f"at most {MAX_SIDE} per side")
    c = input_shape[0]
    r.group("/input")
    encoding = r.attr("/input", "encoding", str) if version > 1 and r.has_attr("/input", "encoding") \
        else "signed-poisson"
    if encoding not in INPUT_ENCODINGS:
        r.fail("/input", f"attribute 'encoding' must be one of {INPUT_ENCODINGS}, got {encoding!r}")
    mean = r.dataset("/input/mean", np.float64, (c,))
    std = r.dataset("/input/std", np.float64, (c,))
    timesteps = r.attr("/", "default_timesteps", int)
    try:
        provenance = json.loads(r.attr("/", "provenance", str)) if "provenance" in r.f.attrs else {}
    except (json.JSONDecodeError, RecursionError) as exc:
        r.fail("/", f"attribute 'provenance' is not valid JSON: {type(exc).__name__}")
    if not isinstance(provenance, dict):
        r.fail("/", f"attribute 'provenance' must be a JSON object, found a JSON {type(provenance).__name__}")
    r.group("/layers")
    try:
        order = json.loads(r.attr("/layers", "order", str))
    except (json.JSONDecodeError, RecursionError) as exc:
        r.fail("/layers", f"attribute 'order' is not a JSON list of names: {type(exc).__name__}")
    if not isinstance(order, list) or not order or not all(isinstance(n, str) for n in order):
        r.fail("/layers", "attribute 'order' must be a non-empty JSON list of layer names")
    for name in order:
        check_layer_name(name, f"{r.label}:/layers")
    layers, shape, flat = [], input_shape, False
    budget = {"neurons": 0, "weights": 0}
    for name in order:
        layer, shape, flat = _read_layer(r, name, shape, flat, budget, version)
        layers.append(layer)
    return Model(name=r.attr("/", "name", str), input_shape=input_shape, input_mean=mean, input_std=std,
                 layers=tuple(layers), default_timesteps=timesteps, provenance=provenance, input_encoding=encoding)


def _v2_attr(r, where, name, kind, version, default):
    """A version-2 attribute: absent in version 1 files (``default``); optional in version 2."""
    if version < 2 or not r.has_attr(where, name):
        return default
    return r.attr(where, name, kind)


def _read_window(r, where, kind, wshape, version):
    """The ``window`` of :func:`~eventsim.validation.next_shape` stored with a conv or pool layer."""
    if kind == "conv":
        kh, kw = wshape[2:] if len(wshape) == 4 else (1, 1)
        return {"stride": _v2_attr(r, where, "stride", "pair", version, (1, 1)),
                "padding": _v2_attr(r, where, "padding", "pair", version, (kh // 2, kw // 2))}
    if kind in POOL_KINDS:
        kernel = _v2_attr(r, where, "kernel", "pair", version, (2, 2))
        return {"kernel": kernel, "stride": _v2_attr(r, where, "stride", "pair", version, kernel),
                "padding": _v2_attr(r, where, "padding", "pair", version, (0, 0))}
    return {}


def _read_layer(r: _Reader, name, in_shape, flat, budget, version):
    where = f"/layers/{name}"
    r.group(where)
    kind = r.attr(where, "kind", str)
    kinds = LAYER_KINDS if version > 1 else V1_LAYER_KINDS
    if kind not in kinds:
        r.fail(where, f"unknown layer kind {kind!r}; format version {version} supports: {', '.join(kinds)}")
    wobj = r.f.get(where + "/weight")
    wshape = tuple(int(s) for s in wobj.shape) if isinstance(wobj, h5py.Dataset) else None
    if kind in ("conv", "dense", "output") and wshape is None:
        r.fail(where + "/weight", "missing dataset")
    window = _read_window(r, where, kind, wshape or (), version)
    if version == 1 and kind == "conv" and len(wshape) == 4 and (wshape[2] != wshape[3] or wshape[2] % 2 == 0):
        r.fail(where, f"format version 1 conv kernels are square with an odd size, got {wshape[2]}x{wshape[3]}")
    out_shape, out_flat = next_shape(kind, in_shape, flat, f"{r.label}:{where}", wshape, window)
    declared = r.attr(where, "out_shape", "shape")
    if declared != out_shape:
        r.fail(where, f"declared out_shape {declared} does not chain from input {in_shape}; expected {out_shape}")
    if kind not in ("conv", "dense", "output"):
        return ShapeLayer(name, kind, in_shape, out_shape, **window), out_shape, out_flat
    budget["neurons"] += math.prod(out_shape)
    budget["weights"] += math.prod(wshape)
    if budget["neurons"] > MAX_NEURONS or budget["weights"] > MAX_WEIGHTS:
        r.fail(where, f"model too large: over {MAX_NEURONS} neurons or {MAX_WEIGHTS} weights; refusing to allocate")
    c_out = out_shape[0]
    gobj = r.f.get(where + "/gain")
    t_g = int(gobj.shape[0]) if isinstance(gobj, h5py.Dataset) and len(gobj.shape) == 2 else None
    if t_g is None or not 1 <= t_g <= fp.MAX_TIMESTEPS:
        r.fail(where + "/gain", f"expected a 2-D int16 dataset (T_g, {c_out}) with 1 <= T_g <= {fp.MAX_TIMESTEPS}")
    readout = _v2_attr(r, where, "readout", str, version, "accumulate") if kind == "output" else "accumulate"
    if readout not in READOUTS:
        r.fail(where, f"attribute 'readout' must be one of {READOUTS}, got {readout!r}")
    reset = _v2_attr(r, where, "reset", str, version, "subtract")
    if reset not in fp.RESET_MODES:
        r.fail(where, f"attribute 'reset' must be one of {fp.RESET_MODES}, got {reset!r}")
    spiking = kind != "output" or readout == "spikes"
    per_channel = ("per_channel", c_out, False) if version > 1 else int
    fl = where + "/float"
    r.group(fl)
    floats = FloatParams(
        weight=r.dataset(fl + "/weight", np.float32, wshape),
        gain=r.dataset(fl + "/gain", np.float32, (t_g, c_out)),
        bias=r.dataset(fl + "/bias", np.float32, (t_g, c_out)),
        threshold=r.attr(fl, "threshold", ("per_channel", c_out, True) if version > 1 else float),
        leak=r.attr(fl, "leak", float),
    )
    quant = r.f.get(where + "/quant")
    quant_error = {}
    if isinstance(quant, h5py.Group):
        for key in quant.attrs:
            quant_error[key] = r.attr(where + "/quant", key, float)
    layer = NeuronLayer(
        name=name, kind=kind, in_shape=in_shape, out_shape=out_shape,
        weight=r.dataset(where + "/weight", np.int8, wshape),
        gain=r.dataset(where + "/gain", np.int16, (t_g, c_out)),
        bias=r.dataset(where + "/bias", np.int32, (t_g, c_out)),
        shift=r.attr(where, "shift", int),
        theta=r.attr(where, "theta", per_channel) if spiking else fp.OUTPUT_THETA,
        lam12=r.attr(where, "lam12", int) if spiking else fp.LEAK_ONE,
        voltage_scale=r.attr(where, "voltage_scale", float),
        floats=floats, quant_error=quant_error, reset=reset, readout=readout, **window,
    )
    return layer, out_shape, out_flat
