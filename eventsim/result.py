"""Simulation results and their HDF5 file (DESIGN section 7).

Every backend (``eventsim``, ``reference``, ``lava``) returns a
:class:`Result` with the same fields and writes the same file layout::

    /logits                      float64 (N, K)
    /predictions                 int64   (N,)
    /sam/<layer>                 float32 (N, T, H, W)
    /spikes/<layer>              uint8   (N, T, C, H, W)   only if recorded
    /voltages/<layer>            int32   (N, C, H, W)      only if recorded
    /counts/<layer>/<counter>    int64   (N, T)
    root attributes: format, format_version, timesteps, gamma, sam_convention,
                     seed, model_sha256, backend, content_sha256

:meth:`Result.load` opens files as safely as the model loader (no links,
virtual or external datasets; a byte budget checked before each read), checks
every shape against ``N``, ``T`` and ``K`` before reading, and verifies the
content checksum (files without one load either way).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ._h5safe import Budget, open_checked
from .io import atomic_output, h5_image
from .errors import EventsimError, ResultFormatError, ResultIntegrityError, UnsafeResultFileError

#: SAM conventions every backend implements (DESIGN section 4, ``docs/sam.md``).
SAM_CONVENTIONS = ("paper", "reference")
#: Per-layer, per-step counters of every backend, in this order: ``spikes``
#: emitted, ``synops`` (weights added at the receiving layer, border-clipped),
#: ``sam_updates`` (trace updates) and ``saturations`` (voltages clamped).
COUNTER_NAMES = ("spikes", "synops", "sam_updates", "saturations")

RESULT_FORMAT = "eventsim-result"
RESULT_VERSION = 1
ATTRS = ("timesteps", "gamma", "sam_convention", "seed", "model_sha256", "backend")
CHECKSUM_ATTR = "content_sha256"
#: Bytes of array data (declared, after decompression) :meth:`Result.load` may read by default.
MAX_RESULT_BYTES = 1 << 33
#: Groups of a result file: name -> (rank of each dataset, allowed dtype kinds, what the axes are).
GROUPS = {"sam": (4, "f", "(N, T, H, W)"), "spikes": (5, "biu", "(N, T, C, H, W)"),
          "voltages": (4, "iu", "(N, C, H, W)")}


@dataclass
class Result:
    """What one simulation run produced.

    Attributes
    ----------
    logits : ndarray of float64, shape (N, K)
        ``v_out[T-1] * voltage_scale / T``.
    sam : dict of str to ndarray of float32, shape (N, T, H, W)
        Raw (unnormalized) SAM maps per requested layer, paper Eq. 14.
    counts : dict of str to dict of str to ndarray of int64, shape (N, T)
        Per layer (and ``"input"``): the counters of :data:`COUNTER_NAMES`.
    attrs : dict
        ``timesteps``, ``gamma``, ``sam_convention``, ``seed`` (-1 when spikes
        were given), ``model_sha256``, ``backend`` (:data:`ATTRS`), and
        ``neurons`` (:func:`eventsim.contract.result_attrs` sets them all).
    spikes : dict of str to ndarray of uint8, shape (N, T, C, H, W), optional
        Spikes of every spiking layer when recorded.
    voltages : dict of str to ndarray of int32, shape (N, C, H, W), optional
        Final voltages of every neuron layer when spikes were recorded.
    """

    logits: np.ndarray
    sam: dict
    counts: dict
    attrs: dict
    spikes: dict | None = None
    voltages: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def predictions(self) -> np.ndarray:
        """``argmax`` of the logits, int64 (N,)."""
        return np.argmax(self.logits, axis=1).astype(np.int64)

    @property
    def timesteps(self) -> int:
        return int(self.attrs["timesteps"])

    def spike_rates(self) -> dict:
        """Mean spikes per neuron per step for every layer with spike counts.

        Needs the neuron counts, stored in ``attrs['neurons']`` by the simulators.
        """
        neurons = self.attrs.get("neurons", {})
        return {name: float(c["spikes"].sum() / (c["spikes"].size * neurons[name]))
                for name, c in self.counts.items() if neurons.get(name)}

    def save(self, path) -> Path:
        """Write the result to ``path`` (HDF5) atomically, with its content checksum; returns the path."""
        with atomic_output(path) as tmp:
            with h5_image(tmp) as f:
                h = _Digest()
                f.attrs["format"] = RESULT_FORMAT
                f.attrs["format_version"] = RESULT_VERSION
                for key in ATTRS:
                    f.attrs[key] = self.attrs[key]
                h.put(["attrs", [(k, _plain(f.attrs[k])) for k in ATTRS]])
                ds = f.create_dataset("logits", data=self.logits)
                h.array("logits", ds, self.logits)
                f.create_dataset("predictions", data=self.predictions)
                _write_dict(f, "sam", self.sam, h, compress=True)
                if self.spikes is not None:
                    _write_dict(f, "spikes", self.spikes, h, compress=True)
                if self.voltages is not None:
                    _write_dict(f, "voltages", self.voltages, h)
                counts = f.create_group("counts")
                for layer in sorted(self.counts):
                    _write_dict(counts, layer, self.counts[layer], h, prefix="counts/")
                neurons = f.create_group("neurons")
                neurons.attrs.update({k: int(v) for k, v in self.attrs.get("neurons", {}).items()})
                h.put(["neurons", sorted((k, int(v)) for k, v in self.attrs.get("neurons", {}).items())])
                f.attrs[CHECKSUM_ATTR] = h.hexdigest()
        return Path(path)

    @classmethod
    def load(cls, path, verify=True, max_bytes=MAX_RESULT_BYTES) -> "Result":
        """Read a result file written by :meth:`save` (any backend).

        Parameters
        ----------
        path : str or Path
        verify : bool
            Check the stored content checksum; ``False`` is for forensic use.
        max_bytes : int
            Refuse files whose arrays declare more bytes than this.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ResultFormatError
            Naming the file and HDF5 path; subclasses
            :class:`~eventsim.errors.UnsafeResultFileError` (links, virtual or
            external datasets, not a regular file) and
            :class:`~eventsim.errors.ResultIntegrityError` (checksum mismatch).
        """
        f = open_checked(path, "result", ResultFormatError, UnsafeResultFileError, virtual_sources=True)
        path = Path(path)
        try:
            with f:
                return _ResultReader(f, str(path), max_bytes).read(cls, verify)
        except EventsimError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, OverflowError) as exc:
            raise ResultFormatError(f"{path}: not a readable HDF5 result file: {type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from None


class _Digest:
    """SHA-256 over the canonical content of a result (names, dtypes, shapes, little-endian bytes)."""

    def __init__(self):
        self.h = hashlib.sha256()

    def put(self, obj):
        self.h.update(json.dumps(obj, sort_keys=True, default=repr).encode() + b"\n")

    def array(self, name, ds, data):
        dt = ds.dtype.newbyteorder("<")
        self.put([name, dt.str, list(ds.shape)])
        self.h.update(np.ascontiguousarray(np.asarray(data, ds.dtype), dtype=dt).tobytes())

    def hexdigest(self):
        return self.h.hexdigest()


def _write_dict(parent, name, data, digest, compress=False, prefix=""):
    g = parent.create_group(name)
    opts = {"compression": "gzip", "compression_opts": 4} if compress else {}
    for key in sorted(data):
        arr = np.asarray(data[key])
        ds = g.create_dataset(key, data=arr, **(opts if arr.size > 1024 else {}))
        digest.array(f"{prefix}{name}/{key}", ds, arr)
    return g


class _ResultReader:
    """Checks a result file's structure from metadata, then reads it within a byte budget."""

    def __init__(self, f, label, max_bytes):
        self.f, self.label = f, label
        self.budget = Budget(max_bytes, label, ResultFormatError)

    def fail(self, where, msg):
        raise ResultFormatError(f"{self.label}:{where}: {msg}")

    def attr(self, name, kinds):
        try:
            value = _plain(self.f.attrs[name])
        except (OSError, ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
            self.fail("/", f"attribute {name!r} cannot be read: {type(exc).__name__}")
        if isinstance(value, bool) or not isinstance(value, kinds):
            self.fail("/", f"attribute {name!r} has the wrong type ({type(value).__name__})")
        return value

    def dataset(self, where, obj, kinds, shape):
        """Check dtype kind and shape (``None`` entries are free) of a dataset; return its shape."""
        if not isinstance(obj, h5py.Dataset):
            self.fail(where, "expected a dataset, found a group")
        if obj.dtype.kind not in kinds:
            self.fail(where, f"unexpected dtype {obj.dtype}")
        if len(obj.shape) != len(shape) or any(s is not None and s != o for s, o in zip(shape, obj.shape)):
            want = ", ".join("?" if s is None else str(s) for s in shape)
            self.fail(where, f"expected shape ({want}), found {tuple(obj.shape)}")
        if 0 in obj.shape:
            self.fail(where, f"empty dataset, shape {tuple(obj.shape)}")
        return obj

    def group(self, where):
        obj = self.f.get(where)
        if not isinstance(obj, h5py.Group):
            self.fail(where, "expected a group, found a dataset")
        return obj

    def read(self, cls, verify):
        f = self.f
        fmt = self.attr("format", (str,)) if "format" in f.attrs else None
        if fmt != RESULT_FORMAT:
            raise ResultFormatError(f"{self.label}: not an eventsim result file (attribute 'format' is {fmt!r})")
        missing = [k for k in ATTRS if k not in f.attrs] + [k for k in ("logits", "sam", "counts") if k not in f]
        if missing:
            raise ResultFormatError(f"{self.label}: missing {', '.join(missing)}")
        kinds = {"timesteps": (int,), "gamma": (int, float), "sam_convention": (str,), "seed": (int,),
                 "model_sha256": (str,), "backend": (str,)}
        attrs = {k: self.attr(k, kinds[k]) for k in ATTRS}
        steps = attrs["timesteps"]
        if steps < 1:
            self.fail("/", f"attribute 'timesteps' must be >= 1, got {steps}")
        # merged dataset runs (eventsim.shards.merge) may keep one SAM step per image: the mean or the last map
        store = self.attr("sam_store", (str,)) if "sam_store" in f.attrs else "all"
        sam_steps = 1 if store in ("mean", "last") else steps
        logits = self.dataset("/logits", f["logits"], "f", (None, None))
        n = logits.shape[0]
        plan = [("/logits", logits)]
        groups = {}
        for name, (rank, dkinds, axes) in GROUPS.items():
            if name not in f:
                continue
            g = self.group("/" + name)
            groups[name] = g
            for key, obj in g.items():
                t_axis = sam_steps if name == "sam" else steps
                shape = (n, t_axis) + (None,) * (rank - 2) if name != "voltages" else (n,) + (None,) * (rank - 1)
                plan.append((f"/{name}/{key}", self.dataset(f"/{name}/{key}", obj, dkinds, shape)))
        counts = self.group("/counts")
        for layer, g in counts.items():
            if not isinstance(g, h5py.Group):
                self.fail(f"/counts/{layer}", "expected a group of counters, found a dataset")
            for key, obj in g.items():
                plan.append((f"/counts/{layer}/{key}", self.dataset(f"/counts/{layer}/{key}", obj, "iu", (n, steps))))
        if "neurons" in f:
            neurons = {}
            for k, v in self.group("/neurons").attrs.items():
                v = _plain(v)
                if isinstance(v, bool) or not isinstance(v, int):
                    self.fail("/neurons", f"attribute {k!r} must be an integer")
                neurons[k] = v
            attrs["neurons"] = neurons
        for where, obj in plan:
            self.budget.charge(obj, where)
        out = cls(
            logits=f["logits"][()],
            sam=_read_dict(groups["sam"]),
            counts={k: _read_dict(g) for k, g in counts.items()},
            attrs=attrs,
            spikes=_read_dict(groups["spikes"]) if "spikes" in groups else None,
            voltages=_read_dict(groups["voltages"]) if "voltages" in groups else None,
        )
        stored = self.attr(CHECKSUM_ATTR, (str,)) if CHECKSUM_ATTR in f.attrs else None
        if verify and stored is not None:
            actual = _content_sha256(f, out)
            if stored != actual:
                raise ResultIntegrityError(f"{self.label}: content checksum mismatch (stored {stored[:16]}..., "
                                           f"content {actual[:16]}...): the file was modified or corrupted; load "
                                           "it with verify=False (--no-verify) only to inspect it")
        return out


def _content_sha256(f, result) -> str:
    """The digest :meth:`Result.save` stores, recomputed from what was read."""
    h = _Digest()
    h.put(["attrs", [(k, result.attrs[k]) for k in ATTRS]])
    h.array("logits", f["logits"], result.logits)
    for name, data in (("sam", result.sam), ("spikes", result.spikes), ("voltages", result.voltages)):
        for key in sorted(data or {}):
            h.array(f"{name}/{key}", f[name][key], data[key])
    for layer in sorted(result.counts):
        for key in sorted(result.counts[layer]):
            h.array(f"counts/{layer}/{key}", f["counts"][layer][key], result.counts[layer][key])
    h.put(["neurons", sorted(result.attrs.get("neurons", {}).items())])
    return h.hexdigest()


def _read_dict(group) -> dict:
    return {k: v[()] for k, v in group.items()}


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, np.generic):
        return value.item()
    return value
