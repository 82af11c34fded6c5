r"""ANN-to-SNN conversion with threshold balancing (paper Section 4.2, Algorithm 1).

1. Copy the ReLU VGG's weights into a spiking VGG with no batch norm,
   ``lambda = 1`` (integrate-and-fire) and soft reset (Algorithm 1, line 2).
2. For each spiking layer ``l`` in order, run the SNN on Poisson inputs with
   the thresholds of layers ``< l`` already set, and set

   .. math:: \theta_l = \alpha \max_{n, t, i} \left(W_l\, O_{l-1}^{t}\right)_i

   the largest input current any neuron of layer ``l`` receives at any step
   for any calibration image (lines 5-13), times an optional threshold
   scale ``alpha`` (``alpha = 1`` is plain Algorithm 1; ``alpha < 1``
   follows the threshold scaling of the paper's ref. [16]).

The result is a :class:`~training.models.SpikingVGG` and exports exactly like
a BNTT-trained one (constant gain 1, bias 0).
"""
from __future__ import annotations

from dataclasses import replace

import torch

from eventsim.progress import progress_bar

from .errors import ConfigError
from .evaluate import input_spikes
from .models import AnnVGG, Output, SpikingConv, SpikingDense, SpikingVGG


def copy_weights(ann: AnnVGG, timesteps: int) -> SpikingVGG:
    """Algorithm 1, line 2: an IF SNN (``norm="none"``, ``lambda = 1``) with the ANN's weights."""
    cfg = replace(ann.cfg, norm="none", leak=1.0, timesteps=int(timesteps))
    snn = SpikingVGG(cfg)
    for name, block in snn.layers.items():
        if isinstance(block, SpikingConv):
            block.conv.weight.data.copy_(ann.layers[name][0].weight.data)
        elif isinstance(block, SpikingDense):
            block.fc.weight.data.copy_(ann.layers[name][0].weight.data)
        elif isinstance(block, Output):
            block.fc.weight.data.copy_(ann.layers[name].weight.data)
    return snn.eval()


@torch.no_grad()
def max_current(snn: SpikingVGG, layer: str, spikes: torch.Tensor) -> float:
    """Largest input current ``W_l O_{l-1}^t`` of ``layer`` over all neurons, steps and images.

    Parameters
    ----------
    snn : SpikingVGG
        Layers before ``layer`` must have their thresholds set.
    layer : str
    spikes : Tensor of float, shape (N, T, C, H, W)
        Input spikes.
    """
    x = spikes
    for name, block in snn.layers.items():
        if name == layer:
            return float(block.current(x).max())
        x = block(x)
    raise ConfigError(f"no layer {layer!r}")


@torch.no_grad()
def convert(ann: AnnVGG, images, timesteps: int, scale: float = 1.0, seed: int = 0, batch_size: int = 64,
            progress: bool = False) -> tuple[SpikingVGG, dict]:
    """Algorithm 1: weight copy and layer-by-layer threshold balancing.

    Parameters
    ----------
    ann : AnnVGG
        Trained ReLU network.
    images : ndarray of float, shape (N, C, H, W)
        Calibration images in [0, 1].
    timesteps : int
        ``T`` of the calibration runs and of the SNN.
    scale : float
        Threshold scale ``alpha > 0``.
    seed : int
        Poisson seed (eventsim's encoder, image ``i`` uses stream ``[seed, i]``).
    batch_size : int
    progress : bool

    Returns
    -------
    snn : SpikingVGG
    thresholds : dict of str to float
        ``theta_l`` per spiking layer (after scaling).
    """
    if not scale > 0:
        raise ConfigError(f"threshold scale must be > 0, got {scale}")
    snn = copy_weights(ann, timesteps)
    names = [n for n, b in snn.layers.items() if isinstance(b, (SpikingConv, SpikingDense))]
    batches = [input_spikes(images[a:a + batch_size], timesteps, seed, snn.cfg.mean, snn.cfg.std, start_index=a)
               for a in range(0, len(images), batch_size)]
    thresholds = {}
    for name in progress_bar(names, progress, "threshold balancing", unit="layer"):
        peak = max(max_current(snn, name, x) for x in batches)
        if not peak > 0:
            raise ConfigError(f"layer {name!r} receives no positive input on the calibration images; "
                              "it would never fire (check the ANN or use more images)")
        thresholds[name] = peak * scale
        snn.layers[name].threshold.fill_(thresholds[name])
    return snn, thresholds
