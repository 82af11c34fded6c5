"""The models that ship in eventsim/data: they load, run bit-exact with the reference, and keep their promises."""
import numpy as np
import pytest

from eventsim import Simulator, default_model, load_model
from eventsim.synthshapes import SynthShapes
from test_engine_vs_reference import assert_results_equal


@pytest.fixture(scope="module")
def images():
    data = SynthShapes("test", size=64)
    return data.arrays(0, 4)[0].astype(np.float32)


@pytest.mark.parametrize("name", ["default", "sparse"])
def test_packaged_model_runs_exactly(name, images):
    model = load_model(default_model(name))
    sim = Simulator(model)
    fast = sim.run(images=images, seed=3, record_spikes=True)
    slow = sim.run(images=images, seed=3, record_spikes=True, backend="reference")
    assert_results_equal(fast, slow)


def test_sparse_model_spikes_less(images):
    """The sparse model's hidden layers spike less, so each image costs fewer synaptic operations."""
    runs = {name: Simulator(load_model(default_model(name)), sam_layers=[]).run(images=images, seed=1)
            for name in ("default", "sparse")}
    hidden = {name: sum(int(r.counts[k]["synops"].sum()) for k in ("conv2", "conv3", "conv4", "out"))
              for name, r in runs.items()}
    assert hidden["sparse"] < 0.5 * hidden["default"]


def test_unknown_packaged_model_is_named():
    with pytest.raises(ValueError, match="packaged models are"):
        default_model("dvs2")


@pytest.fixture(scope="module")
def dvs_streams():
    from eventsim.synthshapes_dvs import SynthShapesDVS

    ds = SynthShapesDVS("test", length=60)
    samples = [ds[i] for i in range(60)]
    return [s.events for s in samples], np.array([s.label for s in samples]), ds.sensor_size


def test_dvs_model_runs_on_event_streams_as_on_their_frames(dvs_streams):
    """The DVS model takes counts; streams binned by the simulator give the same result as to_frames' frames."""
    from eventsim.events import to_frames

    model = load_model(default_model("dvs"))
    assert model.input_encoding == "counts" and tuple(model.input_shape) == (2, 32, 32)
    events, _, sensor = dvs_streams
    sim = Simulator(model)
    from_events = sim.run(events=events[:3], sensor_size=sensor, record_spikes=True, backend="reference")
    frames = np.stack([to_frames(e, sensor, n_time_bins=model.default_timesteps) for e in events[:3]])
    assert_results_equal(from_events, sim.run(spikes=frames, record_spikes=True, backend="reference"))


def test_dvs_model_classifies_synthshapes_dvs(dvs_streams):
    """60 fresh test streams in fixed point: well above chance (the recorded accuracy on 2000 is in provenance)."""
    model = load_model(default_model("dvs"))
    events, labels, sensor = dvs_streams
    logits = Simulator(model, sam_layers=[]).run(events=events, sensor_size=sensor, backend="reference").logits
    assert np.mean(logits.argmax(1) == labels) >= 0.7
    evaluation = model.provenance["evaluation"]
    assert evaluation["n"] >= 1000 and evaluation["dataset"] == "synthshapes-dvs"


def test_commands_take_packaged_model_names(tmp_path, monkeypatch, capsys):
    """``eventsim info sparse`` reads the packaged file; a file of that name in the working folder wins."""
    from eventsim.assets import model_argument
    from eventsim.cli import main

    monkeypatch.chdir(tmp_path)
    assert model_argument("sparse") == default_model("sparse") and model_argument("x.h5") == "x.h5"
    assert main(["info", "sparse"]) == 0 and "conv4" in capsys.readouterr().out
    (tmp_path / "sparse").write_bytes(b"not a model")
    assert model_argument("sparse") == "sparse"
    assert main(["info", "sparse"]) == 2 and "sparse" in capsys.readouterr().err
