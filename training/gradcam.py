r"""Grad-CAM for the ReLU VGG and SNN-crafted Grad-CAM for the spiking VGG (paper Section 4.3).

Both follow the template method of pytorch-grad-cam (DESIGN section 8.5):
:class:`BaseCAM` owns the forward hooks that capture the target layers'
activations, the backward pass, the aggregation and the cleanup, as a
context manager; a method overrides only :meth:`BaseCAM.compute_weights`
(and :meth:`BaseCAM.forward`, which says how inputs enter the network).

For a target class ``c`` with score ``y^c`` (the logit) and a target layer
with activations ``A^k`` (channel ``k``), the map is

.. math::

    L = \max\left(0, \sum_k \alpha^{c,k} A^k\right)

**Grad-CAM** (ANN, Selvaraju et al.): ``A`` is the ReLU output of a conv
block, shape (N, C, H, W), and ``alpha`` is the spatial mean of the gradient,

.. math:: \alpha^{c,k} = \frac{1}{HW} \sum_{i,j} \frac{\partial y^c}{\partial A^k_{ij}}

**SNN-crafted Grad-CAM** (Eq. 9-10): ``A_t`` are the layer's output spikes
at step ``t``, shape (N, T, C, H, W); the gradient reaches them by BPTT
through the surrogate of Eq. 8 (every spiking layer above the target), and
is accumulated over all steps with the normalisation ``N = HW``:

.. math::

    \alpha^{c,k} = \frac{1}{HW} \sum_{i,j} \sum_t \frac{\partial y^c}{\partial A^k_{ij,t}}
    \quad \text{(Eq. 9)}, \qquad
    G^c_{ij,t} = \max\left(0, \sum_k \alpha^{c,k} A^k_{ij,t}\right) \quad \text{(Eq. 10)}

One weight per channel (Eq. 9 sums over ``t``) and one map per step.

Examples
--------
>>> with GradCAM(ann, ["conv2", "conv3"]) as cam:           # doctest: +SKIP
...     maps = cam(images, labels)                           # {layer: (N, H, W)}
>>> with SNNGradCAM(snn, ["conv3"]) as cam:                  # doctest: +SKIP
...     maps = cam(spikes, labels)                           # {layer: (N, T, H, W)}
"""
from __future__ import annotations

import torch
from torch import nn

from .errors import ConfigError
from .models import AnnVGG, SpikingConv, SpikingVGG


def conv_layers(net: nn.Module) -> list[str]:
    """Names of the conv blocks of a :class:`SpikingVGG` or :class:`AnnVGG` (the valid CAM targets)."""
    if isinstance(net, SpikingVGG):
        return [name for name, block in net.layers.items() if isinstance(block, SpikingConv)]
    return [name for name, block in net.layers.items()
            if isinstance(block, nn.Sequential) and isinstance(block[0], nn.Conv2d)]


class BaseCAM:
    """Template for class activation maps: hooks, backward pass, aggregation, cleanup.

    Use it as a context manager: the forward hooks are registered on entry
    and removed on exit, whatever happens inside (an exception propagates
    unchanged after the hooks are gone).  The network is put in eval mode on
    entry and its previous mode restored on exit.

    Parameters
    ----------
    net : nn.Module
        A network whose ``layers`` ModuleDict holds the target layers.
    layers : sequence of str
        Target layer names (model-file names such as ``"conv3"``).

    Raises
    ------
    ConfigError
        For an empty list or a name that is not a conv layer of ``net``.
    """

    def __init__(self, net: nn.Module, layers):
        layers = [layers] if isinstance(layers, str) else list(layers)
        valid = conv_layers(net)
        unknown = [name for name in layers if name not in valid]
        if not layers or unknown:
            raise ConfigError(f"layers: {unknown or 'none given'} are not conv layers of this network; "
                              f"choose from {valid}")
        self.net, self.layers = net, tuple(dict.fromkeys(layers))
        self._handles, self._activations, self._was_training = [], {}, None

    def __enter__(self):
        self._was_training = self.net.training
        self.net.eval()
        for name in self.layers:
            self._handles.append(self.net.layers[name].register_forward_hook(self._make_hook(name)))
        return self

    def __exit__(self, exc_type, exc, tb):
        self.release()
        return False

    def release(self) -> None:
        """Remove every hook and restore the network's train/eval mode (idempotent)."""
        while self._handles:
            self._handles.pop().remove()
        self._activations.clear()
        if self._was_training is not None:
            self.net.train(self._was_training)
            self._was_training = None

    def _make_hook(self, name):
        def hook(module, inputs, output):
            self._activations[name] = output
        return hook

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)`` of the network for ``inputs`` (overridden per network type)."""
        raise NotImplementedError

    def compute_weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        """Channel weights ``alpha``, shape ``activations.shape[:-3] + (C,)`` or broadcastable to it.

        Parameters
        ----------
        activations, gradients : Tensor of float, shape (N, ..., C, H, W)
            The target layer's output and ``d y^c / d A``.
        """
        raise NotImplementedError

    @staticmethod
    def aggregate(weights: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
        r"""``max(0, sum_k alpha_k A_k)``: weights (N, ..., C) times activations (N, ..., C, H, W) -> (N, ..., H, W)."""
        return torch.relu((weights[..., None, None] * activations).sum(dim=-3))

    def __call__(self, inputs: torch.Tensor, targets=None) -> dict:
        """Maps of every target layer.

        Parameters
        ----------
        inputs : Tensor of float
            What :meth:`forward` takes.
        targets : sequence of int, optional
            Class ``c`` per input (the paper uses the ground-truth label);
            default: the predicted class.

        Returns
        -------
        dict of str to Tensor of float32
            ``{layer: maps}``, non-negative, at the layer's resolution.
        """
        if not self._handles:
            raise RuntimeError(f"{type(self).__name__} must be used inside a 'with' block (its hooks are not set)")
        self._activations.clear()
        with torch.enable_grad():
            inputs = inputs.detach().clone().requires_grad_(True)
            logits = self.forward(inputs)
            if targets is None:
                targets = logits.argmax(dim=1)
            targets = torch.as_tensor(targets, dtype=torch.long).reshape(-1)
            if targets.shape[0] != logits.shape[0] or targets.min() < 0 or targets.max() >= logits.shape[1]:
                raise ConfigError(f"targets: expected {logits.shape[0]} class indices in [0, {logits.shape[1]}), "
                                  f"got {targets.tolist()}")
            score = logits.gather(1, targets[:, None]).sum()     # images are independent in eval mode
            acts = [self._activations[name] for name in self.layers]
            grads = torch.autograd.grad(score, acts)
        out = {}
        for name, a, g in zip(self.layers, acts, grads):
            a = a.detach()
            out[name] = self.aggregate(self.compute_weights(a, g.detach()), a).float()
        self._activations.clear()
        return out


class GradCAM(BaseCAM):
    """Grad-CAM of a :class:`~training.models.AnnVGG`: ``alpha`` is the spatial mean of the gradient.

    Inputs are images (N, C, H, W) in [0, 1]; the network's normalisation is
    applied inside.  Maps are (N, H_l, W_l).
    """

    def __init__(self, net: AnnVGG, layers):
        if not isinstance(net, AnnVGG):
            raise ConfigError(f"GradCAM needs an AnnVGG, got {type(net).__name__}; use SNNGradCAM for SNNs")
        super().__init__(net, layers)

    def forward(self, inputs):
        return self.net(self.net.normalize(inputs))

    def compute_weights(self, activations, gradients):
        return gradients.mean(dim=(-2, -1))


class SNNGradCAM(BaseCAM):
    """SNN-crafted Grad-CAM (Eq. 9-10) of a :class:`~training.models.SpikingVGG`.

    Inputs are input spikes (N, T, C, H, W) in {-1, 0, 1} (for example from
    :func:`eventsim.encode_poisson`, so the maps see the spikes eventsim
    sees).  Gradients flow through the surrogate of Eq. 8 by BPTT.  Maps are
    (N, T, H_l, W_l), one per step.
    """

    def __init__(self, net: SpikingVGG, layers):
        if not isinstance(net, SpikingVGG):
            raise ConfigError(f"SNNGradCAM needs a SpikingVGG, got {type(net).__name__}; use GradCAM for ANNs")
        super().__init__(net, layers)

    def forward(self, inputs):
        return self.net(inputs)

    def compute_weights(self, activations, gradients):
        # Eq. 9: sum over steps and pixels, N = H W; one weight per channel for every step.
        h, w = gradients.shape[-2:]
        return gradients.sum(dim=(1, -2, -1), keepdim=False)[:, None, :] / (h * w)
