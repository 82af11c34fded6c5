"""Spiking VGG structure, BNTT, the layer delay, Poisson input and a loss that goes down."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import TINY, tiny_snn  # noqa: E402

from eventsim import encode_poisson  # noqa: E402
from training.errors import ConfigError  # noqa: E402
from training.models import (BNTT, AnnVGG, NetConfig, SpikingVGG, parse_arch,  # noqa: E402
                             poisson_spikes)
from training.train import Trainer, TrainOptions, lr_factor  # noqa: E402


def test_parse_arch_presets_and_errors():
    assert parse_arch("16,p,32,g") == ("16", "P", "32", "G")
    assert parse_arch("vgg11")[:3] == ("64", "P", "128")
    for bad, msg in [("16,X", "unknown layer"), ("16,D8", "needs G or F"), ("16,G,32", "spatial input"),
                     ("P,G", "at least one conv")]:
        with pytest.raises(ConfigError, match=msg):
            parse_arch(bad)
    with pytest.raises(ConfigError, match="too many pools"):
        SpikingVGG(NetConfig(arch="4,P,P,P,P,P,G", input_shape=(3, 16, 16)))


def test_layer_names_follow_the_model_file_convention():
    net = SpikingVGG(NetConfig(arch="P,8,P,16,F,D12", input_shape=(3, 16, 16), timesteps=4))
    assert list(net.layers) == ["pool1", "conv1", "pool2", "conv2", "flatten", "fc1", "out"]
    ann = AnnVGG(net.cfg)
    assert list(ann.layers) == list(net.layers)


def test_bntt_normalises_each_step_separately():
    bn = BNTT(3, 5).train()
    a = torch.randn(64, 5, 3, 4, 4) * torch.arange(1, 6).view(1, 5, 1, 1, 1) + 7.0
    out = bn(a)
    mean = out.mean(dim=(0, 3, 4))
    var = out.var(dim=(0, 3, 4), unbiased=False)
    np.testing.assert_allclose(mean.detach().numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(var.detach().numpy(), 1.0, atol=1e-3)
    # running statistics are per (t, c): step t's mean is close to 7 after one update of momentum 0.1
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.7, atol=0.1)
    gain, bias = bn.eval().fold()
    assert gain.shape == (5, 3) and bias.shape == (5, 3)
    x = torch.randn(2, 5, 3, 4, 4)
    folded = x.double() * gain.view(1, 5, 3, 1, 1) + bias.view(1, 5, 3, 1, 1)
    np.testing.assert_allclose(bn(x).double().detach().numpy(), folded.numpy(), rtol=1e-5, atol=1e-5)


def test_every_layer_adds_one_step_of_delay():
    """Spiking layer d (0-based) is silent before step d: s[t] is decided from v[t-1] and v[-1] = 0."""
    net = tiny_snn(arch="4,6,8,G", threshold=0.05)
    spikes = net.encode(torch.rand(4, *net.cfg.input_shape))
    _, rec = net(spikes, record=True)
    for depth, (name, s) in enumerate(rec.items()):
        assert s[:, : depth + 1].sum() == 0, name
        assert s[:, depth + 1:].sum() > 0, name


def test_poisson_rule_matches_eventsim():
    """Same rule as eventsim.encode_poisson: feeding eventsim's uniform draws gives its spikes."""
    rng = np.random.default_rng(3)
    images = rng.random((2, 3, 5, 5))
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.3, 0.25)
    expected = encode_poisson(images, 6, seed=11, mean=mean, std=std)
    draws = np.stack([np.random.default_rng([11, i]).random((6, 3, 5, 5)) for i in range(2)])

    orig = torch.rand
    try:
        torch.rand = lambda shape, generator=None, dtype=None: torch.tensor(draws, dtype=dtype)
        got = poisson_spikes(torch.tensor(images), 6, mean, std)
    finally:
        torch.rand = orig
    np.testing.assert_array_equal(got.numpy().astype(np.int8), expected)


def test_poisson_rate_is_half_the_normalised_pixel():
    images = torch.full((1, 3, 8, 8), 0.8)
    s = poisson_spikes(images, 4000, (0.5,) * 3, (0.5,) * 3, torch.Generator().manual_seed(0))
    assert s.min() >= 0 and abs(s.mean().item() - 0.3) < 0.01      # p = 0.6 -> rate p / 2


def test_loss_decreases_within_a_few_iterations():
    """Ten SGD steps (lr 0.1, BPTT through the surrogate) on two easy classes lower the loss of Eq. 5."""
    torch.manual_seed(0)
    cfg = NetConfig(**{**TINY, "timesteps": 8})
    trainer = Trainer("snn", cfg, TrainOptions(epochs=10, batch_size=16, lr=0.1, train_size=160))
    labels = torch.arange(16) % 2
    images = torch.full((16, 3, 16, 16), 0.2)
    images[labels == 0, :, :, :8] = 0.9                 # class 0: bright left half
    images[labels == 1, :, :8, :] = 0.9                 # class 1: bright top half
    losses = []
    for _ in range(10):
        loss, _ = trainer.loss(images, labels)
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()
        trainer.scheduler.step()
        losses.append(loss.item())
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    assert np.mean(losses[-2:]) < 0.9 * np.mean(losses[:2]), losses
    assert all(b < a for a, b in zip(losses[2:], losses[3:])), losses


def test_learning_rate_schedule_decays_at_50_70_90_percent():
    factors = [lr_factor(i, 100) for i in (0, 49, 50, 69, 70, 89, 90, 99)]
    np.testing.assert_allclose(factors, [1, 1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
