"""``eventsim demo --events``: GIFs of events beside SAM, the streams, a result that ``eventsim run --events`` reproduces."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from eventsim import Result, default_model, load_model
from eventsim.cli import main
from eventsim.event_plots import event_rgb, outline, stream_picture
from eventsim.events import EVENT_DTYPE


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-events")
    assert main(["demo", "--events", "--out", str(out), "--n", "2"]) == 0
    return out


def test_demo_writes_a_gif_per_stream_with_a_frame_per_step(demo):
    steps = load_model(default_model("dvs")).default_timesteps
    for i in range(2):
        with Image.open(demo / f"events_{i}.gif") as gif:
            assert gif.n_frames == steps
            gif.seek(steps // 2)
            frame = np.asarray(gif.convert("RGB"), np.int64)
        assert frame.std() > 10                                         # a picture, not a blank frame
    assert "eventsim-data" in (demo / "events_index.html").read_text()        # the viewer, with its data
    summary = (demo / "events_summary.md").read_text()
    assert "Accuracy on these 2 SynthShapes-DVS test streams" in summary and "| conv1 |" in summary


def test_saved_streams_reproduce_the_demo_result(demo, tmp_path):
    """The demo's events_0.npy through ``eventsim run --events`` gives the demo's result for stream 0."""
    events = np.load(demo / "events_0.npy", allow_pickle=False)
    assert events.dtype == EVENT_DTYPE and len(events) > 100
    demo_result = Result.load(demo / "events_result.h5")
    out = tmp_path / "again.h5"
    assert main(["run", "dvs", "--events", str(demo / "events_0.npy"), "--out", str(out)]) == 0   # packaged name
    again = Result.load(out)
    np.testing.assert_array_equal(again.logits[0], demo_result.logits[0])
    for name, maps in demo_result.sam.items():
        np.testing.assert_array_equal(again.sam[name][0], maps[0])


def test_event_colours():
    frame = np.zeros((2, 1, 3), np.int64)
    frame[1, 0, 0], frame[0, 0, 1] = 4, 1                               # ON 4 (the largest), OFF 1
    rgb = event_rgb(frame)
    np.testing.assert_allclose(rgb[0, 0], [1, 0, 0])                    # full red
    pale = 1 - (0.45 + 0.55 / 4)                                       # strength of 1 of 4 counts
    np.testing.assert_allclose(rgb[0, 1], [pale, pale, 1])              # pale blue
    np.testing.assert_allclose(rgb[0, 2], [1, 1, 1])                    # white: no event
    signed = event_rgb(np.array([[[2, -2, 0]]]))
    np.testing.assert_allclose(signed[0, :2], [[1, 0, 0], [0, 0, 1]])  # one signed channel: + ON, - OFF
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        event_rgb(np.zeros((3, 2, 2)))


def test_outline_of_a_square():
    mask = np.zeros((6, 6), bool)
    mask[1:4, 2:5] = True
    lines = outline(mask)
    assert len(lines) == 1
    pts = np.concatenate(lines)
    assert pts[:, 0].min() == pytest.approx(2.0) and pts[:, 0].max() == pytest.approx(5.0)   # x: columns 2..4
    assert pts[:, 1].min() == pytest.approx(1.0) and pts[:, 1].max() == pytest.approx(4.0)   # y: rows 1..3
    assert outline(np.zeros((4, 4), bool)) == []


def test_stream_picture_sums_the_bins():
    frames = np.zeros((3, 2, 2, 2), np.int8)
    frames[0, 1, 0, 0] = frames[2, 1, 0, 0] = 1                        # ON at (0, 0) in two bins: 2 in all
    frames[1, 0, 1, 1] = 2                                              # OFF at (1, 1)
    img = stream_picture(frames)
    assert img.shape == (3, 2, 2)
    np.testing.assert_allclose(img[:, 0, 0], [1, 0, 0])
    np.testing.assert_allclose(img[:, 1, 1], [0, 0, 1])
    np.testing.assert_allclose(img[:, 0, 1], [1, 1, 1])
