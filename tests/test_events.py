"""Event streams: binning against a loop twin and a worked example, N-MNIST decoding, file round trips, bad input."""
import math
import os
from fractions import Fraction

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventsim import events as E
from eventsim.errors import EventsError, InputError


def frames_twin(rows, sensor_size, n_time_bins=None, time_window=None, include_incomplete=False,
                polarity="split"):
    """Plain-Python ToFrame (overlap 0): bin edges from exact fractions, each event tested against each bin."""
    width, height, polarities = sensor_size
    ts = [r[2] for r in rows]
    duration = ts[-1] - ts[0]
    if n_time_bins is not None:
        bin_width, n_bins = duration // n_time_bins, n_time_bins
    else:
        ratio = Fraction(duration - time_window, time_window)
        n_bins = max(1, (math.ceil(ratio) if include_incomplete else math.floor(ratio)) + 1)
        bin_width = time_window
    channels = polarities if polarity == "split" else 1
    frames = [[[[0] * width for _ in range(height)] for _ in range(channels)] for _ in range(n_bins)]
    for i in range(n_bins):
        lo = ts[0] + i * bin_width
        for x, y, t, p in rows:
            if lo <= t < lo + bin_width:
                if polarity == "split":
                    frames[i][p][y][x] += 1
                else:
                    frames[i][0][y][x] += 1 if p == 1 else -1
    return np.array(frames)


def denoise_twin(rows, filter_time):
    """Keep event i when an earlier event sits at a 4-neighbour pixel less than filter_time before."""
    return [r for i, r in enumerate(rows)
            if any(abs(r[0] - q[0]) + abs(r[1] - q[1]) == 1 and r[2] - q[2] < filter_time for q in rows[:i])]


def as_rows(ev):
    return [tuple(int(v) for v in e) for e in ev[list(E.FIELDS)]]


@st.composite
def streams(draw, max_events=60):
    width, height, polarities = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 2))
    n = draw(st.integers(1, max_events))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    span = draw(st.sampled_from([1, 10, 1000, 10**6]))
    t = np.sort(rng.integers(0, span, n)) + draw(st.integers(0, 10**9))
    ev = E.make_events(rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, polarities, n))
    return ev, (width, height, polarities)


# The worked example of docs/events.md: sensor (W, H, P) = (3, 2, 2), six events (x, y, t, p).
WORKED = [(0, 0, 0, 1), (1, 0, 100, 1), (1, 0, 249, 0), (2, 1, 250, 1), (2, 1, 499, 1), (0, 1, 500, 0)]
WORKED_SENSOR = (3, 2, 2)


def worked_events():
    return E.make_events(*np.array(WORKED).T)


def test_worked_example_n_time_bins():
    # width = (500 - 0) // 2 = 250: bin 0 is [0, 250) (events 0-2), bin 1 is [250, 500) (events 3-4);
    # event 5 at t = 500 = 0 + 2 * 250 falls in no bin.
    got = E.to_frames(worked_events(), WORKED_SENSOR, n_time_bins=2)
    want = np.zeros((2, 2, 2, 3), np.int8)
    want[0, 1, 0, 0] = 1   # event 0: p=1 at (x=0, y=0)
    want[0, 1, 0, 1] = 1   # event 1: p=1 at (1, 0)
    want[0, 0, 0, 1] = 1   # event 2: p=0 at (1, 0)
    want[1, 1, 1, 2] = 2   # events 3, 4: p=1 at (2, 1)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, want)
    signed = E.to_frames(worked_events(), WORKED_SENSOR, n_time_bins=2, polarity="signed")
    np.testing.assert_array_equal(signed, want[:, 1:] - want[:, :1])
    assert signed[0, 0, 0, 1] == 0 and signed.shape == (2, 1, 2, 3)


def test_worked_example_time_window():
    # T = (500 - 200) // 200 + 1 = 2 whole windows [0, 200), [200, 400); events 4, 5 fall after them.
    # include_incomplete: T = ceil(300 / 200) + 1 = 3, and [400, 600) holds events 4 and 5.
    got = E.to_frames(worked_events(), WORKED_SENSOR, time_window=200)
    assert got.shape == (2, 2, 2, 3) and got.sum() == 4
    assert got[0, 1, 0, 0] == got[0, 1, 0, 1] == got[1, 0, 0, 1] == got[1, 1, 1, 2] == 1
    more = E.to_frames(worked_events(), WORKED_SENSOR, time_window=200, include_incomplete=True)
    np.testing.assert_array_equal(more[:2], got)
    assert more[2, 1, 1, 2] == 1 and more[2, 0, 1, 0] == 1 and more[2].sum() == 2


@given(streams(), st.integers(1, 8), st.sampled_from(["split", "signed"]))
def test_to_frames_n_time_bins_matches_loop_twin(stream, n_bins, polarity):
    ev, sensor = stream
    if polarity == "signed" and sensor[2] != 2:
        polarity = "split"
    rows = as_rows(ev)
    if (rows[-1][2] - rows[0][2]) // n_bins == 0:
        with pytest.raises(EventsError, match="every bin would be empty"):
            E.to_frames(ev, sensor, n_time_bins=n_bins, polarity=polarity)
        return
    got = E.to_frames(ev, sensor, n_time_bins=n_bins, polarity=polarity)
    np.testing.assert_array_equal(got, frames_twin(rows, sensor, n_time_bins=n_bins, polarity=polarity))


@given(streams(), st.integers(1, 3 * 10**6), st.booleans(), st.sampled_from(["split", "signed"]))
def test_to_frames_time_window_matches_loop_twin(stream, window, incomplete, polarity):
    ev, sensor = stream
    if polarity == "signed" and sensor[2] != 2:
        polarity = "split"
    rows = as_rows(ev)
    window = max(1, window % (2 * (rows[-1][2] - rows[0][2]) + 3))
    got = E.to_frames(ev, sensor, time_window=window, include_incomplete=incomplete, polarity=polarity)
    want = frames_twin(rows, sensor, time_window=window, include_incomplete=incomplete, polarity=polarity)
    np.testing.assert_array_equal(got, want)


def test_int8_limits():
    # n events at t = 0..n-1 on one pixel, one bin [0, n-1): the last event falls in no bin, n-1 are counted.
    one_pixel = lambda n, p: E.make_events(np.zeros(n, int), np.zeros(n, int), np.arange(n), np.full(n, p))
    assert E.to_frames(one_pixel(128, 1), (1, 1, 2), n_time_bins=1).max() == 127
    with pytest.raises(EventsError, match="counts 128 events.*outside int8"):
        E.to_frames(one_pixel(129, 1), (1, 1, 2), n_time_bins=1)
    assert E.to_frames(one_pixel(129, 0), (1, 1, 2), n_time_bins=1, polarity="signed").min() == -128
    with pytest.raises(EventsError, match="counts -129 events"):
        E.to_frames(one_pixel(130, 0), (1, 1, 2), n_time_bins=1, polarity="signed")


@given(streams(max_events=40), st.integers(1, 2000))
def test_denoise_matches_pairwise_twin(stream, filter_time):
    ev, _ = stream
    got = E.denoise(ev, filter_time)
    assert got.dtype == E.EVENT_DTYPE
    assert as_rows(got) == denoise_twin(as_rows(ev), filter_time)


def test_denoise_never_fired_neighbour_is_not_an_event_at_time_zero():
    # tonic would keep this lone event (t=5 < filter_time, its neighbours' memory starts at filter_time).
    assert len(E.denoise(E.make_events([1, 1], [1, 1], [5, 6], [0, 0]), 10)) == 0


def test_downsample():
    ev = E.make_events([0, 3, 4, 6], [5, 1, 2, 0], [0, 1, 1, 2], [0, 1, 1, 0])
    got, size = E.downsample(ev, (7, 6, 2), 2)
    assert size == (4, 3, 2)
    assert as_rows(got) == [(0, 2, 0, 0), (1, 0, 1, 1), (2, 1, 1, 1), (3, 0, 2, 0)]
    E.to_frames(got, size, n_time_bins=1)  # the new sensor holds every event


def nmnist_bytes(records):
    """Encode (x, y, t, p) records by the N-MNIST layout: x, y, then p in bit 7 and t over 23 bits."""
    out = bytearray()
    for x, y, t, p in records:
        out += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def test_nmnist_reader_decodes_hand_made_file(tmp_path):
    known = [(0, 0, 0, 0), (33, 0, 1, 1), (5, 33, 255, 1), (17, 9, 256, 0), (2, 3, 65536, 1),
             (33, 33, 2**23 - 1, 0)]
    path = tmp_path / "sample.bin"
    path.write_bytes(nmnist_bytes(known))
    ev, size = E.read(path)
    assert size == (34, 34, 2) and ev.dtype == E.EVENT_DTYPE
    assert as_rows(ev) == known


def test_nmnist_overflow_record_adds_2_to_13_us(tmp_path):
    path = tmp_path / "overflow.bin"
    path.write_bytes(nmnist_bytes([(1, 1, 8000, 1), (0, 240, 0, 0), (2, 2, 5, 0)]))
    ev, _ = E.read(path, format="nmnist")
    assert as_rows(ev) == [(1, 1, 8000, 1), (2, 2, 5 + 8192, 0)]


@pytest.mark.parametrize("name", ["events.h5", "events.hdf5", "events.npy"])
def test_write_read_round_trip(tmp_path, name):
    rng = np.random.default_rng(3)
    n = 500
    ev = E.make_events(rng.integers(0, 40, n), rng.integers(0, 30, n), np.sort(rng.integers(0, 10**12, n)),
                       rng.integers(0, 2, n))
    path = tmp_path / name
    assert E.write(path, ev, (41, 30, 2)) == path
    back, size = E.read(path, sensor_size=(41, 30, 2))
    np.testing.assert_array_equal(back, ev)
    if name.endswith(".npy"):
        assert E.read(path)[1] == (int(ev["x"].max()) + 1, 30, 2)
    else:
        assert E.read(path)[1] == (41, 30, 2)
        with h5py.File(path) as f:
            assert list(f["events"].attrs["sensor_size"]) == [41, 30, 2]


def test_reads_tonic_style_arrays_with_bool_polarity(tmp_path):
    tonic_like = np.zeros(3, dtype=[("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
    tonic_like["x"], tonic_like["t"], tonic_like["p"] = [0, 1, 2], [1, 2, 3], [True, False, True]
    np.save(tmp_path / "tonic.npy", tonic_like)
    ev, size = E.read(tmp_path / "tonic.npy")
    assert size == (3, 1, 2) and list(ev["p"]) == [1, 0, 1]


def bad_stream(**change):
    ev = worked_events()
    dtype = change.pop("dtype", None)
    if dtype is not None:
        ev = ev.astype(dtype)
    for name, (i, value) in change.items():
        ev[name][i] = value
    return ev


FLOAT_T = [("x", np.int16), ("y", np.int16), ("t", np.float64), ("p", np.int8)]


@pytest.mark.parametrize("events, match", [
    (bad_stream(x=(2, 3)), r"event 2 has x=3, outside the sensor \(expected 0 <= x < 3"),
    (bad_stream(y=(0, -1)), "event 0 has y=-1, outside the sensor"),
    (bad_stream(p=(1, 2)), "event 1 has p=2, outside the sensor"),
    (bad_stream(t=(3, 10)), "timestamps must not decrease, but event 3 has t=10 us after t=249 us"),
    (bad_stream(dtype=FLOAT_T), "field 't': expected integers, got dtype float64"),
    (worked_events()[["x", "y", "t"]], r"missing \['p'\]"),
    (np.zeros(2, [("x", int), ("y", int), ("t", int), ("p", int), ("z", int)]), r"unexpected \['z'\]"),
    (worked_events()[:0], "the stream is empty"),
    (np.zeros((4, 4), np.int64), "expected a NumPy structured array"),
    ([(0, 0, 0, 0)], "expected a NumPy structured array"),
])
def test_bad_events(events, match):
    with pytest.raises(EventsError, match=match):
        E.check_events(events, WORKED_SENSOR)
    with pytest.raises(EventsError, match=match):
        E.to_frames(events, WORKED_SENSOR, n_time_bins=1)


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one of n_time_bins and time_window"),
    ({"n_time_bins": 2, "time_window": 5}, "exactly one of"),
    ({"n_time_bins": 0}, "n_time_bins: expected a positive integer"),
    ({"time_window": 2.5}, "time_window: expected a positive integer"),
    ({"n_time_bins": 501}, "every bin would be empty"),
    ({"n_time_bins": 2, "include_incomplete": True}, "include_incomplete applies to time_window only"),
    ({"n_time_bins": 2, "polarity": "both"}, "polarity: expected one of"),
    ({"n_time_bins": 2, "sensor_size": (3, 2)}, "sensor_size: expected three positive integers"),
    ({"n_time_bins": 2, "sensor_size": (3, 2, 3)}, "P .* must be 1 or 2"),
    ({"n_time_bins": 2, "sensor_size": (3, 2, 1), "polarity": "split"}, "event 0 has p=1, outside"),
    ({"n_time_bins": 2, "sensor_size": (3, 2, 1), "polarity": "signed"}, "needs two polarity channels"),
    ({"time_window": 1, "sensor_size": (2**15, 2**15, 2)}, "limit 1073741824"),
])
def test_bad_binning_arguments(kwargs, match):
    sensor = kwargs.pop("sensor_size", WORKED_SENSOR)
    events = worked_events() if "limit" not in match else E.make_events([0, 0], [0, 0], [0, 10], [0, 0])
    with pytest.raises(EventsError, match=match):
        E.to_frames(events, sensor, **kwargs)


def test_bad_filter_and_factor():
    with pytest.raises(EventsError, match="filter_time: expected a positive integer"):
        E.denoise(worked_events(), 0)
    with pytest.raises(EventsError, match="factor: expected a positive integer"):
        E.downsample(worked_events(), WORKED_SENSOR, 1.5)


def test_events_error_is_an_input_error():
    assert issubclass(EventsError, InputError) and issubclass(EventsError, ValueError)


@pytest.mark.parametrize("name", ["out.h5", "out.npy"])
def test_bad_write_leaves_nothing(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(EventsError, match="outside the sensor"):
        E.write(path, bad_stream(x=(0, 7)), WORKED_SENSOR)
    assert os.listdir(tmp_path) == []
    E.write(path, worked_events(), WORKED_SENSOR)
    before = path.read_bytes()
    with pytest.raises(EventsError, match="timestamps must not decrease"):
        E.write(path, bad_stream(t=(5, 0)), WORKED_SENSOR)
    assert path.read_bytes() == before and os.listdir(tmp_path) == [name]


def test_bad_files(tmp_path):
    (tmp_path / "short.bin").write_bytes(nmnist_bytes([(0, 0, 0, 0)]) + b"\x01\x02")
    with pytest.raises(EventsError, match="7 bytes is not a whole number of 5-byte"):
        E.read(tmp_path / "short.bin")
    (tmp_path / "big.bin").write_bytes(nmnist_bytes([(40, 0, 0, 0)]))
    with pytest.raises(EventsError, match="big.bin: events: event 0 has x=40, outside the sensor"):
        E.read(tmp_path / "big.bin")
    assert E.read(tmp_path / "big.bin", sensor_size=(41, 1, 2))[1] == (41, 1, 2)
    (tmp_path / "back.bin").write_bytes(nmnist_bytes([(0, 0, 9, 0), (0, 0, 8, 0)]))
    with pytest.raises(EventsError, match="timestamps must not decrease"):
        E.read(tmp_path / "back.bin")
    np.save(tmp_path / "empty.npy", worked_events()[:0])
    with pytest.raises(EventsError, match="empty.npy: events: the stream is empty"):
        E.read(tmp_path / "empty.npy")
    np.save(tmp_path / "plain.npy", np.zeros((3, 4)))
    with pytest.raises(EventsError, match="expected a structured event array"):
        E.read(tmp_path / "plain.npy")
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(EventsError, match="pickled arrays are refused"):
        E.read(tmp_path / "obj.npy")
    with pytest.raises(EventsError, match=r"suffix '\.aedat4'"):
        E.read(tmp_path / "rec.aedat4")
    with pytest.raises(EventsError, match="writing the 'nmnist' format is not supported"):
        E.write(tmp_path / "x.bin", worked_events(), WORKED_SENSOR)
    with pytest.raises(FileNotFoundError):
        E.read(tmp_path / "missing.h5")


def test_bad_hdf5_files(tmp_path):
    path = tmp_path / "ev.h5"
    E.write(path, worked_events(), WORKED_SENSOR)
    with pytest.raises(EventsError, match=r"stores sensor_size=\(3, 2, 2\), but sensor_size=\(4, 2, 2\)"):
        E.read(path, sensor_size=(4, 2, 2))
    with h5py.File(path, "a") as f:
        f["events"].attrs["sensor_size"] = [3.0, 2.0, 2.0]
    with pytest.raises(EventsError, match="sensor_size attribute: expected three positive integers"):
        E.read(path)
    with h5py.File(path, "a") as f:
        del f["events"].attrs["sensor_size"]
    with pytest.raises(EventsError, match="missing the sensor_size attribute"):
        E.read(path)
    with h5py.File(path, "a") as f:
        del f["events/p"]
    with pytest.raises(EventsError, match="/events/p: missing"):
        E.read(path)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = [1]
    with pytest.raises(EventsError, match="no /events group"):
        E.read(tmp_path / "other.h5")
    with h5py.File(tmp_path / "link.h5", "w") as f:
        f["events/x"] = h5py.ExternalLink("elsewhere.h5", "/x")
    with pytest.raises(EventsError, match="external link"):
        E.read(tmp_path / "link.h5")


@pytest.mark.parametrize("fields, match", [
    (([0, 1], [0], [0, 1], [0, 0]), r"fields have different lengths \{'x': 2, 'y': 1"),
    (([0], [0], [-5], [0]), r"event 0 has t=-5, expected 0 <= t"),
    (([40000], [0], [0], [0]), r"event 0 has x=40000, expected 0 <= x <= 32767"),
    ((np.array([2**40], np.uint64), [0], [0], [0]), "field 'x': value 1099511627776 exceeds 32767"),
    (([[0]], [[0]], [[0]], [[0]]), "field 'x': expected a 1-D array"),
    (([0.5], [0], [0], [0]), "field 'x': expected integers, got dtype float64"),
])
def test_bad_make_events(fields, match):
    with pytest.raises(EventsError, match=match):
        E.make_events(*fields)
