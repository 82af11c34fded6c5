"""SIGINT and SIGTERM end ``python -m lava_port run`` within seconds and leave nothing behind.

Before the fix, SIGINT hung for good (the host waited on a worker that never
ended) and SIGTERM left the Lava processes running and a ``lava_port-*``
folder in the temp directory.  The run here is long (hundreds of images), so
the signal arrives while Lava is running; the test finds the worker and its
Lava processes through ``/proc`` before signalling.
"""
from __future__ import annotations

import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from lava_helpers import signed_spikes

from eventsim import save_model

pytestmark = pytest.mark.lava

ROOT = Path(__file__).resolve().parents[2]


def _children():
    """``{pid: ppid}`` of every live (non-zombie) process on the machine."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            out[int(entry)] = int(fields[1])
    return out


def _descendants(root):
    table = _children()
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in table.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pids):
    table = _children()
    return sorted(p for p in pids if p in table)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_ends_lava_run_and_cleans_up(vgg_model, tmp_path, sig):
    model, spikes, out = tmp_path / "model.h5", tmp_path / "spikes.npy", tmp_path / "out.h5"
    tmp = Path(tempfile.mkdtemp(prefix="sig-"))  # short: Lava's sockets live below it (AF_UNIX path limit)
    try:
        _run_and_signal(vgg_model, model, spikes, out, tmp, sig)
    finally:
        shutil.rmtree(tmp)


def _terminal_sigint():
    """SIGINT as in a terminal: a shell starts background jobs (CI, ``make test &``) with it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_and_signal(vgg_model, model, spikes, out, tmp, sig):
    save_model(vgg_model, model)
    np.save(spikes, signed_spikes(3, (400, 20, 2, 12, 12)))
    env = dict(os.environ, TMPDIR=str(tmp))
    proc = subprocess.Popen([sys.executable, "-m", "lava_port", "run", str(model), "--spikes", str(spikes),
                             "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_terminal_sigint)
    pids = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            pids = _descendants(proc.pid)
            if len(pids) >= 4 and list(tmp.glob("lava_port-*")):  # worker and Lava processes are up
                break
            time.sleep(0.2)
        assert proc.poll() is None, f"the run ended before the signal: {proc.communicate()}"
        time.sleep(1.0)
        pids = _descendants(proc.pid)
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        for pid in _alive(pids):  # only on failure: do not leave a stuck run behind
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert took < 10, f"took {took:.1f} s to stop"
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGTERM), err
    end = time.monotonic() + 5
    while _alive(pids) and time.monotonic() < end:
        time.sleep(0.1)
    assert _alive(pids) == [], "Lava processes outlived the run"
    assert list(tmp.iterdir()) == [], "the run left files in the temp folder"
    assert not out.exists()
