"""Every experiment in --quick mode writes a complete report; bad arguments give clear errors."""
import dataclasses
import json

import pytest

from eventsim.cli import main
from training.experiments import EXPERIMENTS

pytestmark = pytest.mark.torch

#: Keys each results.json must hold beside the common ones.
REQUIRED = {
    "sam-vs-gradcam": ["layers", "n_images", "scores"],
    "surrogate-vs-conversion": ["layers", "methods"],
    "leak": ["leaks", "per_leak", "paper"],
    "gamma": ["gammas", "localization", "best_gamma"],
    "fgsm": ["epsilons", "accuracy", "l1_distance"],
    "multi-object": ["n_composites", "per_layer"],
    "dvs-tracking": ["n_streams", "accuracy", "image_accuracy", "per_layer"],
}
COMMON = ["experiment", "scale", "command", "runtime_seconds", "cache_dir", "figures", "claims"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("experiment-cache")


def nulls(obj, path=""):
    """Paths of null values (NaN became null) anywhere in a JSON tree, ignoring claim verdicts."""
    if obj is None:
        return [path]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() if not (k == "reproduced") for p in nulls(v, f"{path}/{k}")]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in nulls(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_quick_experiment_writes_a_complete_report(name, cache, tmp_path, capsys):
    out = tmp_path / name
    assert main(["experiment", name, "--quick", "--quiet", "--out", str(out), "--cache-dir", str(cache)]) == 0
    results = json.loads((out / "results.json").read_text())
    missing = [k for k in COMMON + REQUIRED[name] if k not in results]
    assert not missing, missing
    assert results["experiment"] == name and results["scale"]["name"] == "quick"
    assert not nulls(results), nulls(results)
    assert results["claims"] and all(c["reproduced"] in (True, False, "partly", None) for c in results["claims"])
    for fig in results["figures"]:
        assert (out / fig).stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert "| claim | paper | here | verdict |" in report
    assert report.count("at this scale") == len(results["claims"])
    assert f"{name}: wrote" in capsys.readouterr().out


def test_cached_models_are_reused(cache, tmp_path, capsys):
    out = tmp_path / "again"
    assert main(["experiment", "gamma", "--quick", "--quiet", "--no-train", "--out", str(out),
                 "--cache-dir", str(cache)]) == 0
    assert json.loads((out / "results.json").read_text())["training_seconds_this_run"] == 0


def run_error(args, capsys):
    assert main(["experiment"] + args) == 2
    return capsys.readouterr().err


def test_unknown_experiment(tmp_path, capsys):
    err = run_error(["fig11", "--out", str(tmp_path)], capsys)
    assert "unknown experiment 'fig11'" in err and "sam-vs-gradcam" in err


def test_unknown_layer(tmp_path, capsys):
    err = run_error(["gamma", "--quick", "--layers", "conv1,conv7", "--out", str(tmp_path)], capsys)
    assert "conv7" in err and "choose from ['conv1', 'conv2', 'conv3']" in err


@pytest.mark.parametrize("eps", ["-4/255", "abc", "1/0"])
def test_bad_epsilon(eps, tmp_path, capsys):
    err = run_error(["fgsm", "--quick", "--epsilons", f"0,{eps}", "--out", str(tmp_path)], capsys)
    assert "epsilon" in err


def test_missing_cache_with_no_train(tmp_path, capsys):
    err = run_error(["leak", "--quick", "--no-train", "--out", str(tmp_path / "o"),
                     "--cache-dir", str(tmp_path / "empty")], capsys)
    assert "no cached model" in err and "without --no-train" in err


def test_corrupt_cache_entry(cache, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cache, copy)
    for meta in copy.glob("ann-*/meta.json"):
        meta.write_text("{not json")
    err = run_error(["gamma", "--quick", "--out", str(tmp_path / "o"), "--cache-dir", str(copy)], capsys)
    assert "corrupt" in err and "delete that folder" in err
    for ckpt in copy.glob("ann-*/checkpoint.pt"):
        ckpt.write_bytes(b"garbage")
        ckpt.with_name("meta.json").unlink()
    # an entry without meta.json is an interrupted run: it resumes, and a garbage checkpoint is an error
    err = run_error(["gamma", "--quick", "--out", str(tmp_path / "o"), "--cache-dir", str(copy)], capsys)
    assert "partial run" in err and "delete that folder" in err


def test_cache_dir_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    err = run_error(["gamma", "--quick", "--out", str(tmp_path / "o"), "--cache-dir", str(f)], capsys)
    assert "not a folder" in err


def test_helpers_with_known_answers():
    from training.experiments.common import FULL, QUICK
    from training.experiments.multi_object import binomial_p
    from training.experiments.surrogate_vs_conversion import temporal_profile
    from training.experiments.zoo import recipe_key

    assert binomial_p(5, 5) == pytest.approx(1 / 32)
    assert binomial_p(0, 7) == 1.0 and binomial_p(0, 0) == 1.0
    assert binomial_p(8, 10) == pytest.approx((45 + 10 + 1) / 1024)
    flat = temporal_profile(__import__("numpy").array([0.0, 1.0, 1.0, 1.0]), delay=1)
    assert flat == {"cv": 0.0, "peak_time": pytest.approx(1 / 3), "end_level": 1.0}
    r = FULL.snn_recipe(0.9)
    assert recipe_key(r) == recipe_key(dict(reversed(list(r.items()))))       # key order does not matter
    assert recipe_key(r) != recipe_key(FULL.snn_recipe(0.8)) != recipe_key(QUICK.snn_recipe(0.9))
    # full mode: the leak ablation's lambda = 0.99 network is the main SNN (same budget, same cache entry)
    assert recipe_key(FULL.snn_recipe(0.99, ablation=True)) == recipe_key(FULL.snn_recipe(0.99))
    shorter = dataclasses.replace(FULL, leak_epochs=3)
    assert recipe_key(shorter.snn_recipe(0.99, ablation=True)) != recipe_key(FULL.snn_recipe(0.99))
    assert recipe_key(r).startswith("snn-")
