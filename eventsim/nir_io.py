"""NIR (Neuromorphic Intermediate Representation) import and export; needs the optional ``nir`` extra.

:func:`read_nir` turns a NIR graph (a file, or a ``nir.NIRGraph``) that
Sinabs, snnTorch, Norse, Rockpool or eventsim wrote into a fixed-point
:class:`~eventsim.model.Model`, quantized by :class:`~eventsim.ModelBuilder`
(its ``quant_error`` says what the quantization cost, as ``eventsim info``
shows).  :func:`write_nir` writes a model as a NIR graph that describes the
network eventsim simulates; reading it back gives the same integers, hence
the same results bit for bit.  ``docs/nir.md`` has the node mapping, the
reset and time-step conventions and what is refused.

:func:`write_nir_data` writes a run's recorded spikes and SAM maps as NIR
data (``nir.write_data``) keyed by the exported graph's node names.

``nir`` (PyPI, 1.0.x; it needs only NumPy and h5py) is imported inside the
functions, so ``import eventsim.nir_io`` works without it and the functions
then raise :class:`~eventsim.errors.MissingExtraError`.

Example
-------
>>> from eventsim.nir_io import read_nir, write_nir            # doctest: +SKIP
>>> model = read_nir("nmnist.nir", reset="subtract")           # doctest: +SKIP
>>> write_nir(model, "again.nir")                              # doctest: +SKIP
"""
from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

from ._h5safe import Budget, open_checked
from .errors import (ArgumentTypeError, InputError, MissingExtraError, NIRExportError, NIRImportError,
                     UnsafeNIRFileError)
from .fixed_point import RESET_MODES
from .io import atomic_output
from .nir_export import DT, channel_factors, neuron_node, nudge, same_layer, to_graph
from .nir_graph import parse_metadata
from .nir_import import ImportOptions, build

#: Largest total declared dataset size of a NIR file (bytes), as for model files.
MAX_NIR_BYTES = 1 << 30
#: Single-ulp adjustments :func:`export_graph` tries before it reports a layer as not exact.
ROUND_TRIP_ATTEMPTS = 32


class RoundTripWarning(UserWarning):
    """The exported graph does not re-import to exactly the same integers (lossy ``mean_gain``, or see docs/nir.md)."""


class Export(NamedTuple):
    """What :func:`export_graph` made.

    Attributes
    ----------
    graph : nir.NIRGraph
    exact : bool
        Whether :func:`read_nir` gives back the model's integers (same ``sha256``).
    layers : list of str
        Neuron layers that do not come back exactly.
    """

    graph: object
    exact: bool
    layers: list


def require_nir():
    """The ``nir`` module, or :class:`~eventsim.errors.MissingExtraError` naming the extra."""
    try:
        import nir
    except ModuleNotFoundError as exc:
        if exc.name != "nir":
            raise
        raise MissingExtraError("NIR import and export need the 'nir' package (NumPy and h5py only): "
                                "pip install 'eventsim[nir]'") from None
    return nir


def read_graph(path):
    """Read a NIR graph file after the safety checks of model files (``docs/security.md``).

    Links, virtual or external datasets and unknown filters are refused
    before anything is read, and the declared dataset sizes are charged to a
    budget of :data:`MAX_NIR_BYTES`.  Graphs are read without NIR's own type
    check (Sinabs writes flatten dims that count a batch dimension);
    :func:`read_nir` checks shapes itself.

    Returns
    -------
    nir.NIRGraph
    """
    nir = require_nir()
    from nir.serialization import hdf2dict

    with open_checked(path, "NIR graph", NIRImportError, UnsafeNIRFileError, strings=True) as f:
        budget = Budget(MAX_NIR_BYTES, str(path), NIRImportError)
        f.visititems(lambda name, obj: budget.charge(obj, "/" + name) if isinstance(obj, h5py.Dataset) else None)
        if not isinstance(f.get("node"), h5py.Group):
            raise NIRImportError(f"{path}: not a NIR graph file (no /node group)")
        try:
            data = hdf2dict(f["node"])
            data["type_check"] = False
            graph = nir.dict2NIRNode(data)
        except (AssertionError, AttributeError, KeyError, TypeError, ValueError, IndexError, OSError) as exc:
            raise NIRImportError(f"{path}: not a NIR graph that nir {nir.version} can read "
                                 f"({type(exc).__name__}: {str(exc)[:200]})") from None
    if type(graph).__name__ != "NIRGraph":
        raise NIRImportError(f"{path}: the file holds a single {type(graph).__name__} node, not a NIRGraph")
    return graph


def read_nir(path_or_graph, *, reset=None, dt=None, timesteps=None, name=None):
    """Import a NIR graph as a fixed-point model.

    Parameters
    ----------
    path_or_graph : str, Path or nir.NIRGraph
        A chain ``Input -> ... -> Output`` of the nodes ``docs/nir.md`` lists.
    reset : {"subtract", "zero"}, optional
        Reset rule of every spiking layer.  NIR cannot say whether a spike
        subtracts the threshold or resets to ``v_reset``; graphs eventsim
        wrote say it in their metadata, any other graph with a spiking node
        needs this argument.  Overrides the metadata.
    dt : float, optional
        Time step in the unit of ``tau``: ``lambda = 1 - dt / tau`` and input
        gain ``r dt / tau`` (forward Euler, as snnTorch).  Needed for ``LIF``
        and ``LI`` nodes unless the metadata has it.
    timesteps : int, optional
        The model's default ``T`` (metadata, else 20).
    name : str, optional
        Model name (metadata, else ``"nir"``).

    Returns
    -------
    Model
        Input encoding ``"counts"`` (signed int8 event counts per step)
        unless the metadata says otherwise.

    Raises
    ------
    NIRImportError
        Naming the node that cannot be imported; nothing is written.
    MissingExtraError
        Without the ``nir`` package (only for a path; a graph object already has it).
    """
    reset, dt, timesteps = _options(reset, dt, timesteps, name)
    if isinstance(path_or_graph, (str, os.PathLike)):
        graph, label = read_graph(path_or_graph), os.fspath(path_or_graph)
    elif hasattr(path_or_graph, "nodes") and hasattr(path_or_graph, "edges"):
        graph, label = path_or_graph, "graph"
    else:
        raise ArgumentTypeError(f"path_or_graph: expected a file path or a nir.NIRGraph, "
                                f"got {type(path_or_graph).__name__}")
    meta = parse_metadata(graph, label)
    return build(graph, ImportOptions(label, reset, dt, timesteps, name, meta))


def _options(reset, dt, timesteps, name):
    if reset is not None and reset not in RESET_MODES:
        raise InputError(f"reset: expected one of {RESET_MODES}, got {reset!r}")
    if dt is not None:
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
            raise InputError(f"dt: expected a positive number (the time step in the unit of tau), got {dt!r}")
        dt = float(dt)
    if timesteps is not None and (isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1):
        raise InputError(f"timesteps: expected a positive int, got {timesteps!r}")
    if name is not None and not isinstance(name, str):
        raise ArgumentTypeError(f"name: expected a str, got {type(name).__name__}")
    return reset, dt, timesteps


def export_graph(model, *, mean_gain=False) -> Export:
    """The NIR graph of ``model``, checked by importing it back.

    The graph's floats are the model's integers dequantized
    (:mod:`eventsim.nir_export`).  Re-quantizing them can land one float ulp
    from the original where a gain mantissa peaks at ``2^15 - 1``; such
    layers are nudged by single ulps (at most :data:`ROUND_TRIP_ATTEMPTS`
    times) until the import gives the model's ``sha256`` again.

    Parameters
    ----------
    model : Model
    mean_gain : bool
        Export per-step (BNTT) gains and biases as their mean over the steps
        (lossy).  Without it such a model raises :class:`NIRExportError`.

    Returns
    -------
    Export
    """
    nir = require_nir()
    factors = channel_factors(model, mean_gain)
    graph = to_graph(nir, model, factors)
    if model.gain_steps > 1:
        return Export(graph, False, [layer.name for layer in model.neuron_layers if layer.gain_steps > 1])
    bad = []
    for _ in range(ROUND_TRIP_ATTEMPTS):
        back = _reimport(graph)
        if back.sha256 == model.sha256:
            return Export(graph, True, [])
        bad = [(a, b) for a, b in zip(model.neuron_layers, back.neuron_layers) if not same_layer(a, b)]
        moved = [nudge(factors, a.name, a, b) for a, b in bad]
        if not any(moved):
            break
        graph = to_graph(nir, model, factors)
    return Export(graph, False, [a.name for a, _ in bad] or ["(structure)"])


def _reimport(graph):
    try:
        return build(graph, ImportOptions("exported graph", meta=parse_metadata(graph, "exported graph")))
    except NIRImportError as exc:
        raise NIRExportError(f"the exported graph does not import back: {exc}") from None


def write_nir(model, path, *, mean_gain=False) -> Path:
    """Write ``model`` as a NIR graph file (atomically; nothing is written on failure).

    Parameters
    ----------
    model : Model
    path : str or Path
    mean_gain : bool
        See :func:`export_graph`; warns (:class:`RoundTripWarning`) that the
        export is lossy.

    Returns
    -------
    Path

    Warns
    -----
    RoundTripWarning
        When reading the file back would not give the same integers.
    """
    nir = require_nir()
    out = export_graph(model, mean_gain=mean_gain)
    if not out.exact:
        why = ("their per-step gains are exported as the mean over the steps" if model.gain_steps > 1 else
               "a zero gain mantissa with a bias, or weights the builder would not have made; see docs/nir.md")
        warnings.warn(f"NIR export of {model.name!r} is not exact for layer(s) {out.layers}: {why}; reading it "
                      "back gives a different model", RoundTripWarning, stacklevel=2)
    buf = io.BytesIO()
    nir.write(buf, out.graph)
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(buf.getvalue())
    return Path(path)


def write_nir_data(result, model, path) -> Path:
    """Write a run's recorded spikes and SAM maps as a NIR data file (``nir.write_data``), atomically.

    Each observable is ``nir.TimeGriddedData`` with ``dt = 1`` (one step)
    and data of shape ``(N, T, n)``, filed under the node names of
    :func:`write_nir`'s graph of ``model``:

    * ``"spikes"`` (bool) on a spiking layer's neuron node (``<layer>.if`` or
      ``<layer>.lif``), ``n`` its neurons in (C, H, W) order;
    * ``"sam"`` (float32, raw maps of ``Result.sam``) on the same node, ``n =
      H * W`` (one value per position, summed over channels, paper Eq. 14;
      ``nir``'s ``check_observables`` expects neuron counts and flags it).

    Parameters
    ----------
    result : Result
        A run of ``model`` (``result.attrs["model_sha256"]`` must match);
        spikes are written when it recorded them (``record_spikes=True``).
    model : Model
    path : str or Path

    Returns
    -------
    Path
    """
    nir = require_nir()
    if result.attrs.get("model_sha256") not in (None, model.sha256):
        raise InputError("result: it was computed with another model (model_sha256 differs); pass the model "
                         "of the run")
    names = {layer.name: neuron_node(layer) for layer in model.neuron_layers}
    nodes = {}
    for kind, maps, dtype in (("spikes", result.spikes or {}, bool), ("sam", result.sam, np.float32)):
        for layer, data in maps.items():
            if layer not in names:
                continue
            series = nir.TimeGriddedData(np.asarray(data).reshape(data.shape[0], data.shape[1], -1).astype(dtype),
                                         dt=DT)
            nodes.setdefault(names[layer], nir.NIRNodeData(observables={})).observables[kind] = series
    buf = io.BytesIO()
    nir.write_data(buf, nir.NIRGraphData(nodes=nodes))
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(buf.getvalue())
    return Path(path)
