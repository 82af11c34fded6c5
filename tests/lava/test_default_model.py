"""The trained default model on two SynthShapes images: Lava equals eventsim bit for bit.

Needs the default model file (shipped by the training issue) and
``training/data.py`` (SynthShapes, NumPy only); skipped with the name of
whatever is missing until both are in the checkout.
"""
from __future__ import annotations

import importlib.util

import pytest
from lava_helpers import assert_same_result

import lava_port
from eventsim import Simulator, default_model, load_model

pytestmark = pytest.mark.lava


def _default_model_path():
    try:
        return default_model()
    except FileNotFoundError as exc:
        pytest.skip(f"{exc} (the training issue ships it)")


def _synthshapes():
    if importlib.util.find_spec("training") is None or importlib.util.find_spec("training.data") is None:
        pytest.skip("training/data.py (SynthShapes) is not in this checkout yet (the training issue ships it)")
    from training.data import SynthShapes

    return SynthShapes


@pytest.mark.slow
@pytest.mark.parametrize("convention", ["paper", "reference"])
def test_default_model_on_two_synthshapes_images(convention):
    synthshapes = _synthshapes()
    model = load_model(_default_model_path())
    images = synthshapes("test", size=model.input_shape[1:], length=2).arrays(0, 2)[0]
    sim = Simulator(model, sam_layers=model.spiking_layers, sam_convention=convention)
    spikes = sim.input_spikes(images=images, seed=0)
    expected = sim.run(spikes=spikes, record_spikes=True)
    got = lava_port.run(model, spikes, sam_layers=model.spiking_layers, sam_convention=convention,
                        record_spikes=True)
    assert_same_result(expected, got)
    assert_same_result(sim.run(spikes=spikes, record_spikes=True, backend="reference"), got)


@pytest.mark.slow
def test_dvs_model_on_two_event_streams():
    """The packaged DVS model on two SynthShapes-DVS streams given as events: Lava == engine == reference."""
    from eventsim.event_input import event_frames
    from eventsim.synthshapes_dvs import SynthShapesDVS

    model = load_model(default_model("dvs"))
    ds = SynthShapesDVS("test", size=model.input_shape[-1], length=2)
    events = [ds[i].events for i in range(2)]
    sim = Simulator(model, sam_layers=model.spiking_layers)
    expected = sim.run(events=events, sensor_size=ds.sensor_size, record_spikes=True)
    got = lava_port.run(model, event_frames(model, events, ds.sensor_size), sam_layers=model.spiking_layers,
                        record_spikes=True)
    assert_same_result(expected, got)
    assert_same_result(sim.run(events=events, sensor_size=ds.sensor_size, record_spikes=True, backend="reference"),
                       got)
