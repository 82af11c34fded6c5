"""Hostile and careless input (issue 14): each test names the item of the issue it covers.

Every case must end in a one-line error naming the argument or HDF5 path,
exit status 2 from the CLI and a specific ``EventsimError`` subclass from the
API, without reading other files, hanging, allocating what the file declares,
or touching an output.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim import Simulator, load_model, save_model
from eventsim import model_io
from eventsim.assets import DEFAULT_MODEL
from eventsim.cli import main
from eventsim.errors import (ArgumentTypeError, EventsimError, InputError, ModelFormatError, ModelIntegrityError,
                             OutputPathError, UnsafeModelFileError, WriteError)
from eventsim.model import Model
from eventsim.model_io import content_sha256
from eventsim.random_models import random_model

ROOT = Path(__file__).resolve().parents[1]
SECRET = b"TOP-SECRET-BYTES" * 4


@pytest.fixture
def model():
    return random_model(seed=1, input_shape=(3, 16, 16), timesteps=10)


@pytest.fixture
def model_file(model, tmp_path):
    return save_model(model, tmp_path / "model.h5")


def edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)


def cli(capsys, *args):
    """Run ``eventsim`` in-process; returns ``(status, stdout, stderr)``."""
    status = main([str(a) for a in args])
    out = capsys.readouterr()
    return status, out.out, out.err


def assert_one_line_error(status, err, *fragments):
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# --- 1. the loader reads files the user never named -------------------------------------------

def _secret_file(tmp_path):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["x"] = np.frombuffer(SECRET[:24], np.float64)
    return secret


def _external_link(f, tmp_path):
    del f["input/mean"]
    f["input/mean"] = h5py.ExternalLink(str(_secret_file(tmp_path)), "/x")


def _virtual(f, tmp_path):
    del f["input/mean"]
    layout = h5py.VirtualLayout(shape=(3,), dtype=np.float64)
    layout[:] = h5py.VirtualSource(str(_secret_file(tmp_path)), "x", shape=(3,))
    f["input"].create_virtual_dataset("mean", layout)


def _external_storage(f, tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(SECRET[:24])
    del f["input/mean"]
    f["input"].create_dataset("mean", shape=(3,), dtype=np.float64, external=[(str(raw), 0, 24)])


def _soft_link(f, tmp_path):
    del f["input/std"]
    f["input/std"] = h5py.SoftLink("/input/mean")


@pytest.mark.parametrize("craft, what", [(_external_link, "external link"), (_virtual, "virtual dataset"),
                                         (_external_storage, "external files"), (_soft_link, "soft link")])
def test_1_links_and_external_data_are_refused_unread(model_file, tmp_path, craft, what):
    edit(model_file, lambda f: craft(f, tmp_path))
    with pytest.raises(UnsafeModelFileError, match=what) as info:
        load_model(model_file)
    assert "/input/" in str(info.value) and str(model_file) in str(info.value)
    assert "SECRET" not in str(info.value) and "1.1" not in str(info.value)


def test_1_external_link_to_a_fifo_does_not_hang(model_file, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    edit(model_file, lambda f: f["layers"].__setitem__("conv9", h5py.ExternalLink(str(fifo), "/x")))
    proc = subprocess.run([sys.executable, "-m", "eventsim.cli", "info", str(model_file)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert_one_line_error(proc.returncode, proc.stderr, "/layers/conv9", "external link")


@pytest.mark.parametrize("argument", ["model", "--images"])
def test_1_fifo_arguments_are_refused(capsys, model_file, tmp_path, argument):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    images = tmp_path / "x.npy"
    np.save(images, np.zeros((1, 3, 16, 16)))
    args = (fifo, "--images", images) if argument == "model" else (model_file, "--images", fifo)
    status, _, err = cli(capsys, "run", *args, "--out", tmp_path / "out.h5")
    assert_one_line_error(status, err, str(fifo), "FIFO")
    with pytest.raises(UnsafeModelFileError, match="FIFO"):
        load_model(fifo)


# --- 2. size checks that int64 arithmetic could bypass -------------------------------------------

def test_2_wrapping_input_shape_is_refused(model_file):
    # 2**21 * 2**21 * 2**22 == 2**64 wraps to 0 in int64 and passed the old check.
    edit(model_file, lambda f: f.attrs.__setitem__("input_shape", np.array([2**21, 2**21, 2**22])))
    with pytest.raises(ModelFormatError, match=r":/: input_shape .* must be positive, at most"):
        load_model(model_file)


def _compressed_giant(path):
    """A consistent model whose compressed datasets declare 2**28 weights: 1.25 GiB once read, tiny on disk."""
    side, features = 128, 128 * 128
    with h5py.File(path, "w") as f:
        f.attrs.update(format="eventsim-model", format_version=1, name="bomb", default_timesteps=4,
                       input_shape=np.array([1, side, side]), provenance="{}")
        g = f.create_group("input")
        g["mean"], g["std"] = np.zeros(1), np.ones(1)
        layers = f.create_group("layers")
        layers.attrs["order"] = '["flat", "out"]'
        layers.create_group("flat").attrs.update(kind="flatten", in_shape=[1, side, side], out_shape=[features, 1, 1])
        out = layers.create_group("out")
        out.attrs.update(kind="output", in_shape=[features, 1, 1], out_shape=[features, 1, 1], shift=0,
                         voltage_scale=1.0)
        opts = dict(compression="gzip", chunks=(1024, features))
        out.create_dataset("weight", shape=(features, features), dtype=np.int8, **opts)
        out["gain"], out["bias"] = np.ones((1, features), np.int16), np.zeros((1, features), np.int32)
        fl = out.create_group("float")
        fl.create_dataset("weight", shape=(features, features), dtype=np.float32, **opts)
        fl["gain"], fl["bias"] = np.ones((1, features), np.float32), np.zeros((1, features), np.float32)
        fl.attrs.update(threshold=np.inf, leak=1.0)
    return path


def test_2_compressed_bomb_is_refused_before_allocating(tmp_path):
    path = _compressed_giant(tmp_path / "bomb.h5")
    assert path.stat().st_size < 2_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ModelFormatError, match=r"/layers/out/float/weight: reading 1073741824 bytes would exceed"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20


def test_2_budget_is_the_documented_constant(model_file, monkeypatch):
    assert model_io.MAX_MODEL_BYTES == 2**30
    assert "2^30 bytes" in (ROOT / "docs" / "model-format.md").read_text()
    monkeypatch.setattr(model_io, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(ModelFormatError, match="exceed the budget of 1000 bytes"):
        load_model(model_file)


# --- 3. --out must not clobber inputs or special files --------------------------------------------

@pytest.fixture
def run_args(model_file, tmp_path):
    images = tmp_path / "images.npy"
    np.save(images, np.random.default_rng(0).random((1, 3, 16, 16)))
    return model_file, images


@pytest.mark.parametrize("target", ["model", "images", "fifo", "devnull", "dir", "newdir/"])
def test_3_out_never_replaces_what_it_should_not(capsys, run_args, tmp_path, target):
    model_file, images = run_args
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "dir").mkdir()
    device = tmp_path / "device"  # a link to /dev/null: a broken build replaces the link, never the device
    device.symlink_to("/dev/null")
    out = {"model": model_file, "images": images, "fifo": fifo, "devnull": device, "dir": tmp_path / "dir",
           "newdir/": f"{tmp_path}/newdir/"}[target]
    before = {p: p.read_bytes() for p in (model_file, images)}
    listing = sorted(tmp_path.iterdir())
    status, out_text, err = cli(capsys, "run", model_file, "--images", images, "--out", out)
    assert_one_line_error(status, err, "--out")
    assert out_text == ""  # refused before computing anything
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(tmp_path.iterdir()) == listing and device.is_symlink() and device.is_char_device()
    with pytest.raises(OutputPathError):
        from eventsim.io import check_output_path
        check_output_path(out, [model_file, images])


def test_3_plot_checks_both_outputs_first(capsys, tmp_path, run_args):
    model_file, images = run_args
    result = tmp_path / "r.h5"
    assert main(["run", str(model_file), "--images", str(images), "--out", str(result)]) == 0
    capsys.readouterr()
    status, _, err = cli(capsys, "plot", result, "--images", images, "--out", tmp_path / "a.png",
                         "--gif", tmp_path / "missing" / "a.gif")
    assert_one_line_error(status, err, "--gif", "does not exist")
    assert not (tmp_path / "a.png").exists()
    status, _, err = cli(capsys, "plot", result, "--images", images, "--out", tmp_path / "a.png",
                         "--gif", tmp_path / "a.png")
    assert_one_line_error(status, err, "--gif", "also an input or output")


# --- 4. silent corruption -------------------------------------------------------------------------

def test_4_checksum_detects_a_changed_value_and_names_the_file(model_file, model):
    edit(model_file, lambda f: f["layers/conv1/float/weight"].__setitem__((0, 0, 0, 0), 0.123))
    with pytest.raises(ModelIntegrityError, match="content checksum mismatch") as info:
        load_model(model_file)
    assert str(model_file) in str(info.value)
    assert load_model(model_file, verify=False).sha256 == model.sha256  # forensic opt-out


def test_4_no_verify_flag(capsys, model_file):
    edit(model_file, lambda f: f.attrs.__setitem__("name", "renamed"))
    status, _, err = cli(capsys, "info", model_file)
    assert_one_line_error(status, err, str(model_file), "checksum")
    status, out, _ = cli(capsys, "info", model_file, "--no-verify")
    assert status == 0 and "renamed" in out


def test_4_files_without_checksum_still_load(model_file, model):
    edit(model_file, lambda f: f.attrs.__delitem__("content_sha256"))
    assert content_sha256(load_model(model_file)) == content_sha256(model)


def test_4_default_model_carries_a_checksum_and_its_hash_is_unchanged():
    with h5py.File(DEFAULT_MODEL, "r") as f:
        stored = f.attrs["content_sha256"]
    m = load_model(DEFAULT_MODEL)
    assert stored == content_sha256(m)
    assert m.sha256 == "204bc69347bf944106ad42d74f90d3a1dc71488b436f34fc1e8b1d9ae0c77f96"


@pytest.mark.parametrize("where", ["layers/conv1/float/gain", "layers/fc1/float/bias", "layers/conv1/float/weight"])
def test_4_nan_float_parameters_are_refused(model_file, where):
    def poison(f):
        data = f[where][()]
        data.flat[0] = np.nan
        f[where][...] = data
        f.attrs.__delitem__("content_sha256")  # the finiteness check alone must catch it
    edit(model_file, poison)
    with pytest.raises(ModelFormatError, match=f"{where.rsplit('/', 1)[0]}.*finite"):
        load_model(model_file)


# --- 5. one-line errors instead of tracebacks ---------------------------------------------------

def _set(where, name, value):
    return lambda f: f[where].attrs.__setitem__(name, value)


BAD_ATTRS = [
    ("format not UTF-8", _set("/", "format", np.bytes_(b"\xff\xfeeventsim")), r":/: attribute 'format' is not valid"),
    ("kind not UTF-8", _set("/layers/conv1", "kind", np.bytes_(b"\xffconv")), r"/layers/conv1: attribute 'kind'"),
    ("order not UTF-8", _set("/layers", "order", np.bytes_(b'["\xff"]')), r"/layers: attribute 'order'"),
    ("quant string", lambda f: f["layers/conv1/quant"].attrs.__setitem__("weight_rel_l2", "big"),
     r"/layers/conv1/quant: attribute 'weight_rel_l2' must be a real number"),
    ("quant array", lambda f: f["layers/conv1/quant"].attrs.__setitem__("weight_rel_l2", np.zeros(3)),
     r"/layers/conv1/quant: attribute 'weight_rel_l2' must be a real number"),
    ("complex voltage_scale", _set("/layers/conv1", "voltage_scale", 1 + 2j),
     r"/layers/conv1: attribute 'voltage_scale' must be a real number"),
    ("provenance list", _set("/", "provenance", "[1, 2]"), r":/: attribute 'provenance' must be a JSON object"),
    ("layer name with slash", _set("/layers", "order", '["conv1/../conv1"]'), r"invalid layer name"),
]


@pytest.mark.parametrize("label, fn, match", BAD_ATTRS, ids=[b[0] for b in BAD_ATTRS])
def test_5_bad_attributes_give_format_errors(capsys, model_file, label, fn, match):
    edit(model_file, fn)
    with pytest.raises(ModelFormatError, match=match):
        load_model(model_file)
    status, _, err = cli(capsys, "info", model_file)
    assert_one_line_error(status, err, str(model_file))


@pytest.fixture(scope="module")
def sim():
    return Simulator(random_model(seed=6, input_shape=(2, 8, 8), timesteps=4))


@pytest.mark.parametrize("seed, cls", [(-1, InputError), (2**70, InputError), ("abc", ArgumentTypeError),
                                       (None, ArgumentTypeError), (1.5, ArgumentTypeError),
                                       (True, ArgumentTypeError)])
def test_5_bad_seeds(sim, seed, cls):
    with pytest.raises(cls, match="seed"):
        sim.run(images=np.zeros((1, 2, 8, 8)), seed=seed)


def test_5_bad_constructor_arguments(sim):
    with pytest.raises(ArgumentTypeError, match="sam_layers"):
        Simulator(sim.model, sam_layers=5)
    with pytest.raises(ArgumentTypeError, match="model: expected a Model"):
        Simulator(None)
    assert isinstance(ArgumentTypeError("x"), TypeError) and isinstance(ArgumentTypeError("x"), ValueError)


def test_5_huge_cli_seed_fails_before_computing(capsys, run_args, tmp_path):
    model_file, images = run_args
    status, out, err = cli(capsys, "run", model_file, "--images", images, "--seed", 2**70, "--out", tmp_path / "o.h5")
    assert_one_line_error(status, err, "seed")
    assert out == "" and not (tmp_path / "o.h5").exists()


def test_5_full_disk_is_a_write_error(tmp_path, run_args):
    """RLIMIT_FSIZE makes writes fail with EFBIG, as a full disk does with ENOSPC."""
    model_file, _ = run_args
    images = tmp_path / "many.npy"
    np.save(images, np.random.default_rng(0).random((64, 3, 16, 16)))
    script = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        from eventsim.cli import main
        sys.exit(main(["run", {str(model_file)!r}, "--images", {str(images)!r}, "--record-spikes",
                       "--out", {str(tmp_path / "out.h5")!r}]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert_one_line_error(proc.returncode, proc.stderr, "out.h5", "writing failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images.npy", "many.npy", "model.h5"]
    assert issubclass(WriteError, OSError) and issubclass(WriteError, EventsimError)


@pytest.mark.parametrize("args, fragment", [(["dataset", "export", "--size", "100000"], "--size"),
                                            (["dataset", "export", "--n", "100000000"], "GiB"),
                                            (["demo", "--n", "0"], "--n"), (["demo", "--n", "-1"], "--n"),
                                            (["demo", "--events", "--n", "0"], "at least 1 stream")])
def test_5_absurd_counts_are_refused(capsys, tmp_path, args, fragment):
    status, out, err = cli(capsys, *args, "--out", tmp_path / ("x.npy" if args[0] == "dataset" else "demo"))
    assert_one_line_error(status, err, fragment)
    assert list(tmp_path.iterdir()) == []


# --- 7. layer names that cannot be written back ----------------------------------------------------

def test_7_layer_name_with_slash_is_refused(model):
    layers = list(model.layers)
    layers[0] = dataclasses.replace(layers[0], name="conv/1")
    bad = dataclasses.replace(model, layers=tuple(layers))
    with pytest.raises(ModelFormatError, match="invalid layer name 'conv/1'"):
        Simulator(bad)
    assert isinstance(bad, Model)
