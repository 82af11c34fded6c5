"""Hypothesis strategies for random fixed-point models and input spikes.

Structure (layer kinds, conv widths from a menu up to 70, dense widths 1-64, sizes 4-64, kernel sizes, pools,
T 1-40, leak in (0, 1], gamma) is drawn by hypothesis; array values come
from a NumPy generator seeded by a drawn integer, so failures shrink on the
structure and reproduce exactly.

``model_specs(general=True)`` also draws the format-2 layers: conv kernels
1-5 (odd and even, not square), strides 1-3, padding up to ``k - 1``; sum
and average pools with any window, stride and padding; IF neurons; the reset
to zero; per-channel thresholds; a spiking output; and event-count input.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from eventsim import ModelBuilder

GAMMAS = (0.0, 0.1, 0.5, 1.0, 3.0)
#: Conv widths: the engine compiles one kernel per (width, kernel size), so the menu bounds
#: compilation while covering 1 channel, odd widths, and two bitmap words (> 64).
CONV_WIDTHS = (1, 3, 8, 16, 32, 64, 70)
#: Upper bound on conv multiply-adds per step so the dense reference stays quick.
WORK_BUDGET = 1_500_000


@st.composite
def model_specs(draw, max_timesteps=40, general=False):
    """A plain-data description of a random model (see :func:`build_model`).

    ``general`` draws every layer kind of model format 2 (module docstring).
    """
    c = draw(st.integers(1, 4))
    h = draw(st.integers(4, 64))
    w = draw(st.one_of(st.just(h), st.integers(4, 64)))
    steps = draw(st.integers(1, max_timesteps))
    layers, shape = [], [c, h, w]
    if draw(st.booleans()) and min(h, w) >= 8 and draw(st.integers(0, 4)) == 0:
        layers.append(_draw_pool(draw, shape, general))
        shape = _pool_shape(shape, layers[-1])
    for _ in range(draw(st.integers(0, 3))):
        k = (draw(st.integers(1, 5)), draw(st.integers(1, 5))) if general and draw(st.booleans()) \
            else (draw(st.sampled_from((1, 3, 3, 5))),) * 2
        stride, padding = (1, 1), (k[0] // 2, k[1] // 2)
        if general and draw(st.booleans()):
            stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
            padding = (draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)))
        out = [(n + 2 * p - kk) // s + 1 for n, kk, s, p in zip(shape[1:], k, stride, padding)]
        if min(out) < 1:
            continue
        width = draw(st.sampled_from(CONV_WIDTHS))
        work = out[0] * out[1] * shape[0] * width * k[0] * k[1]
        if work > WORK_BUDGET:
            width = max(1, WORK_BUDGET // (out[0] * out[1] * shape[0] * k[0] * k[1]))
        layers.append(("conv", width, k, stride, padding) + _draw_neuron(draw, general))
        shape = [width] + out
        for _ in range(draw(st.integers(0, 2))):
            if min(shape[1], shape[2]) >= 2:
                layers.append(_draw_pool(draw, shape, general))
                shape = _pool_shape(shape, layers[-1])
    features = shape[0] * shape[1] * shape[2]
    if features > 4096 or draw(st.booleans()):
        layers.append(("gap",))
        features = shape[0]
    else:
        layers.append(("flatten",))
    for _ in range(draw(st.integers(0, 2))):
        width = draw(st.integers(1, 64))
        layers.append(("dense", width) + _draw_neuron(draw, general))
    readout = draw(st.sampled_from(("accumulate", "spikes"))) if general else "accumulate"
    layers.append(("output", draw(st.integers(1, 10)), readout) + _draw_neuron(draw, general))
    return {
        "input_shape": (c, h, w),
        "layers": layers,
        "timesteps": steps,
        "per_step_gain": draw(st.booleans()),
        "leak": draw(st.sampled_from((1.0, 0.99, 0.9, 0.5))) if draw(st.booleans())
        else draw(st.floats(0.01, 1.0)),
        "saturating": draw(st.integers(0, 5)) == 0,
        "seed": draw(st.integers(0, 2**31 - 1)),
        "gamma": draw(st.sampled_from(GAMMAS)),
        "convention": draw(st.sampled_from(("paper", "reference"))),
        "counts": general and draw(st.booleans()),
    }


def _draw_pool(draw, shape, general):
    """``("avgpool",)`` (2x2, stride 2), or with ``general`` a pool of any window that fits ``shape``."""
    if not general or draw(st.booleans()):
        return ("avgpool", (2, 2), (2, 2), (0, 0))
    kind = draw(st.sampled_from(("avgpool", "sumpool")))
    k = (draw(st.integers(1, min(3, shape[1]))), draw(st.integers(1, min(3, shape[2]))))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    return (kind, k, stride, padding)


def _pool_shape(shape, pool):
    _, k, s, p = pool
    return [shape[0]] + [(n + 2 * pp - kk) // ss + 1 for n, kk, ss, pp in zip(shape[1:], k, s, p)]


def _draw_neuron(draw, general):
    """``(reset, per_channel_threshold, integrate_and_fire)`` of a neuron layer."""
    if not general:
        return ("subtract", False, False)
    return (draw(st.sampled_from(("subtract", "zero"))), draw(st.booleans()), draw(st.booleans()))


def build_model(spec):
    """Build the model described by :func:`model_specs` with calibrated thresholds.

    Saturating specs add biases of about 300 thresholds per step, beyond the
    24-bit range of +-256 thresholds, so clamping is exercised.
    """
    rng = np.random.default_rng(spec["seed"])
    c, _, _ = spec["input_shape"]
    steps = spec["timesteps"]
    sat = spec["saturating"]
    counts = spec.get("counts", False)
    b = ModelBuilder(spec["input_shape"], mean=rng.uniform(0.3, 0.7, c), std=rng.uniform(0.2, 0.5, c),
                     default_timesteps=steps, name="hypothesis",
                     input_encoding="counts" if counts else "signed-poisson")
    rate = 2.0 if counts else 0.5
    for i, layer in enumerate(_general_layers(spec["layers"])):
        kind, name = layer[0], f"{layer[0]}{i}"
        if kind in ("avgpool", "sumpool"):
            getattr(b, kind)(name, *layer[1:])
            continue
        if kind in ("gap", "flatten"):
            getattr(b, kind)(name)
            continue
        taps = layer[2][0] * layer[2][1] if kind == "conv" else 1
        fan_in = b.shape[0] * taps
        width = layer[1]
        wshape = (width, b.shape[0]) + tuple(layer[2]) if kind == "conv" else (width, b.shape[0])
        weight = rng.normal(0.0, 1.0 / np.sqrt(fan_in), wshape)
        rows = steps if spec["per_step_gain"] else 1
        gain = rng.uniform(0.5, 1.5, (rows, width))
        bias = rng.normal(0.0, 0.2, (rows, width))
        reset, per_channel, if_neuron = layer[-3:]
        threshold = float(np.sqrt(rate) * rng.uniform(0.3, 1.2))
        if per_channel:
            threshold = threshold * rng.uniform(0.5, 2.0, width)
        if sat:
            bias = bias * 1500.0 * np.max(threshold)
        leak = 1.0 if if_neuron else spec["leak"]
        if kind == "output":
            if layer[2] == "spikes":
                b.output(name, weight, gain=gain, bias=bias, readout="spikes", threshold=threshold, leak=leak,
                         reset=reset)
            else:
                b.output(name, weight, gain=gain, bias=bias)
        elif kind == "conv":
            b.conv(name, weight, threshold=threshold, leak=leak, gain=gain, bias=bias, stride=layer[3],
                   padding=layer[4], reset=reset)
        else:
            b.dense(name, weight, threshold=threshold, leak=leak, gain=gain, bias=bias, reset=reset)
        rate = 0.2
    return b.build()


def _general_layers(layers):
    """Layer tuples in the ``general`` form, from either form (hand-written specs use the short one)."""
    plain = ("subtract", False, False)
    out = []
    for layer in layers:
        kind = layer[0]
        if kind == "avgpool" and len(layer) == 1:
            layer = ("avgpool", (2, 2), (2, 2), (0, 0))
        elif kind == "conv" and len(layer) == 3:
            k = layer[2]
            layer = ("conv", layer[1], (k, k), (1, 1), (k // 2, k // 2)) + plain
        elif kind == "dense" and len(layer) == 2:
            layer = layer + plain
        elif kind == "output" and len(layer) == 2:
            layer = layer + ("accumulate",) + plain
        out.append(layer)
    return out


def input_spikes(spec, batch):
    """Random input ``(batch, T, C, H, W)`` int8 for a spec: signed spikes, or signed counts up to +-127."""
    rng = np.random.default_rng(spec["seed"] + 1)
    shape = (batch, spec["timesteps"]) + tuple(spec["input_shape"])
    density = rng.uniform(0.05, 0.6)
    mag = rng.random(shape) < density
    sign = np.where(rng.random(shape) < 0.3, -1, 1)
    if spec.get("counts", False):
        big = rng.random(shape) < 0.02
        mag = np.where(big, rng.integers(1, 128, shape), mag * rng.integers(1, 4, shape))
    return (mag * sign).astype(np.int8)
