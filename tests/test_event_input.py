"""Event streams as model input: ``Simulator.run(events=...)`` and ``eventsim run --events``."""
from __future__ import annotations

import numpy as np
import pytest

from eventsim import ModelBuilder, Simulator, default_model, load_model, save_model
from eventsim.cli import main
from eventsim.errors import EventsError, InputError
from eventsim.event_input import event_frames
from eventsim.events import make_events, to_frames, write
from eventsim.result import Result


def _counts_model(channels=2, side=8, steps=5):
    rng = np.random.default_rng(1)
    b = ModelBuilder((channels, side, side), default_timesteps=steps, input_encoding="counts")
    b.conv("c1", rng.normal(0, 0.5, (4, channels, 3, 3)), stride=2, padding=1, threshold=0.8, leak=1.0)
    b.sumpool("p1", 2).flatten("f")
    return b.output("out", rng.normal(0, 0.5, (3, b.shape[0]))).build()


def _stream(seed, n=400, side=8, span=10_000):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, span, n))
    return make_events(rng.integers(0, side, n), rng.integers(0, side, n), t, rng.integers(0, 2, n))


def test_event_frames_stack_to_frames_per_stream():
    model = _counts_model()
    streams = [_stream(0), _stream(1)]
    frames = event_frames(model, streams)
    want = np.stack([to_frames(s, (8, 8, 2), n_time_bins=5) for s in streams])
    np.testing.assert_array_equal(frames, want)
    signed = event_frames(_counts_model(channels=1), streams[0], n_time_bins=3)
    np.testing.assert_array_equal(signed[0], to_frames(streams[0], (8, 8, 2), n_time_bins=3, polarity="signed"))


def test_run_on_events_equals_run_on_their_frames():
    model = _counts_model()
    streams = [_stream(2), _stream(3)]
    sim = Simulator(model, sam_layers=["c1"])
    a = sim.run(events=streams, timesteps=4, backend="reference")
    b = sim.run(spikes=event_frames(model, streams, n_time_bins=4), backend="reference")
    np.testing.assert_array_equal(a.logits, b.logits)
    np.testing.assert_array_equal(a.sam["c1"], b.sam["c1"])
    assert a.sam["c1"].shape[:2] == (2, 4)
    windowed = sim.run(events=streams[0], time_window=2_000, backend="reference")
    assert windowed.timesteps == to_frames(streams[0], (8, 8, 2), time_window=2_000).shape[0] >= 4


def test_event_input_errors():
    model = _counts_model()
    sim = Simulator(model)
    with pytest.raises(InputError, match="exactly one"):
        sim.run(events=_stream(0), spikes=np.zeros((1, 5, 2, 8, 8)), backend="reference")
    with pytest.raises(InputError, match="downsample"):
        event_frames(model, _stream(0, side=8), sensor_size=(16, 16, 2))
    with pytest.raises(InputError, match="different numbers of time bins"):
        event_frames(model, [_stream(0, span=10_000), _stream(1, span=4_000)], time_window=2_000)
    with pytest.raises(InputError, match="Poisson"):
        event_frames(load_model(default_model()), _stream(0))
    with pytest.raises(InputError, match="structured event array"):
        event_frames(model, np.zeros((3, 4)))
    pile = make_events(np.zeros(300, int), np.zeros(300, int), np.zeros(300, int), np.ones(300, int))
    with pytest.raises(EventsError, match=r"events\[0\]"):
        event_frames(model, pile, n_time_bins=1)


def test_cli_runs_an_event_file(tmp_path, capsys):
    model = _counts_model()
    save_model(model, tmp_path / "m.h5")
    write(tmp_path / "ev.h5", _stream(4), (8, 8, 2))
    argv = ["run", str(tmp_path / "m.h5"), "--events", str(tmp_path / "ev.h5"), "--bins", "6", "--backend",
            "reference", "--out", str(tmp_path / "r.h5")]
    assert main(argv) == 0
    result = Result.load(tmp_path / "r.h5")
    want = Simulator(model).run(events=_stream(4), timesteps=6, backend="reference")
    np.testing.assert_array_equal(result.logits, want.logits)
    bad = ["run", str(tmp_path / "m.h5"), "--images", str(tmp_path / "x.npy"), "--time-window", "100",
           "--out", str(tmp_path / "q.h5")]
    assert main(bad) == 2 and not (tmp_path / "q.h5").exists()
    assert "--time-window" in capsys.readouterr().err
