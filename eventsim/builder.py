"""Build a fixed-point :class:`~eventsim.model.Model` from float NumPy arrays.

The builder takes the network the way PyTorch defines it (*average* pooling,
real thresholds, BNTT folded into a per-step gain and bias) and quantizes it
with the rules of :mod:`eventsim.fixed_point`:

* weights: symmetric int8 per output channel, ``W ~= W_q * s_w[c]``;
* voltage scale: ``s_v = theta / 2^(theta_bits - 1)`` so the integer
  threshold is ``2^(theta_bits - 1)`` (32768 by default), coarsened only when
  a gain would not fit its 16-bit mantissa (``s_v >= max|g s_w| / 32767``);
* gain: ``G / 2^S ~= gain[t, c] * s_w[c] * pool / s_v`` where ``pool`` is the
  folded ``1/(k_y k_x)`` per average pool (``1/(H W)`` for global pooling;
  1 for a sum pool);
* per-channel thresholds share the layer's ``s_v`` (set by the largest one);
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

from dataclasses import replace

import numpy as np

from . import fixed_point as fp
from .errors import ModelFormatError
from .model import INPUT_ENCODINGS, READOUTS, FloatParams, Model, NeuronLayer, ShapeLayer
from .topology import Fold
from .validation import check_model, layer_window, next_shape


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
    input_encoding : {"signed-poisson", "counts"}
        How inputs arrive: images through the signed Poisson encoder, or
        integer event counts (int8 range) given directly.

    Notes
    -----
    Methods return ``self`` so calls chain.  Names must be unique and not
    ``"input"``.
    """

    def __init__(self, input_shape, *, mean=None, std=None, name="model", default_timesteps=20, theta_bits=16,
                 input_encoding="signed-poisson"):
        self.input_shape = tuple(int(v) for v in input_shape)
        c = self.input_shape[0]
        self.mean = np.zeros(c) if mean is None else np.asarray(mean, np.float64)
        self.std = np.ones(c) if std is None else np.asarray(std, np.float64)
        self.name = name
        self.default_timesteps = int(default_timesteps)
        if not 8 <= theta_bits <= fp.VOLTAGE_BITS - 1:
            raise ValueError(f"theta_bits must lie in [8, {fp.VOLTAGE_BITS - 1}], got {theta_bits}")
        self.theta_int = 1 << (theta_bits - 1)
        if input_encoding not in INPUT_ENCODINGS:
            raise ValueError(f"input_encoding must be one of {INPUT_ENCODINGS}, got {input_encoding!r}")
        self.input_encoding = input_encoding
        self.input_max = fp.POISSON_MAX if input_encoding == "signed-poisson" else fp.INPUT_COUNT_MAX
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

    def _shape_layer(self, name, kind, kernel=2, stride=None, padding=0):
        layer = ShapeLayer(name, kind, self._shape, self._shape, kernel, stride, padding)
        out, self._flat = next_shape(kind, self._shape, self._flat, self._where(name), None, layer_window(layer))
        layer = ShapeLayer(name, kind, self._shape, out, layer.kernel, layer.stride, layer.padding)
        self._fold = self._fold.then(layer)
        self._layers.append(layer)
        self._shape = out
        return self

    def avgpool(self, name, kernel=2, stride=None, padding=0):
        """Average pooling (a sum pool whose ``1/(k_y k_x)`` is folded into the next layer's gain).

        Parameters
        ----------
        kernel, stride, padding : int or pair of int
            Window ``(k_y, k_x)``, stride (default: the kernel) and zero
            padding; the output side is ``floor((H + 2p - k) / s) + 1``.  The
            default is version 1's 2x2, stride 2, floor cropping.
        """
        return self._shape_layer(name, "avgpool", kernel, stride, padding)

    def sumpool(self, name, kernel=2, stride=None, padding=0):
        """Sum pooling (NIR's ``SumPool2d``, Sinabs's ``SumPool2d``): spike counts add, nothing is folded."""
        return self._shape_layer(name, "sumpool", kernel, stride, padding)

    def gap(self, name):
        """Global average pooling to ``(C, 1, 1)``; also flattens."""
        return self._shape_layer(name, "gap")

    def flatten(self, name):
        """Flatten ``(C, H, W)`` to ``C*H*W`` features in C-major order."""
        return self._shape_layer(name, "flatten")

    def conv(self, name, weight, *, threshold=1.0, leak=1.0, gain=1.0, bias=0.0, stride=1, padding=None,
             reset="subtract"):
        """Spiking conv layer (cross-correlation, like ``torch.nn.Conv2d``).

        Parameters
        ----------
        weight : array_like of float, shape (C_out, C_in, k_y, k_x)
            Kernel; any size >= 1.
        threshold : float or array_like, shape (C_out,)
            Firing threshold ``theta > 0``, one or one per channel.
        leak : float
            ``lambda`` in [0, 1]; 1 is an IF neuron.
        gain, bias : float or array_like, shape (C_out,) or (T_g, C_out)
            Folded BNTT: pre-activation ``gain[t, c] * (W * x)[c] + bias[t, c]``.
        stride : int or pair of int
            ``(s_y, s_x)``, default 1.
        padding : int or pair of int, optional
            Zero padding ``(p_y, p_x)`` in ``[0, k - 1]``; default "same" ``k // 2``.
        reset : {"subtract", "zero"}
            Soft reset (subtract ``theta``) or reset to zero.
        """
        w = np.asarray(weight)
        pad = None if padding is None else padding
        window = {"stride": _pair(stride), "padding": _pair(pad) if pad is not None else
                  ((w.shape[2] // 2, w.shape[3] // 2) if w.ndim == 4 else (0, 0))}
        return self._neuron(name, "conv", weight, threshold, leak, gain, bias, reset=reset, window=window)

    def dense(self, name, weight, *, threshold=1.0, leak=1.0, gain=1.0, bias=0.0, reset="subtract"):
        """Spiking fully connected layer; ``weight`` is ``(C_out, F_in)``."""
        return self._neuron(name, "dense", weight, threshold, leak, gain, bias, reset=reset)

    def output(self, name, weight, *, gain=1.0, bias=0.0, readout="accumulate", threshold=None, leak=1.0,
               reset="subtract"):
        """The output layer: dense, ``weight`` is ``(C_out, F_in)``.

        ``readout="accumulate"`` (default): no leak, no spikes, logits =
        ``v[T-1] / T``.  ``readout="spikes"``: a spiking layer (``threshold``,
        ``leak``, ``reset`` as in :meth:`dense`) whose logits are its spike
        counts.
        """
        if readout == "spikes":
            th = 1.0 if threshold is None else threshold
            return self._neuron(name, "output", weight, th, leak, gain, bias, reset=reset, readout=readout)
        if readout != "accumulate":
            raise ModelFormatError(f"{self._where(name)}: readout must be one of {READOUTS}, got {readout!r}")
        return self._neuron(name, "output", weight, np.inf, 1.0, gain, bias)

    def _neuron(self, name, kind, weight, threshold, leak, gain, bias, reset="subtract", readout="accumulate",
                window=None):
        where = self._where(name)
        w = np.asarray(weight, np.float64)
        if not np.all(np.isfinite(w)):
            raise ModelFormatError(f"{where}: weight contains NaN or inf")
        out, self._flat = next_shape(kind, self._shape, self._flat, where, w.shape, window)
        c_out = out[0]
        g = _per_step(gain, c_out, where, "gain") * self._fold.average
        b = _per_step(bias, c_out, where, "bias")
        steps = max(g.shape[0], b.shape[0])
        if {g.shape[0], b.shape[0]} - {1, steps}:
            raise ModelFormatError(f"{where}: gain has {g.shape[0]} steps but bias has {b.shape[0]}; "
                                   "expected equal counts or 1 for a constant")
        g, b = np.broadcast_to(g, (steps, c_out)), np.broadcast_to(b, (steps, c_out))
        spiking = kind != "output" or readout == "spikes"
        th = np.asarray(threshold, np.float64)
        if spiking and (th.shape not in ((), (c_out,)) or not np.all(np.isfinite(th) & (th > 0))):
            raise ModelFormatError(f"{where}: threshold must be finite and > 0, one value or one per channel "
                                   f"({c_out}); got {threshold}")
        if not 0.0 <= leak <= 1.0:
            raise ModelFormatError(f"{where}: leak must lie in [0, 1], got {leak}")
        if reset not in fp.RESET_MODES:
            raise ModelFormatError(f"{where}: reset must be one of {fp.RESET_MODES}, got {reset!r}")
        count = self._fold.max_input_count(self.input_max)
        layer = _quantize(name, kind, self._shape, out, w, g, b, th, leak, spiking,
                          self.theta_int, count, self.default_timesteps)
        layer = replace(layer, reset=reset, readout=readout, **(window or {}))
        self._layers.append(layer)
        self._shape, self._fold = out, Fold.start(name, out)
        return self

    def build(self, provenance=None) -> Model:
        """Validate and return the immutable :class:`Model`."""
        model = Model(name=self.name, input_shape=self.input_shape, input_mean=self.mean, input_std=self.std,
                      layers=tuple(self._layers), default_timesteps=self.default_timesteps,
                      provenance=dict(provenance or {}), input_encoding=self.input_encoding)
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


def _pair(value) -> tuple:
    arr = np.asarray(value)
    if arr.ndim > 1 or arr.size not in (1, 2) or arr.dtype.kind not in "iu":
        raise ModelFormatError(f"expected an int or a pair of ints (y, x), got {value!r}")
    return tuple(int(v) for v in np.broadcast_to(arr, (2,)))


def _quantize(name, kind, in_shape, out_shape, w, g, b, threshold, leak, spiking, theta_int, count, timesteps):
    """Quantize one neuron layer; see the module docstring for the rules."""
    w_q, w_scale = fp.quantize_weights(w)
    flat_abs = np.abs(w).reshape(w.shape[0], -1).sum(axis=1)
    # The gain mantissa must fit 16 bits, which bounds how fine the voltage unit can be.
    coarsest = float(np.abs(g * w_scale[None, :]).max()) / fp.GAIN_MAX
    if not spiking:
        worst = float((np.abs(g) * flat_abs[None, :] * count + np.abs(b)).max())
        v_scale = max(worst * timesteps / fp.V_MAX, coarsest) if worst > 0 else 1.0
        theta, lam12 = fp.OUTPUT_THETA, fp.LEAK_ONE
    else:
        v_scale = max(float(np.max(threshold)) / theta_int, coarsest)
        theta, lam12 = fp.quantize_voltage(threshold, v_scale).astype(np.int64), fp.quantize_leak(leak)
        theta = np.maximum(theta, 1)
    g_real = g * w_scale[None, :] / v_scale
    try:
        g_q, shift = fp.quantize_gain(g_real)
    except ValueError as exc:
        raise ModelFormatError(f"builder:{name}: {exc}") from None
    b_q = fp.quantize_voltage(b, v_scale)
    bshape = (-1,) + (1,) * (w.ndim - 1)
    w_err = np.linalg.norm(w - w_q * w_scale.reshape(bshape)) / max(np.linalg.norm(w), 1e-300)
    g_err = np.abs(g_q / 2.0**shift - g_real).max() / max(np.abs(g_real).max(), 1e-300)
    unit = float(np.max(threshold)) if spiking else max(np.abs(b).max(), 1e-300)
    errors = {
        "weight_rel_l2": float(w_err),
        "gain_rel_max": float(g_err),
        "bias_abs_max": float(np.abs(b_q * v_scale - b).max() / unit) if b.size else 0.0,
        "leak_abs": float(abs(lam12 / fp.LEAK_ONE - leak)),
    }
    if spiking and np.ndim(threshold) == 1:
        errors["theta_rel_max"] = float(np.abs(theta * v_scale - threshold).max() / unit)
    floats = FloatParams(weight=w.astype(np.float32), gain=g.astype(np.float32), bias=b.astype(np.float32),
                         threshold=threshold, leak=float(leak))
    return NeuronLayer(name=name, kind=kind, in_shape=in_shape, out_shape=out_shape, weight=w_q, gain=g_q,
                       bias=b_q, shift=int(shift), theta=theta, lam12=int(lam12),
                       voltage_scale=float(v_scale), floats=floats, quant_error=errors)
