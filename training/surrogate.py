"""The spike non-linearity with the piecewise-linear surrogate gradient (paper Eq. 3, Eq. 8).

Forward (Eq. 3), a strict Heaviside step of the membrane potential ``u``:

.. math:: o = [u > \\theta]

Backward (Eq. 8), a triangle of height ``beta`` centred on the threshold:

.. math:: \\frac{\\partial o}{\\partial u} = \\beta \\max\\left(0, 1 - \\left|\\frac{u - \\theta}{\\theta}\\right|\\right)

with ``beta = 0.3`` (paper Section 4.1).  The derivative is taken with respect
to ``u`` itself, exactly as Eq. 8 is written; the released BNTT code
differentiates with respect to ``u / theta - 1`` instead, which differs by a
factor ``1 / theta`` and coincides for the ``theta = 1`` the trained models use.
"""
from __future__ import annotations

import torch

#: Height of the surrogate triangle, paper Section 4.1.
BETA = 0.3


def surrogate_grad(u: torch.Tensor, theta: float, beta: float = BETA) -> torch.Tensor:
    """Eq. 8 evaluated pointwise: ``beta * max(0, 1 - |(u - theta) / theta|)``.

    Parameters
    ----------
    u : Tensor of float, any shape
        Membrane potential.
    theta : float
        Firing threshold, ``> 0``.
    beta : float
        Height of the triangle.

    Returns
    -------
    Tensor of float, same shape as ``u``
    """
    return beta * torch.clamp(1.0 - torch.abs((u - theta) / theta), min=0.0)


class _SpikeFn(torch.autograd.Function):
    """Heaviside forward, Eq. 8 backward."""

    @staticmethod
    def forward(ctx, u, theta, beta):
        ctx.save_for_backward(u)
        ctx.theta, ctx.beta = theta, beta
        return (u > theta).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (u,) = ctx.saved_tensors
        return grad_out * surrogate_grad(u, ctx.theta, ctx.beta), None, None


def spike(u: torch.Tensor, theta: float, beta: float = BETA) -> torch.Tensor:
    """Spikes ``[u > theta]`` (float 0/1) whose gradient is Eq. 8.

    Parameters
    ----------
    u : Tensor of float, any shape
        Membrane potential ``v[t-1]`` (the spike at step ``t`` is decided from
        the previous voltage, DESIGN section 2).
    theta : float
        Threshold, ``> 0``.
    beta : float
        Surrogate height (default 0.3).

    Returns
    -------
    Tensor of float, same shape and dtype as ``u``, values in {0, 1}
    """
    if not theta > 0:
        raise ValueError(f"theta must be > 0, got {theta}")
    return _SpikeFn.apply(u, float(theta), float(beta))
