r"""Layer-wise, multi-step dense PyTorch simulation of a model file: the strongest dense baseline.

Where :class:`benchmarks.dense_torch.DenseTorchSNN` runs the network step by
step (every layer, then the next step), this runs it the way multi-step SNN
libraries do: **layer by layer over all T steps at once**.  The spikes of a
layer at every step are known before the next layer starts, so

1. each layer's synaptic input is one convolution (or matrix product) over
   all ``T * N`` frames, batched, in channels-last memory format;
2. then one function per layer applies the per-step gain and bias, runs the
   ``T``-step LIF recurrence and sum-pools (or sums, for a global average
   pool) the spikes for the next layer.

It uses the float parameters of the model file (``layer.floats``) with the
semantics of DESIGN section 2 (equal to ``training.folded.FoldedSNN``):

.. math::

    a[t] &= g[t] \cdot (W * P(x[t])) + b[t]                              \\
    s[t] &= [v[t-1] > \theta], \qquad v[t] = \lambda v[t-1] + a[t] - \theta s[t]

with ``P`` the sum pool (its ``1/k^2`` is folded into ``g``) and, for the
output layer, ``v[t] = \lambda v[t-1] + a[t]`` and logits ``v[T-1] / T``.

Two styles:

* ``compile=False`` (eager): in-place per-step ops on the whole layer;
* ``compile=True``: the whole forward pass is one ``torch.compile`` graph
  (the convolutions stay oneDNN calls; each layer's affine, recurrence and
  pooling become one fused C++ loop).  The recurrence is written over
  *pooling windows*: the current is viewed as ``(T, N, Ho, Wo, p, p, C)``,
  so the compiler emits one loop over pooled cells that keeps the ``p*p``
  voltages in registers for all ``T`` steps and writes only the pooled
  spike counts.  Thresholds and leaks are tensors, so models of one
  structure share a compiled graph.

``dtype=torch.bfloat16`` runs the convolutions and matrix products in
bfloat16 (spike counts are exact in bfloat16; the weights are rounded); the
recurrence stays float32.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from eventsim.errors import InputError
from eventsim.model import Model
from eventsim.topology import connections


class _Plan(NamedTuple):
    """Static description of one neuron layer (what ``torch.compile`` specialises on)."""

    name: str
    kind: str  # "conv", "dense" or "output"
    pad: int  # zero padding of a conv ("same"), else 0
    pool: int  # sum-pool factor applied to this layer's spikes for the next layer
    gap: bool  # the next layer sums this layer's spikes over the map
    flat: bool  # the next layer is dense: flatten in C-major (C, H, W) order


class _Params(NamedTuple):
    """Tensors of one neuron layer."""

    weight: torch.Tensor  # (C_out, C_in, k, k) channels-last, or (C_out, F_in); in the synaptic dtype
    gain: torch.Tensor  # (T_g, C_out) float32, with every pool's 1/k^2 folded in
    bias: torch.Tensor  # (T_g, C_out) float32
    threshold: torch.Tensor  # () float32
    leak: torch.Tensor  # () float32


def _pool_input(x: torch.Tensor, pool: int) -> torch.Tensor:
    """int8 spikes (N, T, C, H, W) -> float32 sum-pooled frames (T*N, C, H//p, W//p), channels last."""
    n, steps, c, h, w = x.shape
    ho, wo = h // pool, w // pool
    x = x[:, :, :, : ho * pool, : wo * pool].transpose(0, 1).to(torch.float32)
    if pool > 1:
        x = x.reshape(steps * n, c, ho, pool, wo, pool).sum((3, 5))
    return x.reshape(steps * n, c, ho, wo).contiguous(memory_format=torch.channels_last)


def _per_step(table: torch.Tensor, steps: int) -> torch.Tensor:
    """Rows of a (T_g, C) table for steps 0..T-1 (a constant table is broadcast)."""
    return table.expand(steps, -1) if table.shape[0] == 1 else table[:steps]


def _lif_counts(a, p: _Params, steps: int):
    """Spikes per (step, image) of the LIF recurrence on drive ``a`` (T, N, ...); only counts are kept."""
    v = torch.zeros_like(a[0])
    counts = []
    for t in range(steps):
        s = (v > p.threshold).to(torch.float32)
        v = v * p.leak + a[t] - p.threshold * s
        counts.append(s.flatten(1).sum(1))
    return torch.stack(counts)


def _neurons_compiled(cur, p: _Params, plan: _Plan, steps: int, record: bool):
    """Affine, T-step recurrence and pooling of one layer, written for ``torch.compile``.

    Parameters
    ----------
    cur : Tensor, shape (T*N, C, H, W), channels last
        Synaptic input of every frame (frame ``t * N + n``).

    Returns
    -------
    x : Tensor
        The next layer's input: pooled spike counts (T*N, C, Ho, Wo) channels
        last, or (T*N, F) for a dense next layer, in float32.
    counts : Tensor (T, N) or None
        Spikes of this layer per step and image (``record`` only).
    """
    tn, c, h, w = cur.shape
    n = tn // steps
    ph, pw = (h, w) if plan.gap else (plan.pool, plan.pool)
    ho, wo = h // ph, w // pw
    full = cur.permute(0, 2, 3, 1).reshape(steps, n, h, w, c).to(torch.float32)
    gain = _per_step(p.gain, steps)[:, None, None, None, None, None]
    bias = _per_step(p.bias, steps)[:, None, None, None, None, None]
    # (T, N, Ho, Wo, ph, pw, C): one pooling window per (n, ho, wo)
    win = full[:, :, : ho * ph, : wo * pw].reshape(steps, n, ho, ph, wo, pw, c).permute(0, 1, 2, 4, 3, 5, 6)
    a = win * gain + bias
    v = torch.zeros_like(a[0])
    pooled = []
    for t in range(steps):
        s = (v > p.threshold).to(torch.float32)
        v = v * p.leak + a[t] - p.threshold * s
        pooled.append(s.sum((3, 4)))
    x = torch.stack(pooled)  # (T, N, Ho, Wo, C)
    count = None
    if record:  # the pooled counts hold every spike inside the pooling windows
        count = x.reshape(steps, n, -1).sum(2)
        if ho * ph < h or wo * pw < w:  # neurons the floor-cropping pool drops still count as spiking
            rest = torch.cat([full[:, :, ho * ph :].reshape(steps, n, -1, c),
                              full[:, :, : ho * ph, wo * pw :].reshape(steps, n, -1, c)], 2)
            drive = rest * _per_step(p.gain, steps)[:, None, None] + _per_step(p.bias, steps)[:, None, None]
            count = count + _lif_counts(drive, p, steps)
    if plan.gap or plan.flat:
        return x.permute(0, 1, 4, 2, 3).reshape(tn, c * ho * wo), count
    return x.reshape(tn, ho, wo, c).permute(0, 3, 1, 2), count


def _neurons_eager(cur, p: _Params, plan: _Plan, steps: int, record: bool):
    """As :func:`_neurons_compiled`, with in-place whole-layer ops per step (fast in eager mode)."""
    tn, c, h, w = cur.shape
    n = tn // steps
    shape = (steps, 1, c, 1, 1)
    a = torch.addcmul(_per_step(p.bias, steps).reshape(shape), cur.reshape(steps, n, c, h, w).to(torch.float32),
                      _per_step(p.gain, steps).reshape(shape))
    v = torch.zeros_like(a[0])
    s = torch.empty_like(a)
    for t in range(steps):
        torch.gt(v, p.threshold, out=s[t])
        v.mul_(p.leak).add_(a[t]).sub_(s[t] * p.threshold)
    count = s.reshape(steps, n, -1).sum(2) if record else None
    s = s.reshape(tn, c, h, w)
    if plan.gap:
        return s.sum((2, 3)), count
    if plan.pool > 1:
        s = F.avg_pool2d(s, plan.pool) * float(plan.pool**2)
    return (s.reshape(tn, -1) if plan.flat else s), count


def _forward(spikes, params, plan, in_pool: int, dtype: torch.dtype, compiled: bool, record: bool):
    """Logits (N, K) float32 and per-layer spike counts (T, N) (empty unless ``record``)."""
    n, steps = spikes.shape[:2]
    neurons = _neurons_compiled if compiled else _neurons_eager
    x = _pool_input(spikes, in_pool)
    counts = []
    for p, layer in zip(params, plan):
        x = x.to(dtype)
        if layer.kind == "conv":
            cur = F.conv2d(x, p.weight, padding=layer.pad)
        else:
            cur = F.linear(x.reshape(x.shape[0], -1), p.weight)
        if layer.kind == "output":
            a = cur.to(torch.float32).reshape(steps, n, -1) * _per_step(p.gain, steps)[:, None] \
                + _per_step(p.bias, steps)[:, None]
            v = torch.zeros_like(a[0])
            for t in range(steps):
                v = v * p.leak + a[t]
            return v / steps, counts
        if layer.kind != "conv":
            cur = cur[:, :, None, None]
        x, count = neurons(cur, p, layer, steps, record)
        counts.append(count)
    raise AssertionError("a model ends with its output layer")


class LayerwiseTorchSNN:
    """Layer-wise multi-step float simulation of ``model`` on given input spikes.

    Parameters
    ----------
    model : Model
    compile : bool
        Run the whole forward pass as one ``torch.compile`` graph (compiled
        on the first call for each input shape).
    dtype : torch.dtype
        ``torch.float32`` or ``torch.bfloat16``: the dtype of the
        convolutions and matrix products.  The recurrence is float32.
    """

    def __init__(self, model: Model, compile: bool = False, dtype: torch.dtype = torch.float32):
        if dtype not in (torch.float32, torch.bfloat16):
            raise InputError(f"dtype: expected torch.float32 or torch.bfloat16, got {dtype}")
        conns = connections(model)
        self.model, self.dtype, self.compiled = model, dtype, compile
        self.names = [c.target.name for c in conns]
        self.in_pool = conns[0].pool
        if conns[0].gap:
            raise InputError(f"model {model.name!r}: a global average pool right after the input is not supported "
                             "by the layer-wise baseline")
        self.plan, self.params = [], []
        for i, conn in enumerate(conns):
            layer, fl = conn.target, conn.target.floats
            nxt = conns[i + 1] if i + 1 < len(conns) else None
            w = torch.from_numpy(np.array(fl.weight, np.float32)).to(dtype)
            if layer.kind == "conv":
                w = w.contiguous(memory_format=torch.channels_last)
            self.plan.append(_Plan(layer.name, layer.kind, layer.kernel_size // 2, nxt.pool if nxt else 1,
                                   bool(nxt and nxt.gap), bool(nxt and nxt.target.kind != "conv")))
            self.params.append(_Params(w, torch.from_numpy(np.array(fl.gain, np.float32)),
                                       torch.from_numpy(np.array(fl.bias, np.float32)),
                                       torch.tensor(float(fl.threshold)), torch.tensor(float(fl.leak))))
        self.plan = tuple(self.plan)
        self._forward = torch.compile(_forward, dynamic=False) if compile else _forward

    @torch.inference_mode()
    def run(self, spikes: np.ndarray, record: bool = False):
        """Simulate; returns ``(logits (N, K) float64, counts {layer: (N, T) int64})``.

        Parameters
        ----------
        spikes : ndarray of int8, shape (N, T, C, H, W)
            Signed input spikes in {-1, 0, 1}.
        record : bool
            Also count every spiking layer's spikes per image and step
            (``counts`` is empty otherwise).
        """
        spikes = np.asarray(spikes)
        if spikes.ndim != 5 or tuple(spikes.shape[2:]) != tuple(self.model.input_shape):
            raise InputError(f"spikes: expected shape (N, T) + {tuple(self.model.input_shape)}, got {spikes.shape}")
        if spikes.dtype != np.int8:
            raise InputError(f"spikes: expected dtype int8, got {spikes.dtype}")
        steps = spikes.shape[1]
        if steps > self.model.max_timesteps():
            raise InputError(f"spikes: model {self.model.name!r} runs at most {self.model.max_timesteps()} steps "
                             f"(its per-step gain table), got T={steps}")
        logits, counts = self._forward(torch.from_numpy(spikes), self.params, self.plan, self.in_pool, self.dtype,
                                       self.compiled, record)
        out = {name: c.T.round().to(torch.int64).numpy() for name, c in zip(self.names, counts) if c is not None}
        return logits.numpy().astype(np.float64), out
