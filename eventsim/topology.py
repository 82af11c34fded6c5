"""How spikes travel from one neuron layer (or the encoder) to the next.

Shape layers between two neuron layers collapse into one :class:`Connection`:
a source spike at ``(c, y, x)`` is summed into every pooled position whose
window covers it (for the plain ``p x p`` floor pool: ``(c, y // p, x // p)``,
dropped outside the cropped map), is summed over the map for ``gap``, is
flattened in C-major order for dense targets, and then fans out through the
target's weights.

This module holds the one walk over the layer chain: :meth:`Fold.then`
folds a shape layer into the path being built and :func:`walk` applies it
along a model.  Validation, the builder, :func:`connections` (and so the
reference, the engine's plan, Lava and the float PyTorch twins) all use it;
:func:`conv_reach` is the one count of border-clipped kernel taps.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from .model import Model, NeuronLayer


class Pool(NamedTuple):
    """One sum pool (``avgpool`` or ``sumpool``) as a window on the map.

    Output ``(oy, ox)`` sums the zero-padded input over
    ``y in [oy*sy - py, oy*sy - py + ky)``, ``x in [ox*sx - px, ox*sx - px + kx)``;
    the output side is ``floor((H + 2 py - ky) / sy) + 1`` (``torch``'s rule).

    Attributes
    ----------
    kernel, stride, padding : tuple of int
        ``(ky, kx)``, ``(sy, sx)``, ``(py, px)``.
    """

    kernel: tuple
    stride: tuple
    padding: tuple

    def out_size(self, h: int, w: int) -> tuple:
        """``(H_out, W_out)`` of an ``H x W`` input (may be < 1 for an invalid window)."""
        return (window_out(h, self.kernel[0], self.stride[0], self.padding[0]),
                window_out(w, self.kernel[1], self.stride[1], self.padding[1]))

    @property
    def factor(self) -> int:
        """``p`` when this pool is the plain ``p x p``, stride-``p`` floor pool, else 0."""
        k, s, pad = self.kernel, self.stride, self.padding
        return int(k[0]) if k[0] == k[1] == s[0] == s[1] and pad == (0, 0) else 0


def window_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a sliding window: ``floor((size + 2 padding - kernel) / stride) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


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
        ``p`` when the pools between are plain floor pools (``k = s``,
        square, no padding) that compose to one ``p x p`` pool (1 without
        pools); 0 when they are general (see ``pools``).
    pooled_shape : tuple of int
        ``(C, H', W')`` after the pools (before gap/flatten).
    gap : bool
        Whether the pooled map is summed to one value per channel.
    pools : tuple of Pool
        The pools between, in order.
    """

    target: "NeuronLayer"
    source: str
    source_shape: tuple
    pool: int
    pooled_shape: tuple
    gap: bool
    pools: tuple = ()


class Fold(NamedTuple):
    """The shape layers met since the last neuron layer (or the encoder), folded together.

    Attributes
    ----------
    source : str
        Name of that neuron layer, or ``"input"``.
    source_shape : tuple of int
        ``(C, H, W)`` of its spikes.
    pools : tuple of Pool
        The sum pools so far.
    pooled_shape : tuple of int
        ``(C, H', W')`` after them.
    gap_area : int
        ``H * W`` summed by a global pool, 0 without one.
    average : float
        The averaging the pools leave to the next layer's gain:
        ``1 / (ky kx)`` per ``avgpool``, ``1 / (H W)`` for ``gap``, 1 for ``sumpool``.
    """

    source: str
    source_shape: tuple
    pools: tuple
    pooled_shape: tuple
    gap_area: int
    average: float

    @classmethod
    def start(cls, source: str, shape) -> "Fold":
        """Nothing folded yet after ``source``, whose spikes have ``shape`` (C, H, W)."""
        shape = tuple(int(v) for v in shape)
        return cls(source, shape, (), shape, 0, 1.0)

    def then(self, layer) -> "Fold":
        """This fold followed by one shape layer (``avgpool``, ``sumpool``, ``gap`` or ``flatten``)."""
        if layer.kind in ("avgpool", "sumpool"):
            pool = Pool(tuple(layer.kernel), tuple(layer.stride), tuple(layer.padding))
            scale = 1.0 / (pool.kernel[0] * pool.kernel[1]) if layer.kind == "avgpool" else 1.0
            return self._replace(pools=self.pools + (pool,), pooled_shape=tuple(int(v) for v in layer.out_shape),
                                 average=self.average * scale)
        if layer.kind == "gap":
            area = int(layer.in_shape[1]) * int(layer.in_shape[2])
            return self._replace(gap_area=area, average=self.average / area)
        return self

    @property
    def gap(self) -> bool:
        """Whether a global pool sums the map."""
        return self.gap_area > 0

    @property
    def pool(self) -> int:
        """:attr:`Connection.pool`: the composed plain pool factor, or 0 for general pools."""
        factor = 1
        for pool in self.pools:
            if pool.factor == 0:
                return 0
            factor *= pool.factor
        return factor

    def max_input_count(self, input_max: int = 1) -> int:
        """Largest ``|value|`` one pooled position can take when each source value is at most ``input_max``."""
        return max_input_count(self.pools, self.gap_area, input_max)

    def connect(self, target: "NeuronLayer") -> Connection:
        """The :class:`Connection` of this fold into the neuron layer ``target``."""
        return Connection(target, self.source, self.source_shape, self.pool, self.pooled_shape, self.gap,
                          self.pools)


def max_input_count(pools, gap_area: int, input_max: int = 1) -> int:
    """Largest ``|value|`` of one pooled input position: ``input_max * max(1, gap) * prod(ky kx)``."""
    count = max(1, gap_area) * int(input_max)
    for pool in pools:
        count *= int(pool.kernel[0]) * int(pool.kernel[1])
    return count


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
            fold = fold.then(layer)


def connections(model: "Model") -> list[Connection]:
    """One :class:`Connection` per neuron layer, in order."""
    return [fold.connect(layer) for layer, fold in walk(model.layers, model.input_shape) if layer.is_neuron]


def window_reach(size: int, out: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    """For each input index, how many (output index, kernel tap) pairs read it, along one axis.

    Output ``o`` reads input ``o * stride - padding + k`` with tap ``k``.

    Returns
    -------
    ndarray of int64, shape (size,)
    """
    reach = np.zeros(size, np.int64)
    for o in range(out):
        for k in range(kernel):
            i = o * stride - padding + k
            if 0 <= i < size:
                reach[i] += 1
    return reach


def conv_reach(h: int, w: int, layer) -> np.ndarray:
    """Weights one event at each ``(y, x)`` of a conv layer's (pooled) input adds, per output channel.

    ``reach[y, x] * C_out`` synaptic operations, border-clipped, for any
    kernel, stride and padding; for stride 1 and "same" padding it equals
    :func:`conv_taps`.

    Parameters
    ----------
    h, w : int
        The input map.
    layer : NeuronLayer
        A conv layer (``kernel``, ``stride``, ``padding``, ``out_shape``).

    Returns
    -------
    ndarray of int64, shape (H, W)
    """
    (kh, kw), (sy, sx), (py, px) = layer.kernel, layer.stride, layer.padding
    _, ho, wo = layer.out_shape
    return window_reach(h, ho, kh, sy, py)[:, None] * window_reach(w, wo, kw, sx, px)[None, :]


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
