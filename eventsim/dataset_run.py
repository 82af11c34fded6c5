"""Data-set-scale runs: shards of images as independent tasks, in process or on Dask.

:func:`run_dataset` splits items ``0..N-1`` of a data set into shards of
``shard_size`` images.  Each shard is one call of :func:`run_shard`, which
loads its images (inside the worker), encodes them with the Poisson streams
``[seed, global index]`` (``eventsim.encoding``), simulates them, and writes
``DIR/shard-00012.h5`` and its sidecar atomically.  Every image depends only
on the model, the options and its own index, so results are bit-identical
however the run is split or scheduled, and a shard computed twice (a retried
task) writes the same bytes.

Schedulers: none (in process, the default), ``local[:W]`` (a Dask
``LocalCluster`` of ``W`` worker processes on this machine) or
``tcp://HOST:PORT`` (a running Dask scheduler).  Dask is imported only for
these; ``local`` without Dask falls back to in-process execution.
"""
from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics
from .dataset_summary import summarize, write_summary
from .datasets import canonical_name, open_dataset
from .encoding import check_timesteps
from .errors import InputError
from .shards import (MANIFEST, MANIFEST_FORMAT, MODEL_FILE, RunDirError, check_run_dir, clean_temporaries,
                     shard_stem, valid_shard, write_json, write_shard)

SAM_STORES = ("none", "last", "mean", "all")
SAM_DTYPES = ("float16", "float32")


@dataclass
class RunReport:
    """What :func:`run_dataset` did.

    Attributes
    ----------
    out : Path
    images, shards : int
        Totals of the run.
    computed, skipped : int
        Shards computed now, and shards found done (resumed).
    computed_images : int
        Images in the shards computed now.
    seconds : float
        Wall time of the computing phase.
    summary : dict
        The content of ``DIR/summary.json``.
    """

    out: Path
    images: int
    shards: int
    computed: int
    skipped: int
    computed_images: int
    seconds: float
    summary: dict

    @property
    def images_per_second(self) -> float:
        """Throughput of the computing phase (images computed now / its wall time)."""
        return self.computed_images / self.seconds if self.seconds > 0 else float("nan")


def run_dataset(model, dataset, out, n=None, shard_size=64, scheduler=None, sam_store="mean",
                sam_dtype="float16", masks=False, timesteps=None, seed=0, gamma=0.5, sam_layers=None,
                sam_convention="paper", progress=None, retries=2, connect_timeout=10.0) -> RunReport:
    """Simulate a whole data set in resumable shards and reduce it to a summary.

    Parameters
    ----------
    model : Model or str or Path
    dataset : str
        ``synthshapes[:SPLIT]``, ``folder:PATH``, ``npy:PATH`` (see :mod:`eventsim.datasets`).
    out : str or Path
        Run folder (created if missing).  Rerunning into it resumes.
    n : int, optional
        Items ``0..n-1`` (default: the whole data set).
    shard_size : int
        Images per shard (and per task).
    scheduler : str, optional
        ``None`` (in process), ``"local"``, ``"local:W"`` or ``"tcp://HOST:PORT"``.
    sam_store : {"none", "last", "mean", "all"}
        SAM kept per image and layer: nothing, the last step's map, the mean
        over steps (both stored as ``(1, h, w)``) or every step ``(T, h, w)``.
    sam_dtype : {"float16", "float32"}
    masks : bool
        Score SAM against the data set's object masks (and store the masks).
    timesteps, seed, gamma, sam_layers, sam_convention
        As :class:`eventsim.Simulator` and ``Simulator.run``.
    progress : bool, optional
        Progress bar on stderr (default: when stderr is a terminal).
    retries : int
        Dask retries of a failed shard task.
    connect_timeout : float
        Seconds to wait for a ``tcp://`` scheduler.

    Returns
    -------
    RunReport

    Raises
    ------
    InputError, DatasetError, RunDirError
        For bad options, an unreadable data set, a scheduler that does not
        answer, or an output folder holding another run.
    """
    from .model import Model
    from .model_io import load_model, save_model
    from .simulator import Simulator

    model = model if isinstance(model, Model) else load_model(model)
    sim = Simulator(model, sam_gamma=gamma, sam_layers=sam_layers, sam_convention=sam_convention)
    if sam_store not in SAM_STORES:
        raise InputError(f"sam_store: expected one of {SAM_STORES}, got {sam_store!r}")
    if sam_dtype not in SAM_DTYPES:
        raise InputError(f"sam_dtype: expected one of {SAM_DTYPES}, got {sam_dtype!r}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, (int, np.integer)) or shard_size < 1:
        raise InputError(f"shard_size: expected a positive integer, got {shard_size!r}")
    if scheduler not in (None, "", "none"):
        from .dask_backend import parse_scheduler

        parse_scheduler(scheduler)
    source = open_dataset(canonical_name(dataset), model.input_shape)
    total = _check_count(n, source)
    if masks and not source.has_masks:
        raise InputError(f"masks: data set {source.name!r} has no object masks")
    steps = int(model.default_timesteps if timesteps is None else timesteps)
    check_timesteps(steps, model.max_timesteps())
    options = {"dataset": source.name, "n": total, "shard_size": int(shard_size), "timesteps": steps,
               "seed": int(seed), "gamma": sim.sam_gamma, "sam_layers": list(sim.sam_layers),
               "sam_convention": sam_convention, "sam_store": sam_store, "sam_dtype": sam_dtype,
               "masks": bool(masks)}
    run_id = hashlib.sha256(json.dumps([model.sha256, options], sort_keys=True).encode()).hexdigest()[:16]

    run_dir = Path(out)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {run_dir}: {exc}") from None
    check_run_dir(run_dir, run_id, model.sha256, options)
    clean_temporaries(run_dir)
    if not (run_dir / MODEL_FILE).is_file():
        save_model(model, run_dir / MODEL_FILE)
    bounds = [(lo, min(total, lo + shard_size)) for lo in range(0, total, shard_size)]
    done = {i: info for i in range(len(bounds)) if (info := valid_shard(run_dir, i, run_id)) is not None}
    manifest = {"format": MANIFEST_FORMAT, "version": 1, "run_id": run_id, "model_sha256": model.sha256,
                "model_file": MODEL_FILE, "options": options,
                "layers": ["input"] + [layer.name for layer in model.neuron_layers],
                "num_images": total, "num_shards": len(bounds), "complete": False, "shards": {}}
    _record(run_dir, manifest, done)
    jobs = [{"dir": str(run_dir.resolve()), "model_sha256": model.sha256, "run_id": run_id, "shard": i,
             "start": lo, "stop": hi, **options} for i, (lo, hi) in enumerate(bounds) if i not in done]
    skipped_images = sum(hi - lo for i, (lo, hi) in enumerate(bounds) if i in done)
    bar = _bar(total, skipped_images, len(bounds), len(done), progress)
    start = time.perf_counter()
    try:
        for info in _execute(jobs, scheduler, retries, connect_timeout):
            done[info["shard"]] = info
            _record(run_dir, manifest, done)
            bar(info["stop"] - info["start"], len(done))
    finally:
        bar(None, len(done))
    seconds = time.perf_counter() - start
    manifest["complete"] = True
    _record(run_dir, manifest, done)
    summary = write_summary(run_dir)
    return RunReport(run_dir, total, len(bounds), len(jobs), len(bounds) - len(jobs), total - skipped_images,
                     seconds, summary)


def _check_count(n, source) -> int:
    if n is None:
        return len(source)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n: expected a positive number of images, got {n!r}")
    if n > len(source) and not source.unbounded:
        raise InputError(f"n: data set {source.name!r} has {len(source)} images, asked for {n}")
    return int(n)


def _record(run_dir: Path, manifest: dict, done: dict) -> None:
    manifest["shards"] = {shard_stem(i): {k: done[i][k] for k in ("start", "stop", "sha256")} for i in sorted(done)}
    manifest["shards_done"] = len(done)
    write_json(run_dir / MANIFEST, manifest)


def _bar(total, initial, shards, shards_done, enabled):
    """``update(images or None, shards_done)``: a tqdm bar over images (rate, ETA), or the plain progress line."""
    enabled = sys.stderr.isatty() if enabled is None else bool(enabled)
    try:
        from tqdm import tqdm
    except ModuleNotFoundError:
        tqdm = None
    if tqdm is None:
        from .progress import Progress

        line = Progress(total - initial, "run-dataset images", enabled=enabled)
        return lambda k, s: line.update(k) if k else None
    t = tqdm(total=total, initial=initial, unit="img", desc="run-dataset", disable=not enabled, smoothing=0.1)
    t.set_postfix_str(f"shards {shards_done}/{shards}")

    def update(k, s):
        if k is None:
            t.close()
            return
        t.set_postfix_str(f"shards {s}/{shards}", refresh=False)
        t.update(k)
    return update


def _execute(jobs, scheduler, retries, timeout):
    """Yield each job's sidecar as it finishes, in process or on Dask."""
    if not jobs:
        return
    if scheduler in (None, "", "none"):
        yield from (run_shard(job) for job in jobs)
        return
    from .dask_backend import dask_client, parse_scheduler, submit_all

    kind, arg = parse_scheduler(scheduler)
    with dask_client(kind, arg, timeout) as client:
        if client is None:
            yield from (run_shard(job) for job in jobs)
        else:
            yield from submit_all(client, run_shard, jobs, retries)


@functools.lru_cache(maxsize=4)
def _simulator(run_dir, sha, gamma, sam_layers, convention):
    from .model_io import load_model
    from .simulator import Simulator

    model = load_model(Path(run_dir) / MODEL_FILE)
    if model.sha256 != sha:
        raise RunDirError(f"{run_dir}/{MODEL_FILE} changed during the run (sha256 {model.sha256[:16]}..., "
                          f"expected {sha[:16]}...)")
    return Simulator(model, sam_gamma=gamma, sam_layers=list(sam_layers), sam_convention=convention)


@functools.lru_cache(maxsize=4)
def _source(name, input_shape):
    return open_dataset(name, input_shape)


def run_shard(job: dict) -> dict:
    """Compute one shard and write ``shard-XXXXX.h5`` and its ``.json`` sidecar atomically.

    Parameters
    ----------
    job : dict
        ``dir``, ``model_sha256``, ``run_id``, ``shard``, ``start``, ``stop``
        and the run options (see :func:`run_dataset`); only plain values, so
        it travels to any worker.

    Returns
    -------
    dict
        The sidecar: ``run_id``, ``shard``, ``start``, ``stop``, ``file``,
        ``sha256`` and the shard's ``summary``.
    """
    run_dir = Path(job["dir"])
    sim = _simulator(str(run_dir), job["model_sha256"], job["gamma"], tuple(job["sam_layers"]), job["sam_convention"])
    batch = _source(job["dataset"], tuple(sim.model.input_shape)).load(job["start"], job["stop"], job["masks"])
    spikes = batch.spikes
    if spikes is None:
        spikes = sim.input_spikes(images=batch.images, timesteps=job["timesteps"], seed=job["seed"],
                                  start_index=job["start"])
    result = sim.run(spikes=spikes, progress=False)
    arrays = {"index": np.arange(job["start"], job["stop"], dtype=np.int64), "logits": result.logits,
              "predictions": result.predictions}
    if batch.labels is not None:
        arrays["labels"] = np.asarray(batch.labels, np.int64)
    for layer, per in result.counts.items():
        for counter, arr in per.items():
            arrays[f"counts/{layer}/{counter}"] = arr
    for layer, maps in result.sam.items():
        if job["sam_store"] != "none":
            arrays[f"sam/{layer}"] = store_sam(maps, job["sam_store"], job["sam_dtype"], layer)
        if batch.masks is not None:
            arrays[f"metrics/{layer}/pointing"] = metrics.pointing_game(maps, batch.masks)
            arrays[f"metrics/{layer}/energy"] = metrics.mask_energy(maps, batch.masks)
    if batch.masks is not None:
        arrays["masks"] = np.asarray(batch.masks, bool)
    neurons = result.attrs["neurons"]
    attrs = {"format": "eventsim-shard", "format_version": 1, "run_id": job["run_id"], "shard": job["shard"],
             "start": job["start"], "stop": job["stop"], "timesteps": job["timesteps"], "gamma": job["gamma"],
             "sam_convention": job["sam_convention"], "seed": job["seed"], "model_sha256": job["model_sha256"],
             "backend": "eventsim", "sam_store": job["sam_store"], "sam_dtype": job["sam_dtype"]}
    stem = shard_stem(job["shard"])
    sha = write_shard(run_dir / f"{stem}.h5", arrays, attrs, neurons)
    info = {k: job[k] for k in ("run_id", "shard", "start", "stop")}
    info.update(file=f"{stem}.h5", sha256=sha, summary=summarize(arrays, neurons, job["timesteps"]))
    write_json(run_dir / f"{stem}.json", info)
    return info


def store_sam(maps, store, dtype, layer="sam") -> np.ndarray:
    """What ``--sam-store`` keeps of raw SAM maps.

    Parameters
    ----------
    maps : ndarray of float32, shape (n, T, h, w)
    store : {"last", "mean", "all"}
    dtype : {"float16", "float32"}

    Returns
    -------
    ndarray of ``dtype``, shape (n, T, h, w) for ``all``, (n, 1, h, w) otherwise
        ``mean`` sums the steps in order in float64 and divides by ``T``.

    Raises
    ------
    InputError
        If a value does not fit ``float16``.
    """
    if store == "all":
        kept = maps
    elif store == "last":
        kept = maps[:, -1:]
    else:
        acc = np.zeros((maps.shape[0], 1) + maps.shape[2:], np.float64)
        for t in range(maps.shape[1]):
            acc[:, 0] += maps[:, t]
        kept = acc / maps.shape[1]
    peak = float(np.max(kept, initial=0.0))
    if dtype == "float16" and peak > float(np.finfo(np.float16).max):
        raise InputError(f"SAM of layer {layer} reaches {peak:.4g}, beyond float16; use --sam-dtype float32")
    return np.asarray(kept, dtype)
