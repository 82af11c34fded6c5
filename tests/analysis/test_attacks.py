"""FGSM: exact epsilon * sign(grad) steps, clipping, the SNN's surrogate input gradient, bad epsilons."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eventsim import encode_poisson
from training.attacks import ann_input_gradient, check_epsilon, fgsm, fgsm_step, snn_input_gradient
from training.errors import ConfigError
from training.models import AnnVGG, NetConfig, SpikingVGG

pytestmark = pytest.mark.torch


def test_fgsm_step_moves_by_exactly_epsilon_sign_and_clips():
    rng = np.random.default_rng(0)
    x = rng.random((4, 3, 6, 6)).astype(np.float32)
    x[0, 0, 0, :3] = [0.0, 1.0, 0.5]
    g = rng.normal(size=x.shape).astype(np.float32)
    g[0, 0, 0, :3] = [-1.0, 1.0, 0.0]                                  # pushed below 0, above 1, not at all
    eps = 4 / 255
    adv = fgsm_step(x, g, eps)
    np.testing.assert_array_equal(adv, np.clip(x + np.float32(eps) * np.sign(g), 0, 1))
    assert adv[0, 0, 0, 0] == 0.0 and adv[0, 0, 0, 1] == 1.0 and adv[0, 0, 0, 2] == np.float32(0.5)
    inside = (x + eps <= 1) & (x - eps >= 0) & (g != 0)
    np.testing.assert_allclose(np.abs(adv - x)[inside], eps, rtol=1e-6)
    assert np.all(np.abs(adv - x) <= eps + 1e-7)
    np.testing.assert_array_equal(fgsm_step(x, g, 0.0), x)


def test_ann_fgsm_follows_the_autograd_sign_and_raises_the_loss():
    torch.manual_seed(0)
    net = AnnVGG(NetConfig(arch="4,P,6,G", input_shape=(3, 8, 8), num_classes=3, norm="none", leak=1.0)).eval()
    x = np.random.default_rng(1).random((5, 3, 8, 8)).astype(np.float32) * 0.8 + 0.1
    y = np.array([0, 1, 2, 0, 1])
    xt = torch.tensor(x, requires_grad=True)
    F.cross_entropy(net(net.normalize(xt)), torch.tensor(y), reduction="sum").backward()
    np.testing.assert_allclose(ann_input_gradient(net, x, y), xt.grad.numpy(), rtol=1e-5, atol=1e-8)
    eps = 2 / 255
    adv = fgsm(net, x, y, eps)
    np.testing.assert_array_equal(adv, np.clip(x + np.float32(eps) * np.sign(xt.grad.numpy()), 0, 1))
    with torch.no_grad():
        before = F.cross_entropy(net(net.normalize(torch.tensor(x))), torch.tensor(y))
        after = F.cross_entropy(net(net.normalize(torch.tensor(adv))), torch.tensor(y))
    assert after > before


def test_snn_input_gradient_is_the_time_summed_spike_gradient_through_the_rate_code():
    torch.manual_seed(2)
    cfg = NetConfig(arch="4,P,6,G", input_shape=(3, 8, 8), num_classes=3, timesteps=5, threshold=0.3,
                    mean=(0.5, 0.4, 0.5), std=(0.2, 0.25, 0.3))
    net = SpikingVGG(cfg).eval()
    x = np.random.default_rng(3).random((3, 3, 8, 8)).astype(np.float32)
    y = np.array([2, 0, 1])
    spikes = torch.tensor(encode_poisson(x, 5, 9, mean=cfg.mean, std=cfg.std).astype(np.float32), requires_grad=True)
    F.cross_entropy(net(spikes), torch.tensor(y), reduction="sum").backward()
    std = np.array(cfg.std, np.float32)[None, :, None, None]
    p = (x - np.array(cfg.mean, np.float32)[None, :, None, None]) / std
    expected = spikes.grad.sum(1).numpy() / (2 * std) * (np.abs(p) < 2)
    got = snn_input_gradient(net, x, y, seed=9)
    assert np.abs(expected).sum() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-8)
    adv = fgsm(net, x, y, 1 / 255, seed=9)
    np.testing.assert_array_equal(adv, np.clip(x + np.float32(1 / 255) * np.sign(expected), 0, 1))


@pytest.mark.parametrize("bad", [-1 / 255, float("nan"), float("inf"), "four", None])
def test_bad_epsilon_is_a_clear_error(bad):
    with pytest.raises(ConfigError, match="epsilon"):
        check_epsilon(bad)
    with pytest.raises(ConfigError, match="epsilon"):
        fgsm_step(np.zeros((1, 3, 2, 2)), np.ones((1, 3, 2, 2)), bad)


def test_shape_and_label_mismatches():
    with pytest.raises(ConfigError, match="gradient"):
        fgsm_step(np.zeros((1, 3, 2, 2)), np.ones((1, 3, 2, 3)), 0.1)
    net = AnnVGG(NetConfig(arch="4,G", input_shape=(3, 8, 8), num_classes=3, norm="none", leak=1.0))
    with pytest.raises(ConfigError, match="labels"):
        fgsm(net, np.zeros((2, 3, 8, 8), np.float32), [0], 0.1)
