"""Random models for tests, demos and benchmarks, built without PyTorch.

Thresholds are calibrated so that every spiking layer fires at a useful
rate: with weights ``N(0, 1/fan_in)`` the synaptic input of a layer whose
inputs spike at rate ``r`` has a standard deviation of about ``sqrt(r)``
(halved by each 2x2 average pool), and the threshold is set to that.
"""
from __future__ import annotations

import numpy as np

from .builder import ModelBuilder
from .model import Model

#: A small VGG-like default: (kind, width) pairs; "pool" and "gap" take no width.
SMALL_VGG = (("conv", 16), ("pool", 0), ("conv", 32), ("pool", 0), ("conv", 32), ("gap", 0), ("dense", 32))


def random_model(seed=0, input_shape=(3, 32, 32), arch=SMALL_VGG, num_classes=10, timesteps=20,
                 leak=0.95, per_step_gain=True, kernel_size=3, firing=1.0, name=None) -> Model:
    """A random fixed-point model with calibrated thresholds.

    Parameters
    ----------
    seed : int
    input_shape : tuple of int
        ``(C, H, W)``.
    arch : sequence of (str, int)
        Layer kinds ``conv``, ``pool``, ``gap``, ``flatten``, ``dense`` with
        widths; an output layer with ``num_classes`` neurons is appended (and
        a flatten before it if needed).
    num_classes : int
    timesteps : int
        Default ``T``; also the gain table length when ``per_step_gain``.
    leak : float
    per_step_gain : bool
        Random per-step gains (BNTT-like) instead of constants.
    kernel_size : int
        Odd conv kernel size.
    firing : float
        Scales all thresholds down (> 1 means more spikes).
    name : str, optional

    Returns
    -------
    Model
    """
    rng = np.random.default_rng(seed)
    b = ModelBuilder(input_shape, name=name or f"random-{seed}", default_timesteps=timesteps,
                     mean=np.full(input_shape[0], 0.5), std=np.full(input_shape[0], 0.25))
    shape, flat, rate, fan_scale = list(input_shape), False, 0.5, 1.0
    seen = {}
    for kind, width in arch:
        seen[kind] = seen.get(kind, 0) + 1
        name_i = f"{'fc' if kind == 'dense' else kind}{seen[kind]}"
        if kind == "pool":
            b.avgpool(name_i)
            shape = [shape[0], shape[1] // 2, shape[2] // 2]
            fan_scale *= 0.5
        elif kind in ("gap", "flatten"):
            b.gap(name_i) if kind == "gap" else b.flatten(name_i)
            shape = [shape[0], 1, 1] if kind == "gap" else [shape[0] * shape[1] * shape[2], 1, 1]
            flat = True
        elif kind in ("conv", "dense"):
            fan_in = shape[0] * (kernel_size**2 if kind == "conv" else 1)
            wshape = (width, shape[0], kernel_size, kernel_size) if kind == "conv" else (width, shape[0])
            w = rng.normal(0.0, 1.0 / np.sqrt(fan_in), wshape)
            gain = rng.uniform(0.6, 1.4, (timesteps if per_step_gain else 1, width))
            bias = rng.normal(0.05, 0.05, gain.shape)
            spread = np.sqrt(max(rate, 0.02)) * fan_scale  # std of the synaptic input
            threshold = spread / firing
            (b.conv if kind == "conv" else b.dense)(name_i, w, threshold=threshold, leak=leak, gain=gain, bias=bias)
            shape, rate, fan_scale = [width] + shape[1:], 0.15, 1.0
        else:
            raise ValueError(f"unknown kind {kind!r} in arch")
    if not flat:
        b.flatten("flatten")
        shape = [shape[0] * shape[1] * shape[2], 1, 1]
    w_out = rng.normal(0.0, 1.0 / np.sqrt(shape[0]), (num_classes, shape[0]))
    b.output("out", w_out)
    return b.build(provenance={"generator": "eventsim.random_models.random_model", "seed": seed,
                               "arch": [list(a) for a in arch]})
