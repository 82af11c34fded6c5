"""training.sparsity: the synops estimate equals eventsim's counter on the same spikes; the regularizer trains."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import tiny_snn  # noqa: E402
from eventsim import Simulator, encode_poisson  # noqa: E402
from training.errors import ConfigError  # noqa: E402
from training.export import build_model  # noqa: E402
from training.models import NetConfig  # noqa: E402
from training.sparsity import forward_with_spikes, sparsity_penalty, synops_from_spikes  # noqa: E402
from training.train import Trainer, TrainOptions  # noqa: E402


@pytest.mark.parametrize("overrides", [{}, {"arch": "4,P,6,P,F,D12"}, {"arch": "5,P,P,6,G,D7,D9", "kernel_size": 5},
                                       {"input_shape": (2, 11, 13), "arch": "4,P,6,P,F", "mean": (0.4, 0.6), "std": (0.3, 0.2)}])
def test_estimate_equals_eventsim_counter(overrides):
    net = tiny_snn(seed=2, **overrides)
    model = build_model(net)
    rng = np.random.default_rng(0)
    images = rng.random((4,) + net.cfg.input_shape).astype(np.float32)
    spikes = encode_poisson(images, net.cfg.timesteps, seed=3, mean=model.input_mean, std=model.input_std)
    result = Simulator(model, sam_layers=[]).run(spikes=spikes, record_spikes=True)
    rec = {name: torch.from_numpy(s.astype(np.float64)) for name, s in result.spikes.items() if name != "input"}
    est = synops_from_spikes(net, torch.from_numpy(spikes.astype(np.float64)), rec)
    assert list(est) == [layer.name for layer in model.neuron_layers]
    assert sum(result.counts[n]["synops"].sum() for n in est) > 0
    for name, value in est.items():
        want = result.counts[name]["synops"].sum(axis=1)
        assert np.array_equal(value.numpy(), want.astype(np.float64)), name


def test_forward_with_spikes_is_the_forward_and_carries_gradients():
    net = tiny_snn(seed=1).train()
    gen = torch.Generator().manual_seed(0)
    spikes = net.encode(torch.rand(3, *net.cfg.input_shape, generator=gen), gen)
    logits, rec = forward_with_spikes(net, spikes)
    torch.testing.assert_close(logits, net(spikes), rtol=0, atol=0)
    penalty, synops = sparsity_penalty(net, spikes, rec, synops_weight=1.0, rate_weight=1.0, rate_target=0.0)
    assert 0 < penalty.item() and synops > 0
    penalty.backward()
    assert net.layers["conv1"].conv.weight.grad.abs().sum() > 0
    # dense reference: the fraction is at most 1 when every event is a single spike
    frac, _ = sparsity_penalty(net, spikes, rec, synops_weight=1.0)
    assert 0 < frac.item() <= 1


def test_options_are_checked():
    for bad in ({"synops_weight": -1.0}, {"rate_weight": float("nan")}, {"rate_target": 1.5}):
        with pytest.raises(ConfigError):
            TrainOptions(**bad)


def _synops_after_one_epoch(weight):
    cfg = NetConfig(arch="4,P,6,G", input_shape=(3, 16, 16), timesteps=6, leak=0.9, mean=(0.5,) * 3,
                    std=(0.25,) * 3)
    opts = TrainOptions(epochs=1, batch_size=8, lr=0.1, train_size=32, val_size=8, seed=0, threads=1,
                        synops_weight=weight)
    trainer = Trainer("snn", cfg, opts, log=lambda line: None)
    rng = np.random.default_rng(0)
    images = rng.random((32, 3, 16, 16)).astype(np.float32)
    labels = rng.integers(0, 10, 32).astype(np.int64)
    trainer.train_epoch(images, labels, progress=False)
    net = trainer.net
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        spikes = net.encode(torch.from_numpy(images), gen)
        _, rec = forward_with_spikes(net, spikes)
        synops = synops_from_spikes(net, spikes, rec)
    # the first layer's synops come from the input spikes, which no weight changes
    return sum(float(v.mean()) for name, v in synops.items() if name != "conv1"), trainer


def test_regularizer_lowers_synops():
    # 4 iterations, two of them at the base rate (the schedule decays at 50/70/90 %), so the weight is large
    plain, t0 = _synops_after_one_epoch(0.0)
    sparse, t1 = _synops_after_one_epoch(1000.0)
    assert t0.epoch_synops is None and t1.epoch_synops > 0
    assert sparse < 0.7 * plain, (sparse, plain)
