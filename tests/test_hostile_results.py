"""Hostile result files and signals during save (issue 14, items 6 and 8)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim import Result, Simulator
from eventsim.cli import main
from eventsim.errors import ResultFormatError, ResultIntegrityError, UnsafeResultFileError
from eventsim.random_models import random_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run():
    model = random_model(seed=6, input_shape=(2, 12, 12), timesteps=6)
    x = np.random.default_rng(1).random((2, 2, 12, 12))
    return Simulator(model).run(images=x, record_spikes=True), x


@pytest.fixture
def files(run, tmp_path):
    result, x = run
    images = tmp_path / "images.npy"
    np.save(images, x)
    return result.save(tmp_path / "result.h5"), images


def edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
        if "content_sha256" in f.attrs:
            del f.attrs["content_sha256"]  # structure checks alone must catch these


def _replace(where, data):
    def fn(f):
        del f[where]
        f[where] = data
    return fn


def _sam_dataset(f):
    del f["sam"]
    f["sam"] = np.zeros((2, 6, 12, 12), np.float32)


def _giant_counts(f):
    del f["counts/conv1/spikes"]
    f.create_dataset("counts/conv1/spikes", shape=(2, 2**40), dtype=np.int64, chunks=(1, 2**20),
                     compression="gzip")


CRAFTED = [
    ("1-D logits", _replace("logits", np.zeros(2)), r"/logits: expected shape \(\?, \?\)"),
    ("3-D SAM", _replace("sam/conv1", np.zeros((2, 6, 12), np.float32)), r"/sam/conv1: expected shape \(2, 6, \?, \?\)"),
    ("T = 0", lambda f: f.attrs.__setitem__("timesteps", 0), r"'timesteps' must be >= 1"),
    ("SAM is a dataset", _sam_dataset, r"/sam: expected a group"),
    ("mismatched T", lambda f: f.attrs.__setitem__("timesteps", 7), r"expected shape \(2, 7"),
    ("giant counts", _giant_counts, r"/counts/conv1/spikes: expected shape \(2, 6\)"),
    ("string timesteps", lambda f: f.attrs.__setitem__("timesteps", "six"), r"'timesteps' has the wrong type"),
]


@pytest.mark.parametrize("label, fn, match", CRAFTED, ids=[c[0] for c in CRAFTED])
def test_8_crafted_results_are_refused_by_load_and_plot(capsys, files, tmp_path, label, fn, match):
    result, images = files
    edit(result, fn)
    with pytest.raises(ResultFormatError, match=match):
        Result.load(result)
    status = main(["plot", str(result), "--images", str(images), "--out", str(tmp_path / "p.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith(f"error: {result}:"), err
    assert not (tmp_path / "p.png").exists()


def test_8_flipped_bytes_and_links(files, tmp_path):
    result, _ = files
    with h5py.File(result, "r+") as f:
        f["logits"][0, 0] += 1.0
    with pytest.raises(ResultIntegrityError, match="content checksum mismatch"):
        Result.load(result)
    assert Result.load(result, verify=False).logits.shape == (2, Result.load(result, verify=False).logits.shape[1])
    with h5py.File(result, "r+") as f:
        f["sam/ext"] = h5py.ExternalLink(str(tmp_path / "images.npy"), "/x")
    with pytest.raises(UnsafeResultFileError, match="/sam/ext: external link; eventsim never follows"):
        Result.load(result)


@pytest.mark.parametrize("images, match", [(np.full((2, 2, 12, 12), np.nan), "NaN"),
                                            (np.zeros((2, 2, 20, 20)), "20x20 but the SAM map")])
def test_8_plot_refuses_wrong_images(capsys, files, tmp_path, images, match):
    result, _ = files
    bad = tmp_path / "bad.npy"
    np.save(bad, images)
    status = main(["plot", str(result), "--images", str(bad), "--out", str(tmp_path / "p.png")])
    err = capsys.readouterr().err
    assert status == 2 and match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.png").exists()


def test_8_plot_still_works(capsys, files, tmp_path):
    result, images = files
    assert main(["plot", str(result), "--images", str(images), "--out", str(tmp_path / "p.png"), "--steps", "3"]) == 0
    assert (tmp_path / "p.png").stat().st_size > 0


def test_result_round_trip_with_checksum(files, run):
    result, _ = files
    loaded = Result.load(result)
    with h5py.File(result, "r") as f:
        assert len(f.attrs["content_sha256"]) == 64
    np.testing.assert_array_equal(loaded.logits, run[0].logits)


SAVE_SCRIPT = textwrap.dedent("""
    import signal
    import sys
    import numpy as np
    from eventsim import Result
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when started in the background
    rng = np.random.default_rng(0)
    n, t = 48, 20
    sam = {f"l{i}": rng.random((n, t, 64, 64), dtype=np.float32) for i in range(3)}
    counts = {"l0": {"spikes": np.zeros((n, t), np.int64)}}
    attrs = dict(timesteps=t, gamma=0.5, sam_convention="paper", seed=0, model_sha256="0" * 64, backend="eventsim")
    result = Result(logits=rng.random((n, 3)), sam=sam, counts=counts, attrs=attrs)
    import time
    import eventsim.result as er
    write_dict = er._write_dict
    def slow_write_dict(*args, **kwargs):  # the signal must land inside the save, however fast the machine
        print("saving", flush=True)
        time.sleep(2.0)
        return write_dict(*args, **kwargs)
    er._write_dict = slow_write_dict
    result.save(sys.argv[1])
    print("saved", flush=True)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_6_signal_during_save_leaves_nothing(tmp_path, sig):
    out = tmp_path / "out.h5"
    proc = subprocess.Popen([sys.executable, "-c", SAVE_SCRIPT, str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert proc.stdout.readline().strip() == "saving"
        time.sleep(0.3)
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "saved" not in rest, "the save was not in progress when the signal came"
    assert proc.returncode != 0, err
    assert list(tmp_path.iterdir()) == [], "an interrupted save left a file behind"


def _vds_result(path, source, name="x"):
    """A result-shaped file whose logits are a virtual dataset over ``source``."""
    with h5py.File(path, "w") as f:
        f.attrs.update(format="eventsim-result", format_version=1, run_id="abc")
        layout = h5py.VirtualLayout(shape=(4, 3), dtype="f8")
        layout[:] = h5py.VirtualSource(source, name, shape=(4, 3))
        f.create_virtual_dataset("logits", layout)


@pytest.mark.parametrize("shard_attrs, absolute", [({}, False), ({"run_id": "other"}, False),
                                                    ({"run_id": "abc"}, True)],
                         ids=["plain HDF5 beside it", "another run's shard", "absolute path"])
def test_virtual_datasets_only_read_shards_of_the_same_run(tmp_path, shard_attrs, absolute):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f.attrs.update(shard_attrs)
        f["x"] = np.arange(12.0).reshape(4, 3)
    merged = tmp_path / "merged.h5"
    _vds_result(merged, str(secret) if absolute else "secret.h5")
    with pytest.raises(UnsafeResultFileError, match="virtual dataset reads"):
        Result.load(merged)
