"""Fuzz the model and result loaders with hostile files (issue 14).

A seeded generator writes crafted files of every category the loaders must
refuse (links, virtual and external datasets, a link to a FIFO, wrapping and
giant shapes, compressed bombs, NaN parameters, undecodable or wrongly typed
attributes, truncations) and random byte flips of the shipped default model
and of a result file.  A child process loads each file with a per-file
deadline and tracemalloc, so a crash, hang or oversize allocation is caught
and names the file.  Every file must either load *identically* to its source
or be refused with the project's error class (``ModelFormatError`` or
``ResultFormatError``), and nothing else.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim import Simulator
from eventsim.assets import DEFAULT_MODEL
from eventsim.random_models import random_model

ROOT = Path(__file__).resolve().parents[1]
FLIPS = 120
#: Per-file deadline (s) and allocation limit (bytes) in the child.
DEADLINE_S = 10
MAX_ALLOC = 96 * 2**20

CHILD = r"""
import json, signal, sys, tracemalloc
import numpy as np
from eventsim import Result, load_model
from eventsim.errors import ModelFormatError, ResultFormatError
from eventsim.model_io import content_sha256

class Deadline(BaseException):
    pass

def alarm(signum, frame):
    raise Deadline()

signal.signal(signal.SIGALRM, alarm)
deadline, limit, ref_model, ref_result, listing = sys.argv[1:6]
deadline, limit = float(deadline), int(limit)

def result_key(r):
    arrays = {"logits": r.logits, **{f"sam/{k}": v for k, v in r.sam.items()},
              **{f"counts/{k}/{c}": v for k, d in r.counts.items() for c, v in d.items()},
              **{f"spikes/{k}": v for k, v in (r.spikes or {}).items()},
              **{f"voltages/{k}": v for k, v in (r.voltages or {}).items()}}
    return (sorted((k, v.dtype.str, v.shape, v.tobytes()) for k, v in arrays.items()), repr(sorted(r.attrs.items())))

expected = {"model": content_sha256(load_model(ref_model)), "result": result_key(Result.load(ref_result))}
loaders = {"model": (lambda p: content_sha256(load_model(p)), ModelFormatError),
           "result": (lambda p: result_key(Result.load(p)), ResultFormatError)}
tracemalloc.start()
for line in open(listing):
    kind, path = line.split()
    load, error = loaders[kind]
    print(json.dumps({"start": path}), flush=True)
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    signal.setitimer(signal.ITIMER_REAL, deadline)
    try:
        outcome = "identical" if load(path) == expected[kind] else "DIFFERENT"
    except error as exc:
        outcome = "refused"
        if len(str(exc).splitlines()) != 1:
            outcome = "MULTI-LINE ERROR: " + repr(str(exc)[:300])
    except Deadline:
        outcome = "HANG"
    except BaseException as exc:
        outcome = f"WRONG EXCEPTION {type(exc).__name__}: {str(exc)[:300]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    peak = tracemalloc.get_traced_memory()[1] - base
    if peak > limit:
        outcome = f"ALLOCATED {peak} bytes ({outcome})"
    print(json.dumps({"path": path, "outcome": outcome}), flush=True)
"""


def _flips(source, out_dir, count, rng, kind):
    data = source.read_bytes()
    made = []
    for i in range(count):
        buf = bytearray(data)
        for pos in rng.integers(0, len(buf), size=int(rng.integers(1, 4))):
            buf[pos] ^= int(rng.integers(1, 256))
        path = out_dir / f"{kind}-flip{i:03d}.h5"
        path.write_bytes(bytes(buf))
        made.append(path)
    for i, cut in enumerate(rng.integers(1, len(data), size=8)):
        path = out_dir / f"{kind}-cut{i}.h5"
        path.write_bytes(data[:cut])
        made.append(path)
    return made


def _edit(source, path, fn):
    shutil.copy(source, path)
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def _crafted(source, out_dir, kind, tmp):
    """Structural edits of ``source`` that must be refused (or, for unused extras, load identically)."""
    secret = tmp / "secret.h5"
    if not secret.exists():
        with h5py.File(secret, "w") as f:
            f["x"] = np.arange(4.0)
        os.mkfifo(tmp / "fifo")
    target = "input/mean" if kind == "model" else "logits"

    def ext_link(f):
        del f[target]
        f[target] = h5py.ExternalLink(str(secret), "/x")

    def fifo_link(f):
        f["zz"] = h5py.ExternalLink(str(tmp / "fifo"), "/x")

    def soft(f):
        f["alias"] = h5py.SoftLink("/" + target)

    def virtual(f):
        shape, dtype = f[target].shape, f[target].dtype
        del f[target]
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        m = min(4, shape[-1])
        layout[(0,) * (len(shape) - 1) + (slice(0, m),)] = h5py.VirtualSource(str(secret), "x", shape=(4,))[:m]
        f.create_virtual_dataset(target, layout, fillvalue=0)

    def external(f):
        shape, dtype = f[target].shape, f[target].dtype
        del f[target]
        raw = tmp / f"raw-{kind}.bin"
        raw.write_bytes(b"\1" * 4096)
        f.create_dataset(target, shape=shape, dtype=dtype, external=[(str(raw), 0, 4096)])

    def bomb(f):
        del f[target]
        f.create_dataset(target, shape=(2**31,) if kind == "model" else (2**16, 2**15), dtype=np.float64,
                         chunks=(2**20,) if kind == "model" else (32, 2**15), compression="gzip")

    def giant_chunk(f):  # a chunk may exceed the current shape when the maximum shape is unlimited
        shape, dtype = f[target].shape, f[target].dtype
        del f[target]
        f.create_dataset(target, shape=shape, dtype=dtype, maxshape=(None,) * len(shape),
                         chunks=(2**24,) + shape[1:])

    def wrap(f):
        f.attrs["input_shape" if kind == "model" else "timesteps"] = (
            np.array([2**21, 2**21, 2**22]) if kind == "model" else np.int64(2**62))

    def nan(f):
        ds = f["layers/conv1/float/gain" if kind == "model" else "logits"]
        data = ds[()]
        data.flat[0] = np.nan
        ds[...] = data

    edits = [ext_link, fifo_link, soft, virtual, external, bomb, giant_chunk, wrap, nan]
    for attr, values in (("format", [np.bytes_(b"\xff\xfe"), 3, np.zeros(2)]),
                         ("name" if kind == "model" else "backend", [np.bytes_(b"\xff"), 1 + 2j]),
                         ("default_timesteps" if kind == "model" else "seed", ["x", 1.5, np.arange(3), 1 + 1j])):
        for v in values:
            edits.append(lambda f, attr=attr, v=v: f.attrs.__setitem__(attr, v))
    if kind == "model":
        edits += [lambda f: f["layers"].attrs.__setitem__("order", '["../input"]'),
                  lambda f: f["layers"].attrs.__setitem__("order", "[" * 100000),
                  lambda f: f.attrs.__setitem__("provenance", "[1]"),
                  lambda f: f["layers/conv1/quant"].attrs.__setitem__("weight_rel_l2", "high"),
                  lambda f: f["layers/conv1"].attrs.__setitem__("voltage_scale", 1j)]
    else:
        edits += [lambda f: f["sam"].__setitem__("x", np.zeros(3)),
                  lambda f: f.__delitem__("counts"),
                  lambda f: f["neurons"].attrs.__setitem__("conv1", "many")]
    return [_edit(source, out_dir / f"{kind}-edit{i:02d}.h5", fn) for i, fn in enumerate(edits)]


@pytest.fixture(scope="module")
def result_file(tmp_path_factory):
    model = random_model(seed=3, input_shape=(2, 12, 12), timesteps=5)
    x = np.random.default_rng(0).random((2, 2, 12, 12))
    return Simulator(model).run(images=x, record_spikes=True).save(tmp_path_factory.mktemp("r") / "result.h5")


def test_fuzz_hostile_files_load_identically_or_are_refused(tmp_path, result_file):
    rng = np.random.default_rng(20261130)
    files = tmp_path / "files"
    files.mkdir()
    model_src = shutil.copy(DEFAULT_MODEL, tmp_path / "default_model.h5")
    cases = [("model", p) for p in _flips(Path(model_src), files, FLIPS, rng, "model")]
    cases += [("result", p) for p in _flips(result_file, files, FLIPS // 2, rng, "result")]
    cases += [("model", p) for p in _crafted(Path(model_src), files, "model", tmp_path)]
    cases += [("result", p) for p in _crafted(result_file, files, "result", tmp_path)]
    listing = tmp_path / "listing.txt"
    listing.write_text("".join(f"{kind} {path}\n" for kind, path in cases))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(DEADLINE_S), str(MAX_ALLOC), str(model_src),
                           str(result_file), str(listing)], cwd=ROOT, capture_output=True, text=True, timeout=110,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    outcomes = {d["path"]: d["outcome"] for d in lines if "outcome" in d}
    started = [d["start"] for d in lines if "start" in d]
    assert proc.returncode == 0, f"the loader died on {started[-1] if started else '?'}: {proc.stderr[-2000:]}"
    assert len(outcomes) == len(cases)
    bad = {p: o for p, o in outcomes.items() if o not in ("identical", "refused")}
    assert bad == {}
    crafted = [str(p) for _, p in cases if "-edit" in p.name]
    assert all(outcomes[p] == "refused" for p in crafted), {p: outcomes[p] for p in crafted}
    refused = sum(o == "refused" for o in outcomes.values())
    assert 0 < refused < len(cases)  # flips both break files and miss what is never read
