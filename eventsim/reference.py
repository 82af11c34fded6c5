"""The executable specification: a dense, slow and obvious NumPy simulation.

:func:`simulate` steps every neuron of every layer at every time step with
the rules of :mod:`eventsim.fixed_point` and plain ``einsum`` convolutions.
The event-driven engine and the Lava port must equal it bit for bit.

:func:`sam_float` evaluates the paper's Eq. 12-14 in float64 from recorded
spikes; it is the accuracy reference for the fixed-point on-line trace.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import fixed_point as fp
from .model import Model
from .result import COUNTER_NAMES
from .topology import Connection, Pool, connections, conv_reach, window_out


@dataclass
class ReferenceRun:
    """Everything the reference computes for a batch.

    Attributes
    ----------
    spikes : dict of str to ndarray of uint8, shape (N, T, C, H, W)
        Spikes of every spiking layer (and ``"input"``: int8, signed counts).
    voltages : dict of str to ndarray of int32, shape (N, C, H, W)
        Final voltages ``v[T-1]`` of every neuron layer (output included).
    output_voltage : ndarray of int64, shape (N, K)
    logits : ndarray of float64, shape (N, K)
        ``output_voltage * voltage_scale / T``, or the spike counts of a
        spiking output layer.
    sam : dict of str to ndarray of int64, shape (N, T, H, W)
        Fixed-point SAM maps in Q24 (divide by ``2^24`` for real values).
    counts : dict of str to dict of str to ndarray of int64, shape (N, T)
        ``spikes``, ``synops``, ``sam_updates`` and ``saturations`` for every
        neuron layer and ``"input"``.
    """

    spikes: dict
    voltages: dict
    output_voltage: np.ndarray
    logits: np.ndarray
    sam: dict
    counts: dict


def pool_sum(x: np.ndarray, pool: Pool) -> np.ndarray:
    """Zero-padded sum pool over the last two axes, one window tap at a time.

    ``out[..., oy, ox] = sum_{a < k_y, b < k_x} xpad[..., oy s_y + a, ox s_x + b]``.

    Parameters
    ----------
    x : ndarray of int64, shape (..., H, W)
    pool : Pool

    Returns
    -------
    ndarray of int64, shape (..., H_out, W_out)
    """
    (ky, kx), (sy, sx), (py, px) = pool
    ho, wo = pool.out_size(x.shape[-2], x.shape[-1])
    xp = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(py, py), (px, px)])
    out = np.zeros(x.shape[:-2] + (ho, wo), np.int64)
    for a in range(ky):
        for b in range(kx):
            out += xp[..., a : a + sy * (ho - 1) + 1 : sy, b : b + sx * (wo - 1) + 1 : sx]
    return out


def pool_chain(x: np.ndarray, pools) -> np.ndarray:
    """:func:`pool_sum` through every pool of a connection, in order (``x`` itself without pools)."""
    for pool in pools:
        x = pool_sum(x, pool)
    return x


def conv2d(x: np.ndarray, weight: np.ndarray, stride, padding) -> np.ndarray:
    """Zero-padded, strided cross-correlation in int64, one tap at a time.

    ``out[n, o, y, x] = sum_{c, a, b} W[o, c, a, b] xpad[n, c, y s_y + a, x s_x + b]``
    (``torch.nn.functional.conv2d``).

    Parameters
    ----------
    x : ndarray of int64, shape (N, C_in, H, W)
    weight : ndarray of int, shape (C_out, C_in, k_y, k_x)
    stride, padding : pair of int

    Returns
    -------
    ndarray of int64, shape (N, C_out, H_out, W_out)
    """
    n, _, h, w = x.shape
    ky, kx = weight.shape[2:]
    (sy, sx), (py, px) = stride, padding
    ho, wo = window_out(h, ky, sy, py), window_out(w, kx, sx, px)
    xp = np.pad(x, ((0, 0), (0, 0), (py, py), (px, px)))
    out = np.zeros((n, weight.shape[0], ho, wo), np.int64)
    wt = weight.astype(np.int64)
    for a in range(ky):
        for b in range(kx):
            window = xp[:, :, a : a + sy * (ho - 1) + 1 : sy, b : b + sx * (wo - 1) + 1 : sx]
            out += np.einsum("nchw,oc->nohw", window, wt[:, :, a, b])
    return out


def synaptic_input(conn: Connection, x: np.ndarray):
    """Synaptic sums of one layer and the synaptic operations they cost.

    Parameters
    ----------
    conn : Connection
    x : ndarray of int64, shape (N, C, H, W)
        Source values at this step: spikes, or signed counts for the input.

    Returns
    -------
    current : ndarray of int64, shape (N, C_out, H_out, W_out)
    synops : ndarray of int64, shape (N,)
        Weights actually added: a value ``x`` adds ``|x|`` times its fan-out
        (kernel taps that land on an output neuron, times ``C_out``, through
        every pool window that holds it; ``C_out`` per pooled position for
        dense targets); values outside every pool window add none.
    """
    layer = conn.target
    pooled, events = pool_chain(x, conn.pools), pool_chain(np.abs(x), conn.pools)
    c_out = layer.out_shape[0]
    if layer.kind == "conv":
        current = conv2d(pooled, layer.weight, layer.stride, layer.padding)
        reach = conv_reach(pooled.shape[2], pooled.shape[3], layer)
        synops = (events * reach).sum(axis=(1, 2, 3)) * c_out
        return current, synops
    flat = pooled.sum(axis=(2, 3)) if conn.gap else pooled.reshape(pooled.shape[0], -1)
    current = flat @ layer.weight.astype(np.int64).T
    synops = events.sum(axis=(1, 2, 3)) * c_out
    return current.reshape(current.shape + (1, 1)), synops


def _per_channel(values: np.ndarray) -> np.ndarray:
    """A per-channel ``(C,)`` array shaped to broadcast over ``(N, C, H, W)``."""
    return values.astype(np.int64)[None, :, None, None]


def _gain_row(layer, t):
    return 0 if layer.gain_steps == 1 else t


def simulate(model: Model, spikes: np.ndarray, *, sam_gamma=0.5, sam_layers=(), sam_convention="paper"):
    """Dense integer simulation of ``model`` on input spikes.

    Parameters
    ----------
    model : Model
    spikes : ndarray of int8, shape (N, T, C, H, W)
        Input values: spikes in {-1, 0, 1} or signed event counts.
    sam_gamma : float
        ``gamma >= 0`` of Eq. 12.
    sam_layers : sequence of str
        Neuron layers whose SAM is computed.
    sam_convention : {"paper", "reference"}

    Returns
    -------
    ReferenceRun
    """
    n, steps = spikes.shape[:2]
    conns = connections(model)
    table = fp.sam_decay_table(sam_gamma, steps)
    state = {c.target.name: np.zeros((n,) + c.target.out_shape, np.int64) for c in conns}
    rec = {c.target.name: np.zeros((n, steps) + c.target.out_shape, np.uint8) for c in conns if c.target.spiking}
    counts = {name: {k: np.zeros((n, steps), np.int64) for k in COUNTER_NAMES}
              for name in ["input"] + [c.target.name for c in conns]}
    trace = {name: _SamTrace(state[name].shape, table, sam_convention) for name in sam_layers}
    sam = {name: np.zeros((n, steps) + state[name].shape[2:], np.int64) for name in sam_layers}
    for t in range(steps):
        x_in = spikes[:, t].astype(np.int64)
        counts["input"]["spikes"][:, t] = np.abs(x_in).sum(axis=(1, 2, 3))
        # Every layer's spikes at step t are decided from v[t-1] (DESIGN section 2).
        fired = {c.target.name: state[c.target.name] > _per_channel(c.target.theta) for c in conns}
        for conn in conns:
            layer, name = conn.target, conn.target.name
            src = x_in if conn.source == "input" else fired[conn.source].astype(np.int64)
            current, synops = synaptic_input(conn, src)
            row = _gain_row(layer, t)
            g = layer.gain[row].astype(np.int64)[None, :, None, None]
            b = layer.bias[row].astype(np.int64)[None, :, None, None]
            v, s, sat = fp.neuron_step(state[name], current, g, b, layer.shift, _per_channel(layer.theta),
                                       layer.lam12, layer.reset_zero)
            state[name] = v
            counts[name]["synops"][:, t] = synops
            counts[name]["saturations"][:, t] = sat.sum(axis=(1, 2, 3))
            if layer.spiking:
                rec[name][:, t] = s
                counts[name]["spikes"][:, t] = s.sum(axis=(1, 2, 3))
            if name in trace:
                sam[name][:, t] = trace[name].update(s, t)
                counts[name]["sam_updates"][:, t] = s.sum(axis=(1, 2, 3))
    out = model.output_layer
    v_out = state[out.name].reshape(n, -1)
    if out.spiking:
        logits = rec[out.name].reshape(n, steps, -1).sum(axis=1).astype(np.float64)
    else:
        logits = v_out * out.voltage_scale / steps
    rec["input"] = spikes.astype(np.int8)
    return ReferenceRun(
        spikes=rec,
        voltages={k: v.astype(np.int32) for k, v in state.items()},
        output_voltage=v_out,
        logits=logits,
        sam=sam,
        counts=counts,
    )


class _SamTrace:
    """Dense twin of the on-line SAM trace (DESIGN section 4), Q24 integers."""

    def __init__(self, shape, table, convention):
        self.x = np.zeros(shape, np.int64)
        self.t_last = np.zeros(shape, np.int64)
        self.count = np.zeros(shape, np.int64)
        self.table, self.convention = table, convention

    def update(self, fired: np.ndarray, t: int) -> np.ndarray:
        """Apply step ``t``'s spikes; return the map ``M_t`` (N, H, W) in Q24."""
        ncs, after = fp.sam_spike(self.x, self.t_last, self.count, t, self.table, self.convention == "reference")
        m = np.where(fired, ncs, 0).sum(axis=1)
        self.x = np.where(fired, after, self.x)
        self.t_last = np.where(fired, t, self.t_last)
        self.count = self.count + fired
        return m


def sam_float(spikes: np.ndarray, gamma: float, convention: str = "paper") -> np.ndarray:
    """SAM maps from recorded spikes in float64: paper Eq. 12-14.

    ``"paper"``:

    .. math::

        N^k_{ij,t} = \\sum_{t' < t,\\ S^k_{ij,t'} = 1} e^{-\\gamma (t - t')}, \\qquad
        M_{ij,t} = \\sum_k N^k_{ij,t} S^k_{ij,t}

    ``"reference"`` reproduces the authors' released loop: ``t'`` runs over
    ``0..t`` including the current spike, and every step on which the neuron
    did *not* spike adds ``e^{-\\gamma t}`` (its spike time reads as 0).

    Parameters
    ----------
    spikes : ndarray, shape (N, T, C, H, W)
        Binary spikes of one layer.
    gamma : float
    convention : {"paper", "reference"}

    Returns
    -------
    ndarray of float64, shape (N, T, H, W)
    """
    s = spikes.astype(np.float64)
    n, steps = s.shape[:2]
    out = np.zeros((n, steps) + s.shape[3:], np.float64)
    for t in range(steps):
        ncs = np.zeros((n,) + s.shape[2:], np.float64)
        if convention == "paper":
            for tp in range(t):
                ncs += np.exp(-gamma * (t - tp)) * s[:, tp]
        else:
            for tp in range(t + 1):
                ncs += np.where(s[:, tp] > 0, np.exp(-gamma * (t - tp)), np.exp(-gamma * t))
        out[:, t] = (ncs * s[:, t]).sum(axis=1)
    return out
