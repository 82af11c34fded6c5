"""eventsim.energy: constant sets and their sources, a hand-computed case, NeuroBench counts, the CLI."""
import json
import re

import numpy as np
import pytest

import eventsim.energy as en
from eventsim import Simulator
from eventsim.cli import main
from eventsim.model_io import save_model
from eventsim.random_models import random_model
from eventsim.reference import conv2d
from eventsim.result import COUNTER_NAMES, Result
from eventsim.topology import connections


def _result(counts, neurons, steps, k=2):
    n = len(next(iter(counts.values()))["synops"])
    full = {name: {key: np.asarray(c.get(key, np.zeros((n, steps))), np.int64) for key in COUNTER_NAMES}
            for name, c in counts.items()}
    attrs = {"timesteps": steps, "gamma": 0.5, "sam_convention": "paper", "seed": 0, "model_sha256": "",
             "backend": "eventsim", "neurons": neurons}
    return Result(logits=np.zeros((n, k)), sam={}, counts=full, attrs=attrs)


HAND = _result({"conv1": {"synops": [[10, 0, 2], [4, 4, 4]], "spikes": [[1, 0, 1], [2, 0, 0]]},
                "out": {"synops": [[3, 3, 0], [0, 0, 0]]}},
               {"input": 5, "conv1": 4, "out": 2}, steps=3)


def test_every_set_cites_its_source():
    doc = en.__doc__
    for name, cs in en.CONSTANT_SETS.items():
        assert name in doc
        if name.startswith("horowitz45"):
            assert "Horowitz" in cs.source and "ISSCC 2014" in cs.source and "45 nm" in cs.source
            for value in (cs.add_pj, cs.mult_pj):
                assert f"{value} pJ" in cs.source and f"{value} pJ" in doc
        else:
            assert "Davies" in cs.source and "IEEE Micro" in cs.source and "2018" in cs.source
            assert "Table 1" in cs.source
            for value in (cs.synop_pj, cs.spike_pj):
                assert f"{value} pJ" in cs.source and f"{value} pJ" in doc
            assert "81 pJ" in cs.source and "81 pJ" in doc


def test_horowitz_sets_are_their_datapath():
    for name in ("horowitz45-int8", "horowitz45-int32", "horowitz45-fp32"):
        cs = en.CONSTANT_SETS[name]
        assert cs.synop_pj == cs.add_pj == cs.spike_pj
        assert cs.neuron_update_pj == pytest.approx(2 * cs.mult_pj + 2 * cs.add_pj)
    # the pair benchmarks/ used before this module: MAC = mult + add
    assert en.CONSTANT_SETS["horowitz45-fp32"].mac_pj == pytest.approx(4.6)
    assert en.CONSTANT_SETS["horowitz45-int32"].mac_pj == pytest.approx(3.2)


def test_loihi_by_hand():
    # conv1 per image: synops (12 + 12) / 2 = 12, spikes (2 + 2) / 2 = 2, updates 4 neurons x 3 steps = 12
    # out per image:   synops (6 + 0) / 2 = 3,   spikes 0,               updates 2 x 3 = 6
    rep = en.estimate_energy(HAND, "loihi1")
    conv = 12 * 23.6 + 12 * 81 + 2 * 1.7           # 1258.6 pJ
    out = 3 * 23.6 + 6 * 81                         # 556.8 pJ
    assert rep["layers"]["conv1"]["total_j"] == pytest.approx(1258.6e-12)
    assert rep["layers"]["conv1"]["total_j"] == pytest.approx(conv * 1e-12)
    assert rep["layers"]["out"]["total_j"] == pytest.approx(out * 1e-12)
    assert rep["total_j"] == pytest.approx(1815.4e-12)
    assert rep["images"] == 2


def test_horowitz_fp32_by_hand():
    rep = en.estimate_energy(HAND, "horowitz45-fp32")
    # 12 synops x 0.9 + 12 updates x (2 x 3.7 + 2 x 0.9) + 2 spikes x 0.9 = 10.8 + 110.4 + 1.8
    assert rep["layers"]["conv1"]["total_j"] == pytest.approx(123.0e-12)
    assert rep["layers"]["out"]["total_j"] == pytest.approx((3 * 0.9 + 6 * 9.2) * 1e-12)


def test_neurobench_by_hand():
    nb = en.neurobench_metrics(HAND)
    assert nb["Effective_ACs"] == 15.0 and nb["Effective_MACs"] == 0.0 and nb["Dense"] is None
    assert nb["activation_sparsity"] == pytest.approx(1 - 2 / 12)   # out is the silent K-neuron layer
    assert nb["membrane_updates"] == 18.0


def test_unknown_set_and_missing_neurons_are_clean_errors():
    with pytest.raises(en.InputError, match="unknown energy constant set 'loihi9'.*loihi1"):
        en.estimate_energy(HAND, "loihi9")
    bare = _result({"conv1": {"synops": [[1]]}}, {}, steps=1)
    with pytest.raises(en.InputError, match="neurons"):
        en.estimate_energy(bare)


@pytest.fixture(scope="module")
def run():
    model = random_model(seed=3, input_shape=(2, 12, 10), timesteps=5)
    images = np.random.default_rng(0).random((3, 2, 12, 10)).astype(np.float32)
    return model, Simulator(model, sam_layers=[]).run(images=images, seed=1)


def test_consistency_on_a_simulation(run):
    model, result = run
    nb = en.neurobench_metrics(result, model)
    synops = sum(result.counts[layer.name]["synops"].sum() for layer in model.neuron_layers)
    assert nb["Effective_ACs"] == pytest.approx(synops / 3)
    rates = result.spike_rates()
    neurons = result.attrs["neurons"]
    spiking = model.spiking_layers
    fired = sum(rates[n] * neurons[n] for n in spiking) / sum(neurons[n] for n in spiking)
    assert nb["activation_sparsity"] == pytest.approx(1 - fired)
    assert nb["membrane_updates"] == sum(layer.num_neurons for layer in model.neuron_layers) * 5
    # a pooled position sums at most p^2 (x H*W under a global pool) spikes, each costing what one dense input does
    dense = en.dense_synops(model)
    for conn in connections(model):
        c_in, h, w = conn.pooled_shape
        most = conn.pool ** 2 * (h * w if conn.gap else 1)
        assert 0 < result.counts[conn.target.name]["synops"].sum(axis=1).max() <= dense[conn.target.name] * 5 * most
    assert nb["Dense"] == sum(dense.values()) * 5
    for name in en.CONSTANT_SETS:
        rep = en.estimate_energy(result, name)
        assert rep["total_j"] == pytest.approx(sum(r["total_j"] for r in rep["layers"].values()))
        assert set(rep["layers"]) == {layer.name for layer in model.neuron_layers}
    # Loihi charges every operation more than an fp32 datapath does
    assert en.estimate_energy(result, "loihi1")["total_j"] > en.estimate_energy(result, "horowitz45-fp32")["total_j"]


def test_dense_equals_an_all_ones_forward(run):
    model, _ = run
    dense = en.dense_synops(model)
    for conn in connections(model):
        layer = conn.target
        c_in, h, w = conn.pooled_shape
        if layer.kind == "conv":
            k = layer.kernel_size
            ones = conv2d(np.ones((1, c_in, h, w), np.int64), np.ones((layer.out_shape[0], c_in, k, k)), (1, 1),
                          (k // 2, k // 2))
            assert dense[layer.name] == int(ones.sum())
        else:
            f_in = c_in if conn.gap else c_in * h * w
            assert dense[layer.name] == int((np.ones((1, f_in)) @ np.ones((f_in, layer.out_shape[0]))).sum())


def test_cli_table_json_and_errors(run, tmp_path, capsys):
    model, result = run
    path = tmp_path / "r.h5"
    result.save(path)
    save_model(model, tmp_path / "m.h5")
    assert main(["energy", str(path), "--constants", "loihi1"]) == 0
    text = capsys.readouterr().out
    assert "Davies" in text and re.search(r"^\s+total\s", text, re.M) and "Dense: n/a" in text
    assert main(["energy", str(path), "--json", "--model", str(tmp_path / "m.h5")]) == 0
    rep = json.loads(capsys.readouterr().out)
    want = en.estimate_energy(Result.load(path), en.DEFAULT_SET)
    assert rep["total_j"] == pytest.approx(want["total_j"])
    assert rep["layers"]["out"]["total_j"] == pytest.approx(want["layers"]["out"]["total_j"])
    assert rep["neurobench"]["Dense"] == pytest.approx(sum(en.dense_synops(model).values()) * 5)
    assert main(["energy", str(path), "--constants", "nope"]) == 2
    assert "unknown energy constant set 'nope'" in capsys.readouterr().err
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    assert main(["energy", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["energy", str(tmp_path / "missing.h5")]) == 2
