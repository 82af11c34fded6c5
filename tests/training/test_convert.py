"""ANN-to-SNN conversion: Algorithm 1's thresholds on a tiny handmade network."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.convert import convert  # noqa: E402
from training.errors import ConfigError  # noqa: E402
from training.models import AnnVGG, NetConfig, SpikingConv  # noqa: E402


def _handmade_ann():
    """conv1: channel 0 sums its 3x3 window, channel 1 only inhibits; conv2 sums both channels' windows."""
    cfg = NetConfig(arch="2,1,G", input_shape=(1, 5, 5), num_classes=2, mean=(0.5,), std=(0.25,), norm="none")
    ann = AnnVGG(cfg)
    w1 = torch.zeros(2, 1, 3, 3)
    w1[0] = 1.0
    w1[1, 0, 1, 1] = -1.0
    ann.layers["conv1"][0].weight.data.copy_(w1)
    ann.layers["conv2"][0].weight.data.copy_(torch.ones(1, 2, 3, 3))
    ann.layers["out"].weight.data.copy_(torch.ones(2, 1))
    return ann


def _images():
    """Pixels 1 (p = +2: a spike at every step) in a 3x3 block, 0.5 (p = 0: never) elsewhere."""
    img = np.full((2, 1, 5, 5), 0.5)
    img[0, 0, 1:4, 1:4] = 1.0
    img[1, 0, 0:2, 3:5] = 1.0
    return img


def _conv_same(x, w):
    """Naive 'same' cross-correlation, x (C, H, W), w (O, C, 3, 3)."""
    c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((w.shape[0], h, wd))
    for o in range(w.shape[0]):
        for y in range(h):
            for x_ in range(wd):
                out[o, y, x_] = (xp[:, y:y + 3, x_:x_ + 3] * w[o]).sum()
    return out


def _naive_thresholds(ann, images, steps, scale):
    """Algorithm 1 by hand: theta_l = scale * max over images, steps, neurons of W_l O_{l-1}^t."""
    w1 = ann.layers["conv1"][0].weight.detach().double().numpy()
    w2 = ann.layers["conv2"][0].weight.detach().double().numpy()
    x = np.sign((images - 0.5) / 0.25)                      # deterministic: |p| is 2 or 0
    a1 = np.stack([_conv_same(xi, w1) for xi in x])
    theta1 = scale * a1.max()
    peak2 = -np.inf
    for a in a1:                                            # IF neurons, soft reset, s[t] = v[t-1] > theta
        v = np.zeros_like(a)
        for _ in range(steps):
            s = (v > theta1).astype(float)
            v = v + a - theta1 * s
            peak2 = max(peak2, _conv_same(s, w2).max())
    return theta1, scale * peak2


@pytest.mark.parametrize("scale", [1.0, 0.6])
def test_thresholds_are_the_maximum_activation(scale):
    ann, images, steps = _handmade_ann(), _images(), 12
    snn, thresholds = convert(ann, images, steps, scale=scale)
    theta1, theta2 = _naive_thresholds(ann, images, steps, scale)
    # by hand: conv1 channel 0 over the full 3x3 block of +1 spikes gives 9
    assert theta1 == pytest.approx(9.0 * scale)
    assert thresholds["conv1"] == pytest.approx(theta1)
    assert thresholds["conv2"] == pytest.approx(theta2)
    assert theta2 > 0
    assert [float(b.threshold) for b in snn.layers.values() if isinstance(b, SpikingConv)] == \
        pytest.approx([theta1, theta2])
    assert snn.cfg.norm == "none" and snn.cfg.leak == 1.0 and snn.cfg.timesteps == steps
    np.testing.assert_array_equal(snn.layers["conv1"].conv.weight.detach().numpy(),
                                  ann.layers["conv1"][0].weight.detach().numpy())


def test_silent_layer_is_reported():
    blank = np.full((2, 1, 5, 5), 0.5)                     # p = 0 everywhere: no input spikes
    with pytest.raises(ConfigError, match="conv1.*never fire"):
        convert(_handmade_ann(), blank, 6)
