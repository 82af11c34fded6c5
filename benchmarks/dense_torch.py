"""Dense PyTorch float simulation of a model file: the baseline eventsim is timed against.

It runs the float parameters stored in the model file (``layer.floats``)
with the semantics of DESIGN section 2, every neuron every step, as the
paper's released code does.  Two styles:

* ``"eager"``: the paper-style loop, NCHW, one op per line;
* ``"tuned"``: channels-last memory format, inference mode, the per-step
  affine fused into one ``addcmul``.

``torch.compile`` of the tuned step is available with ``compile=True``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from eventsim.model import Model
from eventsim.topology import connections


class _Layer(NamedTuple):
    """One neuron layer with Python scalars and tensors only (so ``torch.compile`` can trace it)."""

    conv: bool
    spiking: bool
    from_input: bool
    pool: int
    gap: bool
    pad: int
    threshold: float
    leak: float
    weight: torch.Tensor
    gain: torch.Tensor  # (T_g, C, 1, 1)
    bias: torch.Tensor  # (T_g, C, 1, 1)


class DenseTorchSNN:
    """Float dense simulation of ``model`` on given input spikes.

    Parameters
    ----------
    model : Model
    style : {"eager", "tuned"}
    compile : bool
        Wrap the per-step function with ``torch.compile``.
    """

    def __init__(self, model: Model, style="eager", compile=False):
        self.model, self.style = model, style
        self.names = [c.target.name for c in connections(model)]
        self.shapes = [c.target.out_shape for c in connections(model)]
        self.fmt = torch.channels_last if style == "tuned" else torch.contiguous_format
        self.layers = []
        for conn in connections(model):
            layer, fl = conn.target, conn.target.floats
            w = torch.from_numpy(np.array(fl.weight))
            if layer.kind == "conv":
                w = w.contiguous(memory_format=self.fmt)
            per_step = lambda a: torch.from_numpy(np.array(a))[:, :, None, None]  # noqa: E731
            self.layers.append(_Layer(layer.kind == "conv", layer.spiking, conn.source == "input", conn.pool,
                                      conn.gap, layer.kernel_size // 2, float(fl.threshold), float(fl.leak), w,
                                      per_step(fl.gain), per_step(fl.bias)))
        self.step = torch.compile(self._step, dynamic=False) if compile else self._step

    def _synaptic(self, layer: _Layer, x):
        if layer.pool > 1:
            x = F.avg_pool2d(x, layer.pool) * float(layer.pool**2)  # sum pool, floor cropping
        if layer.conv:
            return F.conv2d(x, layer.weight, padding=layer.pad)
        x = x.sum(dim=(2, 3)) if layer.gap else x.flatten(1)
        return F.linear(x, layer.weight)[:, :, None, None]

    def _affine_rows(self, t: int):
        """Per-layer ``(gain, bias)`` of step ``t``, each (1, C, 1, 1), picked outside the step.

        Passing tensors rather than the step index keeps ``torch.compile``
        from specialising (and recompiling) on every step.
        """
        rows = []
        for layer in self.layers:
            r = t if layer.gain.shape[0] > 1 else 0
            rows.append((layer.gain[r][None].clone(), layer.bias[r][None].clone()))
        return rows

    def _step(self, affine, x_in, volts):
        fired = [v > layer.threshold for v, layer in zip(volts, self.layers)]
        out = []
        for i, layer in enumerate(self.layers):
            src = x_in if layer.from_input else fired[i - 1].to(x_in.dtype)
            cur = self._synaptic(layer, src)
            gain, bias = affine[i]
            if self.style == "tuned":
                drive = torch.addcmul(bias, cur, gain)
            else:
                drive = cur * gain + bias
            v = volts[i] * layer.leak + drive
            if layer.spiking:
                v = v - layer.threshold * fired[i].to(v.dtype)
            out.append(v)
        return out, fired

    @torch.inference_mode()
    def run(self, spikes: np.ndarray, record=False, keep_spikes=False):
        """Simulate; returns ``(logits (N, K), counts {layer: (N, T)}, spikes or None)``.

        Parameters
        ----------
        spikes : ndarray of int8, shape (N, T, C, H, W)
        record : bool
            Also count spikes per layer and step (costs a reduction per step).
        keep_spikes : bool
            Keep every layer's spike tensor of every step, as a dense
            simulator must to compute SAM off-line (for memory benchmarks).
        """
        n, steps = spikes.shape[:2]
        x = torch.from_numpy(spikes.astype(np.float32))
        volts = [torch.zeros((n,) + shape).contiguous(memory_format=self.fmt) for shape in self.shapes]
        counts = {name: np.zeros((n, steps), np.int64) for name, l in zip(self.names, self.layers) if l.spiking}
        kept = []
        affine = [self._affine_rows(t) for t in range(steps)]
        for t in range(steps):
            volts, fired = self.step(affine[t], x[:, t].contiguous(memory_format=self.fmt), volts)
            if keep_spikes:
                kept.append([f.to(torch.uint8) for f in fired])
            if record:
                for name, f in zip(self.names, fired):
                    if name in counts:
                        counts[name][:, t] = f.flatten(1).sum(1).numpy()
        spikes_out = {name: torch.stack([k[i] for k in kept], 1) for i, name in enumerate(self.names)} if kept else None
        logits = volts[-1].flatten(1) / steps
        return logits.numpy().astype(np.float64), counts, spikes_out
