"""run-dataset in process: bit-identity across shard sizes, resume, merge, summary, bad input.

The reference for every comparison is one plain ``Simulator.run`` over the
whole batch: it encodes image ``i`` with the Poisson stream ``[seed, i]``,
which is what every shard must reproduce from its global indices.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim import Result, Simulator
from eventsim.dataset_run import run_dataset, store_sam
from eventsim.dataset_summary import summarize
from eventsim.errors import DatasetError
from eventsim.errors import InputError
from eventsim.model_io import save_model
from eventsim.random_models import random_model
from eventsim.shards import RunDirError, merge

ROOT = Path(__file__).resolve().parents[1]
ARCH = (("conv", 8), ("pool", 0), ("conv", 8), ("gap", 0))


@pytest.fixture(scope="module")
def model():
    return random_model(3, input_shape=(3, 16, 16), arch=ARCH, timesteps=6, firing=1.5)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """npy:PATH data set of 20 images with labels and masks beside it."""
    rng = np.random.default_rng(11)
    folder = tmp_path_factory.mktemp("npy")
    images = rng.random((20, 3, 16, 16)).astype(np.float32)
    masks = np.zeros((20, 16, 16), bool)
    for i in range(20):
        y, x = rng.integers(0, 10, 2)
        masks[i, y:y + 6, x:x + 6] = True
    np.save(folder / "x.npy", images)
    np.save(folder / "x.labels.npy", rng.integers(0, 10, 20))
    np.save(folder / "x.masks.npy", masks)
    return folder / "x.npy", images, masks


@pytest.fixture(scope="module")
def reference(model, data):
    sim = Simulator(model)
    return sim.run(images=data[1], seed=0)


def _run(model, data, out, **kw):
    kw.setdefault("masks", True)
    kw.setdefault("progress", False)
    return run_dataset(model, f"npy:{data[0]}", out, **kw)


def _merged(run_dir, out):
    merge(run_dir, out)
    with h5py.File(out, "r") as f:
        return {name: f[name][()] for name in _names(f)}


def _names(f):
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return names


@pytest.mark.parametrize("store", ["all", "mean", "last", "none"])
def test_shard_sizes_give_identical_results_equal_to_one_batch(model, data, reference, tmp_path, store):
    merged = {}
    for size in (1, 7, 64):
        _run(model, data, tmp_path / f"s{size}", shard_size=size, sam_store=store, sam_dtype="float32")
        merged[size] = _merged(tmp_path / f"s{size}", tmp_path / f"all{size}.h5")
        summary = json.loads((tmp_path / f"s{size}" / "summary.json").read_text())
        summary.pop("run")
        merged[size]["summary"] = summary
    for size in (7, 64):
        assert merged[size].keys() == merged[1].keys()
        for name in merged[1]:
            if name == "summary":
                assert merged[size][name] == merged[1][name]
            else:
                np.testing.assert_array_equal(merged[size][name], merged[1][name], err_msg=name)
    got = merged[1]
    np.testing.assert_array_equal(got["index"], np.arange(20))
    np.testing.assert_array_equal(got["logits"], reference.logits)
    for layer, per in reference.counts.items():
        for counter, arr in per.items():
            np.testing.assert_array_equal(got[f"counts/{layer}/{counter}"], arr)
    for layer, maps in reference.sam.items():
        if store == "none":
            assert f"sam/{layer}" not in got
        else:
            np.testing.assert_array_equal(got[f"sam/{layer}"], store_sam(maps, store, "float32"))


def test_merged_file_reads_as_a_result_from_anywhere(model, data, reference, tmp_path, monkeypatch):
    _run(model, data, tmp_path / "run", shard_size=6, sam_store="all", sam_dtype="float32")
    (tmp_path / "elsewhere").mkdir()
    merge(tmp_path / "run", tmp_path / "elsewhere" / "all.h5")
    monkeypatch.chdir("/")
    res = Result.load(tmp_path / "elsewhere" / "all.h5")
    np.testing.assert_array_equal(res.logits, reference.logits)
    for layer in reference.sam:
        np.testing.assert_array_equal(res.sam[layer], reference.sam[layer])
    with h5py.File(tmp_path / "elsewhere" / "all.h5", "r") as f:
        assert f["logits"].is_virtual
        assert f.attrs["sam_store"] == "all" and f.attrs["seed"] == 0


@pytest.mark.parametrize("store", ["mean", "last"])
def test_merged_one_step_sam_reads_as_a_result(model, data, reference, tmp_path, store):
    _run(model, data, tmp_path / "run", shard_size=6, sam_store=store, sam_dtype="float32")
    merge(tmp_path / "run", tmp_path / "all.h5")
    res = Result.load(tmp_path / "all.h5")
    np.testing.assert_array_equal(res.logits, reference.logits)
    for layer, maps in reference.sam.items():
        np.testing.assert_array_equal(res.sam[layer], store_sam(maps, store, "float32"))
    assert res.spike_rates() == reference.spike_rates()


def test_store_sam_definitions():
    rng = np.random.default_rng(0)
    maps = rng.random((3, 5, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(store_sam(maps, "all", "float32"), maps)
    np.testing.assert_array_equal(store_sam(maps, "last", "float32"), maps[:, 4:5])
    mean = sum(maps[:, t].astype(np.float64) for t in range(5)) / 5
    np.testing.assert_array_equal(store_sam(maps, "mean", "float32"), mean[:, None].astype(np.float32))
    assert store_sam(maps, "mean", "float16").dtype == np.float16
    with pytest.raises(InputError, match="float16"):
        store_sam(maps * 1e5, "all", "float16", "conv1")


def test_summary_matches_a_direct_computation(model, data, reference, tmp_path):
    from eventsim import metrics

    report = _run(model, data, tmp_path / "run", shard_size=7)
    s = report.summary
    labels = np.load(data[0].with_name("x.labels.npy"))
    assert s["images"] == 20 and s["correct"] == int((reference.predictions == labels).sum())
    for layer, per in reference.counts.items():
        neurons = reference.attrs["neurons"][layer]
        assert s["layers"][layer]["spikes"] == int(per["spikes"].sum())
        assert s["layers"][layer]["spike_rate"] == per["spikes"].sum() / (20 * 6 * neurons)
        assert s["layers"][layer]["synops_per_image"] == per["synops"].sum() / 20
    for layer, maps in reference.sam.items():
        assert s["sam"][layer]["pointing_game"] == metrics.pointing_game(maps, data[2]).mean()
        np.testing.assert_allclose(s["sam"][layer]["energy_in_mask"], metrics.mask_energy(maps, data[2]).mean(),
                                   rtol=1e-12)
    md = (tmp_path / "run" / "summary.md").read_text()
    assert "pointing game" in md and f"{s['accuracy']:.4f}" in md
    side = json.loads((tmp_path / "run" / "shard-00000.json").read_text())
    assert side["summary"]["images"] == 7 and side["start"] == 0 and side["stop"] == 7


def test_summarize_by_hand():
    cols = {"index": np.arange(2), "predictions": np.array([1, 2]), "labels": np.array([1, 3]),
            "counts/a/spikes": np.array([[1, 2], [3, 4]]), "counts/a/synops": np.array([[10, 0], [0, 5]]),
            "metrics/a/pointing": np.array([True, False]), "metrics/a/energy": np.array([0.25, 0.5])}
    s = summarize(cols, {"a": 5}, timesteps=2)
    assert s["accuracy"] == 0.5 and s["correct"] == 1
    assert s["layers"]["a"]["spike_rate"] == 10 / (2 * 2 * 5)          # 10 spikes / (2 images x 2 steps x 5 neurons)
    assert s["layers"]["a"]["synops_per_image"] == 7.5 and s["synops_per_image"] == 7.5
    assert s["sam"]["a"] == {"pointing_game": 0.5, "energy_in_mask": 0.375}


def test_resume_skips_valid_shards_and_redoes_missing_or_corrupt(model, data, reference, tmp_path):
    run = tmp_path / "run"
    first = _run(model, data, run, shard_size=4)
    assert (first.computed, first.skipped) == (5, 0)
    again = _run(model, data, run, shard_size=4)
    assert (again.computed, again.skipped) == (0, 5)
    (run / "shard-00001.h5").unlink()
    raw = bytearray((run / "shard-00003.h5").read_bytes())
    raw[-100] ^= 0xFF
    (run / "shard-00003.h5").write_bytes(bytes(raw))
    (run / ".shard-00002.h5.abc.h5.tmp").write_bytes(b"half")              # left by a killed writer
    third = _run(model, data, run, shard_size=4)
    assert (third.computed, third.skipped, third.computed_images) == (2, 3, 8)
    assert not list(run.glob(".shard-*"))
    got = _merged(run, tmp_path / "all.h5")
    np.testing.assert_array_equal(got["index"], np.arange(20))
    np.testing.assert_array_equal(got["logits"], reference.logits)
    man = json.loads((run / "manifest.json").read_text())
    assert man["complete"] and man["shards_done"] == 5 and len(man["shards"]) == 5


def test_resume_after_the_process_is_killed(model, data, reference, tmp_path):
    """Kill a CLI run after its first shards, rerun the same command: nothing lost, nothing twice."""
    model_file = save_model(model, tmp_path / "m.h5")
    run = tmp_path / "run"
    big = tmp_path / "big.npy"
    np.save(big, np.tile(data[1], (10, 1, 1, 1)))                       # 200 images, 100 shards
    cmd = [sys.executable, "-m", "eventsim.cli", "run-dataset", str(model_file), "--dataset", f"npy:{big}",
           "--out", str(run), "--shard-size", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(run.glob("shard-*.json"))) >= 2:
            proc.kill()
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert proc.returncode != 0, "the run finished before it could be interrupted"
    report = run_dataset(model_file, f"npy:{big}", run, shard_size=2, progress=False)
    assert report.skipped >= 2 and report.computed >= 1 and report.skipped + report.computed == 100
    got = _merged(run, tmp_path / "all.h5")
    np.testing.assert_array_equal(got["index"], np.arange(200))
    np.testing.assert_array_equal(got["logits"], Simulator(model).run(images=np.load(big)).logits)


def test_refuses_another_runs_folder(model, data, tmp_path):
    run = tmp_path / "run"
    _run(model, data, run, shard_size=7)
    with pytest.raises(RunDirError, match="seed 0 there, 1 here"):
        _run(model, data, run, shard_size=7, seed=1)
    with pytest.raises(RunDirError, match="shard_size 7 there, 5 here"):
        _run(model, data, run, shard_size=5)
    other = random_model(4, input_shape=(3, 16, 16), arch=ARCH, timesteps=6)
    with pytest.raises(RunDirError, match="model sha256"):
        _run(other, data, run, shard_size=7)
    (run / "manifest.json").unlink()                                      # sidecars still name the run
    with pytest.raises(RunDirError, match="another run"):
        _run(model, data, run, shard_size=7, seed=1)


def test_merge_refuses_an_unfinished_run(model, data, tmp_path):
    run = tmp_path / "run"
    _run(model, data, run, shard_size=7)
    (run / "shard-00002.json").unlink()
    with pytest.raises(RunDirError, match="shard-00002"):
        merge(run, tmp_path / "all.h5")
    with pytest.raises(RunDirError, match="not an 'eventsim run-dataset' output folder"):
        merge(tmp_path, tmp_path / "all.h5")


def test_folder_dataset_labels_from_class_folders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    for cls in ("b", "a"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for k in range(2):
            pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / cls / f"{k}.png")
    m = random_model(1, input_shape=(3, 16, 16), arch=ARCH, timesteps=4)
    report = run_dataset(m, f"folder:{tmp_path / 'data'}", tmp_path / "run", shard_size=3, progress=False)
    merged = _merged(tmp_path / "run", tmp_path / "all.h5")
    np.testing.assert_array_equal(merged["labels"], [0, 0, 1, 1])        # classes sorted by name
    assert report.images == 4 and "accuracy" in report.summary
    (tmp_path / "data" / "a" / "0.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="0.png"):
        run_dataset(m, f"folder:{tmp_path / 'data'}", tmp_path / "run2", progress=False)


@pytest.mark.parametrize("dataset, match", [
    ("imagenet", "unknown data set 'imagenet'"),
    ("synthshapes-dvs", "event-camera"),
    ("folder:/no/such/folder", "data set folder not found: /no/such/folder"),
    ("npy:/no/such.npy", "images file not found"),
    ("synthshapes:training", "unknown split"),
])
def test_bad_datasets(model, tmp_path, dataset, match):
    with pytest.raises(DatasetError, match=match):
        run_dataset(model, dataset, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_bad_options(model, data, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        run_dataset(model, f"folder:{tmp_path / 'empty'}", tmp_path / "run", progress=False)
    with pytest.raises(InputError, match="has 20 images, asked for 21"):
        _run(model, data, tmp_path / "run", n=21)
    with pytest.raises(InputError, match="sam_store"):
        _run(model, data, tmp_path / "run", sam_store="max")
    with pytest.raises(InputError, match="shard_size"):
        _run(model, data, tmp_path / "run", shard_size=0)
    with pytest.raises(InputError, match="--scheduler: expected local"):
        _run(model, data, tmp_path / "run", scheduler="http://x")
    np.save(tmp_path / "y.npy", np.zeros((3, 3, 16, 16), np.float32))
    with pytest.raises(InputError, match="has no object masks"):
        run_dataset(model, f"npy:{tmp_path / 'y.npy'}", tmp_path / "run", masks=True, progress=False)


def test_cli_run_dataset_and_merge(model, data, tmp_path, capsys):
    from eventsim.cli import main

    model_file = save_model(model, tmp_path / "m.h5")
    run = tmp_path / "run"
    assert main(["run-dataset", str(model_file), "--dataset", f"npy:{data[0]}", "--out", str(run),
                 "--shard-size", "8", "--masks", "--no-progress"]) == 0
    assert "20 image(s) in 3 shard(s): 3 computed" in capsys.readouterr().out
    assert main(["merge", str(run), "--out", str(tmp_path / "all.h5")]) == 0
    assert "merged 20 image(s) from 3 shard(s)" in capsys.readouterr().out
    assert main(["run-dataset", str(model_file), "--dataset", "nope", "--out", str(run)]) == 2
    assert "unknown data set 'nope'" in capsys.readouterr().err
    assert main(["run-dataset", str(model_file), "--dataset", f"npy:{data[0]}", "--out", str(run),
                 "--seed", "3", "--no-progress"]) == 2
    assert "holds another run's shards" in capsys.readouterr().err


def test_synthshapes_beyond_its_default_length(tmp_path):
    """SynthShapes is procedural: --n may exceed the split's default 2000; items are those of eventsim.synthshapes."""
    from eventsim.synthshapes import SynthShapes

    from eventsim.datasets import open_dataset

    m = random_model(5, input_shape=(3, 16, 16), arch=ARCH, timesteps=3)
    src = open_dataset("synthshapes", m.input_shape)
    batch = src.load(2500, 2503, masks=True)
    images, labels, masks, _ = SynthShapes("test", size=16, length=2503).arrays(2500, 2503)
    np.testing.assert_array_equal(batch.images, images)
    np.testing.assert_array_equal(batch.labels, labels)
    np.testing.assert_array_equal(batch.masks, masks)
    report = run_dataset(m, "synthshapes", tmp_path / "run", n=6, shard_size=4, masks=True, progress=False)
    assert report.images == 6 and set(report.summary["sam"]) == {"conv1", "conv2"}


def test_progress_bar_shows_rate_and_eta(model, data, tmp_path, capsys):
    pytest.importorskip("tqdm")
    _run(model, data, tmp_path / "run", shard_size=7, progress=True)
    err = capsys.readouterr().err
    assert "20/20" in err and "img/s" in err and "shards 3/3" in err
    _run(model, data, tmp_path / "run", shard_size=7, progress=True)      # resumed: starts at 20/20
    assert "20/20" in capsys.readouterr().err


def test_dask_and_torch_are_imported_only_when_used():
    code = ("import sys, eventsim.cli, eventsim.dataset_run, eventsim.datasets, eventsim.shards; "
            "eventsim.cli.build_parser(); "
            "print(sorted(m for m in ('dask', 'distributed', 'torch', 'tqdm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
