"""How spikes travel from one neuron layer (or the encoder) to the next.

Shape layers between two neuron layers collapse into one :class:`Connection`:
a source spike at ``(c, y, x)`` lands on the pooled position
``(c, y // p, x // p)`` (dropped when outside the floor-cropped pooled map),
is summed over the map for ``gap``, is flattened in C-major order for dense
targets, and then fans out through the target's weights.

This module holds the one walk over the layer chain: :meth:`Fold.then`
folds a shape layer into the path being built and :func:`walk` applies it
along a model.  Validation, the builder, :func:`connections` (and so the
reference, the engine's plan, Lava and the float PyTorch twins) all use it;
:func:`conv_taps` is the one count of border-clipped kernel taps.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, NamedTuple

import numpy as np

if TYPE_CHECKING:
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

    target: "NeuronLayer"
    source: str
    source_shape: tuple
    pool: int
    pooled_shape: tuple
    gap: bool


class Fold(NamedTuple):
    """The shape layers met since the last neuron layer (or the encoder), folded together.

    Attributes
    ----------
    source : str
        Name of that neuron layer, or ``"input"``.
    source_shape : tuple of int
        ``(C, H, W)`` of its spikes.
    pool : int
        Sum-pool factor ``p`` so far (each 2x2 ``avgpool`` doubles it).
    pooled_shape : tuple of int
        ``(C, H // p, W // p)``, floor-cropped.
    gap_area : int
        ``H * W`` summed by a global pool, 0 without one.
    """

    source: str
    source_shape: tuple
    pool: int
    pooled_shape: tuple
    gap_area: int

    @classmethod
    def start(cls, source: str, shape) -> "Fold":
        """Nothing folded yet after ``source``, whose spikes have ``shape`` (C, H, W)."""
        shape = tuple(int(v) for v in shape)
        return cls(source, shape, 1, shape, 0)

    def then(self, kind: str, in_shape, out_shape) -> "Fold":
        """This fold followed by one shape layer (``avgpool``, ``gap`` or ``flatten``)."""
        if kind == "avgpool":
            return self._replace(pool=self.pool * 2, pooled_shape=tuple(int(v) for v in out_shape))
        if kind == "gap":
            return self._replace(gap_area=int(in_shape[1]) * int(in_shape[2]))
        return self

    @property
    def gap(self) -> bool:
        """Whether a global pool sums the map."""
        return self.gap_area > 0

    @property
    def max_input_count(self) -> int:
        """:func:`max_input_count` of this fold."""
        return max_input_count(self.pool, self.gap_area)

    @property
    def average(self) -> float:
        """The averaging the sum pools leave to the next layer's gain: ``1 / (p^2 * gap_area)``."""
        return 1.0 / (self.pool * self.pool * max(1, self.gap_area))

    def connect(self, target: "NeuronLayer") -> Connection:
        """The :class:`Connection` of this fold into the neuron layer ``target``."""
        return Connection(target, self.source, self.source_shape, self.pool, self.pooled_shape, self.gap)


def max_input_count(pool_factor: int, gap_area: int) -> int:
    """Largest ``|value|`` one pooled input position can take (spikes are in {-1, 0, 1})."""
    return max(1, gap_area) * pool_factor * pool_factor


def walk(layers, input_shape) -> Iterator[tuple]:
    """Every layer with the :class:`Fold` of the shape layers before it.

    For a neuron layer the fold is its synaptic path (:meth:`Fold.connect`);
    the fold restarts after it.  Shapes are the layers' declared
    ``in_shape``/``out_shape``; a caller that checks them (validation) does
    so in its loop body, before the walk reads them for the next layer.

    Parameters
    ----------
    layers : sequence of NeuronLayer or ShapeLayer
    input_shape : tuple of int
        ``(C, H, W)`` of the encoder's spikes.

    Yields
    ------
    layer, fold : layer, Fold
    """
    fold = Fold.start("input", input_shape)
    for layer in layers:
        yield layer, fold
        if layer.is_neuron:
            fold = Fold.start(layer.name, layer.out_shape)
        else:
            fold = fold.then(layer.kind, layer.in_shape, layer.out_shape)


def connections(model: "Model") -> list[Connection]:
    """One :class:`Connection` per neuron layer, in order."""
    return [fold.connect(layer) for layer, fold in walk(model.layers, model.input_shape) if layer.is_neuron]


def conv_taps(h: int, w: int, k: int) -> np.ndarray:
    """Number of kernel taps of each position that land inside an ``H x W`` map ("same" padding).

    By symmetry of the zero padding this is both the weights one event at
    ``(y, x)`` adds per output channel and the inputs output ``(y, x)`` reads
    per input channel.

    Returns
    -------
    ndarray of int64, shape (H, W)
        ``taps[y, x] * C_out`` weights are added for one event at ``(y, x)``.
    """
    pad = k // 2
    rows = np.array([min(h - 1, y + pad) - max(0, y - pad) + 1 for y in range(h)], np.int64)
    cols = np.array([min(w - 1, x + pad) - max(0, x - pad) + 1 for x in range(w)], np.int64)
    return rows[:, None] * cols[None, :]
