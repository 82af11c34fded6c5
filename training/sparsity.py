r"""A differentiable synaptic-operation estimate and the sparsity regularizer of ``eventsim train``.

The estimate counts what eventsim's ``synops`` counter counts
(:func:`eventsim.reference.synaptic_input`): each neuron layer is charged the
weights its source's events add, border-clipped.  The events of a source map
are its spikes (absolute values for the signed input), summed over the 2x2
pools between source and target (stride 2, floor cropping); one event at
pooled position ``(y, x)`` adds ``taps[y, x] * C_out`` weights into a conv
layer (:func:`eventsim.topology.conv_taps`) and ``C_out`` into a dense or
output layer.  With spikes in float the estimate is a polynomial in them, so
surrogate gradients flow through it.

The regularizer added to the cross entropy is

.. math::

    w_s \frac{\sum_l S_l}{\sum_l D_l} + w_r \sum_l \max(0, r_l - r^*)^2

where the sums run over the layers fed by a spiking layer (the first conv
layer, fed by the input spikes, costs synops no weight can change), ``S_l``
is layer ``l``'s estimated synops per image and ``D_l`` the synops it would
cost if every source neuron spiked at every step.  The first term is thus
the fan-out-weighted mean hidden spike rate, in [0, 1], and
``--synops-weight`` is dimensionless.  ``r_l`` is the mean spike rate of
spiking layer ``l`` and ``r*`` the optional per-layer rate target.  The
synops reported per image count every layer, the first one included.
"""
from __future__ import annotations

import torch

from eventsim.topology import conv_taps

from .models import Flatten, GlobalPool, Output, Pool, SpikingConv, SpikingDense, SpikingVGG

NEURON_BLOCKS = (SpikingConv, SpikingDense, Output)


def sum_pool(x: torch.Tensor, p: int) -> torch.Tensor:
    """``p x p`` sum pooling with stride ``p`` and floor cropping over the last two axes."""
    if p == 1:
        return x
    *lead, h, w = x.shape
    hp, wp = h // p, w // p
    return x[..., : hp * p, : wp * p].reshape(*lead, hp, p, wp, p).sum(dim=(-3, -1))


def layer_synops(events: torch.Tensor, pool: int, c_out: int, kernel_size: int | None) -> torch.Tensor:
    """Synaptic operations per image that ``events`` cost one neuron layer.

    Parameters
    ----------
    events : Tensor of float, shape (N, T, C, H, W) or (N, T, F)
        Non-negative source events (spikes, or ``|input spikes|``).
    pool : int
        Sum-pool factor between the source and the layer (1 for none).
    c_out : int
        Output channels (conv) or features (dense, output).
    kernel_size : int or None
        The conv kernel, ``None`` for a dense or output layer.

    Returns
    -------
    Tensor, shape (N,)
        Summed over the ``T`` steps.
    """
    if events.dim() == 5:
        events = sum_pool(events, pool)
        if kernel_size is not None:
            h, w = events.shape[-2:]
            taps = torch.as_tensor(conv_taps(h, w, kernel_size), dtype=events.dtype, device=events.device)
            return (events.sum(dim=(1, 2)) * taps).sum(dim=(-2, -1)) * c_out
    return events.flatten(1).sum(dim=1) * c_out


def _c_out(block) -> tuple[int, int | None]:
    if isinstance(block, SpikingConv):
        return block.conv.out_channels, int(block.conv.kernel_size[0])
    return block.fc.out_features, None


def synops_from_spikes(net: SpikingVGG, input_spikes: torch.Tensor, layer_spikes: dict) -> dict:
    """Estimated synops per image of every neuron layer of ``net`` from given spikes.

    Parameters
    ----------
    net : SpikingVGG
        Only its structure is read.
    input_spikes : Tensor, shape (N, T, C, H, W)
        Signed input spikes.
    layer_spikes : dict of str to Tensor
        Spikes ``(N, T, ...)`` of every spiking layer (conv: ``(N, T, C, H, W)``;
        dense: ``(N, T, F)`` or eventsim's ``(N, T, F, 1, 1)``).

    Returns
    -------
    dict of str to Tensor, shape (N,)
        In network order, the output layer included.
    """
    events, pool, out = input_spikes.abs(), 1, {}
    for name, block in net.layers.items():
        if isinstance(block, Pool):
            pool *= 2
        elif isinstance(block, NEURON_BLOCKS):
            out[name] = layer_synops(events, pool, *_c_out(block))
            if not isinstance(block, Output):
                events, pool = layer_spikes[name], 1
        elif not isinstance(block, (GlobalPool, Flatten)):
            raise TypeError(f"synops: cannot estimate through layer {name} ({type(block).__name__})")
    return out


def forward_with_spikes(net: SpikingVGG, spikes: torch.Tensor):
    """``net(spikes)`` that also returns every spiking layer's spikes, still in the graph.

    Returns
    -------
    logits : Tensor, shape (N, K)
    layer_spikes : dict of str to Tensor, shape (N, T, ...)
    """
    x, rec = spikes, {}
    for name, block in net.layers.items():
        x = block(x)
        if isinstance(block, (SpikingConv, SpikingDense)):
            rec[name] = x
    return x, rec


def dense_synops(net: SpikingVGG, input_spikes: torch.Tensor, layer_spikes: dict) -> dict:
    """Synops per image of every layer if every source neuron spiked at every step."""
    ones = {k: torch.ones_like(v[:1]) for k, v in layer_spikes.items()}
    return {k: float(v[0]) for k, v in synops_from_spikes(net, torch.ones_like(input_spikes[:1]), ones).items()}


def sparsity_penalty(net, input_spikes, layer_spikes, synops_weight=0.0, rate_weight=0.0, rate_target=0.0):
    """The regularizer of the module docstring and the estimated synops per image (mean over the batch).

    Returns
    -------
    penalty : Tensor, scalar
    synops_per_image : float
    """
    synops = synops_from_spikes(net, input_spikes, layer_spikes)
    total = sum(s.mean() for s in synops.values())
    hidden = list(synops)[1:]
    dense = dense_synops(net, input_spikes, layer_spikes)
    penalty = synops_weight * sum(synops[k].mean() for k in hidden) / sum(dense[k] for k in hidden)
    if rate_weight:
        penalty = penalty + rate_weight * sum(torch.relu(s.mean() - rate_target) ** 2 for s in layer_spikes.values())
    return penalty, float(total.detach())
