"""training.experiments.sparsity_tradeoff: every number equals one plain eventsim run scored by hand."""
import dataclasses
import json

import numpy as np
import pytest

from eventsim import Simulator, metrics
from eventsim.energy import CONSTANT_SETS, estimate_energy, neurobench_metrics
from eventsim.errors import InputError
from eventsim.model_io import save_model
from eventsim.random_models import random_model
from eventsim.synthshapes import SynthShapes
from training.experiments import sparsity_tradeoff as st

ARCH = (("conv", 4), ("pool", 0), ("conv", 6), ("gap", 0))
N = 6


def _model_file(tmp_path, seed, weight):
    model = random_model(seed=seed, input_shape=(3, 16, 16), arch=ARCH, timesteps=4, firing=2.0)
    train = {} if weight is None else {"synops_weight": weight}
    model = dataclasses.replace(model, provenance={"train": train, "train_seconds": 12.5})
    path = tmp_path / f"m{seed}.h5"
    save_model(model, path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tradeoff")
    return _model_file(tmp, 1, 8.0), _model_file(tmp, 2, None)


def test_measure_equals_a_plain_run(files):
    path = files[0]
    row = st.measure(path, N, batch=4)              # two batches: the "other" masks cross the boundary
    model = st.load_model(path)
    images, labels, masks, _ = SynthShapes("test", size=(16, 16), seed=0, length=N).arrays(0, N)
    res = Simulator(model, sam_layers=["conv1", "conv2"]).run(images=images, seed=0)
    assert row["synops_weight"] == 8.0 and row["train_seconds_provenance"] == 12.5
    assert row["accuracy"] == np.mean(res.predictions == labels)
    assert row["accuracy_se"] == pytest.approx(np.sqrt(row["accuracy"] * (1 - row["accuracy"]) / N))
    assert row["spike_rates"] == pytest.approx(res.spike_rates())
    per_image = {k: res.counts[k]["synops"].sum() / N for k in ("conv1", "conv2", "out")}
    assert row["synops_per_image"] == pytest.approx(per_image)
    assert row["hidden_layers"] == ["conv2", "out"]          # conv1 is fed by the encoder
    assert row["synops_hidden"] == pytest.approx(per_image["conv2"] + per_image["out"])
    assert row["synops_total"] == pytest.approx(sum(per_image.values()))
    for name in CONSTANT_SETS:
        assert row["energy_j"][name] == pytest.approx(estimate_energy(res, name)["total_j"])
    assert row["neurobench"] == pytest.approx(neurobench_metrics(res, model))
    other = np.roll(masks, -1, axis=0)                       # image i against item i+1's mask, the last against 0's
    for k in ("conv1", "conv2"):
        sam = res.sam[k]
        assert row["sam"][k]["pointing"] == pytest.approx(np.mean(metrics.pointing_game(sam, masks)))
        assert row["sam"][k]["energy"] == pytest.approx(np.mean(metrics.mask_energy(sam, masks)))
        assert row["sam"][k]["pointing_other"] == pytest.approx(np.mean(metrics.pointing_game(sam, other)))
        assert row["sam"][k]["energy_other"] == pytest.approx(np.mean(metrics.mask_energy(sam, other)))
        assert row["sam"][k]["empty"] == np.mean(sam.reshape(N, -1).max(axis=1) == 0)
        energy = metrics.mask_energy(sam, masks)
        assert row["sam"][k]["energy_se"] == pytest.approx(np.std(energy, ddof=1) / np.sqrt(N))


def test_pareto_flags_by_hand():
    points = [(10, 0.9), (5, 0.9), (5, 0.8), (20, 0.95), (20, 0.95)]
    assert st.pareto_flags(points) == [False, True, False, True, True]


def test_cli_writes_the_table_and_the_chart(files, tmp_path, capsys):
    out_json, out_png = tmp_path / "t.json", tmp_path / "p.png"
    assert st.main([str(files[0]), str(files[1]), "--n", "4", "--json", str(out_json), "--png", str(out_png),
                    "--quiet"]) == 0
    table = json.loads(out_json.read_text())
    assert [m["synops_weight"] for m in table["models"]] == [0.0, 8.0]    # sorted; no weight in provenance = 0
    assert table["n"] == 4 and set(table["constants"]) == set(CONSTANT_SETS)
    masks = SynthShapes("test", size=(16, 16), seed=0, length=4).arrays(0, 4)[2]
    assert table["baselines"]["uniform_energy"] == pytest.approx(masks.mean())
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert "| w=0 |" in text and "| w=8 |" in text and "Uniform map" in text


def test_bad_arguments(files, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        st.main([str(tmp_path / "missing.h5"), "--quiet"])
    with pytest.raises(InputError, match="--n"):
        st.main([str(files[0]), "--n", "1", "--quiet"])
    with pytest.raises(InputError, match="--json"):
        st.main([str(files[0]), "--n", "2", "--json", str(files[0]), "--quiet"])
