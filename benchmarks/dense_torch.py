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

import numpy as np
import torch
import torch.nn.functional as F

from eventsim.model import Model
from eventsim.topology import connections


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
        self.conns = connections(model)
        fmt = torch.channels_last if style == "tuned" else torch.contiguous_format
        self.params = []
        for conn in self.conns:
            fl = conn.target.floats
            w = torch.from_numpy(np.array(fl.weight))
            if conn.target.kind == "conv":
                w = w.contiguous(memory_format=fmt)
            self.params.append((w, torch.from_numpy(np.array(fl.gain)), torch.from_numpy(np.array(fl.bias))))
        self.step = torch.compile(self._step, dynamic=False) if compile else self._step

    def _synaptic(self, i, conn, x):
        w = self.params[i][0]
        if conn.pool > 1:
            x = F.avg_pool2d(x, conn.pool) * float(conn.pool**2)  # sum pool, floor cropping
        if conn.target.kind == "conv":
            return F.conv2d(x, w, padding=conn.target.kernel_size // 2)
        x = x.sum(dim=(2, 3)) if conn.gap else x.flatten(1)
        return F.linear(x, w)[:, :, None, None]

    def _step(self, t, x_in, volts):
        fired = [v > conn.target.floats.threshold for v, conn in zip(volts, self.conns)]
        out = []
        for i, conn in enumerate(self.conns):
            src = x_in if conn.source == "input" else fired[i - 1].to(x_in.dtype)
            cur = self._synaptic(i, conn, src)
            _, gain, bias = self.params[i]
            row = t if gain.shape[0] > 1 else 0
            fl = conn.target.floats
            if self.style == "tuned":
                drive = torch.addcmul(bias[row][None, :, None, None], cur, gain[row][None, :, None, None])
            else:
                drive = cur * gain[row][None, :, None, None] + bias[row][None, :, None, None]
            v = volts[i] * fl.leak + drive
            if conn.target.spiking:
                v = v - fl.threshold * fired[i].to(v.dtype)
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
        fmt = torch.channels_last if self.style == "tuned" else torch.contiguous_format
        x = torch.from_numpy(spikes.astype(np.float32))
        volts = [torch.zeros((n,) + c.target.out_shape).contiguous(memory_format=fmt) for c in self.conns]
        counts = {c.target.name: np.zeros((n, steps), np.int64) for c in self.conns if c.target.spiking}
        kept = []
        for t in range(steps):
            xt = x[:, t].contiguous(memory_format=fmt)
            volts, fired = self.step(t, xt, volts)
            if keep_spikes:
                kept.append([f.to(torch.uint8) for f in fired])
            if record:
                for conn, f in zip(self.conns, fired):
                    if conn.target.spiking:
                        counts[conn.target.name][:, t] = f.flatten(1).sum(1).numpy()
        names = [c.target.name for c in self.conns]
        spikes_out = {name: torch.stack([k[i] for k in kept], 1) for i, name in enumerate(names)} if kept else None
        logits = volts[-1].flatten(1) / steps
        return logits.numpy().astype(np.float64), counts, spikes_out
