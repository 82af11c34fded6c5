"""Model file format v1: HDF5 writer and validating reader.

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
from .model import FORMAT_NAME, FORMAT_VERSION, LAYER_KINDS, FloatParams, Model, NeuronLayer, ShapeLayer
from .validation import MAX_NEURONS, MAX_SIDE, MAX_WEIGHTS, check_layer_name, check_model, next_shape

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

    put([FORMAT_NAME, FORMAT_VERSION, model.name, model.default_timesteps, list(model.input_shape),
         model.provenance])
    arr(model.input_mean, "<f8")
    arr(model.input_std, "<f8")
    for layer in model.layers:
        put([layer.name, layer.kind, list(layer.in_shape), list(layer.out_shape)])
        if not layer.is_neuron:
            continue
        arr(layer.weight, "<i1")
        arr(layer.gain, "<i2")
        arr(layer.bias, "<i4")
        fl = layer.floats
        put([layer.shift, layer.theta, layer.lam12, float(layer.voltage_scale).hex(), float(fl.threshold).hex(),
             float(fl.leak).hex(), sorted((k, float(v).hex()) for k, v in layer.quant_error.items())])
        for a in (fl.weight, fl.gain, fl.bias):
            arr(a, "<f4")
    return h.hexdigest()


def save_model(model: Model, path) -> Path:
    """Write ``model`` to ``path`` (HDF5, format v1) atomically, with its content checksum.

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
            f.attrs.update(format=FORMAT_NAME, format_version=FORMAT_VERSION, name=model.name,
                           default_timesteps=model.default_timesteps,
                           input_shape=np.asarray(model.input_shape, np.int64),
                           provenance=json.dumps(model.provenance, sort_keys=True))
            f.attrs[CHECKSUM_ATTR] = content_sha256(model)
            g = f.create_group("input")
            g.attrs.update(encoding="signed-poisson", rescale=2.0)
            g.create_dataset("mean", data=model.input_mean.astype(np.float64))
            g.create_dataset("std", data=model.input_std.astype(np.float64))
            layers = f.create_group("layers")
            layers.attrs["order"] = json.dumps(model.layer_names)
            for layer in model.layers:
                _write_layer(layers.create_group(layer.name), layer)
    return Path(path)


def _write_layer(g, layer):
    g.attrs.update(kind=layer.kind, in_shape=np.asarray(layer.in_shape, np.int64),
                   out_shape=np.asarray(layer.out_shape, np.int64))
    if not layer.is_neuron:
        return
    g.create_dataset("weight", data=layer.weight.astype(np.int8))
    g.create_dataset("gain", data=layer.gain.astype(np.int16))
    g.create_dataset("bias", data=layer.bias.astype(np.int32))
    g.attrs.update(shift=layer.shift, voltage_scale=float(layer.voltage_scale))
    if layer.spiking:
        g.attrs.update(theta=layer.theta, lam12=layer.lam12)
    fl = g.create_group("float")
    for name in ("weight", "gain", "bias"):
        fl.create_dataset(name, data=getattr(layer.floats, name))
    fl.attrs.update(threshold=float(layer.floats.threshold), leak=float(layer.floats.leak))
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
        If the file is not a valid eventsim model file v1; the message names
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
    if version != FORMAT_VERSION:
        r.fail("/", f"unsupported format_version {version}; this eventsim reads version {FORMAT_VERSION}")
    input_shape = r.attr("/", "input_shape", "shape")
    if min(input_shape) < 1 or math.prod(input_shape) > MAX_NEURONS or max(input_shape[1:]) > MAX_SIDE:
        r.fail("/", f"input_shape {input_shape} must be positive, at most {MAX_NEURONS} values and "
                    f"at most {MAX_SIDE} per side")
    c = input_shape[0]
    r.group("/input")
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
        layer, shape, flat = _read_layer(r, name, shape, flat, budget)
        layers.append(layer)
    return Model(name=r.attr("/", "name", str), input_shape=input_shape, input_mean=mean, input_std=std,
                 layers=tuple(layers), default_timesteps=timesteps, provenance=provenance)


def _read_layer(r: _Reader, name, in_shape, flat, budget):
    where = f"/layers/{name}"
    r.group(where)
    kind = r.attr(where, "kind", str)
    if kind not in LAYER_KINDS:
        r.fail(where, f"unknown layer kind {kind!r}; supported: {', '.join(LAYER_KINDS)}")
    wobj = r.f.get(where + "/weight")
    wshape = tuple(int(s) for s in wobj.shape) if isinstance(wobj, h5py.Dataset) else None
    if kind in ("conv", "dense", "output") and wshape is None:
        r.fail(where + "/weight", "missing dataset")
    out_shape, out_flat = next_shape(kind, in_shape, flat, f"{r.label}:{where}", wshape)
    declared = r.attr(where, "out_shape", "shape")
    if declared != out_shape:
        r.fail(where, f"declared out_shape {declared} does not chain from input {in_shape}; expected {out_shape}")
    if kind not in ("conv", "dense", "output"):
        return ShapeLayer(name, kind, in_shape, out_shape), out_shape, out_flat
    budget["neurons"] += math.prod(out_shape)
    budget["weights"] += math.prod(wshape)
    if budget["neurons"] > MAX_NEURONS or budget["weights"] > MAX_WEIGHTS:
        r.fail(where, f"model too large: over {MAX_NEURONS} neurons or {MAX_WEIGHTS} weights; refusing to allocate")
    c_out = out_shape[0]
    gobj = r.f.get(where + "/gain")
    t_g = int(gobj.shape[0]) if isinstance(gobj, h5py.Dataset) and len(gobj.shape) == 2 else None
    if t_g is None or not 1 <= t_g <= fp.MAX_TIMESTEPS:
        r.fail(where + "/gain", f"expected a 2-D int16 dataset (T_g, {c_out}) with 1 <= T_g <= {fp.MAX_TIMESTEPS}")
    spiking = kind != "output"
    fl = where + "/float"
    r.group(fl)
    floats = FloatParams(
        weight=r.dataset(fl + "/weight", np.float32, wshape),
        gain=r.dataset(fl + "/gain", np.float32, (t_g, c_out)),
        bias=r.dataset(fl + "/bias", np.float32, (t_g, c_out)),
        threshold=r.attr(fl, "threshold", float),
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
        theta=r.attr(where, "theta", int) if spiking else fp.OUTPUT_THETA,
        lam12=r.attr(where, "lam12", int) if spiking else fp.LEAK_ONE,
        voltage_scale=r.attr(where, "voltage_scale", float),
        floats=floats, quant_error=quant_error,
    )
    return layer, out_shape, out_flat
