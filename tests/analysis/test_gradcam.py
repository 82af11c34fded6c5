"""Grad-CAM and SNN-crafted Grad-CAM (Eq. 9-10) against hand computations; hook cleanup."""
import numpy as np
import pytest
import torch

from training.errors import ConfigError
from training.gradcam import GradCAM, SNNGradCAM, conv_layers
from training.models import AnnVGG, NetConfig, SpikingVGG

pytestmark = pytest.mark.torch


def tiny_ann(seed=0):
    torch.manual_seed(seed)
    return AnnVGG(NetConfig(arch="4,P,6,G", input_shape=(3, 8, 8), num_classes=3, norm="none", leak=1.0)).eval()


def tiny_snn(seed=0, timesteps=6):
    torch.manual_seed(seed)
    net = SpikingVGG(NetConfig(arch="4,P,6,G", input_shape=(3, 8, 8), num_classes=3, timesteps=timesteps,
                               threshold=0.3))
    for m in net.modules():                        # non-trivial BNTT statistics, eval mode
        if hasattr(m, "running_var"):
            m.running_var.uniform_(0.5, 2.0)
            m.running_mean.uniform_(-0.2, 0.2)
    return net.eval()


def hooks_left(net):
    return sum(len(block._forward_hooks) for block in net.layers.values())


def test_gradcam_last_layer_equals_closed_form():
    # conv2 -> global average pool -> linear: dy^c/dA^k_ij = W[c, k] / (H W), so by hand
    # alpha_k = W[c, k] / (H W) and the map is relu(sum_k alpha_k A^k).
    net = tiny_ann()
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 1, 2, 1])
    with GradCAM(net, ["conv2"]) as cam:
        maps = cam(x, target)["conv2"]
    h = net.normalize(x)
    for name in ("conv1", "pool1", "conv2"):
        h = net.layers[name](h)
    w = net.layers["out"].weight.detach()
    alpha = w[target] / (h.shape[-2] * h.shape[-1])                       # (N, C)
    expected = torch.relu((alpha[:, :, None, None] * h.detach()).sum(1))
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-7)
    assert hooks_left(net) == 0


def test_gradcam_inner_layer_equals_autograd_by_hand():
    net = tiny_ann(3)
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    with GradCAM(net, ["conv1", "conv2"]) as cam:
        maps = cam(x)                                                      # predicted class
    a = net.layers["conv1"](net.normalize(x))
    a.retain_grad()
    logits = net.layers["out"](net.layers["gap"](net.layers["conv2"](net.layers["pool1"](a))))
    c = logits.argmax(1)
    logits.gather(1, c[:, None]).sum().backward()
    alpha = a.grad.mean(dim=(2, 3))                                        # spatial mean of the gradient
    expected = torch.relu((alpha[:, :, None, None] * a.detach()).sum(1))
    torch.testing.assert_close(maps["conv1"], expected, rtol=1e-5, atol=1e-7)
    assert maps["conv2"].shape == (3, 4, 4)


def _snn_by_hand(net, spikes, target, layer):
    x, acts = spikes, None
    for name, block in net.layers.items():
        x = block(x)
        if name == layer:
            x.retain_grad()
            acts = x
    x.gather(1, target[:, None]).sum().backward()
    h, w = acts.shape[-2:]
    alpha = acts.grad.sum(dim=(1, 3, 4)) / (h * w)                         # Eq. 9, N = H W
    return torch.relu((alpha[:, None, :, None, None] * acts.detach()).sum(2))   # Eq. 10, per step


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_snn_gradcam_equals_eq9_eq10_by_hand(layer):
    net = tiny_snn()
    g = torch.Generator().manual_seed(4)
    spikes = torch.randint(-1, 2, (3, 6, 3, 8, 8), generator=g).float()
    target = torch.tensor([2, 0, 1])
    with SNNGradCAM(net, [layer]) as cam:
        maps = cam(spikes, target)[layer]
    expected = _snn_by_hand(net, spikes, target, layer)
    assert maps.shape == expected.shape == (3, 6) + expected.shape[-2:]
    assert expected.abs().sum() > 0, "the test network must spike"
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-7)


def test_snn_gradcam_last_layer_closed_form():
    # logits = (1/T) sum_t W gap(A_t): dy^c/dA^k_ij,t = W[c, k] / (T H W); Eq. 9 sums over t -> W[c, k] / (H W).
    net = tiny_snn(5)
    spikes = torch.randint(-1, 2, (2, 6, 3, 8, 8), generator=torch.Generator().manual_seed(6)).float()
    target = torch.tensor([1, 2])
    with SNNGradCAM(net, "conv2") as cam:
        maps = cam(spikes, target)["conv2"]
    x = spikes
    for name in ("conv1", "pool1", "conv2"):
        x = net.layers[name](x)
    alpha = net.layers["out"].fc.weight.detach()[target] / 16.0
    expected = torch.relu((alpha[:, None, :, None, None] * x.detach()).sum(2))
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-7)


def test_hooks_released_when_the_body_raises():
    net = tiny_ann()
    net.train()
    with pytest.raises(ZeroDivisionError):
        with GradCAM(net, ["conv1", "conv2"]):
            assert hooks_left(net) == 2
            1 / 0
    assert hooks_left(net) == 0
    assert net.training, "the network's train mode is restored"


def test_hooks_released_when_the_cam_call_raises():
    net = tiny_snn()
    spikes = torch.zeros(2, 6, 3, 8, 8)
    with pytest.raises(ConfigError, match="targets"):
        with SNNGradCAM(net, ["conv1"]) as cam:
            cam(spikes, [0, 7])                                            # class 7 does not exist
    assert hooks_left(net) == 0


def test_bad_layers_and_networks():
    net = tiny_ann()
    assert conv_layers(net) == ["conv1", "conv2"]
    with pytest.raises(ConfigError, match=r"conv9.*choose from \['conv1', 'conv2'\]"):
        GradCAM(net, ["conv9"])
    with pytest.raises(ConfigError, match="pool1"):
        GradCAM(net, ["pool1"])
    with pytest.raises(ConfigError, match="SNNGradCAM"):
        GradCAM(tiny_snn(), ["conv1"])
    with pytest.raises(RuntimeError, match="with"):
        GradCAM(net, ["conv1"])(torch.zeros(1, 3, 8, 8))


def test_maps_are_nonnegative_and_independent_of_batch():
    net = tiny_ann(7)
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(8))
    with GradCAM(net, ["conv1"]) as cam:
        whole = cam(x, [0, 1, 2, 0, 1])["conv1"]
        single = torch.cat([cam(x[i:i + 1], [t])["conv1"] for i, t in enumerate([0, 1, 2, 0, 1])])
    assert (whole >= 0).all()
    np.testing.assert_allclose(whole.numpy(), single.numpy(), rtol=1e-5, atol=1e-7)
