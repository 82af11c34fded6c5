"""NIR import and export (eventsim.nir_io): a Sinabs-style N-MNIST CNN against an independent float simulation,
exact round trips of random models, every refusal, the CLI.

The float simulation below is written from NIR's node definitions and DESIGN section 2 (a spike is decided
from the previous voltage, subtract reset), with its own convolution; it shares no code with eventsim.
"""
from __future__ import annotations

import json
import warnings

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

nir = pytest.importorskip("nir")

from eventsim import ModelBuilder, Simulator, reference  # noqa: E402
from eventsim.cli import main  # noqa: E402
from eventsim.errors import (InputError, MissingExtraError, NIRExportError, NIRImportError,  # noqa: E402
                             UnsafeNIRFileError)
from eventsim.model_io import load_model, save_model  # noqa: E402
from eventsim.nir_io import RoundTripWarning, export_graph, read_nir, write_nir  # noqa: E402
from strategies import build_model, input_spikes, model_specs  # noqa: E402

T = 30


# --- the N-MNIST CNN of issue 12, as Sinabs exports it -----------------------------------------------------------

def _if(shape, theta):
    return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, theta), v_reset=np.zeros(shape))


def nmnist_graph(seed):
    """Input (2, 34, 34) -> Conv 5x5/2 pad 1 -> IF -> SumPool 2 -> Conv 3x3 pad 1 -> IF -> SumPool 2 -> Flatten
    -> Affine 64 -> IF -> Affine 10 -> IF (spiking output); seeded random weights, thresholds 1."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 1.2 / np.sqrt(2 * 25), (8, 2, 5, 5))
    w2 = rng.normal(0, 1.2 / np.sqrt(8 * 9), (16, 8, 3, 3))
    a1, a2 = rng.normal(0, 1.5 / 16, (64, 256)), rng.normal(0, 1.5 / 8, (10, 64))
    nodes = {
        "input": nir.Input(input_type=np.array([2, 34, 34])),
        "conv1": nir.Conv2d(input_shape=(34, 34), weight=w1, stride=2, padding=1, dilation=1, groups=1,
                            bias=rng.normal(0, 0.05, 8)),
        "iaf1": _if((8, 16, 16), 1.0),
        "pool1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "conv2": nir.Conv2d(input_shape=(8, 8), weight=w2, stride=1, padding=1, dilation=1, groups=1,
                            bias=rng.normal(0, 0.05, 16)),
        "iaf2": _if((16, 8, 8), 1.0),
        "pool2": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        # Sinabs writes torch's nn.Flatten dims, which count the batch dim (start_dim 1).
        "flat": nir.Flatten(input_type={"input": np.array([16, 4, 4])}, start_dim=1, end_dim=-1),
        "fc1": nir.Affine(weight=a1, bias=rng.normal(0, 0.05, 64)),
        "iaf3": _if((64,), 1.0),
        "fc2": nir.Affine(weight=a2, bias=rng.normal(0, 0.05, 10)),
        "iaf4": _if((10,), 1.0),
        "output": nir.Output(output_type=np.array([10])),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)


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


@pytest.mark.xfail(strict=True, reason="needs ModelBuilder.output(voltage_scale=...) (requested): the accumulating "
                   "output's voltage unit comes from a worst-case bound over the float weights, which no choice of "
                   "dequantized floats reproduces")
@settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow])
@given(model_specs(max_timesteps=12, general=True))
def test_round_trip_is_exact_with_an_accumulating_output(spec):
    spec = _with_readout(spec, "accumulate")
    model = build_model(spec)
    _assert_same_model_and_result(model, read_nir(export_graph(model).graph), spec)


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


# --- node mapping ------------------------------------------------------------------------------------------------

def _chain(*pairs, metadata=None):
    nodes = dict(pairs)
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=metadata or {},
                        type_check=False)


def _dense_graph(neuron=None, last=None, first_scale=None, post_scale=None):
    rng = np.random.default_rng(5)
    pairs = [("input", nir.Input(input_type=np.array([6])))]
    if first_scale is not None:
        pairs.append(("pre", nir.Scale(scale=first_scale)))
    pairs.append(("fc", nir.Affine(weight=rng.normal(0, 0.5, (4, 6)), bias=rng.normal(0, 0.1, 4))))
    if post_scale is not None:
        pairs.append(("post", nir.Scale(scale=post_scale)))
    pairs.append(("fc.n", neuron if neuron is not None else _if((4,), 1.0)))
    pairs.append(("out", nir.Linear(weight=rng.normal(0, 0.5, (3, 4)))))
    if last is not None:
        pairs.append(("out.n", last))
    pairs.append(("output", nir.Output(output_type=np.array([3]))))
    return _chain(*pairs)


def test_scales_fold_into_weights_and_gains():
    """A Scale before the linear node multiplies its input columns, one after it the gain (and the bias)."""
    pre, post = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0]), np.array([0.5, 1.0, 2.0, 1.5])
    base = _dense_graph().nodes["fc"]
    model = read_nir(_dense_graph(first_scale=pre, post_scale=post), reset="zero")
    fc = model.layer("fc").floats
    np.testing.assert_allclose(fc.weight, base.weight * pre[None, :], rtol=1e-6)
    np.testing.assert_allclose(fc.gain[0], post, rtol=1e-6)
    np.testing.assert_allclose(fc.bias[0], base.bias * post, rtol=1e-6)
    assert model.output_layer.readout == "accumulate" and model.layer("fc").reset == "zero"
    assert model.layer_names == ["input.flatten", "fc", "out"]


def test_lif_leak_and_gain_follow_forward_euler():
    shape = (4,)
    tau, r, dt = np.full(shape, 2e-3), np.full(shape, 5.0), 1e-4
    lif = nir.LIF(tau=tau, r=r, v_leak=np.full(shape, 0.2), v_threshold=np.full(shape, 1.0),
                  v_reset=np.zeros(shape))
    model = read_nir(_dense_graph(neuron=lif), reset="subtract", dt=dt)
    fc = model.layer("fc")
    assert fc.lam12 == round(4096 * (1 - dt / tau[0]))
    assert fc.floats.leak == pytest.approx(0.95)
    np.testing.assert_allclose(fc.floats.gain[0], r[0] * dt / tau[0], rtol=1e-6)      # r dt / tau = 0.25
    bias = model.layer("fc").floats.bias[0]
    raw = _dense_graph(neuron=lif).nodes["fc"].bias
    np.testing.assert_allclose(bias, 0.25 * raw + 0.2 * dt / tau[0], rtol=1e-6)


def test_threshold_node_is_a_memoryless_comparator_and_i_an_accumulating_readout():
    model = read_nir(_dense_graph(neuron=nir.Threshold(threshold=np.full(4, 0.3)), last=nir.I(r=np.ones(3))))
    fc = model.layer("fc")
    assert (fc.lam12, fc.reset, fc.floats.threshold) == (0, "zero", pytest.approx(0.3))
    assert model.output_layer.readout == "accumulate"


def test_spiking_output_from_lif_and_per_channel_thresholds():
    th = np.broadcast_to(np.array([0.5, 1.0, 1.5])[:, None, None], (3, 4, 4)).copy()
    conv = nir.Conv2d(input_shape=(4, 4), weight=np.ones((3, 1, 3, 3)) * 0.2, stride=1, padding="same", dilation=1,
                      groups=1, bias=np.zeros(3))
    neuron = nir.IF(r=np.ones((3, 4, 4)), v_threshold=th, v_reset=np.zeros((3, 4, 4)))
    lif = nir.LIF(tau=np.full(2, 10.0), r=np.full(2, 10.0), v_leak=np.zeros(2), v_threshold=np.ones(2),
                  v_reset=np.zeros(2))
    graph = _chain(("input", nir.Input(input_type=np.array([1, 4, 4]))), ("c", conv), ("c.if", neuron),
                   ("avg", nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                         padding=np.array([0, 0]))),
                   ("f", nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=0, end_dim=-1)),
                   ("o", nir.Affine(weight=np.ones((2, 12)), bias=np.zeros(2))), ("o.lif", lif),
                   ("output", nir.Output(output_type=np.array([2]))))
    model = read_nir(graph, reset="subtract", dt=1.0)
    np.testing.assert_allclose(model.layer("c").floats.threshold, [0.5, 1.0, 1.5])
    assert model.layer("c").padding == (1, 1) and model.layer("avg").kind == "avgpool"
    assert model.output_layer.readout == "spikes" and model.output_layer.lam12 == round(4096 * 0.9)


def test_metadata_supplies_reset_and_dt_and_arguments_override_it():
    rng = np.random.default_rng(2)
    b = ModelBuilder((4, 1, 1), default_timesteps=5, input_encoding="counts").flatten("f")
    b.dense("d", rng.normal(0, 0.5, (3, 4)), leak=0.5, reset="zero")
    b.output("o", rng.normal(0, 0.5, (2, 3)), readout="spikes", reset="subtract")
    model = b.build()
    graph = export_graph(model).graph
    meta = json.loads(graph.metadata["eventsim"])
    assert meta["layers"]["d"]["reset"] == "zero" and meta["dt"] == 1.0
    assert read_nir(graph).layer("d").reset == "zero"
    assert read_nir(graph, reset="subtract").layer("d").reset == "subtract"
    assert read_nir(graph, dt=0.25).layer("d").lam12 == round(4096 * (1 - 0.25 / 2.0))


# --- refusals: a named error, nothing written --------------------------------------------------------------------

def _graph_with(edit):
    graph = nmnist_graph(1)
    edit(graph)
    return graph


def _set(node, **fields):
    def edit(graph):
        for k, v in fields.items():
            setattr(graph.nodes[node], k, v)
    return edit


def _add_edge(a, b):
    return lambda graph: graph.edges.append((a, b))


def _replace(node, new):
    return lambda graph: graph.nodes.__setitem__(node, new)


REFUSALS = [
    ("recurrent", _add_edge("iaf3", "fc1"), "'iaf3', 'fc1'.*cycle"),
    ("branch", lambda g: (g.nodes.__setitem__("extra", nir.Output(output_type=np.array([64]))),
                          g.edges.append(("iaf3", "extra"))), "'iaf3'.*branches"),
    ("merge", lambda g: (g.nodes.__setitem__("side", nir.Affine(weight=np.ones((64, 64)), bias=np.zeros(64))),
                         g.edges.append(("side", "iaf3"))), "'iaf3'.*merges"),
    ("cubalif", _replace("iaf3", nir.CubaLIF(tau_syn=np.ones(64), tau_mem=np.ones(64), r=np.ones(64),
                                              v_leak=np.zeros(64), v_threshold=np.ones(64))), "'iaf3' \\(CubaLIF\\)"),
    ("delay", _replace("iaf3", nir.Delay(delay=np.ones(64))), "'iaf3' \\(Delay\\)"),
    ("dilation", _set("conv2", dilation=(2, 2)), "'conv2'.*dilation"),
    ("groups", _set("conv2", groups=2), "'conv2'.*groups"),
    ("threshold-varies", lambda g: g.nodes["iaf1"].v_threshold.__setitem__((0, 3, 3), 2.0),
     "'iaf1'.*varies within a channel"),
    ("v-reset-nonzero", _set("iaf2", v_reset=np.full((16, 8, 8), 0.1)), "'iaf2'.*v_reset", "zero"),
    ("li-hidden", _replace("iaf3", nir.LI(tau=np.ones(64), r=np.ones(64), v_leak=np.zeros(64))), "'fc1'.*LI"),
    ("li-leaks", _replace("iaf4", nir.LI(tau=np.full(10, 5.0), r=np.ones(10), v_leak=np.zeros(10))),
     "'iaf4' \\(LI\\).*leak"),
    ("tau-varies", _replace("iaf3", nir.LIF(tau=np.linspace(1, 2, 64), r=np.ones(64), v_leak=np.zeros(64),
                                             v_threshold=np.ones(64))), "'iaf3' \\(LIF\\).*tau"),
    ("lonely-neuron", lambda g: (g.edges.remove(("pool2", "flat")), g.edges.append(("pool2", "extra")),
                                 g.nodes.__setitem__("extra", _if((16, 4, 4), 1.0)),
                                 g.edges.append(("extra", "flat"))), "'extra'.*no Conv2d"),
    ("same-stride-2", _set("conv1", padding="same"), "'conv1'.*'same'"),
    ("bad-padding", _set("conv2", padding=(3, 3)), "'conv2'.*padding"),
    ("missing-edge-node", _add_edge("fc2", "nowhere"), "'nowhere'"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_unsupported_graphs_are_refused_by_name_and_nothing_is_written(tmp_path, capsys, case):
    label, edit, match = case[:3]
    reset = case[3] if len(case) > 3 else "subtract"
    graph = _graph_with(edit)
    with pytest.raises(NIRImportError, match=match):
        read_nir(graph, reset=reset, dt=1.0)
    if label == "missing-edge-node":
        return  # nir.write cannot serialize an edge to a missing node
    path, out = tmp_path / "g.nir", tmp_path / "m.h5"
    nir.write(path, graph)
    assert main(["nir", "import", str(path), str(out), "--reset", reset, "--dt", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_reset_and_dt_are_explained(tmp_path):
    with pytest.raises(NIRImportError, match="'iaf1'.*NIR does not say.*reset='subtract'"):
        read_nir(nmnist_graph(0))
    lif = nir.LIF(tau=np.full(4, 2.0), r=np.ones(4), v_leak=np.zeros(4), v_threshold=np.ones(4))
    with pytest.raises(NIRImportError, match="'fc.n' \\(LIF\\).*time step.*--dt"):
        read_nir(_dense_graph(neuron=lif), reset="zero")


def test_bad_arguments_are_input_errors():
    for kwargs in ({"reset": "hard"}, {"dt": 0.0}, {"dt": float("nan")}, {"timesteps": 0}):
        with pytest.raises(InputError):
            read_nir(nmnist_graph(0), **kwargs)


def test_unsafe_and_broken_files_are_refused(tmp_path):
    good = tmp_path / "good.nir"
    nir.write(good, nmnist_graph(0))
    linked = tmp_path / "linked.nir"
    with h5py.File(linked, "w") as f:
        f["version"] = "1.0"
        f["node"] = h5py.ExternalLink(str(good), "/node")
    with pytest.raises(UnsafeNIRFileError, match="external link"):
        read_nir(linked, reset="subtract")
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(NIRImportError, match="no /node group"):
        read_nir(plain, reset="subtract")
    with pytest.raises(FileNotFoundError):
        read_nir(tmp_path / "absent.nir")


def test_without_the_nir_package_the_error_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(MissingExtraError, match=r"eventsim\[nir\]"):
        read_nir("whatever.nir")


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


@pytest.mark.parametrize("field,value", [("theta_bits", 40), ("dt", -1.0), ("input_encoding", "rates"),
                                         ("default_timesteps", "x"), ("input_mean", [0.5, 0.5])])
def test_bad_eventsim_metadata_is_a_named_error(field, value):
    graph = _dense_graph()
    graph.metadata = {"eventsim": json.dumps({"format": "eventsim-nir", "layers": {}, field: value})}
    with pytest.raises(NIRImportError, match=field):
        read_nir(graph, reset="zero")
    graph.metadata = {"eventsim": "{not json"}
    with pytest.raises(NIRImportError, match="not valid JSON"):
        read_nir(graph, reset="zero")
