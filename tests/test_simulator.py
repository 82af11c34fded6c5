"""Simulator API: bad inputs give specific errors; Result files round-trip atomically."""
import numpy as np
import pytest

from eventsim import InputError, Result, ResultFormatError, Simulator
from eventsim.random_models import random_model
from test_engine_vs_reference import assert_results_equal


@pytest.fixture(scope="module")
def model():
    return random_model(seed=6, input_shape=(2, 12, 12), timesteps=8)


@pytest.fixture(scope="module")
def sim(model):
    return Simulator(model)


def images(n=2, shape=(2, 12, 12)):
    return np.random.default_rng(0).uniform(0, 1, (n,) + shape)


@pytest.mark.parametrize("kwargs, match", [
    ({"images": np.zeros((1, 3, 12, 12))}, r"the model takes 2 channel\(s\), got 3"),
    ({"images": np.zeros((1, 2, 10, 12))}, r"the model takes 12x12 images, got 10x12"),
    ({"images": np.zeros((2, 12, 12))}, r"add a batch axis"),
    ({"images": np.full((1, 2, 12, 12), np.nan)}, r"NaN or inf"),
    ({"images": np.full((1, 2, 12, 12), 2.0)}, r"\[0, 1\]"),
    ({"images": images(), "timesteps": 0}, r"timesteps: expected 1 <= T <= 8"),
    ({"images": images(), "timesteps": 9}, r"timesteps: expected 1 <= T <= 8"),
    ({"spikes": np.full((1, 4, 2, 12, 12), 2, np.int8)}, r"spikes: values must be -1, 0 or 1 .*; found 2"),
    ({"spikes": np.zeros((1, 4, 2, 12))}, r"spikes: expected shape \(N, T, 2, 12, 12\)"),
    ({"spikes": np.zeros((1, 4, 2, 12, 12)), "timesteps": 5}, r"timesteps=5 but spikes have T=4"),
    ({}, r"exactly one of images"),
    ({"images": images(), "spikes": np.zeros((1, 4, 2, 12, 12))}, r"exactly one of images"),
    ({"images": images(), "backend": "gpu"}, r"backend: expected one of"),
])
def test_bad_run_arguments(sim, kwargs, match):
    with pytest.raises(InputError, match=match):
        sim.run(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"sam_gamma": -0.1}, r"sam_gamma: expected a finite number >= 0"),
    ({"sam_gamma": "x"}, r"sam_gamma: expected a number"),
    ({"sam_layers": ["conv1", "nope"]}, r"\['nope'\] are not spiking layers.*choose from"),
    ({"sam_layers": ["out"]}, r"\['out'\] are not spiking layers"),
    ({"sam_convention": "mine"}, r"sam_convention: expected one of"),
])
def test_bad_simulator_arguments(model, kwargs, match):
    with pytest.raises(InputError, match=match):
        Simulator(model, **kwargs)


def test_constant_gain_models_run_longer_than_default(model):
    const = random_model(seed=6, input_shape=(2, 12, 12), timesteps=8, per_step_gain=False)
    result = Simulator(const).run(images=images(1), timesteps=50)
    assert result.sam["conv1"].shape == (1, 50, 12, 12)


def test_result_fields_and_counts(sim, model):
    result = sim.run(images=images(3), seed=4, record_spikes=True)
    assert result.logits.shape == (3, model.num_classes) and result.logits.dtype == np.float64
    assert result.predictions.dtype == np.int64
    assert set(result.counts) == set(model.spiking_layers) | {"out", "input"}
    for name, spikes in result.spikes.items():
        assert spikes.dtype == np.uint8
        np.testing.assert_array_equal(spikes.sum(axis=(2, 3, 4)), result.counts[name]["spikes"])
    for name in result.sam:
        np.testing.assert_array_equal(result.counts[name]["sam_updates"], result.counts[name]["spikes"])
    assert result.attrs["backend"] == "eventsim" and result.attrs["model_sha256"] == model.sha256
    assert 0 < result.spike_rates()["conv1"] < 1


def test_result_save_load_round_trip(sim, tmp_path):
    result = sim.run(images=images(2), seed=4, record_spikes=True)
    path = result.save(tmp_path / "out.h5")
    loaded = Result.load(path)
    assert_results_equal(result, loaded)
    assert loaded.attrs == result.attrs


def test_failed_save_leaves_no_file(sim, tmp_path):
    result = sim.run(images=images(1))
    result.sam["conv1"] = object()  # cannot be written to HDF5
    target = tmp_path / "out.h5"
    with pytest.raises(TypeError):
        result.save(target)
    assert list(tmp_path.iterdir()) == []


def test_save_does_not_clobber_on_failure(sim, tmp_path):
    good = sim.run(images=images(1))
    target = good.save(tmp_path / "out.h5")
    before = target.read_bytes()
    bad = sim.run(images=images(1))
    bad.sam["conv1"] = object()
    with pytest.raises(TypeError):
        bad.save(target)
    assert target.read_bytes() == before


def test_load_rejects_other_files(tmp_path, model):
    from eventsim import save_model

    path = save_model(model, tmp_path / "model.h5")
    with pytest.raises(ResultFormatError, match="not an eventsim result file"):
        Result.load(path)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\0" * 100)
    with pytest.raises(ResultFormatError, match="not a readable HDF5"):
        Result.load(junk)


def test_saved_files_get_the_usual_permissions(sim, tmp_path):
    import os
    import stat

    path = sim.run(images=images(1)).save(tmp_path / "out.h5")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
