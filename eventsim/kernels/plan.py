"""Turn a :class:`~eventsim.model.Model` into kernel-ready layer plans.

One :class:`LayerPlan` per neuron layer says which kernel runs it, with
which weights layout and accumulator width, decided from the model's
integers (docs/engine.md, "Kernel choice"):

===============  =================================  ==========================================
plan kind        layer and source                   kernel
===============  =================================  ==========================================
``conv_input``   conv fed by the encoder            :func:`conv.run_input` (dense int16/int32)
``conv_events``  conv fed by a spiking layer        :func:`conv.run_events` (register-blocked)
``dense_input``  dense/output fed by the encoder    :func:`dense.batch_from_input`
``dense_events`` dense/output fed by a spiking one  :func:`dense.batch_from_bits`
===============  =================================  ==========================================

Conv kernels are specialised to the layer's shape (:mod:`.specialize`).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ..errors import InputError
from ..model import Model, NeuronLayer
from ..topology import Connection, connections
from . import dense
from .interface import Geometry, Neurons
from .specialize import specialize

INT16_MAX = np.iinfo(np.int16).max
INT16_MIN = np.iinfo(np.int16).min


class LayerPlan(NamedTuple):
    """How the engine runs one neuron layer.

    Attributes
    ----------
    name : str
    kind : str
        ``conv_input``, ``conv_events``, ``dense_input`` or ``dense_events``.
    source : int
        Index of the source layer's plan, -1 for the encoder.
    spiking : bool
    shape : tuple of int
        ``(C, H, W)`` of the layer.
    src_channels : int
        Channels of the source (the input image's for the encoder).
    kernel_size : int
        ``K`` of a conv layer, 0 otherwise.
    words : int
        Bitmap words per position, ``ceil(C / 64)`` (0 when not spiking).
    geometry : Geometry
    neurons : Neurons
    weights : ndarray
        In the kernel's layout and accumulator dtype (int16 or int32).
    acc16 : bool
        Whether the synaptic sums are accumulated in int16 (proved exact).
    batch : callable
        The batch kernel (``prange`` over images).
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

    ``|I| <= pool^2 max|x| sum_{c,ky,kx} |w|`` for every output channel.
    """
    bound = pool * pool * max_input * np.abs(weight.astype(np.int64)).sum(axis=(1, 2, 3))
    return bool(bound.max() <= INT16_MAX and pool * pool * max_input <= INT16_MAX)


def _neurons(layer: NeuronLayer) -> Neurons:
    return Neurons(np.ascontiguousarray(layer.gain, np.int64), np.ascontiguousarray(layer.bias, np.int64),
                   int(layer.shift), int(layer.uniform_theta), int(layer.lam12))


def _geometry(conn: Connection) -> Geometry:
    _, h, w = conn.target.out_shape
    _, sh, sw = conn.source_shape
    return Geometry(int(h), int(w), int(sh), int(sw), conn.pool.bit_length() - 1, int(conn.pooled_shape[1]),
                    int(conn.pooled_shape[2]), bool(conn.gap))


def layer_plan(conn: Connection, source: int) -> LayerPlan:
    """The :class:`LayerPlan` of one connection (``source``: index of its source plan, -1 for the encoder)."""
    layer = conn.target
    w = layer.weight
    c_out = int(layer.out_shape[0])
    words = (c_out + 63) // 64 if layer.spiking else 0
    common = dict(name=layer.name, source=source, spiking=layer.spiking, shape=tuple(layer.out_shape),
                  src_channels=int(conn.source_shape[0]), kernel_size=layer.kernel_size, words=words, geometry=_geometry(conn), neurons=_neurons(layer))
    if layer.kind == "conv":
        k = int(w.shape[-1])
        if source < 0:
            acc16 = input_fits_int16(w, conn.pool)
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
    if model.format_version > 1:
        raise InputError(f"model {model.name!r}: the Numba engine does not run format-2 features yet; "
                                    "use backend='reference'")
    conns = connections(model)
    index = {c.target.name: i for i, c in enumerate(conns)}
    return tuple(layer_plan(c, -1 if c.source == "input" else index[c.source]) for c in conns)
