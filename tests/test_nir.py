"""NIR import and export (eventsim.nir_io): a Sinabs-style N-MNIST CNN against an independent float simulation,
exact round trips of random models, the CLI, NIR data.  Node mapping and refusals: test_nir_mapping.py.

The float simulation below is written from NIR's node definitions and DESIGN section 2 (a spike is decided
from the previous voltage, subtract reset), with its own convolution; it shares no code with eventsim.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

nir = pytest.importorskip("nir")

from eventsim import ModelBuilder, ModelFormatError, Simulator, reference  # noqa: E402
from eventsim.cli import main  # noqa: E402
from eventsim.errors import InputError, NIRExportError  # noqa: E402
from eventsim.model_io import load_model, save_model  # noqa: E402
from eventsim.nir_io import RoundTripWarning, export_graph, read_nir, write_nir  # noqa: E402
from nirgraphs import nmnist_graph  # noqa: E402
from strategies import build_model, input_spikes, model_specs  # noqa: E402

T = 30


# --- the N-MNIST CNN of issue 12, as Sinabs exports it -----------------------------------------------------------

def _conv(x, w, stride, pad):
    """Float cross-correlation, (N, C, H, W) x (O, C, ky, kx) -> (N, O, H', W')."""
    _, _, h, wd = x.shape
    _, _, ky, kx = w.shape
    ho, wo = (h + 2 * pad - ky) // stride + 1, (wd + 2 * pad - kx) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.stack([xp[:, :, a:a + stride * ho:stride, b:b + stride * wo:stride]
                     for a in range(ky) for b in range(kx)], axis=2)          # N, C, ky*kx, H', W'
    return np.tensordot(cols, w.reshape(w.shape[0], w.shape[1], -1), axes=([1, 2], [1, 2])).transpose(0, 3, 1, 2)


def _sumpool2(x):
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).sum(axis=(3, 5))


def float_simulation(graph, x):
    """Spikes (N, T, neurons) of every IF layer: s[t] = v[t-1] > theta, v[t] = v[t-1] + I[t] - theta s[t]."""
    nd = graph.nodes
    layers = {
        "conv1": lambda z: _conv(z, nd["conv1"].weight, 2, 1) + nd["conv1"].bias[None, :, None, None],
        "conv2": lambda z: _conv(_sumpool2(z), nd["conv2"].weight, 1, 1) + nd["conv2"].bias[None, :, None, None],
        "fc1": lambda z: _sumpool2(z).reshape(len(z), -1) @ nd["fc1"].weight.T + nd["fc1"].bias,
        "fc2": lambda z: z @ nd["fc2"].weight.T + nd["fc2"].bias,
    }
    v, spikes, currents = {}, {k: [] for k in layers}, {k: [] for k in layers}
    for t in range(x.shape[1]):
        fired = {k: (v[k] > 1.0).astype(np.float64) for k in v}
        src = x[:, t].astype(np.float64)
        for name, current in layers.items():
            i = current(src)
            s = fired.get(name, np.zeros_like(i))
            v[name] = v.get(name, np.zeros_like(i)) + i - 1.0 * s
            spikes[name].append(s.reshape(len(s), -1))
            currents[name].append(i)
            src = s
    return {k: np.stack(s, axis=1) for k, s in spikes.items()}, currents


def nmnist_counts(seed, n=4):
    """Binned event counts (N, T, 2, 34, 34) int8: Poisson(0.3) per pixel, polarity and step."""
    rng = np.random.default_rng(1000 + seed)
    return np.minimum(rng.poisson(0.3, (n, T, 2, 34, 34)), 127).astype(np.int8)


@pytest.fixture(scope="module")
def nmnist(tmp_path_factory):
    path = tmp_path_factory.mktemp("nir") / "nmnist.nir"
    graph = nmnist_graph(0)
    nir.write(path, graph)
    return graph, path


def test_nmnist_graph_imports_as_the_layers_it_describes(nmnist):
    _, path = nmnist
    model = read_nir(path, reset="subtract", timesteps=T)
    assert [(layer.name, layer.kind) for layer in model.layers] == [
        ("conv1", "conv"), ("pool1", "sumpool"), ("conv2", "conv"), ("pool2", "sumpool"), ("flat", "flatten"),
        ("fc1", "dense"), ("fc2", "output")]
    conv1, conv2 = model.layer("conv1"), model.layer("conv2")
    assert (conv1.kernel, conv1.stride, conv1.padding, conv1.out_shape) == ((5, 5), (2, 2), (1, 1), (8, 16, 16))
    assert (conv2.kernel, conv2.stride, conv2.padding, conv2.out_shape) == ((3, 3), (1, 1), (1, 1), (16, 8, 8))
    assert model.output_layer.readout == "spikes" and model.input_encoding == "counts"
    assert all(layer.lam12 == 4096 and layer.reset == "subtract" for layer in model.neuron_layers)
    assert model.default_timesteps == T and model.provenance["source"] == "nir"
    # The builder's quantization error is what `eventsim info` reports: int8 weights within 1 % (L2).
    assert all(layer.quant_error["weight_rel_l2"] < 0.01 for layer in model.neuron_layers)


def test_nmnist_spike_counts_agree_with_an_independent_float_simulation(nmnist):
    """Tolerances, from charge conservation of the IF neuron with subtract reset: over steps 0..t a neuron
    fires n = (sum of its currents - v[t]) / theta times.  Two simulations whose summed currents differ by
    less than D thresholds at every step can differ by at most floor(D) + 1 spikes: the one ahead has the
    lower voltage, so it cannot pull further ahead while the gap exceeds D.  conv1 sees identical inputs and
    only the quantized weights, gains and biases (D computed below, < 1), so its counts differ by at most 1.
    Deeper layers also see their inputs' differing spikes, each moving a current by one weight (about
    theta / sqrt(fan-in)); seeded runs of this graph stay below a mean of 0.5 spikes per neuron over 30
    steps (counts around 5); we allow 1, a per-neuron correlation of at least 0.97, and 4 % in the total."""
    graph, path = nmnist
    model = read_nir(path, reset="subtract", timesteps=T)
    x = nmnist_counts(0)
    run = reference.simulate(model, x)
    floats, currents = float_simulation(graph, x)
    result = Simulator(model, sam_layers=["conv1", "conv2"]).run(spikes=x, backend="reference", record_spikes=True)
    for name in floats:
        np.testing.assert_array_equal(result.spikes[name], run.spikes[name])
    np.testing.assert_array_equal(result.logits, run.spikes["fc2"].sum(axis=1).reshape(len(x), -1))
    assert set(result.sam) == {"conv1", "conv2"} and result.sam["conv1"].shape == (len(x), T, 16, 16)
    drift = _conv1_current_drift(model, x, currents["conv1"])
    assert drift < 1.0
    for name, fl in floats.items():
        ours = run.spikes[name].reshape(len(x), T, -1).astype(np.float64)
        assert 0.01 < ours.mean() < 0.6, f"{name}: spike rate {ours.mean():.3f} is outside a useful test range"
        n_float, n_int = fl.sum(axis=1), ours.sum(axis=1)
        diff = np.abs(n_float - n_int)
        if name == "conv1":
            assert diff.max() <= np.floor(drift) + 1
        assert diff.mean() <= 1.0, name
        assert np.corrcoef(n_float.ravel(), n_int.ravel())[0, 1] >= 0.97, name
        assert abs(n_float.sum() - n_int.sum()) <= 0.04 * n_int.sum(), name


def _conv1_current_drift(model, x, float_currents):
    """max over conv1 neurons and steps of |sum_t (I_int - I_float)| / theta, I_int in real units."""
    layer = model.layer("conv1")
    g = layer.gain[0].astype(np.int64)[None, :, None, None]
    v_scale, shift = layer.voltage_scale, layer.shift
    acc = 0.0
    worst = 0.0
    for t in range(x.shape[1]):
        counts = _conv(x[:, t].astype(np.int64), layer.weight.astype(np.int64), 2, 1).astype(np.int64)
        scaled = g * counts
        rounded = (scaled + (1 << (shift - 1))) >> shift if shift else scaled
        i_int = (rounded + layer.bias[0].astype(np.int64)[None, :, None, None]) * v_scale
        acc = acc + (i_int - float_currents[t])
        worst = max(worst, float(np.abs(acc).max()))
    return worst / (layer.theta[0] * v_scale)


# --- round trip: eventsim -> NIR -> eventsim ---------------------------------------------------------------------

def _assert_same_model_and_result(model, back, spec):
    assert back.sha256 == model.sha256
    for a, b in zip(model.neuron_layers, back.neuron_layers):
        for field in ("weight", "gain", "bias", "theta"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert (a.shift, a.lam12, a.voltage_scale, a.reset, a.readout) == \
            (b.shift, b.lam12, b.voltage_scale, b.reset, b.readout)
    assert back.layer_names == model.layer_names and back.input_encoding == model.input_encoding
    x = input_spikes(spec, 2)
    options = dict(sam_layers=model.conv_layers[:1], sam_gamma=spec["gamma"], sam_convention=spec["convention"])
    one = Simulator(model, **options).run(spikes=x, backend="reference", record_spikes=True)
    two = Simulator(back, **options).run(spikes=x, backend="reference", record_spikes=True)
    np.testing.assert_array_equal(one.logits, two.logits)
    for field in ("spikes", "sam"):
        assert set(getattr(one, field)) == set(getattr(two, field))
        for k in getattr(one, field):
            np.testing.assert_array_equal(getattr(one, field)[k], getattr(two, field)[k])
    for k in one.counts:
        for c in one.counts[k]:
            np.testing.assert_array_equal(one.counts[k][c], two.counts[k][c])
    assert one.attrs == two.attrs


def _with_readout(spec, readout):
    """The spec with a constant gain and the given output readout."""
    layers = list(spec["layers"])
    layers[-1] = (layers[-1][0], layers[-1][1], readout) + tuple(layers[-1][3:])
    return dict(spec, layers=layers, per_step_gain=False)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(model_specs(max_timesteps=12, general=True))
def test_round_trip_is_exact_for_random_models(tmp_path_factory, spec):
    spec = _with_readout(spec, "spikes")
    model = build_model(spec)
    path = tmp_path_factory.mktemp("rt") / "model.nir"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RoundTripWarning)
        write_nir(model, path)
    _assert_same_model_and_result(model, read_nir(path), spec)


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(model_specs(max_timesteps=12, general=True))
def test_round_trip_is_exact_with_an_accumulating_output(spec):
    spec = _with_readout(spec, "accumulate")
    model = build_model(spec)
    _assert_same_model_and_result(model, read_nir(export_graph(model).graph), spec)


def test_builder_pins_the_voltage_unit_of_an_accumulating_output():
    rng = np.random.default_rng(4)
    b = ModelBuilder((3, 1, 1), default_timesteps=5).flatten("f")
    model = b.output("o", rng.normal(0, 0.5, (2, 3)), voltage_scale=2.0**-10).build()
    assert model.output_layer.voltage_scale == 2.0**-10
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ModelFormatError, match="voltage_scale"):
            ModelBuilder((3, 1, 1)).flatten("f").output("o", np.ones((2, 3)), voltage_scale=bad)
    with pytest.raises(ModelFormatError, match="voltage_scale"):
        ModelBuilder((3, 1, 1)).flatten("f").output("o", np.ones((2, 3)), readout="spikes", voltage_scale=1.0)


def test_round_trip_keeps_negative_gains_and_channels_without_weights():
    """A layer with a negative gain mantissa and an all-zero weight channel comes back through a Scale node."""
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.3, (4, 2, 3, 3))
    w[2] = 0.0
    b = ModelBuilder((2, 8, 8), default_timesteps=6, input_encoding="counts")
    b.conv("c1", w, threshold=1.0, gain=np.array([1.0, -0.7, 0.9, 1.2]), bias=rng.normal(0, 0.1, 4), leak=0.75,
           reset="zero")
    b.avgpool("p1", kernel=3, stride=2, padding=1).flatten("flat")
    b.output("out", rng.normal(0, 0.2, (3, b.shape[0])), readout="spikes", threshold=0.5)
    model = b.build()
    ex = export_graph(model)
    assert ex.exact and "c1.scale" in ex.graph.nodes and "c1.lif" in ex.graph.nodes
    spec = {"seed": 3, "timesteps": 6, "input_shape": (2, 8, 8), "counts": True, "gamma": 0.5,
            "convention": "paper"}
    _assert_same_model_and_result(model, read_nir(ex.graph), spec)


def test_export_refuses_per_step_gains_unless_mean_gain(tmp_path):
    rng = np.random.default_rng(0)
    b = ModelBuilder((1, 6, 6), default_timesteps=4)
    b.conv("c1", rng.normal(0, 0.3, (2, 1, 3, 3)), gain=rng.uniform(0.5, 1.5, (4, 2))).flatten("f")
    b.output("out", rng.normal(0, 0.3, (3, 72)))
    model = b.build()
    out = tmp_path / "m.nir"
    with pytest.raises(NIRExportError, match="'c1'.*per-step"):
        write_nir(model, out)
    assert not out.exists()
    with pytest.warns(RoundTripWarning, match="c1"):
        write_nir(model, out, mean_gain=True)
    back = read_nir(out)
    mean = np.ldexp(model.layer("c1").gain.astype(float), -model.layer("c1").shift).mean(axis=0)
    got = np.ldexp(back.layer("c1").gain[0].astype(float), -back.layer("c1").shift)
    np.testing.assert_allclose(got, mean, rtol=1e-3)


# --- CLI ---------------------------------------------------------------------------------------------------------

def test_cli_import_and_export(nmnist, tmp_path, capsys):
    _, path = nmnist
    model_file, again = tmp_path / "m.h5", tmp_path / "again.nir"
    assert main(["nir", "import", str(path), str(model_file), "--reset", "subtract", "--timesteps", "12",
                 "--name", "nmnist"]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "w err" in out and f"wrote {model_file}" in out
    model = load_model(model_file)
    assert model.name == "nmnist" and model.default_timesteps == 12
    assert main(["nir", "export", str(model_file), str(again)]) == 0
    assert capsys.readouterr().err == ""
    assert read_nir(again).sha256 == model.sha256
    assert set(nir.read(again).nodes) >= {"conv1", "conv1.if", "pool1", "fc2.if"}  # nir's own reader, type-checked
    assert main(["nir", "import", str(path), str(tmp_path / "x.h5")]) == 2
    assert "--reset" in capsys.readouterr().err and not (tmp_path / "x.h5").exists()


def test_cli_export_refuses_bntt_without_mean_gain(tmp_path, capsys):
    rng = np.random.default_rng(0)
    b = ModelBuilder((1, 6, 6), default_timesteps=4)
    b.conv("c1", rng.normal(0, 0.3, (2, 1, 3, 3)), gain=rng.uniform(0.5, 1.5, (4, 2))).flatten("f")
    b.output("out", rng.normal(0, 0.3, (3, 72)))
    model_file, out = tmp_path / "m.h5", tmp_path / "m.nir"
    save_model(b.build(), model_file)
    assert main(["nir", "export", str(model_file), str(out)]) == 2
    assert "--mean-gain" in capsys.readouterr().err and not out.exists()
    assert main(["nir", "export", str(model_file), str(out), "--mean-gain"]) == 0
    assert "warning:" in capsys.readouterr().err and out.exists()


def test_spikes_and_sam_as_nir_data(nmnist, tmp_path):
    from eventsim.nir_io import write_nir_data

    _, path = nmnist
    model = read_nir(path, reset="subtract", timesteps=8)
    x = nmnist_counts(1, n=2)[:, :8]
    result = Simulator(model, sam_layers=["conv1"]).run(spikes=x, backend="reference", record_spikes=True)
    out = tmp_path / "run.nirdata"
    write_nir_data(result, model, out)
    data = nir.read_data(str(out))
    spikes = data.nodes["conv1.if"].observables["spikes"]
    assert spikes.dt == 1.0 and spikes.data.dtype == bool
    np.testing.assert_array_equal(spikes.data, result.spikes["conv1"].reshape(2, 8, -1).astype(bool))
    np.testing.assert_array_equal(data.nodes["conv1.if"].observables["sam"].data, result.sam["conv1"].reshape(2, 8, -1))
    assert set(data.nodes) == {"conv1.if", "conv2.if", "fc1.if", "fc2.if"}
    graph = export_graph(model).graph
    assert set(data.nodes) <= set(graph.nodes)
    other = read_nir(path, reset="zero", timesteps=8)
    with pytest.raises(InputError, match="another model"):
        write_nir_data(result, other, tmp_path / "x.nirdata")
    assert not (tmp_path / "x.nirdata").exists()
