"""Training on SynthShapes-DVS event counts: the counts input mode, the stream cache, the CLI paths and errors."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from eventsim import load_model  # noqa: E402
from eventsim.cli import main  # noqa: E402
from eventsim.dvs_io import EventDataset  # noqa: E402
from eventsim.synthshapes_dvs import SynthShapesDVS  # noqa: E402
from training.checkpoint import read_checkpoint  # noqa: E402
from training.dvs import cache_path, dvs_frames  # noqa: E402
from training.errors import ConfigError, DatasetError  # noqa: E402
from training.evaluate import evaluate_snn  # noqa: E402
from training.models import NetConfig, SpikingVGG  # noqa: E402
from training.train import Trainer, TrainOptions, train_run  # noqa: E402

TRAIN = ["--dataset", "synthshapes-dvs", "--arch", "4,P,6,G", "--size", "16", "--timesteps", "4", "--train-size", "16",
         "--val-size", "8", "--batch-size", "8", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("dvs")
    assert main(["train", *TRAIN, "--epochs", "1", "--cache-dir", str(d / "cache"), "--out", str(d / "snn.pt")]) == 0
    assert main(["export", str(d / "snn.pt"), str(d / "snn.h5"), "--quiet"]) == 0
    return d


def test_train_on_counts_records_the_encoding_and_caches_the_streams(trained):
    ckpt = read_checkpoint(trained / "snn.pt")
    assert ckpt["net"]["input_encoding"] == "counts" and ckpt["net"]["input_shape"] == [2, 16, 16]
    assert ckpt["train"]["dataset"] == "synthshapes-dvs" and ckpt["extra"]["name"] == "synthshapes-dvs-snn"
    cached = EventDataset(cache_path(trained / "cache", "train", 16, 16, 0))
    assert len(cached) == 16 and cached.params == SynthShapesDVS("train", size=16).params()
    model = load_model(trained / "snn.h5")
    assert tuple(model.input_shape) == (2, 16, 16) and model.default_timesteps == 4
    assert model.input_encoding == "counts" and model.provenance["net"]["input_encoding"] == "counts"


def test_cached_frames_equal_fresh_ones(trained):
    frames, labels = dvs_frames("val", 8, 16, 0, 4, trained / "cache", progress=False)
    fresh, fresh_labels = dvs_frames("val", 8, 16, 0, 4, None, progress=False)
    np.testing.assert_array_equal(frames, fresh)
    np.testing.assert_array_equal(labels, fresh_labels)
    assert frames.dtype == np.int8 and frames.shape == (8, 4, 2, 16, 16)


def test_counts_go_straight_into_the_first_layer():
    net = SpikingVGG(NetConfig(arch="4,P,6,G", input_shape=(2, 16, 16), timesteps=4, mean=(0, 0), std=(1, 1),
                               input_encoding="counts")).eval()
    frames, labels = dvs_frames("test", 6, 16, 0, 4, progress=False)
    x = torch.from_numpy(frames)
    assert torch.equal(net.encode(x), x.float())
    with torch.no_grad():
        direct = net(x.float()).double().numpy()
    ev = evaluate_snn(net, frames, batch_size=4, encoding="counts")
    np.testing.assert_allclose(ev.logits, direct, rtol=1e-5, atol=1e-6)
    assert ev.spikes["input"].sum() == np.abs(frames).sum()
    with pytest.raises(ConfigError, match="counts input"):
        net.encode(torch.zeros(3, 2, 16, 16))


@pytest.mark.parametrize("backend", ["reference", "torch"])
def test_evaluate_on_synthshapes_dvs(trained, capsys, backend):
    cache = str(trained / "cache")
    assert main(["evaluate", str(trained / "snn.h5"), "--dataset", "synthshapes-dvs", "--n", "8", "--backend",
                 backend, "--cache-dir", cache, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 8 and 0.0 <= out["accuracy"] <= 1.0 and out["dataset"] == "synthshapes-dvs"
    assert set(out["spike_rates"]) == {"input", "conv1", "conv2"}
    events = trained / f"test-{backend}.h5"
    assert main(["dataset", "export", "--dataset", "synthshapes-dvs", "--size", "16", "--n", "8", "--bins", "3",
                 "--out", str(events)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(trained / "snn.h5"), "--dataset", "synthshapes-dvs", "--root", str(events),
                 "--n", "8", "--backend", backend, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == out["accuracy"]      # the same streams


def test_counts_model_file_and_data_set_must_match(trained, capsys):
    assert main(["evaluate", str(trained / "snn.h5"), "--dataset", "synthshapes", "--n", "2"]) == 2
    assert "takes 'counts' input" in capsys.readouterr().err


def test_folded_twin_of_a_counts_model_follows_the_trained_network(trained):
    """The model file's float network (FoldedSNN) runs on counts and agrees with the checkpoint's network."""
    from training.checkpoint import load_network
    from training.folded import FoldedSNN

    net, _ = load_network(trained / "snn.pt")
    model = load_model(trained / "snn.h5")
    assert model.input_encoding == "counts" and model.format_version == 2
    folded = FoldedSNN(model)
    assert folded.cfg.input_encoding == "counts"
    frames, _ = dvs_frames("test", 8, 16, 0, 4, progress=False)
    a = evaluate_snn(net, frames, encoding="counts")
    b = evaluate_snn(folded, frames, encoding="counts")
    np.testing.assert_allclose(a.logits, b.logits, rtol=1e-4, atol=1e-4)


def test_dataset_export_dvs(tmp_path, capsys):
    out = tmp_path / "ev.h5"
    assert main(["dataset", "export", "--dataset", "synthshapes-dvs", "--split", "val", "--start", "3", "--n", "2",
                 "--size", "16", "--bins", "5", "--noise-rate", "0", "--min-contrast", "0.3", "--out", str(out)]) == 0
    data = EventDataset(out)
    ds = SynthShapesDVS("val", size=16, noise_rate=0.0, min_contrast=0.3)
    assert data.indices.tolist() == [3, 4] and data.masks.shape == (2, 5, 16, 16)
    np.testing.assert_array_equal(data.stream(1), ds[4].events)
    assert data.params["noise_rate"] == 0.0 and data.params["min_contrast"] == 0.3
    assert main(["dataset", "export", "--dataset", "synthshapes-dvs", "--n", "2", "--labels", str(tmp_path / "l.npy"),
                 "--out", str(tmp_path / "x.h5")]) == 2
    assert "--labels: not with --dataset synthshapes-dvs" in capsys.readouterr().err
    assert main(["dataset", "export", "--dataset", "synthshapes-dvs", "--n", "2", "--bins", "0",
                 "--out", str(tmp_path / "x.h5")]) == 2
    assert "--bins must lie" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "l.npy").exists()


def test_mismatched_data_and_encoding_are_refused(tmp_path, capsys):
    with pytest.raises(ConfigError, match="dataset must be one of"):
        TrainOptions(dataset="mnist")
    cfg = NetConfig(arch="4,G", input_shape=(3, 16, 16), timesteps=2)
    with pytest.raises(ConfigError, match="SynthShapes-DVS needs an SNN taking 'counts'"):
        train_run("snn", cfg, TrainOptions(dataset="synthshapes-dvs", train_size=2, val_size=2), tmp_path / "a.pt",
                  progress=False, log=lambda s: None)
    with pytest.raises(ConfigError, match="input_encoding must be one of"):
        NetConfig(arch="4,G", input_encoding="rate")
    assert main(["train", *TRAIN, "--kind", "ann", "--out", str(tmp_path / "b.pt")]) == 2
    assert "trains SNNs only" in capsys.readouterr().err
    assert not (tmp_path / "a.pt").exists()


def test_cache_made_with_other_parameters_is_refused(tmp_path):
    from eventsim.dvs_io import write_event_dataset

    path = cache_path(tmp_path, "val", 2, 16, 0)
    write_event_dataset(path, SynthShapesDVS("val", size=16, contrast=0.3), 0, 2, 2)
    with pytest.raises(DatasetError, match="cache made with other parameters"):
        dvs_frames("val", 2, 16, 0, 4, tmp_path, progress=False)


def test_trainer_epoch_on_counts_learns_something():
    """A few epochs on 40 streams lower the training loss (the counts path carries gradients)."""
    cfg = NetConfig(arch="4,P,6,G", input_shape=(2, 16, 16), timesteps=4, mean=(0, 0), std=(1, 1),
                    input_encoding="counts")
    trainer = Trainer("snn", cfg, TrainOptions(epochs=4, batch_size=8, train_size=40, val_size=8,
                                               dataset="synthshapes-dvs"), log=lambda s: None)
    data = dvs_frames("train", 40, 16, 0, 4, progress=False)
    losses = [trainer.train_epoch(*data, progress=False)[0] for _ in range(4)]
    assert losses[-1] < losses[0]


def test_export_evaluates_counts_networks_on_dvs_test_streams(trained, tmp_path, capsys):
    out = tmp_path / "eval.h5"
    assert main(["export", str(trained / "snn.pt"), str(out), "--evaluate", "6", "--eval-backend", "reference",
                 "--cache-dir", str(trained / "cache"), "--quiet"]) == 0
    report = load_model(out).provenance["evaluation"]
    assert report["dataset"] == "synthshapes-dvs" and report["backend"] == "reference" and report["n"] == 6
    assert 0.0 <= report["eventsim_accuracy"] <= 1.0 and report["spike_count_rel_diff"]["input"] == 0.0
    assert "test accuracy on 6 SynthShapes-DVS streams" in capsys.readouterr().out
