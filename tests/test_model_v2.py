"""Model format 2: general layers in the reference, the builder, the file and its validation.

The reference's strided/padded convolution and general sum pool are checked
against naive loops written here; the new neuron rules against hand-worked
steps; files round-trip; version-1 models stay version 1; every bad field is
refused with an error that names its HDF5 path.
"""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsim import ModelBuilder, Simulator, default_model, load_model, save_model
from eventsim import fixed_point as fp
from eventsim import reference as ref
from eventsim.errors import InputError, ModelFormatError
from eventsim.model_io import content_sha256
from eventsim.topology import Pool, conv_reach, connections
from strategies import build_model, input_spikes, model_specs


def _naive_conv(x, w, stride, padding):
    c_out, c_in, ky, kx = w.shape
    _, h, wd = x.shape
    ho = (h + 2 * padding[0] - ky) // stride[0] + 1
    wo = (wd + 2 * padding[1] - kx) // stride[1] + 1
    out = np.zeros((c_out, ho, wo), np.int64)
    for o in range(c_out):
        for y in range(ho):
            for xx in range(wo):
                for c in range(c_in):
                    for a in range(ky):
                        for b in range(kx):
                            iy, ix = y * stride[0] - padding[0] + a, xx * stride[1] - padding[1] + b
                            if 0 <= iy < h and 0 <= ix < wd:
                                out[o, y, xx] += int(w[o, c, a, b]) * int(x[c, iy, ix])
    return out


def _naive_pool(x, k, s, p):
    c, h, w = x.shape
    ho, wo = (h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1
    out = np.zeros((c, ho, wo), np.int64)
    for y in range(ho):
        for xx in range(wo):
            for a in range(k[0]):
                for b in range(k[1]):
                    iy, ix = y * s[0] - p[0] + a, xx * s[1] - p[1] + b
                    if 0 <= iy < h and 0 <= ix < w:
                        out[:, y, xx] += x[:, iy, ix]
    return out


windows = st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3),
                    st.integers(0, 4), st.integers(0, 4), st.integers(0, 2**31 - 1))


@settings(max_examples=40, deadline=None)
@given(windows)
def test_conv2d_equals_a_naive_loop(win):
    ky, kx, sy, sx, py, px, seed = win
    py, px = min(py, ky - 1), min(px, kx - 1)
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (2, 9, 7))
    w = rng.integers(-128, 128, (3, 2, ky, kx))
    np.testing.assert_array_equal(ref.conv2d(x[None], w, (sy, sx), (py, px))[0],
                                  _naive_conv(x, w, (sy, sx), (py, px)))


@settings(max_examples=40, deadline=None)
@given(windows)
def test_pool_sum_equals_a_naive_loop(win):
    ky, kx, sy, sx, py, px, seed = win
    ky, kx = min(ky, 3), min(kx, 3)
    py, px = min(py, ky // 2), min(px, kx // 2)
    x = np.random.default_rng(seed).integers(-2, 3, (2, 8, 9))
    pool = Pool((ky, kx), (sy, sx), (py, px))
    np.testing.assert_array_equal(ref.pool_sum(x, pool), _naive_pool(x, (ky, kx), (sy, sx), (py, px)))


def test_conv_reach_counts_every_tap_that_reads_a_position():
    rng = np.random.default_rng(3)
    b = ModelBuilder((1, 9, 8), input_encoding="counts")
    b.conv("c", rng.normal(size=(1, 1, 4, 3)), stride=(2, 3), padding=(3, 1))
    model = b.flatten("f").output("out", rng.normal(size=(2, b.shape[0]))).build()
    layer = model.layer("c")
    reach = np.zeros((9, 8), np.int64)
    for y in range(9):
        for x in range(8):
            one = np.zeros((1, 9, 8), np.int64)
            one[0, y, x] = 1
            reach[y, x] = _naive_conv(one, np.ones((1, 1, 4, 3), np.int64), (2, 3), (3, 1)).sum()
    np.testing.assert_array_equal(conv_reach(9, 8, layer), reach)


def test_reset_to_zero_and_subtract_by_hand():
    v = np.array([10, 50, 50, -7])
    # subtract: 50 > 40 spikes, keeps 50 - 40 + input
    v1, s1, _ = fp.neuron_step(v, np.array([5, 5, 5, 5]), 1, 0, 0, 40, fp.LEAK_ONE, False)
    np.testing.assert_array_equal(v1, [15, 15, 15, -2])
    np.testing.assert_array_equal(s1, [False, True, True, False])
    # zero: the leaked voltage is dropped on a spike, then the input is added
    v0, s0, _ = fp.neuron_step(v, np.array([5, 5, 5, 5]), 1, 0, 0, 40, 2048, True)
    np.testing.assert_array_equal(v0, [10, 5, 5, -3 + 5])
    np.testing.assert_array_equal(s0, s1)
    # per-channel thresholds broadcast
    _, s2, _ = fp.neuron_step(v, 0, 1, 0, 0, np.array([5, 60, 40, 0]), fp.LEAK_ONE, False)
    np.testing.assert_array_equal(s2, [True, False, True, False])


def _tiny(readout="accumulate", reset="subtract", threshold=0.5):
    b = ModelBuilder((1, 1, 1), default_timesteps=6, input_encoding="counts")
    b.flatten("f")
    b.dense("d", np.array([[1.0]]), threshold=threshold, reset=reset)
    b.output("out", np.array([[1.0], [-1.0]]), readout=readout, threshold=threshold, reset=reset)
    return b.build()


def test_spiking_output_logits_are_spike_counts():
    model = _tiny("spikes")
    x = np.full((1, 6, 1, 1, 1), 1, np.int8)
    run = ref.simulate(model, x)
    counts = run.spikes["out"].reshape(1, 6, 2).sum(axis=1)
    np.testing.assert_array_equal(run.logits, counts)
    assert counts[0, 0] > 0 and counts[0, 1] == 0
    assert model.output_layer.spiking and "out" in model.spiking_layers


def test_a_count_adds_count_times_the_weight():
    model = _tiny()
    for n in (1, 3, 127, -128):
        x = np.zeros((1, 1, 1, 1, 1), np.int8)
        x[...] = n
        run = ref.simulate(model, x)
        layer = model.layer("d")
        want, _, _ = fp.neuron_step(0, n * int(layer.weight[0, 0]), int(layer.gain[0, 0]), int(layer.bias[0, 0]),
                                    layer.shift, int(layer.theta[0]), layer.lam12, False)
        assert int(run.voltages["d"].ravel()[0]) == int(want)
        assert run.counts["input"]["spikes"][0, 0] == abs(n)
        assert run.counts["d"]["synops"][0, 0] == abs(n)


def test_zero_reset_drops_the_excess_that_subtract_keeps():
    """Drive ``a = 0.6 theta``: zero reset fires every other step; subtract keeps the excess (rate ``a / theta``)."""
    x = np.full((1, 10, 1, 1, 1), 1, np.int8)
    zero = ref.simulate(_tiny(reset="zero", threshold=1 / 0.6), x).spikes["d"].ravel()
    sub = ref.simulate(_tiny(reset="subtract", threshold=1 / 0.6), x).spikes["d"].ravel()
    np.testing.assert_array_equal(zero, [0, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(sub, [0, 0, 1, 0, 1, 1, 0, 1, 0, 1])


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(model_specs(max_timesteps=5, general=True))
def test_general_models_round_trip_through_the_file(tmp_path_factory, spec):
    model = build_model(spec)
    path = tmp_path_factory.mktemp("v2") / "m.h5"
    save_model(model, path)
    again = load_model(path)
    assert again.sha256 == model.sha256 and content_sha256(again) == content_sha256(model)
    with h5py.File(path, "r") as f:
        assert f.attrs["format_version"] == model.format_version
    x = input_spikes(spec, 2)
    a, b = ref.simulate(model, x, sam_layers=model.spiking_layers), ref.simulate(again, x,
                                                                                 sam_layers=model.spiking_layers)
    np.testing.assert_array_equal(a.logits, b.logits)
    for name in a.spikes:
        np.testing.assert_array_equal(a.spikes[name], b.spikes[name])


def test_version_1_models_stay_version_1(tmp_path):
    model = load_model(default_model())
    assert model.format_version == 1
    save_model(model, tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert f.attrs["format_version"] == 1
        for name in model.layer_names:
            assert not {"stride", "padding", "kernel", "reset", "readout"} & set(f["layers"][name].attrs)
    assert load_model(tmp_path / "m.h5").sha256 == model.sha256


def _v2_file(tmp_path):
    rng = np.random.default_rng(0)
    b = ModelBuilder((2, 12, 12), input_encoding="counts", default_timesteps=4)
    b.conv("c1", rng.normal(size=(4, 2, 4, 4)), stride=2, padding=1, reset="zero",
           threshold=rng.uniform(0.5, 1.0, 4))
    b.sumpool("p1", 2).flatten("f")
    b.output("out", rng.normal(size=(3, b.shape[0])), readout="spikes")
    path = tmp_path / "v2.h5"
    save_model(b.build(), path)
    return path


@pytest.mark.parametrize("where, attr, value, message", [
    ("/layers/c1", "stride", np.array([0, 1]), "stride"),
    ("/layers/c1", "padding", np.array([4, 4]), "padding larger than the kernel"),
    ("/layers/c1", "reset", "soft", "reset"),
    ("/layers/out", "readout", "rate", "readout"),
    ("/layers/p1", "kernel", np.array([5, 5]), "out_shape"),
    ("/layers/p1", "padding", np.array([2, 2]), "padding"),
    ("/layers/c1", "theta", np.array([1, 2, 3]), "theta"),
    ("/input", "encoding", "rate", "encoding"),
])
def test_bad_v2_fields_name_their_hdf5_path(tmp_path, where, attr, value, message):
    path = _v2_file(tmp_path)
    with h5py.File(path, "r+") as f:
        f[where].attrs[attr] = value
        del f.attrs["content_sha256"]
    with pytest.raises(ModelFormatError, match=message) as err:
        load_model(path)
    assert where.split("/")[-1] in str(err.value)


def test_a_version_1_file_cannot_use_version_2_kinds(tmp_path):
    path = _v2_file(tmp_path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 1
        del f.attrs["content_sha256"]
    with pytest.raises(ModelFormatError, match="/layers/c1.*version 1"):
        load_model(path)


def test_builder_refuses_bad_geometry_and_modes():
    rng = np.random.default_rng(0)
    b = ModelBuilder((1, 8, 8))
    with pytest.raises(ModelFormatError, match="padding"):
        b.conv("c", rng.normal(size=(2, 1, 3, 3)), padding=3)
    with pytest.raises(ModelFormatError, match="reset"):
        b.conv("c", rng.normal(size=(2, 1, 3, 3)), reset="hard")
    with pytest.raises(ModelFormatError, match="threshold"):
        b.conv("c", rng.normal(size=(2, 1, 3, 3)), threshold=np.ones(3))
    with pytest.raises(ModelFormatError, match="does not fit"):
        b.sumpool("p", 9)


def test_counts_input_is_checked_against_the_encoding():
    counts_model = _tiny()
    sim = Simulator(counts_model)
    with pytest.raises(InputError, match="int8 range"):
        sim.run(spikes=np.full((1, 2, 1, 1, 1), 200), backend="reference")
    with pytest.raises(InputError, match="event counts"):
        sim.run(images=np.zeros((1, 1, 1, 1)), backend="reference")
    poisson = Simulator(load_model(default_model()))
    with pytest.raises(InputError, match="input_encoding='counts'"):
        poisson.run(spikes=np.full((1, 2, 3, 64, 64), 2), backend="reference")


def test_connections_compose_plain_pools_and_flag_general_ones():
    rng = np.random.default_rng(0)
    b = ModelBuilder((1, 16, 16))
    b.conv("c1", rng.normal(size=(2, 1, 3, 3))).sumpool("p1", 2).avgpool("p2", 2)
    b.conv("c2", rng.normal(size=(2, 2, 3, 3))).sumpool("p3", 3, stride=2, padding=1).flatten("f")
    model = b.output("out", rng.normal(size=(2, b.shape[0]))).build()
    conns = {c.target.name: c for c in connections(model)}
    assert conns["c2"].pool == 4 and conns["c2"].pooled_shape == (2, 4, 4)
    assert conns["out"].pool == 0 and conns["out"].pools == (Pool((3, 3), (2, 2), (1, 1)),)
