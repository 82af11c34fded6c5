"""run-dataset on Dask: 1 vs 2 workers bit-identical, a killed worker loses nothing, schedulers that fail.

Every comparison is against one in-process ``Simulator.run`` over the whole
batch (image ``i`` encoded with the Poisson stream ``[seed, i]``).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

import h5py
import numpy as np
import pytest

from eventsim import Simulator
from eventsim.dataset_run import run_dataset
from eventsim.errors import InputError
from eventsim.random_models import random_model
from eventsim.shards import merge

distributed = pytest.importorskip("distributed")

ARCH = (("conv", 8), ("pool", 0), ("conv", 8), ("gap", 0))


@pytest.fixture(scope="module")
def model():
    return random_model(3, input_shape=(3, 16, 16), arch=ARCH, timesteps=6, firing=1.5)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("npy")
    images = np.random.default_rng(12).random((24, 3, 16, 16)).astype(np.float32)
    np.save(folder / "x.npy", images)
    return folder / "x.npy", images


def _merged(run_dir, out):
    merge(run_dir, out)
    names = []
    with h5py.File(out, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        return {n: f[n][()] for n in names}


def test_one_and_two_local_workers_are_bit_identical(model, data, tmp_path):
    ref = Simulator(model).run(images=data[1])
    got = {}
    for workers in (1, 2):
        report = run_dataset(model, f"npy:{data[0]}", tmp_path / f"w{workers}", shard_size=5,
                             scheduler=f"local:{workers}", sam_store="all", sam_dtype="float32", progress=False)
        assert report.computed == 5
        got[workers] = _merged(tmp_path / f"w{workers}", tmp_path / f"all{workers}.h5")
    assert got[1].keys() == got[2].keys()
    for name in got[1]:
        np.testing.assert_array_equal(got[1][name], got[2][name], err_msg=name)
    np.testing.assert_array_equal(got[2]["logits"], ref.logits)
    for layer, maps in ref.sam.items():
        np.testing.assert_array_equal(got[2][f"sam/{layer}"], maps)
    for layer, per in ref.counts.items():
        np.testing.assert_array_equal(got[2][f"counts/{layer}/synops"], per["synops"])


def test_killed_worker_loses_no_image(model, tmp_path):
    """SIGKILL a worker process while it executes a shard; Dask reruns the shard elsewhere."""
    images = np.random.default_rng(13).random((160, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", images)
    run = tmp_path / "run"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        errors = []

        def work():
            try:
                run_dataset(model, f"npy:{tmp_path / 'x.npy'}", run, shard_size=2,
                            scheduler=cluster.scheduler_address, sam_store="mean", progress=False)
            except Exception as exc:  # re-raised in the test thread below
                errors.append(exc)

        thread = threading.Thread(target=work)
        thread.start()
        killed = None
        deadline = time.monotonic() + 60
        while killed is None and time.monotonic() < deadline and thread.is_alive():
            if len(list(run.glob("shard-*.json"))) >= 2:
                busy = client.run(lambda dask_worker: (os.getpid(), dask_worker.state.executing_count))
                pids = [pid for pid, executing in busy.values() if executing]
                if pids:
                    killed = pids[0]
                    os.kill(killed, signal.SIGKILL)
            time.sleep(0.01)
        thread.join(timeout=120)
        assert killed is not None, "the run ended before a worker could be killed mid-shard"
        assert not errors, errors
        assert killed not in {pid for pid in client.run(os.getpid).values()}    # the nanny started a new one
    got = _merged(run, tmp_path / "all.h5")
    np.testing.assert_array_equal(got["index"], np.arange(160))               # none missing, none twice
    np.testing.assert_array_equal(got["logits"], Simulator(model).run(images=images).logits)


def test_unreachable_scheduler_fails_fast(model, data, tmp_path):
    import socket

    with socket.socket() as s:                                                # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(InputError, match=f"tcp://127.0.0.1:{port}: no Dask scheduler answered within 2 s"):
        run_dataset(model, f"npy:{data[0]}", tmp_path / "run", scheduler=f"tcp://127.0.0.1:{port}",
                    connect_timeout=2, progress=False)
    assert time.monotonic() - start < 20


def test_local_without_dask_runs_in_process(model, data, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)                     # import distributed fails
    report = run_dataset(model, f"npy:{data[0]}", tmp_path / "run", shard_size=10, scheduler="local:2",
                         progress=False)
    assert report.computed == 3
    assert "Dask is not installed" in capsys.readouterr().err
    with pytest.raises(InputError, match="needs Dask"):
        run_dataset(model, f"npy:{data[0]}", tmp_path / "run2", scheduler="tcp://127.0.0.1:1", progress=False)
