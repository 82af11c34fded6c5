"""Fidelity: the float network and eventsim on the same input spikes (issue acceptance).

The shipped default model is rebuilt in float PyTorch from its own file
(``from_model_file``: the float parameters the export stored, which equal the
trained checkpoint's) and run on exactly the ``encode_poisson`` spikes that
eventsim gets; only the fixed-point arithmetic differs.
"""
import pytest

torch = pytest.importorskip("torch")

from eventsim import default_model, load_model  # noqa: E402
from training.data import SynthShapes  # noqa: E402
from training.evaluate import evaluate_eventsim, evaluate_snn  # noqa: E402
from training.export import agreement, spike_count_error  # noqa: E402
from training.models import from_model_file  # noqa: E402

N = 200


@pytest.fixture(scope="module")
def runs():
    path = default_model()
    model = load_model(path)
    images, labels, _, _ = SynthShapes("test", length=N).arrays()
    return model, labels, evaluate_snn(from_model_file(path), images), evaluate_eventsim(model, images)


def test_spike_counts_agree_within_two_percent(runs):
    model, _, fl, ev = runs
    err = spike_count_error(fl.spikes, ev.spikes)
    assert set(err) == {"input", *model.spiking_layers}
    assert err["input"] == 0.0                                   # the very same input spikes
    for name in model.spiking_layers:
        assert err[name] < 0.02, (name, err[name])
        assert fl.spikes[name].sum() > 0


def test_predictions_agree_on_97_percent(runs):
    _, labels, fl, ev = runs
    assert agreement(fl.predictions, ev.predictions) >= 0.97
    assert abs(fl.accuracy(labels) - ev.accuracy(labels)) <= 0.03


def test_default_model_is_accurate_and_documented(runs):
    model, labels, _, ev = runs
    assert ev.accuracy(labels) >= 0.85                           # 90 % on the full test split; N = 200 here
    prov = model.provenance
    assert prov["evaluation"]["n"] >= 2000 and prov["float_accuracy"]["value"] >= 0.9
    assert abs(prov["evaluation"]["eventsim_accuracy"] - prov["evaluation"]["float_accuracy"]) <= 0.01
    assert 20 <= model.default_timesteps <= 30
    assert default_model().stat().st_size < 10 * 2**20
