"""Hypothesis strategies for random fixed-point models and input spikes.

Structure (layer kinds, conv widths from a menu up to 70, dense widths 1-64, sizes 4-64, kernel sizes, pools,
T 1-40, leak in (0, 1], gamma) is drawn by hypothesis; array values come
from a NumPy generator seeded by a drawn integer, so failures shrink on the
structure and reproduce exactly.
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
def model_specs(draw, max_timesteps=40):
    """A plain-data description of a random model (see :func:`build_model`)."""
    c = draw(st.integers(1, 4))
    h = draw(st.integers(4, 64))
    w = draw(st.one_of(st.just(h), st.integers(4, 64)))
    steps = draw(st.integers(1, max_timesteps))
    layers, shape = [], [c, h, w]
    if draw(st.booleans()) and min(h, w) >= 8 and draw(st.integers(0, 4)) == 0:
        layers.append(("avgpool",))
        shape = [c, h // 2, w // 2]
    for _ in range(draw(st.integers(0, 3))):
        k = draw(st.sampled_from((1, 3, 3, 5)))
        width = draw(st.sampled_from(CONV_WIDTHS))
        work = shape[1] * shape[2] * shape[0] * width * k * k
        if work > WORK_BUDGET:
            width = max(1, WORK_BUDGET // (shape[1] * shape[2] * shape[0] * k * k))
        layers.append(("conv", width, k))
        shape = [width, shape[1], shape[2]]
        for _ in range(draw(st.integers(0, 2))):
            if min(shape[1], shape[2]) >= 2:
                layers.append(("avgpool",))
                shape = [shape[0], shape[1] // 2, shape[2] // 2]
    features = shape[0] * shape[1] * shape[2]
    if features > 4096 or draw(st.booleans()):
        layers.append(("gap",))
        features = shape[0]
    else:
        layers.append(("flatten",))
    for _ in range(draw(st.integers(0, 2))):
        width = draw(st.integers(1, 64))
        layers.append(("dense", width))
    layers.append(("output", draw(st.integers(1, 10))))
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
    }


def build_model(spec):
    """Build the model described by :func:`model_specs` with calibrated thresholds.

    Saturating specs add biases of about 300 thresholds per step, beyond the
    24-bit range of +-256 thresholds, so clamping is exercised.
    """
    rng = np.random.default_rng(spec["seed"])
    c, _, _ = spec["input_shape"]
    steps = spec["timesteps"]
    sat = spec["saturating"]
    b = ModelBuilder(spec["input_shape"], mean=rng.uniform(0.3, 0.7, c), std=rng.uniform(0.2, 0.5, c),
                     default_timesteps=steps, name="hypothesis")
    rate = 0.5
    for i, layer in enumerate(spec["layers"]):
        kind, name = layer[0], f"{layer[0]}{i}"
        if kind in ("avgpool", "gap", "flatten"):
            getattr(b, kind)(name)
            continue
        fan_in = b.shape[0] * (layer[2] ** 2 if kind == "conv" else 1)
        width = layer[1]
        wshape = (width, b.shape[0], layer[2], layer[2]) if kind == "conv" else (width, b.shape[0])
        weight = rng.normal(0.0, 1.0 / np.sqrt(fan_in), wshape)
        rows = steps if spec["per_step_gain"] else 1
        gain = rng.uniform(0.5, 1.5, (rows, width))
        bias = rng.normal(0.0, 0.2, (rows, width))
        if kind == "output":
            b.output(name, weight, gain=gain, bias=bias)
        else:
            threshold = float(np.sqrt(rate) * rng.uniform(0.3, 1.2))
            if sat:
                bias = bias * 1500.0 * threshold
            getattr(b, kind)(name, weight, threshold=threshold, leak=spec["leak"], gain=gain, bias=bias)
            rate = 0.2
    return b.build()


def input_spikes(spec, batch):
    """Signed random input spikes ``(batch, T, C, H, W)`` for a spec, int8."""
    rng = np.random.default_rng(spec["seed"] + 1)
    shape = (batch, spec["timesteps"]) + tuple(spec["input_shape"])
    density = rng.uniform(0.05, 0.6)
    mag = rng.random(shape) < density
    sign = np.where(rng.random(shape) < 0.3, -1, 1)
    return (mag * sign).astype(np.int8)
