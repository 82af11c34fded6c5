r"""The float SNN stored in a model file, rebuilt in PyTorch (DESIGN section 1).

A model file keeps, beside its integers, the float parameters of every
neuron layer in *folded* form (``layer.floats``): weight ``W``, per-step
gain ``g[t, c]`` and bias ``b[t, c]`` (BNTT and the ``1/k^2`` of every
average pool already folded in), threshold and leak.  :class:`FoldedSNN`
runs exactly the arithmetic the integers approximate, in float:

.. math::

    a[t] &= g[t] \cdot (W * P(x[t])) + b[t]                              \\
    s[t] &= [v[t-1] > \theta], \qquad v[t] = \lambda v[t-1] + a[t] - \theta s[t]

where ``P`` is the 2x2 *sum* pool (or the global sum) of the shape layers
in between.  The output layer accumulates ``a[t]`` and the logits are
``v_out[T-1] / T``.  It is the float twin used by fidelity tests,
``eventsim evaluate --backend torch`` and the dense baselines.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from eventsim import Model, load_model
from eventsim.topology import Connection, connections

from .errors import ConfigError
from .neurons import lif


@dataclass(frozen=True)
class FoldedConfig:
    """What the evaluation helpers need to know about a rebuilt network.

    Attributes
    ----------
    input_shape : tuple of int
    num_classes : int
    timesteps : int
        The model's ``default_timesteps``.
    mean, std : tuple of float
        Input normalisation.
    max_timesteps : int
        Longest run the per-step gain table allows.
    input_encoding : {"signed-poisson", "counts"}
        The model file's: Poisson spikes in {-1, 0, 1} or event counts.
    """

    input_shape: tuple
    num_classes: int
    timesteps: int
    mean: tuple
    std: tuple
    max_timesteps: int
    input_encoding: str = "signed-poisson"


class _FoldedLayer(nn.Module):
    """One neuron layer in folded float form, with the pooling that precedes it (its :class:`Connection`)."""

    def __init__(self, conn: Connection):
        super().__init__()
        layer = conn.target
        fl = layer.floats
        self.name, self.kind, self.pool, self.gap = layer.name, layer.kind, conn.pool, conn.gap
        self.register_buffer("weight", torch.from_numpy(fl.weight.copy()))
        self.register_buffer("gain", torch.from_numpy(fl.gain.copy()))
        self.register_buffer("bias", torch.from_numpy(fl.bias.copy()))
        self.threshold, self.leak = float(fl.threshold), float(fl.leak)

    def _per_step(self, table, steps, shape):
        rows = table if table.shape[0] == 1 else table[:steps]
        return rows.view((1, rows.shape[0], rows.shape[1]) + (1,) * (len(shape) - 3))

    def forward(self, x):
        """Spikes (or logits for the output layer) from source spikes (N, T, ...)."""
        n, steps = x.shape[:2]
        if self.pool > 1:                       # sum pool: its 1/k^2 lives in the gain
            x = F.avg_pool2d(x.flatten(0, 1), self.pool).unflatten(0, (n, steps)) * float(self.pool**2)
        if self.gap:
            x = x.sum(dim=(-2, -1))
        elif self.kind != "conv":
            x = x.flatten(2)
        if self.kind == "conv":
            w = self.weight.to(x.dtype)
            cur = F.conv2d(x.flatten(0, 1), w, padding=w.shape[-1] // 2).unflatten(0, (n, steps))
        else:
            cur = x @ self.weight.to(x.dtype).t()
        a = cur * self._per_step(self.gain, steps, cur.shape).to(x.dtype) \
            + self._per_step(self.bias, steps, cur.shape).to(x.dtype)
        if self.kind == "output":
            return a.sum(dim=1) / steps          # v_out[T-1] / T
        return lif(a, self.threshold, self.leak)


class FoldedSNN(nn.Module):
    """Float PyTorch twin of an eventsim :class:`~eventsim.Model`.

    Parameters
    ----------
    model : eventsim.Model

    Attributes
    ----------
    cfg : FoldedConfig
    layers : nn.ModuleList
        One module per neuron layer, named as in the model file.
    """

    def __init__(self, model: Model):
        super().__init__()
        if not all(layer.is_v1 for layer in model.layers):
            raise ConfigError(f"model {model.name!r} uses model-format-2 layers (strides, general pools, reset to "
                              "zero, per-channel thresholds or spiking output); FoldedSNN rebuilds format-1 layers "
                              "only (with either input encoding)")
        self.cfg = FoldedConfig(tuple(model.input_shape), model.num_classes, model.default_timesteps,
                                tuple(float(v) for v in model.input_mean), tuple(float(v) for v in model.input_std),
                                model.max_timesteps(), model.input_encoding)
        self.layers = nn.ModuleList(_FoldedLayer(conn) for conn in connections(model))

    @classmethod
    def from_file(cls, path) -> "FoldedSNN":
        """Load a model file (validated by :func:`eventsim.load_model`) and rebuild it."""
        return cls(load_model(path))

    def forward(self, spikes: torch.Tensor, record: bool = False):
        """Logits ``(N, K)`` from input spikes ``(N, T, C, H, W)`` in {-1, 0, 1} (or event counts).

        With ``record=True`` also return ``{layer: spikes (N, T, ...)}``.
        """
        steps = spikes.shape[1]
        if steps > self.cfg.max_timesteps:
            raise ConfigError(f"this model's per-step gain allows at most {self.cfg.max_timesteps} steps, got {steps}")
        x, rec = spikes, {}
        for layer in self.layers:
            x = layer(x)
            if record and layer.kind != "output":
                rec[layer.name] = x
        return (x, rec) if record else x
