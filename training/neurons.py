r"""The neuron-level pieces of the spiking VGG: Poisson input, LIF recurrence, BNTT.

All tensors carry time as the second axis, ``(N, T, ...)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from eventsim.encoding import RESCALE

from .errors import ConfigError
from .surrogate import BETA, spike, surrogate_grad


def normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    """Per-channel ``(x - mean) / std`` of ``(N, C, H, W)`` images (the encoder's and the ANN's input)."""
    m = torch.as_tensor(mean, dtype=images.dtype).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=images.dtype).view(1, -1, 1, 1)
    return (images - m) / s


def poisson_spikes(images: torch.Tensor, timesteps: int, mean, std, generator=None) -> torch.Tensor:
    """Signed Poisson input spikes, the rule of :func:`eventsim.encode_poisson`.

    .. math:: p = (x - \\mu) / \\sigma, \\qquad s_t = \\mathrm{sign}(p)\\,[2 u_t \\le |p|], \\quad u_t \\sim U[0, 1)

    Parameters
    ----------
    images : Tensor of float, shape (N, C, H, W)
        Pixels in [0, 1].
    timesteps : int
    mean, std : sequence of float, length C
    generator : torch.Generator, optional
        The random stream (it differs from eventsim's NumPy stream; feed
        :func:`eventsim.encode_poisson` output to compare backends).

    Returns
    -------
    Tensor of float32, shape (N, T, C, H, W), values in {-1, 0, 1}
    """
    p = normalize(images, mean, std).unsqueeze(1)
    u = torch.rand((images.shape[0], timesteps) + tuple(images.shape[1:]), generator=generator, dtype=images.dtype)
    return torch.sign(p) * (RESCALE * u <= p.abs()).to(images.dtype)


class _LIF(torch.autograd.Function):
    r"""The whole LIF recurrence as one autograd node (BPTT written out).

    Forward keeps ``u[t] = v[t-1]`` for every step.  With ``g[t] = dL/ds[t]``,
    ``delta[t] = dL/dv[t]``, ``delta[T-1] = 0`` (the last voltage emits no
    spike inside the window) and the reset detached, the chain rule gives

    .. math::

        \frac{\partial L}{\partial a[t]} = \delta[t], \qquad
        \delta[t-1] = \lambda \delta[t] + g[t]\, \sigma'(v[t-1])

    where ``sigma'`` is Eq. 8.  This is what autograd computes through the
    step-by-step loop (tests compare the two), at a fraction of the memory
    traffic.
    """

    @staticmethod
    def forward(ctx, current, theta, leak, beta):
        out = torch.empty_like(current)
        before = torch.empty_like(current)
        v = torch.zeros_like(current[:, 0])
        for t in range(current.shape[1]):
            before[:, t] = v
            s = out[:, t]
            torch.gt(v, theta, out=s)                           # Eq. 3, decided from v[t-1]
            v.mul_(leak).add_(current[:, t]).sub_(s, alpha=theta)   # Eq. 4, soft reset
        ctx.save_for_backward(before)
        ctx.theta, ctx.leak, ctx.beta = theta, leak, beta
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (before,) = ctx.saved_tensors
        direct = grad_out * surrogate_grad(before, ctx.theta, ctx.beta)   # Eq. 8
        grad = torch.empty_like(before)
        delta = torch.zeros_like(before[:, 0])
        for t in range(before.shape[1] - 1, -1, -1):
            grad[:, t] = delta
            delta.mul_(ctx.leak).add_(direct[:, t])
        return grad, None, None, None


def lif(current: torch.Tensor, theta: float, leak: float, beta: float = BETA) -> torch.Tensor:
    r"""Run the LIF recurrence over time (Eq. 2-4, DESIGN section 2).

    .. math::

        s[t] = [v[t-1] > \theta], \qquad v[t] = \lambda v[t-1] + a[t] - \theta s[t], \qquad v[-1] = 0

    Parameters
    ----------
    current : Tensor of float, shape (N, T, ...)
        Normalised input current ``a[t] = BN_t(W * x[t])`` of every step.
    theta : float
        Threshold, ``> 0``.
    leak : float
        ``lambda``.
    beta : float
        Surrogate height (Eq. 8).

    Returns
    -------
    Tensor of float, shape (N, T, ...)
        Spikes ``s[t]`` in {0, 1}; their gradient uses Eq. 8 at ``v[t-1]``.
    """
    if not theta > 0:
        raise ValueError(f"theta must be > 0, got {theta}")
    return _LIF.apply(current.contiguous(), float(theta), float(leak), float(beta))


def lif_stepwise(current: torch.Tensor, theta: float, leak: float, beta: float = BETA) -> torch.Tensor:
    """The same recurrence as :func:`lif`, one autograd op per step (the naive twin)."""
    v = torch.zeros_like(current[:, 0])
    out = []
    for a in current.unbind(1):
        s = spike(v, theta, beta)                               # Eq. 3
        v = leak * v + a - theta * s.detach()                   # Eq. 4
        out.append(s)
    return torch.stack(out, dim=1)


class BNTT(nn.Module):
    """Batch Normalization Through Time: one batch norm per step, scale only (Eq. 4).

    .. math:: \\mathrm{BN}_t(a)_c = \\gamma_{t,c} \\frac{a_c - \\mu_{t,c}}{\\sqrt{\\sigma^2_{t,c} + \\epsilon}}

    Parameters
    ----------
    channels : int
    timesteps : int
    eps, momentum : float
        As ``torch.nn.BatchNorm2d`` (the released code uses ``eps = 1e-4``).

    Attributes
    ----------
    weight : Parameter, shape (T, C)
        ``gamma``.
    running_mean, running_var : buffer, shape (T, C)
    """

    def __init__(self, channels: int, timesteps: int, eps: float = 1e-4, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(timesteps, channels))
        self.register_buffer("running_mean", torch.zeros(timesteps, channels))
        self.register_buffer("running_var", torch.ones(timesteps, channels))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """Normalise ``a`` of shape (N, T, C, ...) with the statistics of each (t, c)."""
        n, t, c = a.shape[:3]
        if t > self.weight.shape[0]:
            raise ConfigError(f"BNTT was trained for {self.weight.shape[0]} steps; cannot run {t}")
        flat = a.reshape(n, t * c, -1)
        out = F.batch_norm(flat, self.running_mean[:t].reshape(-1), self.running_var[:t].reshape(-1),
                           self.weight[:t].reshape(-1), None, self.training, self.momentum, self.eps)
        return out.reshape(a.shape)

    def fold(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference-time affine map ``a -> gain * a + bias``.

        Returns
        -------
        gain, bias : Tensor of float64, shape (T, C)
            ``gamma / sqrt(var + eps)`` and ``-gamma mean / sqrt(var + eps)``.
        """
        inv = self.weight.detach().double() / torch.sqrt(self.running_var.double() + self.eps)
        return inv, -inv * self.running_mean.double()
