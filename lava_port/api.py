"""``lava_port.run``: simulate an eventsim model as a Lava process graph.

Three tiers, as in eventsim: :func:`run` checks options and inputs with
eventsim's run contract (:mod:`eventsim.contract`, the same checks as
``eventsim.Simulator``) and returns a :class:`eventsim.Result`; :func:`_execute` owns the run
folder and the worker process; :mod:`lava_port.graph` and
:mod:`lava_port.models` compute.

Nothing hangs: Lava runs in a forked worker that leads its own process
group.  The host waits with a deadline; a ProcessModel that fails writes its
traceback to the run folder (and keeps the graph flowing), and the host
raises it as :class:`~lava_port.errors.LavaRunError`.  On a timeout, or a
failure that does not end the run within a grace period, the whole group is
killed.  SIGINT or SIGTERM during the run kill the group too, remove the run
folder, and then take effect (``KeyboardInterrupt``, or termination); no Lava
process or ``lava_port-*`` folder outlives the call on any exit path.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import tempfile
import time
import traceback
from multiprocessing import resource_tracker
from pathlib import Path

import numpy as np

from eventsim import fixed_point as fp
from eventsim.contract import input_spikes, result_attrs, run_options, run_seed
from eventsim.errors import InputError
from eventsim.io import deferred_signals
from eventsim.result import COUNTER_NAMES, Result
from eventsim.topology import connections
from lava_port.errors import LavaRunError
from lava_port.layout import COUNTERS, fanout, from_lava, plan_layers

#: Seconds a failed run may take to wind down before its processes are killed.
GRACE_S = 10.0
GRAPH_ERROR = "error-graph.txt"
#: Signals received during the runs in progress (innermost last), filled by ``deferred_signals``.
_RECEIVED: list = []


def default_timeout(num_steps: int) -> float:
    """Deadline in seconds for ``num_steps`` Lava steps: 60 s plus 0.5 s per step."""
    return 60.0 + 0.5 * num_steps


def run(model, spikes=None, *, images=None, timesteps=None, seed=0, sam_gamma=0.5, sam_layers=None,
        sam_convention="paper", record_spikes=False, timeout=None) -> Result:
    """Simulate a batch on Lava's CPU backend, bit-exact with eventsim.

    Parameters
    ----------
    model : eventsim.Model or str or Path
        A model, or the path of a model file.
    spikes : array_like of int, shape (N, T, C, H, W), optional
        Input spikes in {-1, 0, 1}, or signed int8 event counts for a model
        with ``input_encoding == "counts"``.
    images : array_like of float, shape (N, C, H, W), optional
        Pixels in [0, 1], encoded with eventsim's seeded signed-Poisson
        encoder (give exactly one of ``spikes`` and ``images``).
    timesteps : int, optional
        ``T``; default ``model.default_timesteps`` (must match ``spikes``).
    seed : int
        Encoder seed (ignored with ``spikes``).
    sam_gamma : float
        ``gamma >= 0`` of the TSCS kernel, paper Eq. 12.
    sam_layers : sequence of str, optional
        Spiking layers with a SAM map; default every conv layer.
    sam_convention : {"paper", "reference"}
    record_spikes : bool
        Also return every spiking layer's spikes and every layer's final voltages.
    timeout : float, optional
        Seconds before the run is killed; default :func:`default_timeout`.

    Returns
    -------
    eventsim.Result
        Same fields and file layout as ``eventsim.Simulator.run``, with
        ``attrs["backend"] == "lava"``.

    Raises
    ------
    eventsim.InputError
        Bad images, spikes or options (eventsim's own checks).
    lava_port.errors.UnsupportedModelError
        The model breaks a limit of Lava's ``Conv`` (24-bit output, int8
        kernel size, stride, padding); the message names the layer.
    lava_port.errors.LavaRunError
        A Process crashed, or the run timed out.
    """
    graph = _import_graph()
    options = run_options(model, sam_gamma, sam_layers, sam_convention)
    x = input_spikes(options.model, images, spikes, timesteps, seed)
    n, steps = x.shape[:2]
    conns = connections(options.model)
    graph.check_supported(conns, options.model.input_max)
    plans = plan_layers(conns, options.sam_layers, record_spikes)
    num_steps = n * steps + plans[-1].offset
    if timeout is None:
        timeout = default_timeout(num_steps)
    elif not (isinstance(timeout, (int, float)) and timeout > 0):
        raise InputError(f"timeout: expected a positive number of seconds, got {timeout!r}")
    job = dict(model=options.model, plans=plans, spikes=x, decay=fp.sam_decay_table(options.sam_gamma, steps),
               reference=options.reference)
    records = _execute(job, float(timeout))
    out = _assemble(options.model, plans, x, records, record_spikes)
    out.attrs = result_attrs(options, steps, run_seed(spikes, seed), "lava")
    return out


def _import_graph():
    """``lava_port.graph``, which imports Lava (kept out of ``import lava_port``)."""
    try:
        from lava_port import graph
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("lava", "scipy"):
            raise ImportError(f"lava_port needs lava-nc 0.10.0 (missing module {exc.name!r}); use the Python 3.10 "
                              "environment made by 'make lava-venv' (.venv-lava/bin/python)") from exc
        raise
    return graph


def _execute(job, timeout):
    """Run the graph in a worker process; return ``[{segment: array}]`` per layer.

    SIGINT and SIGTERM are recorded while the worker runs; the wait loop then
    kills the worker's process group, the run folder is removed, and the
    signal is raised again once everything is cleaned up.
    """
    n, steps = job["spikes"].shape[:2]
    with deferred_signals() as received:
        _RECEIVED.append(received)
        try:
            with tempfile.TemporaryDirectory(prefix="lava_port-") as run_dir:
                records = _execute_in(job, timeout, n, steps, run_dir, received)
        finally:
            _RECEIVED.pop()
    if received:
        signal.raise_signal(received[0])
        raise KeyboardInterrupt  # the signal's handler returned: still abort
    return records


def _execute_in(job, timeout, n, steps, run_dir, received):
    files = []
    for i, plan in enumerate(job["plans"]):
        paths = {}
        for seg in plan.segments:
            path = os.path.join(run_dir, f"layer{i}-{seg.name}.npy")
            shape = (n, seg.size) if seg.final else (n, steps, seg.size)
            np.lib.format.open_memmap(path, mode="w+", dtype=seg.dtype, shape=shape).flush()
            paths[seg.name] = path
        files.append(paths)
    job = dict(job, files=files, run_dir=run_dir)
    # Shared memory of the graph is registered with a tracker outside the
    # worker's process group, so it is freed even if the group is killed.
    resource_tracker.ensure_running()
    worker = mp.get_context("fork").Process(target=_worker, args=(job,), name="lava_port-worker")
    worker.start()
    try:
        _wait(worker, run_dir, timeout)
    finally:
        if worker.exitcode is None:
            _kill_group(worker)
    if received:
        return None
    return [{name: np.load(path) for name, path in paths.items()} for paths in files]


def _worker(job):
    """Worker body: own process group, build, run, stop; errors go to the run folder."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Lava's runtime sockets (multiprocessing's temp folder, normally a pymp-*
    # folder beside the run folder) go into the run folder, which the host
    # removes even if this group is killed.  The name stays short: AF_UNIX
    # socket paths are limited to 107 bytes.
    tmp = os.path.join(job["run_dir"], "t")
    os.mkdir(tmp)
    mp.current_process()._config["tempdir"] = tmp
    try:
        from lava_port.graph import build_graph, run_graph

        source, num_steps = build_graph(job["model"], job["plans"], job["spikes"], decay=job["decay"],
                                        reference=job["reference"], files=job["files"], run_dir=job["run_dir"])
        run_graph(source, num_steps)
    except BaseException:
        Path(job["run_dir"], GRAPH_ERROR).write_text(traceback.format_exc())
        os._exit(1)


def _errors(run_dir):
    return sorted(Path(run_dir).glob("error-*.txt"))


def _wait(worker, run_dir, timeout):
    """Wait for the worker; kill its process group on timeout, a stuck failure or a signal; raise what failed."""
    deadline = time.monotonic() + timeout
    failed_at = None
    timed_out = False
    while worker.is_alive():
        worker.join(0.05)
        if _RECEIVED and _RECEIVED[-1]:
            _kill_group(worker)
            return
        now = time.monotonic()
        if failed_at is None and _errors(run_dir):
            failed_at = now
        timed_out = now > deadline
        if timed_out or (failed_at is not None and now - failed_at > GRACE_S):
            _kill_group(worker)
            break
    if worker.exitcode != 0:
        _kill_group(worker)  # Lava processes a failed worker may have left behind
    errors = _errors(run_dir)
    if errors:
        detail = "\n".join(p.read_text() for p in errors)
        raise LavaRunError(f"the Lava run failed:\n{detail}")
    if timed_out:
        raise LavaRunError(f"the Lava run did not finish within timeout={timeout:g} s and was killed; "
                           "pass a larger timeout= (or --timeout) if the model is just slow")
    if worker.exitcode != 0:
        raise LavaRunError(f"the Lava worker process died with exit code {worker.exitcode}")


def _kill_group(worker):
    """Kill the worker and every Lava process it started (its own process group)."""
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    worker.join(5.0)


def _assemble(model, plans, x, records, record_spikes) -> Result:
    """eventsim's Result from the sink files (axes back to (C, H, W))."""
    n, steps = x.shape[:2]
    zeros = np.zeros((n, steps), np.int64)
    magnitude = np.abs(x.astype(np.int64))  # |-128| does not fit int8
    first = (magnitude * fanout(plans[0].conn)[None, None]).sum(axis=(2, 3, 4))
    counts = {"input": {key: magnitude.sum(axis=(2, 3, 4)) if key == "spikes" else zeros.copy()
                        for key in COUNTER_NAMES}}
    sam, spikes, voltages = {}, {}, {}
    synops = first
    for plan, rec in zip(plans, records):
        layer = plan.conn.target
        c = rec["counts"]
        per = dict(zip(COUNTERS, np.moveaxis(c, -1, 0)))
        per["synops"] = synops
        counts[plan.name] = {key: np.ascontiguousarray(per[key]) for key in COUNTER_NAMES}
        synops = per["synops_next"]
        if "sam" in rec:
            _, h, w = layer.out_shape
            sam[plan.name] = fp.sam_to_real(np.swapaxes(rec["sam"].reshape(n, steps, w, h), -1, -2))
        if "spikes" in rec and record_spikes:
            spikes[plan.name] = from_lava(rec["spikes"], layer.out_shape)
        if "voltage" in rec:
            voltages[plan.name] = from_lava(rec["voltage"], layer.out_shape).astype(np.int32)
    out = model.output_layer
    if out.spiking:
        logits = records[-1]["spikes"].astype(np.int64).sum(axis=1).astype(np.float64)
    else:
        logits = records[-1]["voltage"].astype(np.int64) * out.voltage_scale / steps
    return Result(logits=logits, sam=sam, counts=counts, attrs={}, spikes=spikes if record_spikes else None,
                  voltages=voltages if record_spikes else None)
