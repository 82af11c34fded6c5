"""Shard files, the run manifest and their merge into one file (HDF5 virtual datasets).

A data-set run writes into one folder ``DIR``::

    DIR/manifest.json        the run: model sha256, options, run id, shards done with checksums
    DIR/model.h5             the model file the workers load
    DIR/shard-00012.h5       items start..stop-1 of shard 12 (written atomically)
    DIR/shard-00012.json     its sidecar: run id, range, sha256 of the .h5, shard summary
    DIR/summary.json, .md    the reduction over all shards (``eventsim.dataset_summary``)

Shard file layout (``n`` images, all datasets indexed by image first)::

    /index                       int64   (n,)      global item index
    /logits                      float64 (n, K)
    /predictions                 int64   (n,)
    /labels                      int64   (n,)      when the data set has labels
    /counts/<layer>/<counter>    int64   (n, T)
    /sam/<layer>                 float16|float32 (n, T', h, w)   T' = T (all) or 1 (mean, last)
    /masks                       bool    (n, H, W) with --masks
    /metrics/<layer>/pointing    bool    (n,)      with --masks
    /metrics/<layer>/energy      float64 (n,)      with --masks
    /neurons                     attributes: neurons per layer
    root attributes: format "eventsim-shard", run_id, shard, start, stop and the
                     result attributes (timesteps, gamma, sam_convention, seed,
                     model_sha256, backend, sam_store, sam_dtype)

A shard counts as done when its sidecar names the current run id and the
sha256 of its ``.h5`` matches the sidecar; both are renamed into place only
when complete, so a killed writer leaves no half shard behind.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import h5py
import numpy as np

from .io import atomic_output
from .errors import EventsimError
from .result import RESULT_FORMAT, RESULT_VERSION

SHARD_FORMAT = "eventsim-shard"
MANIFEST_FORMAT = "eventsim-dataset-run"
MANIFEST = "manifest.json"
MODEL_FILE = "model.h5"


class RunDirError(EventsimError):
    """An output folder that holds another run, or shards that are missing or corrupt."""


def shard_stem(index: int) -> str:
    """``shard-00012`` for shard 12."""
    return f"shard-{int(index):05d}"


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json(path, obj) -> None:
    """Write ``obj`` as indented JSON atomically."""
    with atomic_output(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path, what):
    """Parse a JSON file, naming it in the error."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path}: cannot read the {what} ({exc})") from None


def write_shard(path, arrays: dict, attrs: dict, neurons: dict) -> str:
    """Write one shard file atomically and return its sha256.

    Parameters
    ----------
    path : Path
        ``DIR/shard-00012.h5``.
    arrays : dict of str to ndarray
        HDF5 path (``"counts/conv1/spikes"``) to array, first axis = images.
    attrs : dict
        Root attributes (str, int, float).
    neurons : dict of str to int
    """
    with atomic_output(path, suffix=".h5.tmp") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(attrs)
            f.create_group("neurons").attrs.update({k: int(v) for k, v in neurons.items()})
            for name, arr in arrays.items():
                opts = {"compression": "gzip", "compression_opts": 4} if arr.size > 4096 else {}
                f.create_dataset(name, data=arr, **opts)
    return file_sha256(path)


def valid_shard(run_dir: Path, index: int, run_id: str):
    """The sidecar of shard ``index`` if the shard is complete, of this run and intact, else None."""
    side = run_dir / f"{shard_stem(index)}.json"
    h5 = run_dir / f"{shard_stem(index)}.h5"
    if not side.is_file() or not h5.is_file():
        return None
    try:
        info = json.loads(side.read_text())
    except (OSError, ValueError):
        return None
    if info.get("run_id") != run_id or info.get("sha256") != file_sha256(h5):
        return None
    return info


def check_run_dir(run_dir: Path, run_id: str, model_sha256: str, options: dict) -> None:
    """Refuse a folder holding a manifest, sidecars or a model of another run.

    Raises
    ------
    RunDirError
        Naming the first foreign file and what differs.
    """
    hint = "use another --out folder, or delete it to start over"
    manifest = run_dir / MANIFEST
    if manifest.is_file():
        old = read_json(manifest, "run manifest")
        if old.get("run_id") != run_id:
            diff = _differences(old, model_sha256, options)
            raise RunDirError(f"{run_dir} holds another run's shards ({diff}); {hint}")
    for side in sorted(run_dir.glob("shard-*.json")):
        info = read_json(side, "shard sidecar")
        if info.get("run_id") != run_id:
            raise RunDirError(f"{side} belongs to another run (run id {info.get('run_id')}, this run {run_id}); {hint}")
    model = run_dir / MODEL_FILE
    if model.is_file():
        from .model_io import load_model

        if load_model(model).sha256 != model_sha256:
            raise RunDirError(f"{model} is another model than this run's (sha256 {model_sha256[:16]}...); {hint}")


def _differences(old: dict, model_sha256: str, options: dict) -> str:
    if old.get("model_sha256") != model_sha256:
        return f"model sha256 {str(old.get('model_sha256'))[:16]}... there, {model_sha256[:16]}... here"
    then = old.get("options", {})
    keys = sorted(set(then) | set(options))
    return "options differ: " + ", ".join(f"{k} {then.get(k)!r} there, {options.get(k)!r} here"
                                          for k in keys if then.get(k) != options.get(k))


def clean_temporaries(run_dir: Path) -> int:
    """Remove temporary files left by killed writers (``.shard-*`` and ``.manifest.json.*``); returns how many."""
    stale = list(run_dir.glob(".shard-*")) + list(run_dir.glob(".manifest.json.*"))
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def read_manifest(run_dir) -> dict:
    """The manifest of a run folder.

    Raises
    ------
    RunDirError
        If it is missing or not an eventsim run manifest.
    """
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise RunDirError(f"{run_dir}: no {MANIFEST}; not an 'eventsim run-dataset' output folder")
    man = read_json(path, "run manifest")
    if man.get("format") != MANIFEST_FORMAT:
        raise RunDirError(f"{path}: not an eventsim run manifest (format {man.get('format')!r})")
    return man


def shard_files(run_dir, check=True) -> list:
    """Paths of every shard of a run, in order; checks each is done and intact.

    Raises
    ------
    RunDirError
        Naming the missing or corrupt shards.
    """
    run_dir = Path(run_dir)
    man = read_manifest(run_dir)
    bad = [i for i in range(man["num_shards"]) if check and valid_shard(run_dir, i, man["run_id"]) is None]
    if bad:
        names = ", ".join(shard_stem(i) for i in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise RunDirError(f"{run_dir}: {len(bad)} of {man['num_shards']} shard(s) missing or corrupt ({names}); "
                          "rerun the same 'eventsim run-dataset' command to finish them")
    return [run_dir / f"{shard_stem(i)}.h5" for i in range(man["num_shards"])]


def _datasets(f: h5py.File) -> dict:
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def merge(run_dir, out) -> Path:
    """Join a run's shards into one file of virtual datasets (no data copied).

    Every dataset of the shards becomes one virtual dataset over all images,
    in global index order; the root attributes are those of a result file
    (``eventsim.Result.load`` reads it) plus ``sam_store``, ``sam_dtype``,
    ``dataset`` and ``run_id``.  Shards are referenced by paths relative to
    ``out``'s folder, so the pair can be moved together.

    Returns
    -------
    Path

    Raises
    ------
    RunDirError
        If a shard is missing, corrupt or laid out unlike the first.
    """
    run_dir = Path(run_dir)
    out = Path(out)
    man = read_manifest(run_dir)
    files = shard_files(run_dir)
    layouts, sizes = {}, []
    with h5py.File(files[0], "r") as f0:
        first = {k: (d.shape[1:], d.dtype) for k, d in _datasets(f0).items()}
        attrs = dict(f0.attrs)
        neurons = dict(f0["neurons"].attrs)
    for path in files:
        with h5py.File(path, "r") as f:
            found = {k: (d.shape[1:], d.dtype) for k, d in _datasets(f).items()}
            if found != first:
                raise RunDirError(f"{path}: laid out unlike {files[0].name} ({sorted(set(found) ^ set(first))})")
            index = f["index"][()]
            lo = int(sum(sizes))
            if not np.array_equal(index, np.arange(lo, lo + len(index))):
                raise RunDirError(f"{path}: holds images {index[:1]}..{index[-1:]}, expected to start at {lo}")
            sizes.append(len(index))
    total = int(sum(sizes))
    if total != man["num_images"]:
        raise RunDirError(f"{run_dir}: shards hold {total} images, the manifest says {man['num_images']}")
    rel = [_relative(p, out.parent) for p in files]
    for name, (shape, dtype) in first.items():
        layout = h5py.VirtualLayout(shape=(total,) + shape, dtype=dtype)
        lo = 0
        for src, n in zip(rel, sizes):
            layout[lo:lo + n] = h5py.VirtualSource(src, name, shape=(n,) + shape)
            lo += n
        layouts[name] = layout
    with atomic_output(out, suffix=".h5.tmp") as tmp:
        with h5py.File(tmp, "w") as f:
            for key in ("timesteps", "gamma", "sam_convention", "seed", "model_sha256", "backend",
                        "sam_store", "sam_dtype", "run_id"):
                f.attrs[key] = attrs[key]
            f.attrs["format"], f.attrs["format_version"] = RESULT_FORMAT, RESULT_VERSION
            f.attrs["dataset"] = man["options"]["dataset"]
            f.create_group("neurons").attrs.update(neurons)
            f.require_group("sam")
            for name, layout in layouts.items():
                f.create_virtual_dataset(name, layout)
    return out


def _relative(path: Path, base: Path) -> str:
    return os.path.relpath(path.resolve(), base.resolve())


def read_columns(run_dir, names) -> dict:
    """Concatenate small per-image datasets over all shards, in index order.

    Parameters
    ----------
    names : iterable of str
        HDF5 paths; a path missing from the shards is left out.

    Returns
    -------
    dict of str to ndarray
    """
    parts: dict = {}
    for path in shard_files(run_dir):
        with h5py.File(path, "r") as f:
            for name in names:
                if name in f:
                    parts.setdefault(name, []).append(f[name][()])
    return {k: np.concatenate(v) for k, v in parts.items()}
