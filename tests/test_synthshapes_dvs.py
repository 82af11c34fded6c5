"""SynthShapes-DVS: the ESIM-style synthesizer against hand-made cases and loop twins, and its HDF5 files."""
import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.dvs_io import EventDataset, write_event_dataset
from eventsim.errors import DatasetError, EventsError
from eventsim.events import EVENT_DTYPE, check_events, to_frames
from eventsim.synthshapes import SynthShapes
from eventsim.synthshapes_dvs import SynthShapesDVS, emit_events, luminance, saccade_offsets, shift_image


def emit_twin(log_frames, times, c_on, c_off):
    """Pixel by pixel, frame by frame, crossing by crossing (same formulas as emit_events)."""
    k, h, w = log_frames.shape
    events = []
    for y in range(h):
        for x in range(w):
            ref = log_frames[0, y, x]
            for j in range(1, k):
                l0, l1 = log_frames[j - 1, y, x], log_frames[j, y, x]
                diff = l1 - ref
                for on, c in ((True, c_on[y, x]), (False, c_off[y, x])):
                    n = int(np.floor(max(diff if on else -diff, 0) / c))
                    for m in range(1, n + 1):
                        level = ref + (m * c if on else -m * c)
                        frac = min(max((level - l0) / (l1 - l0), 0.0), 1.0)
                        t = int(times[j - 1] + np.floor((times[j] - times[j - 1]) * frac))
                        events.append((j, y, x, m, t, on))
                    ref = ref + n * c if on else ref - n * c
    events.sort(key=lambda e: (e[4], e[0], e[1], e[2], e[3]))
    out = np.empty(len(events), EVENT_DTYPE)
    for i, (_, y, x, _, t, on) in enumerate(events):
        out[i] = (x, y, t, on)
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 6), st.integers(1, 4), st.integers(1, 4))
def test_emit_events_equals_loop_twin(seed, frames, h, w):
    rng = np.random.default_rng(seed)
    log_frames = np.cumsum(rng.normal(0, 0.4, (frames, h, w)), axis=0)
    times = np.cumsum(rng.integers(1, 2000, frames))
    c_on, c_off = rng.uniform(0.05, 0.5, (2, h, w))
    np.testing.assert_array_equal(emit_events(log_frames, times, c_on, c_off), emit_twin(log_frames, times, c_on,
                                                                                        c_off))


@pytest.mark.parametrize("c, expected", [(0.25, 4), (0.125, 8), (0.0625, 16)])
def test_ramp_gives_one_event_per_threshold_at_interpolated_times(c, expected):
    """log I rises 0 -> 1 within one 1000 us frame: floor(1 / C) ON events at t = k C 1000 (count ~ 1/C)."""
    frames = np.array([0.0, 1.0]).reshape(2, 1, 1)
    ev = emit_events(frames, np.array([0, 1000]), np.full((1, 1), c), np.full((1, 1), 1.0))
    assert len(ev) == expected
    np.testing.assert_array_equal(ev["t"], (np.arange(1, expected + 1) * c * 1000).astype(np.int64))
    assert np.all(ev["p"] == 1)
    dark = emit_events(-frames, np.array([0, 1000]), np.full((1, 1), 1.0), np.full((1, 1), c))
    assert len(dark) == expected and np.all(dark["p"] == 0)


def test_bright_square_moving_right_has_on_at_leading_and_off_at_trailing_edge():
    """A bright square on black moves 4 px right: ON (brightening) at its right edge, OFF at its left edge."""
    img = np.full((12, 16), 0.05)
    img[4:8, 3:7] = 1.0
    offsets = np.stack([np.linspace(0, 4, 41), np.zeros(41)], axis=1)
    frames = np.log(shift_image(img, offsets) + 0.1)
    ev = emit_events(frames, np.arange(41) * 1000, np.full((12, 16), 0.2), np.full((12, 16), 0.2))
    on, off = ev[ev["p"] == 1], ev[ev["p"] == 0]
    assert len(on) > 0 and len(off) > 0
    assert set(on["x"].tolist()) <= set(range(7, 11))      # newly covered columns
    assert set(off["x"].tolist()) <= set(range(3, 7))      # uncovered columns
    assert set(ev["y"].tolist()) == set(range(4, 8))
    assert np.all(np.diff(ev["t"]) >= 0)


def test_shift_image_integer_and_bilinear():
    rng = np.random.default_rng(0)
    img = rng.random((5, 7))
    out = shift_image(img, [[2, 1], [0.5, 0.0], [-3, -2]])
    np.testing.assert_allclose(out[0, 1:, 2:], img[:-1, :-2])
    np.testing.assert_allclose(out[0, 0, 2:], img[0, :-2])               # clamped row above the top
    np.testing.assert_allclose(out[1, :, 1:], (img[:, :-1] + img[:, 1:]) / 2)
    np.testing.assert_allclose(out[2, :-2, :-3], img[2:, 3:])


def test_saccade_path_is_a_closed_triangle():
    off = saccade_offsets([0, 100, 200, 300, 50, 400], 3.0, 300)
    np.testing.assert_allclose(off[:4], [[0, 0], [1.5, -3 * np.sqrt(3) / 2], [3, 0], [0, 0]], atol=1e-12)
    np.testing.assert_allclose(off[4], off[1] / 2)
    np.testing.assert_allclose(off[5], [0, 0])


def test_streams_are_deterministic_sorted_and_inside_the_sensor():
    ds = SynthShapesDVS("test", length=6)
    again = SynthShapesDVS("test", length=6)
    for i in range(3):
        s = ds[i]
        np.testing.assert_array_equal(s.events, again[i].events)
        check_events(s.events, ds.sensor_size)                    # inside the sensor, times non-decreasing
        assert s.events["t"].min() >= 0 and s.events["t"].max() <= ds.duration_us
        assert s.label == SynthShapes("test", size=32).label(i)
        assert set(np.unique(s.events["p"]).tolist()) == {0, 1}
    assert len(ds[0].events) != len(ds[1].events)
    other = SynthShapesDVS("test", length=6, seed=1)[0].events
    assert len(other) != len(ds[0].events) or not np.array_equal(other, ds[0].events)


def test_event_count_grows_like_one_over_c_and_is_bounded_by_the_log_variation():
    """Without jitter or noise, N(C) C <= total variation of log I, N(C/2) >= 2 N(C)."""
    kw = dict(contrast_sigma=0.0, noise_rate=0.0, length=2)
    ds = SynthShapesDVS("val", **kw)
    frames = np.log(shift_image(ds.grey(0), saccade_offsets(ds.frame_times(), ds.amplitude, ds.duration_us))
                    + ds.log_eps)
    variation = np.abs(np.diff(frames, axis=0)).sum()
    counts = {c: len(SynthShapesDVS("val", contrast=c, **kw)[0].events) for c in (0.4, 0.2, 0.1, 0.05)}
    for c in counts:
        assert counts[c] * c <= variation
    for c in (0.4, 0.2, 0.1):
        assert counts[c / 2] >= 2 * counts[c]


def test_grey_scene_is_the_luminance_with_a_least_object_contrast():
    """min_contrast=0 gives SynthShapes' luminance; the default lifts near-iso-luminant objects only."""
    plain = SynthShapesDVS("test", length=60, min_contrast=0.0)
    lifted = SynthShapesDVS("test", length=60)
    changed = 0
    for i in range(60):
        np.testing.assert_allclose(plain.grey(i), luminance(plain.shapes[i].image), atol=1e-12)
        mask, under = plain.shapes[i].mask, luminance(plain.shapes.background(i))
        contrast = {name: abs(np.log((ds.grey(i)[mask].mean() + 0.1) / (under[mask].mean() + 0.1)))
                    for name, ds in (("plain", plain), ("lifted", lifted))}
        assert contrast["lifted"] >= 0.3                      # 0.4 over the mask's soft edge and the noise
        if contrast["plain"] >= 0.5:
            np.testing.assert_array_equal(lifted.grey(i), plain.grey(i))
        changed += not np.array_equal(lifted.grey(i), plain.grey(i))
    assert 0 < changed < 40
    assert min(abs(np.log((plain.grey(i)[plain.shapes[i].mask].mean() + 0.1)
                          / (luminance(plain.shapes.background(i))[plain.shapes[i].mask].mean() + 0.1)))
               for i in range(60)) < 0.1                     # SynthShapes has nearly iso-luminant objects


def test_noise_events_arrive_at_the_given_rate():
    quiet = SynthShapesDVS("test", length=2, noise_rate=0.0)[1].events
    noisy = SynthShapesDVS("test", length=2, noise_rate=20.0)[1].events
    expected = 20.0 * 32 * 32 * 0.3
    assert abs(len(noisy) - len(quiet) - expected) < 5 * np.sqrt(expected)


def test_masks_move_with_the_image():
    ds = SynthShapesDVS("test", length=2, amplitude=2.0)
    mask = ds.shapes[0].mask
    m = ds.masks_at(0, [0, 2 * ds.duration_us // 3])          # rest, then the vertex (2, 0)
    np.testing.assert_array_equal(m[0], mask)
    np.testing.assert_array_equal(m[1][:, 2:], mask[:, :-2])


def test_bin_masks_follow_the_to_frames_bins():
    ds = SynthShapesDVS("test", length=2)
    ev = ds[1].events
    masks, edges = ds.bin_masks(1, ev, 5)
    width = (int(ev["t"][-1]) - int(ev["t"][0])) // 5
    np.testing.assert_array_equal(edges, ev["t"][0] + width * np.arange(6))
    np.testing.assert_array_equal(masks, ds.masks_at(1, (edges[:-1] + edges[1:]) / 2))
    frames, labels = ds.frames(0, 2, 5)
    np.testing.assert_array_equal(frames[1], to_frames(ev, ds.sensor_size, n_time_bins=5))
    assert labels.tolist() == [ds.label(0), ds.label(1)]


def test_binned_gathers_streams_frames_masks_and_offsets():
    ds = SynthShapesDVS("test", length=4)
    data = ds.binned(1, 3, 5)
    frames, labels = ds.frames(1, 3, 5)
    np.testing.assert_array_equal(data["frames"], frames)
    np.testing.assert_array_equal(data["labels"], labels)
    for k, i in enumerate((1, 2)):
        s = ds[i]
        np.testing.assert_array_equal(data["events"][k], s.events)
        np.testing.assert_array_equal(data["rest"][k], s.mask)
        masks, edges = ds.bin_masks(i, s.events, 5)
        np.testing.assert_array_equal(data["masks"][k], masks)
        np.testing.assert_array_equal(data["offsets"][k],
                                      saccade_offsets((edges[:-1] + edges[1:]) / 2, ds.amplitude, ds.duration_us))
    with pytest.raises(DatasetError, match="empty range"):
        ds.binned(3, 3, 5)


def test_bad_parameters_are_named():
    with pytest.raises(DatasetError, match="contrast must be > 0"):
        SynthShapesDVS("test", contrast=0)
    with pytest.raises(DatasetError, match="frame_us"):
        SynthShapesDVS("test", frame_us=7)
    with pytest.raises(DatasetError, match="split"):
        SynthShapesDVS("dev")
    with pytest.raises(DatasetError, match="min_contrast"):
        SynthShapesDVS("test", min_contrast=-0.1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("dvs") / "ev.h5"
    ds = SynthShapesDVS("test", length=5)
    write_event_dataset(path, ds, 2, 3, 4)
    return path, ds


def test_event_dataset_round_trip(exported):
    path, ds = exported
    data = EventDataset(path)
    assert len(data) == 3 and data.sensor_size == (32, 32, 2) and data.n_time_bins == 4
    assert data.params == ds.params() and data.indices.tolist() == [2, 3, 4]
    for k, i in enumerate(range(2, 5)):
        ev = ds[i].events
        np.testing.assert_array_equal(data.stream(k), ev)
        masks, edges = ds.bin_masks(i, ev, 4)
        np.testing.assert_array_equal(data.masks[k], masks)
        np.testing.assert_array_equal(data.bin_edges[k], edges)
        assert data.labels[k] == ds.label(i)
    np.testing.assert_array_equal(data.frames(6, 1, 2)[0], to_frames(ds[3].events, ds.sensor_size, n_time_bins=6))


def _corrupt(src, dst, edit):
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for k, v in f.attrs.items():
            g.attrs[k] = v
        names = []
        f.visititems(lambda name, obj: names.append(name) if hasattr(obj, "shape") else None)
        for name in names:
            g.create_dataset(name, data=f[name][()])
        edit(g)


@pytest.mark.parametrize("edit, match", [
    (lambda g: g.__delitem__("labels"), "/labels: missing"),
    (lambda g: g.attrs.__setitem__("format", "other"), "not an event data set"),
    (lambda g: g["streams/offsets"].__setitem__(1, 0), "offsets"),
    (lambda g: g["streams/x"].__setitem__(0, 40), "outside the sensor"),
    (lambda g: g["streams/t"].__setitem__(1, 10**9), "stream 0 has decreasing timestamps"),
    (lambda g: g["labels"].__setitem__(0, 11), "class indices"),
])
def test_bad_event_dataset_files_are_named(exported, tmp_path, edit, match):
    bad = tmp_path / "bad.h5"
    _corrupt(exported[0], bad, edit)
    with pytest.raises(EventsError, match=match):
        EventDataset(bad)
