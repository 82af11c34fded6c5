"""Model file v1: round trip, and a specific error for every kind of bad file."""
import json

import h5py
import numpy as np
import pytest

from eventsim import ModelBuilder, ModelFormatError, load_model, save_model
from eventsim import fixed_point as fp
from eventsim.random_models import random_model


@pytest.fixture
def model():
    return random_model(seed=1, input_shape=(3, 16, 16), timesteps=10)


@pytest.fixture
def model_file(model, tmp_path):
    return save_model(model, tmp_path / "model.h5")


def test_round_trip_is_identical(model, model_file):
    loaded = load_model(model_file)
    assert loaded.sha256 == model.sha256
    assert loaded.layer_names == model.layer_names
    assert loaded.provenance == model.provenance
    for a, b in zip(model.neuron_layers, loaded.neuron_layers):
        for name in ("weight", "gain", "bias"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
            np.testing.assert_array_equal(getattr(a.floats, name), getattr(b.floats, name))
        assert (a.shift, a.lam12, a.voltage_scale) == (b.shift, b.lam12, b.voltage_scale)
        np.testing.assert_array_equal(a.theta, b.theta)
        assert a.quant_error == b.quant_error


def test_sha256_is_stable_across_saves(model, tmp_path):
    a = load_model(save_model(model, tmp_path / "a.h5"))
    b = load_model(save_model(a, tmp_path / "b.h5"))
    assert a.sha256 == b.sha256 == model.sha256


def test_models_are_immutable(model):
    with pytest.raises(ValueError):
        model.neuron_layers[0].weight[0, 0, 0, 0] = 1
    with pytest.raises(AttributeError):
        model.name = "other"


def edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def replace(f, where, data):
    del f[where]
    f[where] = data


BAD_EDITS = [
    ("format", lambda f: f.attrs.__setitem__("format", "something-else"), r"not an eventsim model file"),
    ("version", lambda f: f.attrs.__setitem__("format_version", 3), r"unsupported format_version 3"),
    ("missing weight", lambda f: f["layers/conv1"].__delitem__("weight"), r"/layers/conv1/weight: missing dataset"),
    ("missing float", lambda f: f["layers/conv1/float"].__delitem__("gain"), r"conv1/float/gain: missing dataset"),
    ("missing mean", lambda f: f["input"].__delitem__("mean"), r"/input/mean: missing dataset"),
    ("weight dtype", lambda f: replace(f, "layers/conv1/weight", f["layers/conv1/weight"][()].astype(np.float32)),
     r"conv1/weight: expected dtype int8, found float32"),
    ("gain dtype", lambda f: replace(f, "layers/conv1/gain", f["layers/conv1/gain"][()].astype(np.int32)),
     r"conv1/gain: expected dtype int16"),
    ("kind", lambda f: f["layers/conv1"].attrs.__setitem__("kind", "lstm"), r"unknown layer kind 'lstm'"),
    ("chain", lambda f: f["layers/conv2"].attrs.__setitem__("out_shape", np.array([32, 9, 9])),
     r"conv2: declared out_shape \(32, 9, 9\) does not chain"),
    ("c_in", lambda f: replace(f, "layers/conv2/weight", np.zeros((32, 5, 3, 3), np.int8)),
     r"conv2: conv weight has C_in=5 but its input has 16 channels"),
    ("even kernel", lambda f: replace(f, "layers/conv1/weight", np.zeros((16, 3, 2, 2), np.int8)), r"odd size"),
    ("bias range", lambda f: replace(f, "layers/conv1/bias", np.full(f["layers/conv1/bias"].shape, 2**23, np.int32)),
     r"conv1/bias: values must lie in \[-8388607, 8388607\]"),
    ("shift", lambda f: f["layers/conv1"].attrs.__setitem__("shift", 60), r"shift must lie in \[0, 47\]"),
    ("theta", lambda f: f["layers/conv1"].attrs.__setitem__("theta", 0), r"theta must be one value or one per channel .* in \[1, 8388607\]"),
    ("lam12", lambda f: f["layers/conv1"].attrs.__setitem__("lam12", 5000), r"lam12 must lie in \[0, 4096\]"),
    ("gain rows", lambda f: [replace(f, f"layers/conv1/{n}", f[f"layers/conv1/{n}"][:4]) for n in
                             ("gain", "bias", "float/gain", "float/bias")],
     r"conv1/gain: per-step gain has 4 rows but default_timesteps is 10"),
    ("order", lambda f: f["layers"].attrs.__setitem__("order", "[not json"), r"'order' is not a JSON list"),
    ("unknown layer", lambda f: f["layers"].attrs.__setitem__("order", json.dumps(["conv1", "ghost"])),
     r"/layers/ghost: missing group"),
    ("no output", lambda f: f["layers"].attrs.__setitem__("order", json.dumps(["conv1", "pool1"])),
     r"the last layer must be an 'output' layer"),
    ("absurd shape", lambda f: replace(f, "layers/conv1/weight", h5py.Empty("i1")) or
     f.attrs.__setitem__("input_shape", np.array([3, 2**20, 2**20])), r"absurd|at most"),
    ("std", lambda f: replace(f, "input/std", np.zeros(3)), r"/input/std: values must be > 0"),
]


@pytest.mark.parametrize("label, fn, match", BAD_EDITS, ids=[b[0] for b in BAD_EDITS])
def test_bad_file_gives_specific_error(model_file, label, fn, match):
    edit(model_file, fn)
    with pytest.raises(ModelFormatError, match=match) as info:
        load_model(model_file)
    assert str(model_file) in str(info.value)


def test_consistent_but_huge_model_is_refused_before_reading(model_file):
    # A self-consistent header that would need 16 x 4096 x 4096 = 268M neurons in conv1.
    def grow(f):
        f.attrs["input_shape"] = np.array([3, 4096, 4096])
        f["layers/conv1"].attrs["in_shape"] = np.array([3, 4096, 4096])
        f["layers/conv1"].attrs["out_shape"] = np.array([16, 4096, 4096])
    edit(model_file, grow)
    with pytest.raises(ModelFormatError, match=r"conv1: model too large.*refusing to allocate"):
        load_model(model_file)


def test_inconsistent_huge_dataset_is_refused(model_file):
    def grow(f):
        del f["layers/fc1/weight"]
        f.create_dataset("layers/fc1/weight", shape=(2**20, 2**20), dtype=np.int8)  # 1 TiB, never allocated
    edit(model_file, grow)
    with pytest.raises(ModelFormatError, match=r"fc1: dense weight has F_in=1048576 but its input has 32"):
        load_model(model_file)


def test_truncated_file(model_file):
    data = model_file.read_bytes()
    model_file.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFormatError, match=r"corrupt|truncated|not a readable"):
        load_model(model_file)


def test_not_hdf5(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(b"this is not an HDF5 file" * 10)
    with pytest.raises(ModelFormatError, match="not a readable HDF5 file"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_model(tmp_path / "nope.h5")


def test_save_into_missing_directory_writes_nothing(model, tmp_path):
    from eventsim import InputError

    with pytest.raises(InputError, match="output directory does not exist"):
        save_model(model, tmp_path / "missing" / "m.h5")
    assert not (tmp_path / "missing").exists()


def test_builder_errors_name_the_layer():
    b = ModelBuilder((1, 8, 8))
    with pytest.raises(ModelFormatError, match=r"builder:fc: a dense layer needs a flattened input"):
        b.dense("fc", np.ones((2, 64)))
    with pytest.raises(ModelFormatError, match=r"builder:c1: threshold must be finite and > 0"):
        b.conv("c1", np.ones((2, 1, 3, 3)), threshold=0.0)
    with pytest.raises(ModelFormatError, match=r"builder:c2: weight contains NaN"):
        b.conv("c2", np.full((2, 1, 3, 3), np.nan))
    b.conv("c3", np.ones((2, 1, 3, 3))).flatten("f")
    with pytest.raises(ModelFormatError, match=r"the last layer must be an 'output' layer"):
        b.build()


def test_builder_quantization_errors_are_small():
    model = random_model(seed=2)
    for layer in model.neuron_layers:
        assert layer.quant_error["weight_rel_l2"] < 0.01  # int8 of Gaussian weights: ~0.6%
        assert layer.quant_error["gain_rel_max"] < 2.0**-14
        if layer.spiking:
            assert layer.uniform_theta == 2**15
            assert layer.quant_error["bias_abs_max"] <= 0.5 / 2**15 + 1e-12


def test_pool_factor_is_folded_into_gain():
    b = ModelBuilder((1, 4, 4)).conv("c", np.ones((1, 1, 1, 1)), threshold=1.0, gain=2.0)
    model = b.avgpool("p").gap("g").output("out", np.ones((1, 1))).build()
    assert model.layer("c").floats.gain[0, 0] == 2.0
    # 1/4 for the 2x2 pool and 1/(2*2) for the global pool over the pooled 2x2 map.
    assert model.layer("out").floats.gain[0, 0] == pytest.approx(1 / 16)
    assert model.layer("out").out_shape == (1, 1, 1) and model.num_classes == 1
    assert fp.OUTPUT_THETA == model.layer("out").uniform_theta
