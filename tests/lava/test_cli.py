"""``python -m lava_port run`` writes eventsim's result file layout with backend "lava"."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from lava_helpers import assert_same_result

from eventsim import Result, Simulator, save_model

pytestmark = pytest.mark.lava

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "lava_port", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def _h5_paths(path):
    with h5py.File(path, "r") as f:
        names = []
        f.visit(names.append)
        return sorted(names), sorted(f.attrs)


def test_run_spikes_matches_eventsim_file(vgg_model, vgg_spikes, tmp_path):
    model, spikes, out = tmp_path / "model.h5", tmp_path / "spikes.npy", tmp_path / "lava.h5"
    save_model(vgg_model, model)
    np.save(spikes, vgg_spikes[:2])
    proc = _cli("run", model, "--spikes", spikes, "--record-spikes", "--gamma", "0.25", "--convention", "reference",
                "--sam-layers", "conv1,fc1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "with lava" in proc.stdout
    sim = Simulator(vgg_model, sam_gamma=0.25, sam_layers=["conv1", "fc1"], sam_convention="reference")
    expected = sim.run(spikes=vgg_spikes[:2], record_spikes=True)
    got = Result.load(out)
    assert got.attrs == {**expected.attrs, "backend": "lava"}
    assert_same_result(expected, got)
    assert _h5_paths(out) == _h5_paths(expected.save(tmp_path / "eventsim.h5"))


def test_run_images_encodes_like_eventsim(vgg_model, tmp_path):
    model, images, out = tmp_path / "model.h5", tmp_path / "images.npy", tmp_path / "lava.h5"
    save_model(vgg_model, model)
    x = np.random.default_rng(5).random((2, 2, 12, 12))
    np.save(images, x)
    proc = _cli("run", model, "--images", images, "--timesteps", 20, "--seed", 3, "--out", out)
    assert proc.returncode == 0, proc.stderr
    expected = Simulator(vgg_model).run(images=x, timesteps=20, seed=3)
    got = Result.load(out)
    assert got.attrs["seed"] == 3 and got.attrs["backend"] == "lava"
    assert_same_result(expected, got, check_record=False)


def test_clear_errors(vgg_model, vgg_spikes, tmp_path):
    model, spikes = tmp_path / "model.h5", tmp_path / "spikes.npy"
    save_model(vgg_model, model)
    np.save(spikes, vgg_spikes[:, :, :1])
    proc = _cli("run", model, "--spikes", spikes, "--out", tmp_path / "out.h5")
    assert proc.returncode == 2
    assert "error: spikes: expected per-step shape (2, 12, 12), got (1, 12, 12)" in proc.stderr
    proc = _cli("run", tmp_path / "missing.h5", "--spikes", spikes, "--out", tmp_path / "out.h5")
    assert proc.returncode == 2 and "error: model file not found" in proc.stderr
    proc = _cli("run", model, "--spikes", spikes, "--out", tmp_path / "no-such-dir" / "out.h5")
    assert proc.returncode == 2 and "output directory does not exist" in proc.stderr
    assert not (tmp_path / "out.h5").exists()

