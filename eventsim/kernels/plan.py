"""Flatten a :class:`~eventsim.model.Model` into the arrays the kernels read.

Every neuron layer ``l`` is one row ``meta[l]`` of int64 columns (named by
the constants below).  Per-layer arrays are concatenated into flat buffers
addressed by offsets stored in ``meta``:

* weights, int32, pre-transposed so the inner loop runs over output channels:
  conv ``[c_in][k-1-ky][k-1-kx][c_out]`` (flipped, see
  :func:`~eventsim.kernels.synapses.scatter`), dense ``[f_in][c_out]``;
* gains and biases, int64 ``[T_g][C]``;
* neuron state (voltage, accumulator), channels-last ``[y][x][c]``: neuron
  ``(c, y, x)`` has local index ``(y * W + x) * C + c``;
* event lists, int32 ``(3, n)``: rows ``EV_Y``, ``EV_X``, ``EV_C``, each
  layer's block starting at its voltage offset.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..model import Model
from ..topology import connections

# meta columns
KIND, C, H, W = 0, 1, 2, 3
SRC, SC, SH, SW = 4, 5, 6, 7
POOL, PH, PW, GAP = 8, 9, 10, 11
K, W_OFF, G_OFF, TG = 12, 13, 14, 15
SHIFT, THETA, LAM12, V_OFF = 16, 17, 18, 19
SAM_OFF, SPIKING, SAM_SLOT, SAM_HW_OFF = 20, 21, 22, 23
POOL_SHIFT = 24
N_META = 25

KIND_CONV, KIND_DENSE = 0, 1
INPUT = -1

# event-list rows
EV_Y, EV_X, EV_C = 0, 1, 2

# counter rows
CNT_SPIKES, CNT_SYNOPS, CNT_SAM, CNT_SAT = 0, 1, 2, 3


class Plan(NamedTuple):
    """Flat, kernel-ready description of a model and the SAM layers.

    Attributes
    ----------
    meta : ndarray of int64, shape (L, N_META)
    weights : ndarray of int32
    gains, biases : ndarray of int64
    names : tuple of str
        Neuron layer names, index ``l`` matches ``meta[l]``.
    n_neurons : int
        Total neurons (state buffer length).
    sam_neurons : int
        Total neurons in SAM layers (trace buffer length).
    sam_pixels : int
        Total ``H * W`` of the SAM layers (one step of all maps).
    sam_layers : tuple of str
    """

    meta: np.ndarray
    weights: np.ndarray
    gains: np.ndarray
    biases: np.ndarray
    names: tuple
    n_neurons: int
    sam_neurons: int
    sam_pixels: int
    sam_layers: tuple


def _weights_channels_last(layer) -> np.ndarray:
    w = layer.weight.astype(np.int32)
    if layer.kind == "conv":
        return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 2, 3, 0)).ravel()
    return np.ascontiguousarray(w.T).ravel()


def build_plan(model: Model, sam_layers) -> Plan:
    """Build the :class:`Plan` for ``model`` with SAM traces on ``sam_layers``."""
    conns = connections(model)
    index = {c.target.name: i for i, c in enumerate(conns)}
    meta = np.zeros((len(conns), N_META), np.int64)
    weights, gains, biases = [], [], []
    w_off = g_off = v_off = s_off = hw_off = 0
    for i, conn in enumerate(conns):
        layer = conn.target
        row = meta[i]
        row[KIND] = KIND_CONV if layer.kind == "conv" else KIND_DENSE
        row[C], row[H], row[W] = layer.out_shape
        row[SRC] = INPUT if conn.source == "input" else index[conn.source]
        row[SC], row[SH], row[SW] = conn.source_shape
        row[POOL], row[POOL_SHIFT] = conn.pool, conn.pool.bit_length() - 1
        row[PH], row[PW] = conn.pooled_shape[1], conn.pooled_shape[2]
        row[GAP] = int(conn.gap)
        row[K] = layer.kernel_size
        row[W_OFF], row[G_OFF], row[TG] = w_off, g_off, layer.gain_steps
        row[SHIFT], row[THETA], row[LAM12] = layer.shift, layer.theta, layer.lam12
        row[V_OFF] = v_off
        row[SPIKING] = int(layer.spiking)
        row[SAM_SLOT] = -1
        if layer.name in sam_layers:
            row[SAM_SLOT], row[SAM_OFF], row[SAM_HW_OFF] = sam_layers.index(layer.name), s_off, hw_off
            s_off += layer.num_neurons
            hw_off += layer.out_shape[1] * layer.out_shape[2]
        w = _weights_channels_last(layer)
        weights.append(w)
        gains.append(layer.gain.astype(np.int64).ravel())
        biases.append(layer.bias.astype(np.int64).ravel())
        w_off += w.size
        g_off += layer.gain.size
        v_off += layer.num_neurons
    return Plan(meta, np.concatenate(weights), np.concatenate(gains), np.concatenate(biases),
                tuple(c.target.name for c in conns), v_off, s_off, hw_off, tuple(sam_layers))
