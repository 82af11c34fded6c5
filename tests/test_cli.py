"""The ``eventsim`` command: run, info, plot, demo, and clean failures."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from eventsim import Result, save_model
from eventsim.cli import main
from eventsim.random_models import random_model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    model = random_model(seed=8, input_shape=(3, 16, 16), timesteps=10)
    save_model(model, d / "model.h5")
    np.save(d / "images.npy", np.random.default_rng(0).uniform(0, 1, (2, 3, 16, 16)))
    return d


def test_run_writes_result(files, capsys):
    out = files / "out.h5"
    assert main(["run", str(files / "model.h5"), "--images", str(files / "images.npy"), "--timesteps", "6",
                 "--gamma", "0.3", "--record-spikes", "--out", str(out)]) == 0
    result = Result.load(out)
    assert result.timesteps == 6 and result.attrs["gamma"] == 0.3 and result.spikes
    assert "wrote" in capsys.readouterr().out


def test_run_with_spikes_and_reference_backend(files):
    spikes = np.random.default_rng(1).choice([-1, 0, 1], (1, 5, 3, 16, 16)).astype(np.int8)
    np.save(files / "spikes.npy", spikes)
    out = files / "ref.h5"
    assert main(["run", str(files / "model.h5"), "--spikes", str(files / "spikes.npy"), "--backend", "reference",
                 "--sam-layers", "conv1,conv2", "--convention", "reference", "--out", str(out)]) == 0
    result = Result.load(out)
    assert result.attrs["backend"] == "reference" and result.attrs["seed"] == -1
    assert sorted(result.sam) == ["conv1", "conv2"]


@pytest.mark.parametrize("args, match", [
    (["--images", "IMAGES", "--out", "MISSING/out.h5"], "output directory does not exist"),
    (["--images", "NOFILE", "--out", "OUT"], "images file not found"),
    (["--images", "IMAGES", "--gamma", "-1", "--out", "OUT"], "sam_gamma"),
    (["--images", "IMAGES", "--sam-layers", "bogus", "--out", "OUT"], r"\['bogus'\] are not spiking layers"),
    (["--images", "IMAGES", "--timesteps", "0", "--out", "OUT"], "timesteps"),
    (["--images", "BADIMAGES", "--out", "OUT"], r"pixels must lie in \[0, 1\]"),
    (["--images", "PICKLE", "--out", "OUT"], r"not a plain \.npy array"),
])
def test_run_errors_are_clean_and_write_nothing(files, tmp_path, capsys, args, match):
    np.save(tmp_path / "bad.npy", np.full((1, 3, 16, 16), 3.0))
    np.save(tmp_path / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    subst = {"IMAGES": str(files / "images.npy"), "NOFILE": str(tmp_path / "none.npy"),
             "BADIMAGES": str(tmp_path / "bad.npy"), "PICKLE": str(tmp_path / "pickle.npy"),
             "OUT": str(tmp_path / "out.h5"), "MISSING/out.h5": str(tmp_path / "missing" / "out.h5")}
    argv = ["run", str(files / "model.h5")] + [subst.get(a, a) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(match, err), err
    assert not (tmp_path / "out.h5").exists()


def test_bad_model_file_is_a_clean_error(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"garbage")
    assert main(["info", str(bad)]) == 2
    assert "not a readable HDF5 file" in capsys.readouterr().err


def test_info_text_and_json(files, capsys):
    assert main(["info", str(files / "model.h5")]) == 0
    text = capsys.readouterr().out
    for word in ("conv1", "neurons", "synapses", "bits", "w err"):
        assert word in text
    assert main(["info", str(files / "model.h5"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["num_classes"] == 10 and info["neurons"] > 0 and info["bits"]["weight"] == 8
    assert [r["name"] for r in info["layers"]][0] == "conv1"


def test_plot_png_and_gif(files, tmp_path):
    out = files / "plot.h5"
    main(["run", str(files / "model.h5"), "--images", str(files / "images.npy"), "--out", str(out)])
    png, gif = tmp_path / "grid.png", tmp_path / "anim.gif"
    assert main(["plot", str(out), "--images", str(files / "images.npy"), "--out", str(png), "--gif", str(gif),
                 "--index", "1", "--steps", "5"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and gif.read_bytes()[:3] == b"GIF"


def test_plot_rejects_mismatched_images(files, tmp_path, capsys):
    out = files / "plot2.h5"
    main(["run", str(files / "model.h5"), "--images", str(files / "images.npy"), "--out", str(out)])
    np.save(tmp_path / "three.npy", np.zeros((3, 3, 16, 16)))
    assert main(["plot", str(out), "--images", str(tmp_path / "three.npy"), "--out", str(tmp_path / "x.png")]) == 2
    assert "has 3 images but the result has 2" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_demo_writes_pictures_and_summary(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "eventsim.cli", "demo", "--out", str(out), "--n", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in out.iterdir()}
    assert "summary.md" in names and any(n.endswith(".gif") for n in names)
    assert any(n.endswith(".png") for n in names) and any(n.endswith(".h5") for n in names)
    assert "index.html" in names and "eventsim-data" in (out / "index.html").read_text()
    assert str(out) in proc.stdout


def test_help_lists_every_command(capsys):
    assert main([]) == 2
    text = capsys.readouterr().out
    for cmd in ("run", "info", "plot", "view", "demo", "train", "export", "evaluate", "bench", "experiment"):
        assert cmd in text
