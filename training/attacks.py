r"""FGSM for the ReLU VGG and SNN-crafted FGSM through the surrogate gradient (paper Section 5.7).

The fast gradient sign method (Goodfellow et al., the paper's ref. [15])
moves every pixel by ``epsilon`` in the direction that increases the loss,
then clips to the valid range:

.. math:: x_{adv} = \mathrm{clip}_{[0, 1]}\left(x + \epsilon\, \mathrm{sign}(\nabla_x L(x, y))\right)

``L`` is the cross entropy of the logits with the true label (Eq. 5 for
the SNN).  ``epsilon`` is in pixel units (the paper's ``4/255`` is
``4 / 255`` here).  ``sign(0) = 0``: a pixel whose gradient is exactly zero
does not move.

**SNN-crafted FGSM** (Sharmin et al., ref. [43]): the Poisson encoder is not
differentiable, so the gradient is taken with respect to the input spikes
``s_t`` by BPTT through the surrogate of Eq. 8 and carried to the pixels
through the rate code.  With ``p = (x - mu) / sigma`` and
``E[s_t] = sign(p) min(|p| / 2, 1)`` (the rule of :func:`eventsim.encode_poisson`),

.. math::

    \frac{\partial L}{\partial x_c} \approx
    \frac{[\,|p| < 2\,]}{2 \sigma_c} \sum_t \frac{\partial L}{\partial s_t}

so its sign is that of the time-summed spike gradient wherever the pixel is
not saturated.  The attacker draws its own Poisson spikes (``seed``); the
attacked network is later run on fresh draws.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError
from .evaluate import input_spikes
from .models import AnnVGG, SpikingVGG


def check_epsilon(epsilon) -> float:
    """``epsilon`` as a float, or :class:`ConfigError` unless it is finite and ``>= 0``."""
    try:
        eps = float(epsilon)
    except (TypeError, ValueError):
        raise ConfigError(f"epsilon: expected a number >= 0 (pixel units, e.g. 4/255), got {epsilon!r}") from None
    if not math.isfinite(eps) or eps < 0:
        raise ConfigError(f"epsilon: expected a finite number >= 0 (pixel units, e.g. 4/255), got {epsilon!r}")
    return eps


def fgsm_step(images, gradient, epsilon) -> np.ndarray:
    r"""``clip(x + epsilon * sign(grad), 0, 1)``.

    Parameters
    ----------
    images : array_like of float, shape (N, C, H, W)
        Pixels in [0, 1].
    gradient : array_like of float, same shape
        ``dL/dx`` (only its sign is used).
    epsilon : float
        Step in pixel units, ``>= 0``.

    Returns
    -------
    ndarray of float32, shape (N, C, H, W)
    """
    eps = check_epsilon(epsilon)
    x = np.asarray(images, np.float32)
    g = np.asarray(gradient)
    if g.shape != x.shape:
        raise ConfigError(f"gradient: expected shape {x.shape} (the images'), got {g.shape}")
    return np.clip(x + np.float32(eps) * np.sign(g).astype(np.float32), 0.0, 1.0)


def _labels(labels, n):
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(-1)
    if y.shape[0] != n:
        raise ConfigError(f"labels: expected {n} labels (one per image), got {y.shape[0]}")
    return y


def ann_input_gradient(net: AnnVGG, images, labels) -> np.ndarray:
    """``dL/dx`` of the cross entropy of an :class:`AnnVGG` (eval mode), shape (N, C, H, W) float32."""
    if not isinstance(net, AnnVGG):
        raise ConfigError(f"ann_input_gradient needs an AnnVGG, got {type(net).__name__}")
    net.eval()
    x = torch.as_tensor(np.asarray(images, np.float32)).requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(net(net.normalize(x)), _labels(labels, x.shape[0]), reduction="sum")
        (grad,) = torch.autograd.grad(loss, [x])
    return grad.numpy()


def snn_input_gradient(net: SpikingVGG, images, labels, seed: int = 12345, start_index: int = 0) -> np.ndarray:
    r"""Surrogate-gradient ``dL/dx`` of a :class:`SpikingVGG` through the rate code (module docstring).

    Parameters
    ----------
    net : SpikingVGG
    images : array_like of float, shape (N, C, H, W)
        Pixels in [0, 1].
    labels : array_like of int, shape (N,)
    seed : int
        The attacker's Poisson seed (image ``i`` uses stream ``[seed, start_index + i]``).
    start_index : int

    Returns
    -------
    ndarray of float32, shape (N, C, H, W)
    """
    if not isinstance(net, SpikingVGG):
        raise ConfigError(f"snn_input_gradient needs a SpikingVGG, got {type(net).__name__}")
    net.eval()
    x = np.asarray(images, np.float32)
    cfg = net.cfg
    spikes = input_spikes(x, cfg.timesteps, seed, cfg.mean, cfg.std, start_index=start_index).requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(net(spikes), _labels(labels, x.shape[0]), reduction="sum")
        (grad,) = torch.autograd.grad(loss, [spikes])
    mean = np.asarray(cfg.mean, np.float32)[None, :, None, None]
    std = np.asarray(cfg.std, np.float32)[None, :, None, None]
    p = (x - mean) / std
    return grad.sum(dim=1).numpy() * (np.abs(p) < 2.0) / (2.0 * std)


def fgsm(net, images, labels, epsilon, seed: int = 12345, start_index: int = 0) -> np.ndarray:
    """Adversarial images for an :class:`AnnVGG` (FGSM) or a :class:`SpikingVGG` (SNN-crafted FGSM).

    Parameters
    ----------
    net : AnnVGG or SpikingVGG
    images : array_like of float, shape (N, C, H, W)
        Pixels in [0, 1].
    labels : array_like of int, shape (N,)
    epsilon : float
        ``>= 0``, pixel units.
    seed, start_index : int
        The SNN attacker's Poisson stream (ignored for ANNs).

    Returns
    -------
    ndarray of float32, shape (N, C, H, W), values in [0, 1]
    """
    eps = check_epsilon(epsilon)
    if isinstance(net, SpikingVGG):
        grad = snn_input_gradient(net, images, labels, seed, start_index)
    elif isinstance(net, AnnVGG):
        grad = ann_input_gradient(net, images, labels)
    else:
        raise ConfigError(f"fgsm needs an AnnVGG or a SpikingVGG, got {type(net).__name__}")
    return fgsm_step(images, grad, eps)
