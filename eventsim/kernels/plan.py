"""Turn a :class:`~eventsim.model.Model` into kernel-ready layer plans.

One :class:`LayerPlan` per neuron layer says which kernel runs it, with
which weights layout and accumulator width, decided from the model's
integers (docs/engine.md, "Kernel choice"):

=================  =================================  ==========================================
plan kind          layer and source                   kernel
=================  =================================  ==========================================
``conv_input``     conv fed by the encoder            :func:`conv.run_input` (dense int16/int32)
``conv_events``    conv fed by a spiking layer        :func:`conv.run_events` (register-blocked)
``dense_input``    dense/output fed by the encoder    :func:`dense.batch_from_input`
``dense_events``   dense/output fed by a spiking one  :func:`dense.batch_from_bits`
``generic_input``  any other layer, from the encoder  :func:`generic.batch_from_input`
``generic_events`` any other layer, from spikes       :func:`generic.batch_from_bits`
=================  =================================  ==========================================

The first four serve what format version 1 can express (:func:`fast_path`):
conv layers with a square odd kernel, stride 1 and "same" padding, and
plain ``p x p`` pools with ``p`` a power of two.  Conv kernels are
specialised to the layer's shape (:mod:`.specialize`); the generic kernels
read every size at run time from a fan-out table (:mod:`.fanout`).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ..model import Model, NeuronLayer
from ..topology import Connection, connections
from . import dense, generic
from .fanout import build_fanout, generic_weights
from .interface import Fanout, Geometry, Neurons
from .specialize import specialize

INT16_MAX = np.iinfo(np.int16).max
INT16_MIN = np.iinfo(np.int16).min


class LayerPlan(NamedTuple):
    """How the engine runs one neuron layer.

    Attributes
    ----------
    name : str
    kind : str
        ``conv_input``, ``conv_events``, ``dense_input``, ``dense_events``,
        ``generic_input`` or ``generic_events``.
    source : int
        Index of the source layer's plan, -1 for the encoder.
    spiking : bool
    shape : tuple of int
        ``(C, H, W)`` of the layer.
    src_channels : int
        Channels of the source (the input image's for the encoder).
    kernel_size : int
        ``K`` of a specialised conv layer (its accumulator border is ``K - 1``), 0 otherwise.
    words : int
        Bitmap words per position, ``ceil(C / 64)`` (0 when not spiking).
    geometry : Geometry
    neurons : Neurons
    weights : ndarray
        In the kernel's layout and accumulator dtype (int16 or int32).
    acc16 : bool
        Whether the synaptic sums are accumulated in int16 (proved exact).
    batch : callable
        The batch kernel (``batch(lo, hi, ...)`` over an image range).
    fanout : Fanout or None
        The fan-out table of a generic plan.
    """

    name: str
    kind: str
    source: int
    spiking: bool
    shape: tuple
    src_channels: int
    kernel_size: int
    words: int
    geometry: Geometry
    neurons: Neurons
    weights: np.ndarray
    acc16: bool
    batch: Callable
    fanout: Fanout = None


def events_fit_int16(weight: np.ndarray, pool: int) -> bool:
    """Whether register-blocked sums of one pooled cell and kernel row fit int16.

    A cell holds at most ``pool^2`` events per input channel, so for every
    output channel and tap the sum lies in
    ``[pool^2 sum_c min(w, 0), pool^2 sum_c max(w, 0)]``.

    Parameters
    ----------
    weight : ndarray of int8, shape (C_out, C_in, k, k)
    pool : int
    """
    w = weight.astype(np.int64)
    high = pool * pool * np.clip(w, 0, None).sum(axis=1)
    low = pool * pool * np.clip(w, None, 0).sum(axis=1)
    return bool(high.max() <= INT16_MAX and low.min() >= INT16_MIN)


def input_fits_int16(weight: np.ndarray, pool: int, max_input: int = 1) -> bool:
    """Whether the dense conv of the pooled input fits int16 (and so does the pooled grid).

    ``|I| <= pool^2 max|x| sum_{c,ky,kx} |w|`` for every output channel, with
    ``max|x|`` the model's :attr:`~eventsim.model.Model.input_max` (1 for
    Poisson spikes, 128 for event counts).
    """
    bound = pool * pool * max_input * np.abs(weight.astype(np.int64)).sum(axis=(1, 2, 3))
    return bool(bound.max() <= INT16_MAX and pool * pool * max_input <= INT16_MAX)


def fast_path(conn: Connection, input_max: int = 1) -> bool:
    """Whether a specialised or dense kernel runs this connection (else a generic one).

    Plain pools of a power-of-two factor ``p`` (``conn.pool``; 0 for general
    pools) and, for conv layers, a square odd kernel with stride 1 and
    "same" padding; a conv fed by the encoder also needs its pooled input
    grid to fit int16 (``p^2 input_max <= 2^15 - 1``).
    """
    layer, p = conn.target, int(conn.pool)
    if p <= 0 or p & (p - 1):
        return False
    if layer.kind != "conv":
        return True
    ky, kx = layer.kernel
    same = ky == kx and ky % 2 == 1 and tuple(layer.stride) == (1, 1) and tuple(layer.padding) == (ky // 2, kx // 2)
    return same and (conn.source != "input" or p * p * input_max <= INT16_MAX)


def _neurons(layer: NeuronLayer) -> Neurons:
    return Neurons(np.ascontiguousarray(layer.gain, np.int64), np.ascontiguousarray(layer.bias, np.int64),
                   int(layer.shift), np.ascontiguousarray(layer.theta, np.int64), int(layer.lam12),
                   bool(layer.reset_zero))


def _geometry(conn: Connection) -> Geometry:
    _, h, w = conn.target.out_shape
    _, sh, sw = conn.source_shape
    shift = max(0, int(conn.pool).bit_length() - 1)
    return Geometry(int(h), int(w), int(sh), int(sw), shift, int(conn.pooled_shape[1]),
                    int(conn.pooled_shape[2]), bool(conn.gap))


def layer_plan(conn: Connection, source: int, input_max: int = 1) -> LayerPlan:
    """The :class:`LayerPlan` of one connection.

    Parameters
    ----------
    conn : Connection
    source : int
        Index of its source plan, -1 for the encoder.
    input_max : int
        Largest ``|x|`` of an input value (:attr:`~eventsim.model.Model.input_max`).
    """
    layer = conn.target
    w = layer.weight
    c_out = int(layer.out_shape[0])
    words = (c_out + 63) // 64 if layer.spiking else 0
    fast = fast_path(conn, input_max)
    common = dict(name=layer.name, source=source, spiking=layer.spiking, shape=tuple(layer.out_shape),
                  src_channels=int(conn.source_shape[0]), kernel_size=layer.kernel_size if fast else 0,
                  words=words, geometry=_geometry(conn), neurons=_neurons(layer))
    if not fast:
        batch = generic.batch_from_input if source < 0 else generic.batch_from_bits
        kind = "generic_input" if source < 0 else "generic_events"
        return LayerPlan(kind=kind, weights=generic_weights(layer), acc16=False, batch=batch,
                         fanout=build_fanout(conn), **common)
    if layer.kind == "conv":
        k = int(w.shape[-1])
        if source < 0:
            acc16 = input_fits_int16(w, conn.pool, input_max)
            weights = w.transpose(2, 3, 1, 0)
            kind = "conv_input"
        else:
            acc16 = events_fit_int16(w, conn.pool)
            weights = w[:, :, ::-1, ::-1].transpose(1, 2, 3, 0)
            kind = "conv_events"
        in_c, in_p = (int(w.shape[1]), int(conn.pool)) if source < 0 else (0, 0)
        module = specialize("conv", COUT=c_out, K=k, ACC16=acc16, IN_C=in_c, IN_P=in_p)
        batch = module.batch_input if source < 0 else module.batch_events
        weights = np.ascontiguousarray(weights, np.int16 if acc16 else np.int32).ravel()
        return LayerPlan(kind=kind, weights=weights, acc16=acc16, batch=batch, **common)
    weights = np.ascontiguousarray(w.T, np.int32).ravel()
    if source < 0:
        return LayerPlan(kind="dense_input", weights=weights, acc16=False, batch=dense.batch_from_input, **common)
    return LayerPlan(kind="dense_events", weights=weights, acc16=False, batch=dense.batch_from_bits, **common)


def build_plan(model: Model) -> tuple:
    """One :class:`LayerPlan` per neuron layer of ``model``, in order."""
    conns = connections(model)
    index = {c.target.name: i for i, c in enumerate(conns)}
    return tuple(layer_plan(c, -1 if c.source == "input" else index[c.source], model.input_max) for c in conns)
