"""NIR import (eventsim.nir_io.read_nir): how nodes map to layers, and every refusal with its named error."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

nir = pytest.importorskip("nir")

from eventsim import ModelBuilder  # noqa: E402
from eventsim.cli import main  # noqa: E402
from eventsim.errors import InputError, MissingExtraError, NIRImportError, UnsafeNIRFileError  # noqa: E402
from eventsim.nir_io import export_graph, read_nir  # noqa: E402
from nirgraphs import chain_graph, dense_graph, if_node, nmnist_graph  # noqa: E402


# --- node mapping ------------------------------------------------------------------------------------------------

def test_scales_fold_into_weights_and_gains():
    """A Scale before the linear node multiplies its input columns, one after it the gain (and the bias)."""
    pre, post = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0]), np.array([0.5, 1.0, 2.0, 1.5])
    base = dense_graph().nodes["fc"]
    model = read_nir(dense_graph(first_scale=pre, post_scale=post), reset="zero")
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
    model = read_nir(dense_graph(neuron=lif), reset="subtract", dt=dt)
    fc = model.layer("fc")
    assert fc.lam12 == round(4096 * (1 - dt / tau[0]))
    assert fc.floats.leak == pytest.approx(0.95)
    np.testing.assert_allclose(fc.floats.gain[0], r[0] * dt / tau[0], rtol=1e-6)      # r dt / tau = 0.25
    bias = model.layer("fc").floats.bias[0]
    raw = dense_graph(neuron=lif).nodes["fc"].bias
    np.testing.assert_allclose(bias, 0.25 * raw + 0.2 * dt / tau[0], rtol=1e-6)


def test_threshold_node_is_a_memoryless_comparator_and_i_an_accumulating_readout():
    model = read_nir(dense_graph(neuron=nir.Threshold(threshold=np.full(4, 0.3)), last=nir.I(r=np.ones(3))))
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
    graph = chain_graph(("input", nir.Input(input_type=np.array([1, 4, 4]))), ("c", conv), ("c.if", neuron),
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
                                 g.nodes.__setitem__("extra", if_node((16, 4, 4), 1.0)),
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
        read_nir(dense_graph(neuron=lif), reset="zero")


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


@pytest.mark.parametrize("field,value", [("theta_bits", 40), ("dt", -1.0), ("input_encoding", "rates"),
                                         ("default_timesteps", "x"), ("input_mean", [0.5, 0.5])])
def test_bad_eventsim_metadata_is_a_named_error(field, value):
    graph = dense_graph()
    graph.metadata = {"eventsim": json.dumps({"format": "eventsim-nir", "layers": {}, field: value})}
    with pytest.raises(NIRImportError, match=field):
        read_nir(graph, reset="zero")
    graph.metadata = {"eventsim": "{not json"}
    with pytest.raises(NIRImportError, match="not valid JSON"):
        read_nir(graph, reset="zero")


def test_a_vector_input_is_flattened_once():
    rng = np.random.default_rng(8)
    graph = chain_graph(("in", nir.Input(input_type=np.array([5]))),
                        ("flat", nir.Flatten(input_type={"input": np.array([5])}, start_dim=0, end_dim=-1)),
                        ("fc", nir.Affine(weight=rng.normal(0, 0.5, (3, 5)), bias=np.zeros(3))),
                        ("output", nir.Output(output_type=np.array([3]))))
    model = read_nir(graph)
    assert model.layer_names == ["in.flatten", "fc"] and model.input_shape == (5, 1, 1)


def test_shapes_that_do_not_chain_are_named():
    graph = nmnist_graph(0)
    graph.nodes["conv2"].weight = graph.nodes["conv2"].weight[:, :5]
    with pytest.raises(NIRImportError, match="'conv2'.*5 input channels.*receives 8"):
        read_nir(graph, reset="subtract")
    graph = nmnist_graph(0)
    graph.nodes["iaf2"].v_threshold = np.ones((16, 4, 4))
    with pytest.raises(NIRImportError, match="'iaf2'.*shape \\(16, 4, 4\\)"):
        read_nir(graph, reset="subtract")
