"""Clean failures: bad inputs, bad models, crashing and hanging Processes never hang the caller."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from lava.proc.conv import models as lava_conv_models

import lava_port
from eventsim import InputError, ModelFormatError
from lava_port import api, models

pytestmark = pytest.mark.lava


def test_wrong_input_shape_names_the_argument(vgg_model, vgg_spikes):
    with pytest.raises(InputError, match=r"spikes: expected per-step shape \(2, 12, 12\)"):
        lava_port.run(vgg_model, vgg_spikes[:, :, :1])
    with pytest.raises(InputError, match="spikes: values must be -1, 0 or 1"):
        lava_port.run(vgg_model, vgg_spikes * 2)
    with pytest.raises(InputError, match="images: the model takes 2 channel"):
        lava_port.run(vgg_model, images=np.zeros((1, 3, 12, 12)))
    with pytest.raises(InputError, match="exactly one of images"):
        lava_port.run(vgg_model)
    with pytest.raises(InputError, match="timeout: expected a positive number"):
        lava_port.run(vgg_model, vgg_spikes, timeout=0)
    with pytest.raises(InputError, match="sam_layers"):
        lava_port.run(vgg_model, vgg_spikes, sam_layers=["out"])


def test_bad_model_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        lava_port.run(tmp_path / "missing.h5", np.zeros((1, 2, 1, 4, 4), np.int8))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(ModelFormatError, match="not a readable HDF5 file"):
        lava_port.run(junk, np.zeros((1, 2, 1, 4, 4), np.int8))


@pytest.fixture
def worker_pids(monkeypatch):
    """Pids of the Lava workers started during the test (they lead their own process groups)."""
    pids, wait = [], api._wait

    def spy(worker, run_dir, timeout):
        pids.append(worker.pid)
        return wait(worker, run_dir, timeout)

    monkeypatch.setattr(api, "_wait", spy)
    return pids


def _group_alive(pgid):
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _assert_cleaned_up(pids):
    assert pids
    for pid in pids:
        assert not _group_alive(pid), f"processes of the Lava worker group {pid} are still running"


def test_crash_inside_a_neuron_is_reported(vgg_model, vgg_spikes, monkeypatch, worker_pids):
    def explode(self, current, t, record):
        raise RuntimeError("injected neuron failure")

    monkeypatch.setattr(models.PySamNeuronModel, "_advance", explode)
    start = time.monotonic()
    with pytest.raises(lava_port.LavaRunError, match=r"(?s)layer 'conv1'.*injected neuron failure"):
        lava_port.run(vgg_model, vgg_spikes, timeout=60)
    assert time.monotonic() - start < 30
    _assert_cleaned_up(worker_pids)


def test_crash_inside_a_stock_lava_process_times_out_cleanly(vgg_model, vgg_spikes, monkeypatch, worker_pids):
    """An exception in Lava's own Conv hangs Lava; the deadline kills the worker's whole process group."""
    def explode(self):
        raise RuntimeError("injected Conv failure")

    monkeypatch.setattr(lava_conv_models.PyConvModelFixed, "run_spk", explode)
    start = time.monotonic()
    with pytest.raises(lava_port.LavaRunError, match="did not finish within timeout=6 s"):
        lava_port.run(vgg_model, vgg_spikes[:1], timeout=6)
    assert time.monotonic() - start < 20
    _assert_cleaned_up(worker_pids)


def test_worker_that_dies_is_reported(vgg_model, vgg_spikes, monkeypatch, worker_pids):
    monkeypatch.setattr("lava_port.graph.run_graph", lambda source, steps: os._exit(3))
    with pytest.raises(lava_port.LavaRunError, match="died with exit code 3"):
        lava_port.run(vgg_model, vgg_spikes[:1], timeout=60)
    _assert_cleaned_up(worker_pids)
