"""How spikes travel from one neuron layer (or the encoder) to the next.

Shape layers between two neuron layers collapse into one :class:`Connection`:
a source spike at ``(c, y, x)`` lands on the pooled position
``(c, y // p, x // p)`` (dropped when outside the floor-cropped pooled map),
is summed over the map for ``gap``, is flattened in C-major order for dense
targets, and then fans out through the target's weights.
"""
from __future__ import annotations

from typing import NamedTuple

from .model import Model, NeuronLayer


class Connection(NamedTuple):
    """The synaptic path into one neuron layer.

    Attributes
    ----------
    target : NeuronLayer
    source : str
        Name of the source neuron layer, or ``"input"`` for the encoder.
    source_shape : tuple of int
        ``(C, H, W)`` of the source spikes.
    pool : int
        Total sum-pool factor ``p`` (1, 2, 4, ...) of the 2x2 pools between.
    pooled_shape : tuple of int
        ``(C, H // p, W // p)`` after floor cropping (before gap/flatten).
    gap : bool
        Whether the pooled map is summed to one value per channel.
    """

    target: NeuronLayer
    source: str
    source_shape: tuple
    pool: int
    pooled_shape: tuple
    gap: bool


def connections(model: Model) -> list[Connection]:
    """One :class:`Connection` per neuron layer, in order."""
    out = []
    source, source_shape = "input", tuple(model.input_shape)
    pool, pooled, gap = 1, source_shape, False
    for layer in model.layers:
        if layer.kind == "avgpool":
            pool *= 2
            pooled = layer.out_shape
        elif layer.kind == "gap":
            gap = True
        elif layer.is_neuron:
            out.append(Connection(layer, source, source_shape, pool, tuple(pooled), gap))
            source, source_shape = layer.name, tuple(layer.out_shape)
            pool, pooled, gap = 1, source_shape, False
    return out
