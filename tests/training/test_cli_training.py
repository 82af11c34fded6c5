"""``eventsim train / convert / export / evaluate`` end to end on tiny networks, and their errors."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from eventsim import load_model  # noqa: E402
from eventsim.cli import main  # noqa: E402
from training.checkpoint import read_checkpoint  # noqa: E402
from training.models import NetConfig  # noqa: E402
from training.train import Trainer, TrainOptions, load_split  # noqa: E402

TRAIN = ["--arch", "4,P,6,G", "--size", "16", "--timesteps", "5", "--train-size", "32", "--val-size", "16",
         "--batch-size", "16", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    assert main(["train", *TRAIN, "--epochs", "2", "--out", str(d / "snn.pt"), "--export", str(d / "snn.h5")]) == 0
    return d


def test_train_writes_checkpoint_and_model(trained):
    ckpt = read_checkpoint(trained / "snn.pt")
    assert ckpt["epoch"] == 2 and len(ckpt["history"]) == 2
    assert ckpt["train"]["momentum"] == 0.9 and ckpt["train"]["weight_decay"] == 5e-4 and ckpt["train"]["lr"] == 0.1
    model = load_model(trained / "snn.h5")
    prov = model.provenance
    assert prov["command"].startswith("eventsim train") and prov["seed"] == 0
    assert 0.0 <= prov["float_accuracy"]["value"] <= 1.0
    assert set(prov["quantization_error"]) == {"conv1", "conv2", "out"}
    assert model.default_timesteps == 5 and model.layer_names == ["conv1", "pool1", "conv2", "gap", "out"]


def test_resume_continues_exactly(tmp_path):
    """A run stopped after epoch 1 and resumed ends with the same weights as an uninterrupted run."""
    part = tmp_path / "part.pt"
    cfg = NetConfig(arch="4,P,6,G", input_shape=(3, 16, 16), timesteps=5)
    opts = TrainOptions(epochs=2, batch_size=16, train_size=32, val_size=16)
    data = load_split("train", 32, (16, 16), 0, False)
    trainer = Trainer("snn", cfg, opts, log=lambda s: None)
    trainer.train_epoch(*data, progress=False)
    trainer.epoch = 1
    trainer.save(part)
    assert main(["train", "--resume", str(part), "--out", str(tmp_path / "resumed.pt"), "--quiet"]) == 0
    full = Trainer("snn", cfg, opts, log=lambda s: None)
    for _ in range(2):
        full.train_epoch(*data, progress=False)
    resumed = read_checkpoint(tmp_path / "resumed.pt")
    assert resumed["epoch"] == 2
    for k, v in full.net.state_dict().items():
        np.testing.assert_allclose(resumed["state_dict"][k].numpy(), v.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("backend", ["eventsim", "torch"])
def test_evaluate_json(trained, capsys, backend):
    assert main(["evaluate", str(trained / "snn.h5"), "--n", "12", "--backend", backend, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 12 and 0.0 <= out["accuracy"] <= 1.0 and out["backend"] == backend
    assert set(out["spike_rates"]) == {"input", "conv1", "conv2"}
    assert all(0.0 <= r <= 1.0 for r in out["spike_rates"].values())


def test_export_command_and_conversion(tmp_path, capsys):
    ann = tmp_path / "ann.pt"
    assert main(["train", "--kind", "ann", *TRAIN, "--epochs", "1", "--out", str(ann)]) == 0
    snn = tmp_path / "conv.pt"
    assert main(["convert", str(ann), "--out", str(snn), "--timesteps", "12", "--calibration", "16", "--quiet"]) == 0
    ckpt = read_checkpoint(snn)
    assert ckpt["kind"] == "snn" and ckpt["net"]["leak"] == 1.0 and ckpt["net"]["norm"] == "none"
    assert set(ckpt["extra"]["conversion"]["thresholds"]) == {"conv1", "conv2"}
    assert main(["export", str(snn), str(tmp_path / "conv.h5"), "--evaluate", "8", "--quiet"]) == 0
    model = load_model(tmp_path / "conv.h5")
    assert model.gain_steps == 1 and model.provenance["evaluation"]["n"] == 8
    th = ckpt["extra"]["conversion"]["thresholds"]["conv1"]
    assert model.layer("conv1").floats.threshold == pytest.approx(th)
    assert "test accuracy on 8 images" in capsys.readouterr().out


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.pt"), str(tmp_path / "x.h5")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    assert main(["export", str(bad), str(tmp_path / "x.h5")]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert main(["train", "--arch", "16,Q", "--out", str(tmp_path / "y.pt")]) == 2
    assert "unknown layer 'Q'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "none.h5")]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()
