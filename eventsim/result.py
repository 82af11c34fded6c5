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
                     seed, model_sha256, backend
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ._io import atomic_output
from .errors import ResultFormatError

RESULT_FORMAT = "eventsim-result"
RESULT_VERSION = 1
ATTRS = ("timesteps", "gamma", "sam_convention", "seed", "model_sha256", "backend")


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
        Per layer (and ``"input"``): ``spikes``, ``synops``, ``sam_updates``,
        ``saturations``.
    attrs : dict
        ``timesteps``, ``gamma``, ``sam_convention``, ``seed`` (-1 when spikes
        were given), ``model_sha256``, ``backend``.
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
        """Write the result to ``path`` (HDF5) atomically; returns the path."""
        with atomic_output(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = RESULT_FORMAT
                f.attrs["format_version"] = RESULT_VERSION
                for key in ATTRS:
                    f.attrs[key] = self.attrs[key]
                f.create_dataset("logits", data=self.logits)
                f.create_dataset("predictions", data=self.predictions)
                _write_dict(f, "sam", self.sam, compress=True)
                if self.spikes is not None:
                    _write_dict(f, "spikes", self.spikes, compress=True)
                if self.voltages is not None:
                    _write_dict(f, "voltages", self.voltages)
                counts = f.create_group("counts")
                for layer, per in self.counts.items():
                    _write_dict(counts, layer, per)
                neurons = f.create_group("neurons")
                neurons.attrs.update({k: int(v) for k, v in self.attrs.get("neurons", {}).items()})
        return Path(path)

    @classmethod
    def load(cls, path) -> "Result":
        """Read a result file written by :meth:`save` (any backend)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"result file not found: {path}")
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("format") != RESULT_FORMAT:
                    raise ResultFormatError(f"{path}: not an eventsim result file "
                                            f"(attribute 'format' is {f.attrs.get('format')!r})")
                missing = [k for k in ATTRS if k not in f.attrs] + [k for k in ("logits", "sam", "counts") if k not in f]
                if missing:
                    raise ResultFormatError(f"{path}: missing {', '.join(missing)}")
                attrs = {k: _plain(f.attrs[k]) for k in ATTRS}
                if "neurons" in f:
                    attrs["neurons"] = {k: int(v) for k, v in f["neurons"].attrs.items()}
                return cls(
                    logits=f["logits"][()],
                    sam=_read_dict(f["sam"]),
                    counts={k: _read_dict(g) for k, g in f["counts"].items()},
                    attrs=attrs,
                    spikes=_read_dict(f["spikes"]) if "spikes" in f else None,
                    voltages=_read_dict(f["voltages"]) if "voltages" in f else None,
                )
        except OSError as exc:
            raise ResultFormatError(f"{path}: not a readable HDF5 result file: {exc}") from None


def _write_dict(parent, name, data, compress=False):
    g = parent.create_group(name)
    opts = {"compression": "gzip", "compression_opts": 4} if compress else {}
    for key, arr in data.items():
        arr = np.asarray(arr)
        g.create_dataset(key, data=arr, **(opts if arr.size > 1024 else {}))
    return g


def _read_dict(group) -> dict:
    return {k: v[()] for k, v in group.items()}


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
