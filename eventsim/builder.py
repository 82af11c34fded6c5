"""Build a fixed-point :class:`~eventsim.model.Model` from float NumPy arrays.

The builder takes the network the way PyTorch defines it (*average* pooling,
real thresholds, BNTT folded into a per-step gain and bias) and quantizes it
with the rules of :mod:`eventsim.fixed_point`:

* weights: symmetric int8 per output channel, ``W ~= W_q * s_w[c]``;
* voltage scale: ``s_v = theta / 2^(theta_bits - 1)`` so the integer
  threshold is ``2^(theta_bits - 1)`` (32768 by default), coarsened only when
  a gain would not fit its 16-bit mantissa (``s_v >= max|g s_w| / 32767``);
* gain: ``G / 2^S ~= gain[t, c] * s_w[c] * pool / s_v`` where ``pool`` is the
  folded ``1/4`` per 2x2 average pool (``1/(H W)`` for global pooling);
* bias and threshold: ``rint(x / s_v)``;
* leak: ``lam12 = rint(4096 lambda)``;
* output layer: ``s_v`` is chosen so that ``default_timesteps`` steps of the
  worst-case input cannot saturate the 24-bit accumulator (same gain bound).

Example
-------
>>> import numpy as np
>>> from eventsim import ModelBuilder
>>> rng = np.random.default_rng(0)
>>> b = ModelBuilder((1, 8, 8), default_timesteps=10)
>>> b = b.conv("conv1", rng.normal(0, 0.3, (4, 1, 3, 3)), threshold=1.0, leak=0.9)
>>> b = b.avgpool("pool1").flatten("flat").output("out", rng.normal(0, 0.1, (3, 64)))
>>> model = b.build()
>>> model.spiking_layers
['conv1']
"""
from __future__ import annotations

import numpy as np

from . import fixed_point as fp
from .errors import ModelFormatError
from .model import FloatParams, Model, NeuronLayer, ShapeLayer
from .topology import Fold
from .validation import check_model, next_shape


class ModelBuilder:
    """Accumulates layers and quantizes them into an immutable :class:`Model`.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)`` of the images.
    mean, std : array_like of float, shape (C,), optional
        Per-channel pixel normalization (default 0 and 1).
    name : str
    default_timesteps : int
        ``T`` used when a run does not give one.
    theta_bits : int
        The integer threshold of spiking layers is ``2^(theta_bits - 1)``;
        between 8 and 23.

    Notes
    -----
    Methods return ``self`` so calls chain.  Names must be unique and not
    ``"input"``.
    """

    def __init__(self, input_shape, *, mean=None, std=None, name="model", default_timesteps=20, theta_bits=16):
        self.input_shape = tuple(int(v) for v in input_shape)
        c = self.input_shape[0]
        self.mean = np.zeros(c) if mean is None else np.asarray(mean, np.float64)
        self.std = np.ones(c) if std is None else np.asarray(std, np.float64)
        self.name = name
        self.default_timesteps = int(default_timesteps)
        if not 8 <= theta_bits <= fp.VOLTAGE_BITS - 1:
            raise ValueError(f"theta_bits must lie in [8, {fp.VOLTAGE_BITS - 1}], got {theta_bits}")
        self.theta_int = 1 << (theta_bits - 1)
        self._layers = []
        self._shape = self.input_shape
        self._flat = False
        self._fold = Fold.start("input", self.input_shape)

    @property
    def shape(self) -> tuple:
        """``(C, H, W)`` that the next layer receives (``(F, 1, 1)`` once flattened)."""
        return tuple(self._shape)

    def _where(self, name):
        return f"builder:{name}"

    def _shape_layer(self, name, kind):
        out, self._flat = next_shape(kind, self._shape, self._flat, self._where(name))
        self._fold = self._fold.then(kind, self._shape, out)
        self._layers.append(ShapeLayer(name, kind, self._shape, out))
        self._shape = out
        return self

    def avgpool(self, name):
        """2x2 average pooling, stride 2, floor cropping (folded as a sum pool)."""
        return self._shape_layer(name, "avgpool")

    def gap(self, name):
        """Global average pooling to ``(C, 1, 1)``; also flattens."""
        return self._shape_layer(name, "gap")

    def flatten(self, name):
        """Flatten ``(C, H, W)`` to ``C*H*W`` features in C-major order."""
        return self._shape_layer(name, "flatten")

    def conv(self, name, weight, *, threshold=1.0, leak=1.0, gain=1.0, bias=0.0):
        """Spiking conv layer: odd square kernel, stride 1, zero "same" padding.

        Parameters
        ----------
        weight : array_like of float, shape (C_out, C_in, k, k)
            Cross-correlation kernel, as ``torch.nn.Conv2d``.
        threshold : float
            Firing threshold ``theta > 0``.
        leak : float
            ``lambda`` in [0, 1].
        gain, bias : float or array_like, shape (C_out,) or (T_g, C_out)
            Folded BNTT: pre-activation ``gain[t, c] * (W * x)[c] + bias[t, c]``.
        """
        return self._neuron(name, "conv", weight, threshold, leak, gain, bias)

    def dense(self, name, weight, *, threshold=1.0, leak=1.0, gain=1.0, bias=0.0):
        """Spiking fully connected layer; ``weight`` is ``(C_out, F_in)``."""
        return self._neuron(name, "dense", weight, threshold, leak, gain, bias)

    def output(self, name, weight, *, gain=1.0, bias=0.0):
        """Accumulating output layer (no leak, no spikes); logits = ``v[T-1] / T``."""
        return self._neuron(name, "output", weight, np.inf, 1.0, gain, bias)

    def _neuron(self, name, kind, weight, threshold, leak, gain, bias):
        where = self._where(name)
        w = np.asarray(weight, np.float64)
        if not np.all(np.isfinite(w)):
            raise ModelFormatError(f"{where}: weight contains NaN or inf")
        out, self._flat = next_shape(kind, self._shape, self._flat, where, w.shape)
        c_out = out[0]
        g = _per_step(gain, c_out, where, "gain") * self._fold.average
        b = _per_step(bias, c_out, where, "bias")
        steps = max(g.shape[0], b.shape[0])
        if {g.shape[0], b.shape[0]} - {1, steps}:
            raise ModelFormatError(f"{where}: gain has {g.shape[0]} steps but bias has {b.shape[0]}; "
                                   "expected equal counts or 1 for a constant")
        g, b = np.broadcast_to(g, (steps, c_out)), np.broadcast_to(b, (steps, c_out))
        if kind != "output" and not (np.isfinite(threshold) and threshold > 0):
            raise ModelFormatError(f"{where}: threshold must be finite and > 0, got {threshold}")
        if not 0.0 <= leak <= 1.0:
            raise ModelFormatError(f"{where}: leak must lie in [0, 1], got {leak}")
        count = self._fold.max_input_count
        layer = _quantize(name, kind, self._shape, out, w, g, b, threshold, leak,
                          self.theta_int, count, self.default_timesteps)
        self._layers.append(layer)
        self._shape, self._fold = out, Fold.start(name, out)
        return self

    def build(self, provenance=None) -> Model:
        """Validate and return the immutable :class:`Model`."""
        model = Model(name=self.name, input_shape=self.input_shape, input_mean=self.mean, input_std=self.std,
                      layers=tuple(self._layers), default_timesteps=self.default_timesteps,
                      provenance=dict(provenance or {}))
        check_model(model, f"builder:{self.name}")
        return model


def quantization_error_bounds(theta_bits: int = 16) -> dict:
    r"""Worst cases of the ``quant_error`` entries the builder records (spiking layers).

    .. math::

        \mathrm{gain\_rel\_max} &\le 2^{1-G} (1 + 2^{2-G}), \quad G = 16 \text{ mantissa bits} \\
        \mathrm{bias\_abs\_max} &\le 1 / (2 \theta_{int}), \quad \theta_{int} = 2^{\mathrm{theta\_bits} - 1}
            \text{ (units of } \theta) \\
        \mathrm{leak\_abs} &\le 2^{-13} \text{ (12 fraction bits)}

    Returns
    -------
    dict
        ``{"gain_rel_max", "bias_abs_max", "leak_abs"}`` as floats.
    """
    return {"gain_rel_max": 2.0 ** (1 - fp.GAIN_BITS) * (1 + 2.0 ** (2 - fp.GAIN_BITS)),
            "bias_abs_max": 0.5 / (1 << (theta_bits - 1)),
            "leak_abs": 0.5 / fp.LEAK_ONE}


def _per_step(value, c_out, where, label):
    arr = np.asarray(value, np.float64)
    if arr.ndim == 0:
        arr = np.full((1, c_out), float(arr))
    elif arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != c_out:
        raise ModelFormatError(f"{where}: {label} must be a scalar, ({c_out},) or (T_g, {c_out}); got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ModelFormatError(f"{where}: {label} contains NaN or inf")
    return arr


def _quantize(name, kind, in_shape, out_shape, w, g, b, threshold, leak, theta_int, count, timesteps):
    """Quantize one neuron layer; see the module docstring for the rules."""
    w_q, w_scale = fp.quantize_weights(w)
    flat_abs = np.abs(w).reshape(w.shape[0], -1).sum(axis=1)
    # The gain mantissa must fit 16 bits, which bounds how fine the voltage unit can be.
    coarsest = float(np.abs(g * w_scale[None, :]).max()) / fp.GAIN_MAX
    if kind == "output":
        worst = float((np.abs(g) * flat_abs[None, :] * count + np.abs(b)).max())
        v_scale = max(worst * timesteps / fp.V_MAX, coarsest) if worst > 0 else 1.0
        theta, lam12 = fp.OUTPUT_THETA, fp.LEAK_ONE
    else:
        v_scale = max(float(threshold) / theta_int, coarsest)
        theta, lam12 = int(fp.quantize_voltage(threshold, v_scale)), fp.quantize_leak(leak)
    g_real = g * w_scale[None, :] / v_scale
    try:
        g_q, shift = fp.quantize_gain(g_real)
    except ValueError as exc:
        raise ModelFormatError(f"builder:{name}: {exc}") from None
    b_q = fp.quantize_voltage(b, v_scale)
    bshape = (-1,) + (1,) * (w.ndim - 1)
    w_err = np.linalg.norm(w - w_q * w_scale.reshape(bshape)) / max(np.linalg.norm(w), 1e-300)
    g_err = np.abs(g_q / 2.0**shift - g_real).max() / max(np.abs(g_real).max(), 1e-300)
    unit = threshold if kind != "output" else max(np.abs(b).max(), 1e-300)
    errors = {
        "weight_rel_l2": float(w_err),
        "gain_rel_max": float(g_err),
        "bias_abs_max": float(np.abs(b_q * v_scale - b).max() / unit) if b.size else 0.0,
        "leak_abs": float(abs(lam12 / fp.LEAK_ONE - leak)),
    }
    floats = FloatParams(weight=w.astype(np.float32), gain=g.astype(np.float32), bias=b.astype(np.float32),
                         threshold=float(threshold), leak=float(leak))
    return NeuronLayer(name=name, kind=kind, in_shape=in_shape, out_shape=out_shape, weight=w_q, gain=g_q,
                       bias=b_q, shift=int(shift), theta=int(theta), lam12=int(lam12),
                       voltage_scale=float(v_scale), floats=floats, quant_error=errors)
