"""Format-2 models: Lava equals the eventsim reference bit for bit (issue 12 acceptance).

Spikes, final voltages, SAM maps (both conventions), logits and every
counter.  The Numba engine joins the comparison as soon as it runs format-2
models (until then it refuses them with an ``InputError``).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from lava_helpers import assert_same_result
from strategies import build_model, input_spikes, model_specs

import lava_port
from eventsim import InputError, ModelBuilder, Simulator
from eventsim.topology import connections
from lava_port.layout import plan_layers

pytestmark = pytest.mark.lava

#: Bounds on a drawn model's Lava graph, so each example runs in seconds: Processes (Lava
#: starts one OS process each), ``convolve2d`` calls per step, and their input area per step.
MAX_PROCESSES = 20
MAX_CONV_CALLS = 1500
MAX_CONV_AREA = 200_000


def lava_work(model) -> tuple:
    """``(processes, convolve2d calls per step, their summed padded input area)`` of the Lava graph."""
    plans = plan_layers(connections(model), (), False)
    procs, calls, area = 1, 0, 0
    for plan in plans:
        c, h, w = plan.conn.source_shape
        procs += len(plan.stages) + 3
        calls += c * len(plan.stages)
        area += c * h * w * len(plan.stages)
        layer = plan.conn.target
        if layer.kind == "conv":
            _, hp, wp = plan.conn.pooled_shape
            calls += c * layer.out_shape[0]
            area += c * layer.out_shape[0] * (hp + 2 * layer.padding[0]) * (wp + 2 * layer.padding[1])
    return procs, calls, area


def _engine(sim, spikes, record):
    """The Numba engine's result, or ``None`` while it refuses format-2 models."""
    try:
        return sim.run(spikes=spikes, record_spikes=record, backend="eventsim")
    except InputError as exc:
        if "format-2" not in str(exc):
            raise
        return None


def _compare(model, spikes, *, sam_gamma, sam_convention, sam_layers, record_spikes=True):
    sim = Simulator(model, sam_gamma=sam_gamma, sam_layers=sam_layers, sam_convention=sam_convention)
    expected = sim.run(spikes=spikes, record_spikes=record_spikes, backend="reference")
    got = lava_port.run(model, spikes, sam_gamma=sam_gamma, sam_layers=sam_layers, sam_convention=sam_convention,
                        record_spikes=record_spikes)
    assert got.attrs == {**expected.attrs, "backend": "lava"}
    assert_same_result(expected, got, check_record=record_spikes)
    engine = _engine(sim, spikes, record_spikes)
    if engine is not None:
        assert_same_result(engine, got, check_record=record_spikes)
    return got


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(spec=model_specs(max_timesteps=5, general=True))
def test_random_general_models(spec):
    """Every format-2 feature as drawn by ``model_specs(general=True)``; two samples back to back."""
    model = build_model(spec)
    procs, calls, area = lava_work(model)
    assume(procs <= MAX_PROCESSES and calls <= MAX_CONV_CALLS and area <= MAX_CONV_AREA)
    _compare(model, input_spikes(spec, 2), sam_gamma=spec["gamma"], sam_convention=spec["convention"],
             sam_layers=model.spiking_layers)


def sinabs_like_model():
    """The N-MNIST-style CNN of issue 12: 5x5 stride-2 conv with padding 1, IF neurons reset to zero,
    sum pools, a 3x3 conv, flatten, a spiking dense layer and a spiking output; event counts in."""
    rng = np.random.default_rng(12)
    b = ModelBuilder((2, 18, 18), default_timesteps=8, input_encoding="counts", name="sinabs-like")
    b.conv("conv1", rng.normal(0.1, 0.3, (6, 2, 5, 5)), threshold=rng.uniform(1.0, 3.0, 6), stride=2, padding=1,
           reset="zero")
    b.sumpool("pool1", kernel=2)
    b.conv("conv2", rng.normal(0.1, 0.4, (8, 6, 3, 3)), threshold=1.0, padding=1, reset="zero")
    b.sumpool("pool2", kernel=2).flatten("flat")
    b.dense("fc1", rng.normal(0.1, 0.3, (16, 32)), threshold=1.0, reset="zero")
    return b.output("out", rng.normal(0.2, 0.5, (4, 16)), readout="spikes", threshold=1.0, reset="zero").build()


@pytest.mark.parametrize("convention", ["paper", "reference"])
def test_sinabs_like_cnn_with_counts_input(convention):
    model = sinabs_like_model()
    rng = np.random.default_rng(3)
    spikes = (rng.poisson(0.8, (2, 8, 2, 18, 18)) * rng.choice([-1, 1], (2, 8, 2, 18, 18), p=[0.2, 0.8]))
    spikes[0, 0, 0, :2, :2] = [[-128, 127], [127, -128]]  # the int8 extremes
    got = _compare(model, spikes.astype(np.int8), sam_gamma=0.5, sam_convention=convention,
                   sam_layers=model.spiking_layers)
    assert all(s.any() for s in got.spikes.values()), {k: int(v.sum()) for k, v in got.spikes.items()}
    assert got.logits.any() and all(m.any() for m in got.sam.values())
