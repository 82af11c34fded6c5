"""Export round trip, quantization error bounds, the float twin, and refused inputs."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import tiny_snn  # noqa: E402

from eventsim import Simulator, load_model  # noqa: E402
from eventsim.builder import quantization_error_bounds  # noqa: E402
from training.checkpoint import load_network, read_checkpoint, save_checkpoint  # noqa: E402
from training.errors import CheckpointError, UnsupportedLayerError  # noqa: E402
from training.export import build_model, export_checkpoint  # noqa: E402
from training.folded import FoldedSNN  # noqa: E402
from training.models import from_model_file  # noqa: E402


@pytest.fixture
def exported(tmp_path):
    net = tiny_snn(arch="4,P,6,G")
    ckpt_path = save_checkpoint(tmp_path / "tiny.pt", "snn", net, epoch=1)
    net2, ckpt = load_network(ckpt_path)
    export_checkpoint(ckpt, net2, tmp_path / "tiny.h5", label="tiny.pt")
    return net, ckpt, load_model(tmp_path / "tiny.h5"), tmp_path / "tiny.h5"


def test_round_trip_keeps_the_float_parameters(exported):
    net, ckpt, model, _ = exported
    state = ckpt["state_dict"]
    for name, kind in (("conv1", "conv"), ("conv2", "conv"), ("out", "fc")):
        w = state[f"layers.{name}.{kind}.weight"].numpy()
        np.testing.assert_array_equal(model.layer(name).floats.weight, w)          # identical float32
    # BNTT folding: gain = gamma / sqrt(var + eps), bias = -gain * mean, steps before the layer's depth zeroed
    for depth, name in enumerate(("conv1", "conv2")):
        g = state[f"layers.{name}.norm.weight"].double()
        var, mean = state[f"layers.{name}.norm.running_var"].double(), state[f"layers.{name}.norm.running_mean"].double()
        gain = (g / torch.sqrt(var + 1e-4)).numpy()
        bias = -(gain * mean.numpy())
        gain[:depth], bias[:depth] = 0.0, 0.0
        pool = 0.25 if name == "conv2" else 1.0                          # the 2x2 average pool before conv2
        fl = model.layer(name).floats
        np.testing.assert_allclose(fl.gain, (gain * pool).astype(np.float32), rtol=1e-6)
        np.testing.assert_allclose(fl.bias, bias.astype(np.float32), rtol=1e-6, atol=1e-7)
        assert fl.threshold == 1.0 and fl.leak == pytest.approx(0.9)
    # global pooling over the 8x8 map is folded into the output gain
    np.testing.assert_allclose(model.layer("out").floats.gain, 1.0 / 64)
    assert model.default_timesteps == 8 and tuple(model.input_mean) == (0.5, 0.5, 0.5)


def test_quantization_errors_within_documented_bounds(exported):
    _, _, model, _ = exported
    bounds = quantization_error_bounds()
    # the values docs/training.md states, derived from the fixed-point widths
    assert bounds == {"gain_rel_max": 2.0**-15 * (1 + 2.0**-14), "bias_abs_max": 2.0**-16, "leak_abs": 2.0**-13}
    for layer in model.neuron_layers:
        err = layer.quant_error
        assert err["gain_rel_max"] <= bounds["gain_rel_max"], layer.name
        assert err["bias_abs_max"] <= bounds["bias_abs_max"], layer.name
        assert err["leak_abs"] <= bounds["leak_abs"], layer.name
        # weights: |W - s_c W_q| <= s_c / 2 elementwise, with s_c = max|W_c| / 127
        w = layer.floats.weight.astype(np.float64)
        s = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) / 127
        shape = (-1,) + (1,) * (w.ndim - 1)
        assert np.all(np.abs(w - layer.weight * s.reshape(shape)) <= s.reshape(shape) / 2 * (1 + 1e-9))
        # the gain mantissa approximates g * s_c / s_v within half a unit of 2^-S
        g_real = layer.floats.gain.astype(np.float64) * s[None, :] / layer.voltage_scale
        assert np.all(np.abs(layer.gain / 2.0**layer.shift - g_real) <= 2.0 ** -(layer.shift + 1) * (1 + 1e-6))
        if layer.spiking:
            assert layer.uniform_theta == 2**15
            assert layer.voltage_scale * layer.uniform_theta == pytest.approx(1.0, rel=1e-12)
    assert set(model.provenance["quantization_error"]) == {"conv1", "conv2", "out"}


def test_folded_twin_matches_the_trained_network(exported):
    """from_model_file rebuilds the float SNN: same logits and spikes as the checkpoint's network."""
    net, _, _, path = exported
    twin = from_model_file(path)
    assert isinstance(twin, FoldedSNN)
    spikes = net.encode(torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        a, rec_a = net(spikes, record=True)
        b, rec_b = twin(spikes, record=True)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    for name in rec_a:
        assert (rec_a[name] != rec_b[name]).float().mean() < 1e-3, name


def test_simulator_runs_the_export(exported):
    _, _, model, _ = exported
    sim = Simulator(model)
    images = np.random.default_rng(0).random((2, 3, 16, 16))
    res = sim.run(images=images, record_spikes=True)
    assert res.logits.shape == (2, 10)
    assert sum(c["saturations"].sum() for c in res.counts.values()) == 0
    # the engine computes the exported integers exactly as the specification does ...
    spec = sim.run(images=images, record_spikes=True, backend="reference")
    np.testing.assert_array_equal(res.logits, spec.logits)
    for name in res.spikes:
        np.testing.assert_array_equal(res.spikes[name], spec.spikes[name], err_msg=name)
    for name in res.sam:
        np.testing.assert_array_equal(res.sam[name], spec.sam[name], err_msg=name)
    for name, counters in res.counts.items():
        for key, value in counters.items():
            np.testing.assert_array_equal(value, spec.counts[name][key], err_msg=f"{name}/{key}")
    # ... and those integers approximate the float network they were exported from: on the same
    # input spikes the float twin fires nearly the same spikes (quantization flips a few near the
    # threshold: 0.2 % and 1.2 % of conv1's and conv2's here) and so gives nearly the same logits
    # (0.012 apart at most here, against a logit range of 1.2; the bound leaves 4x room).
    x = sim.input_spikes(images=images)
    with torch.no_grad():
        logits, spikes = FoldedSNN(model)(torch.from_numpy(x.astype(np.float32)), record=True)
    for name, s in spikes.items():
        assert res.spikes[name].any() and np.mean(s.numpy().astype(bool) != res.spikes[name].astype(bool)) < 0.02
    np.testing.assert_allclose(res.logits, logits.numpy(), rtol=0, atol=0.05)
    np.testing.assert_array_equal(res.predictions, logits.numpy().argmax(axis=1))


def test_unsupported_layers_are_refused_by_name():
    net = tiny_snn()
    net.layers["pool1"] = torch.nn.MaxPool2d(2)
    with pytest.raises(UnsupportedLayerError, match=r"'pool1' \(MaxPool2d\).*supported: SpikingConv"):
        build_model(net)
    net = tiny_snn()
    net.layers["conv2"].conv = torch.nn.Conv2d(4, 6, 3, padding=1, stride=2, bias=False)
    with pytest.raises(UnsupportedLayerError, match=r"'conv2.conv'.*stride \(2, 2\)"):
        build_model(net)
    net = tiny_snn()
    net.layers["conv1"].norm = torch.nn.BatchNorm2d(4)
    with pytest.raises(UnsupportedLayerError, match=r"'conv1.norm' \(BatchNorm2d\)"):
        build_model(net)


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(bad)
    good = save_checkpoint(tmp_path / "good.pt", "snn", tiny_snn(), epoch=1)
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(good.read_bytes()[:400])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(truncated)
    bare = tmp_path / "bare.pt"
    torch.save(tiny_snn().state_dict(), bare)
    with pytest.raises(CheckpointError, match="not an eventsim training checkpoint"):
        read_checkpoint(bare)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"format": "eventsim-checkpoint", "obj": _Payload()}, path)
    with pytest.raises(CheckpointError, match="pickled objects"):
        read_checkpoint(path)


class _Payload:
    pass


def test_checkpoint_of_another_architecture(tmp_path):
    from training.checkpoint import network_from_checkpoint
    from training.models import NetConfig

    path = save_checkpoint(tmp_path / "a.pt", "snn", tiny_snn(arch="4,P,6,G"), epoch=1)
    ckpt = read_checkpoint(path)
    ckpt["net"]["arch"] = ["8", "P", "6", "G"]                 # weights no longer fit the declared arch
    with pytest.raises(CheckpointError, match=r"another architecture.*shape mismatch"):
        network_from_checkpoint(ckpt, "a.pt")
    other = NetConfig(arch="4,P,6,P,8,G", input_shape=(3, 16, 16), timesteps=8)
    with pytest.raises(CheckpointError, match=r"another architecture \(arch"):
        network_from_checkpoint(read_checkpoint(path), "a.pt", expect=other)


def test_ann_checkpoints_must_be_converted_first(tmp_path):
    from training.models import AnnVGG

    ann = AnnVGG(tiny_snn().cfg)
    path = save_checkpoint(tmp_path / "ann.pt", "ann", ann, epoch=1)
    net, ckpt = load_network(path)
    with pytest.raises(CheckpointError, match="convert it to an SNN first"):
        export_checkpoint(ckpt, net, tmp_path / "x.h5")

