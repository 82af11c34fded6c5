"""The immutable fixed-point model shared by every backend.

A :class:`Model` is a chain of layers.  *Neuron layers* (``conv``, ``dense``,
``output``) hold integer parameters and state; *shape layers* (``avgpool``,
``gap``, ``flatten``) only rearrange or sum-pool the spikes of the neuron layer
(or input) before them.  Pooling is folded (DESIGN section 2): a 2x2 average
pool is a 2x2 *sum* pool of binary spikes whose ``1/4`` lives in the next
neuron layer's gain, so events stay binary and every spike fans out through
``pool o conv``.

See ``docs/model-format.md`` for the file layout and
:mod:`eventsim.fixed_point` for the integer rules.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Union

import numpy as np

from . import fixed_point as fp
from .topology import conv_taps

FORMAT_NAME = "eventsim-model"
FORMAT_VERSION = 1

NEURON_KINDS = ("conv", "dense", "output")
SHAPE_KINDS = ("avgpool", "gap", "flatten")
LAYER_KINDS = NEURON_KINDS + SHAPE_KINDS

Shape = tuple[int, int, int]


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class FloatParams:
    """Float parameters kept beside the integers (DESIGN section 1).

    The real pre-activation of channel ``c`` at step ``t`` is
    ``a = gain[t, c] * sum(weight * x) + bias[t, c]`` where ``x`` is the
    *sum-pooled* input, so ``gain`` already contains the folded ``1/k^2``.

    Attributes
    ----------
    weight : ndarray of float32
        ``(C_out, C_in, k, k)`` for conv, ``(C_out, F_in)`` for dense/output.
    gain : ndarray of float32, shape (T_g, C_out)
        Folded BNTT scale (times pooling factors).
    bias : ndarray of float32, shape (T_g, C_out)
        Folded BNTT shift, in voltage units.
    threshold : float
        Firing threshold (``inf`` for the output layer).
    leak : float
        Leak factor ``lambda`` in (0, 1] (1 for the output layer).
    """

    weight: np.ndarray
    gain: np.ndarray
    bias: np.ndarray
    threshold: float
    leak: float

    def __post_init__(self):
        for name in ("weight", "gain", "bias"):
            object.__setattr__(self, name, _frozen(np.asarray(getattr(self, name), np.float32)))


@dataclass(frozen=True)
class ShapeLayer:
    """``avgpool`` (2x2, stride 2, floor), ``gap`` or ``flatten``.

    Attributes
    ----------
    name : str
    kind : str
    in_shape, out_shape : tuple of int
        ``(C, H, W)``; flattened tensors are ``(F, 1, 1)``.
    """

    name: str
    kind: str
    in_shape: Shape
    out_shape: Shape

    @property
    def is_neuron(self) -> bool:
        return False


@dataclass(frozen=True)
class NeuronLayer:
    """A ``conv``, ``dense`` or ``output`` layer with its integer parameters.

    Attributes
    ----------
    name : str
    kind : str
    in_shape, out_shape : tuple of int
        ``(C, H, W)`` of the (pooled, flattened) input and of the neurons.
    weight : ndarray of int8
        ``(C_out, C_in, k, k)`` (cross-correlation, zero "same" padding,
        stride 1) or ``(C_out, F_in)`` with ``F_in`` in C-major (C, H, W) order.
    gain : ndarray of int16, shape (T_g, C_out)
        Gain mantissas ``G``; ``T_g = 1`` means constant over time.
    bias : ndarray of int32, shape (T_g, C_out)
        ``B`` in voltage units (24-bit).
    shift : int
        ``S`` in [0, 47].
    theta : int
        Threshold in voltage units; ``fixed_point.OUTPUT_THETA`` for output.
    lam12 : int
        Leak in Q12; 4096 for the output layer.
    voltage_scale : float
        Real value of one voltage unit (logits = ``v * voltage_scale / T``).
    floats : FloatParams
    quant_error : dict of str to float
        Quantization errors recorded by the builder (see docs/model-format.md).
    """

    name: str
    kind: str
    in_shape: Shape
    out_shape: Shape
    weight: np.ndarray
    gain: np.ndarray
    bias: np.ndarray
    shift: int
    theta: int
    lam12: int
    voltage_scale: float
    floats: FloatParams
    quant_error: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "weight", _frozen(self.weight))
        object.__setattr__(self, "gain", _frozen(self.gain))
        object.__setattr__(self, "bias", _frozen(self.bias))

    @property
    def is_neuron(self) -> bool:
        return True

    @property
    def spiking(self) -> bool:
        """True for conv and dense layers; the output layer accumulates."""
        return self.kind != "output"

    @property
    def kernel_size(self) -> int:
        """``k`` for conv layers, 0 otherwise."""
        return int(self.weight.shape[-1]) if self.kind == "conv" else 0

    @property
    def num_neurons(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def gain_steps(self) -> int:
        """``T_g``: rows of the per-step gain table."""
        return int(self.gain.shape[0])


Layer = Union[ShapeLayer, NeuronLayer]


@dataclass(frozen=True)
class Model:
    """An immutable, validated fixed-point SNN.

    Build one with :class:`eventsim.ModelBuilder` or load one with
    :func:`eventsim.load_model`.

    Attributes
    ----------
    name : str
    input_shape : tuple of int
        ``(C, H, W)`` of the images.
    input_mean, input_std : ndarray of float64, shape (C,)
        Pixel normalization ``p = (image - mean) / std`` before the signed
        Poisson encoder.
    layers : tuple of Layer
    default_timesteps : int
        ``T`` used when a run does not give one.
    provenance : dict
        JSON-serializable record of how the model was made.
    """

    name: str
    input_shape: Shape
    input_mean: np.ndarray
    input_std: np.ndarray
    layers: tuple
    default_timesteps: int
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "input_mean", _frozen(np.asarray(self.input_mean, np.float64)))
        object.__setattr__(self, "input_std", _frozen(np.asarray(self.input_std, np.float64)))
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))

    @property
    def layer_names(self) -> list[str]:
        """Names of all layers, in order."""
        return [layer.name for layer in self.layers]

    @property
    def neuron_layers(self) -> list[NeuronLayer]:
        """The conv, dense and output layers, in order."""
        return [layer for layer in self.layers if layer.is_neuron]

    @property
    def spiking_layers(self) -> list[str]:
        """Names of the layers that emit spikes (conv and dense)."""
        return [layer.name for layer in self.neuron_layers if layer.spiking]

    @property
    def conv_layers(self) -> list[str]:
        """Names of the conv layers: the default SAM layers."""
        return [layer.name for layer in self.neuron_layers if layer.kind == "conv"]

    @property
    def output_layer(self) -> NeuronLayer:
        return self.neuron_layers[-1]

    @property
    def num_classes(self) -> int:
        return int(self.output_layer.out_shape[0])

    @property
    def gain_steps(self) -> int:
        """Largest per-step gain table length; 1 for constant-gain models."""
        return max(layer.gain_steps for layer in self.neuron_layers)

    def layer(self, name: str) -> Layer:
        """The layer called ``name``; ``KeyError`` lists the valid names."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer {name!r}; layers are {self.layer_names}")

    def max_timesteps(self) -> int:
        """Largest ``T`` this model can run: ``T_g`` unless every gain is constant."""
        return fp.MAX_TIMESTEPS if self.gain_steps == 1 else self.gain_steps

    @property
    def sha256(self) -> str:
        """SHA-256 of everything that affects simulation results.

        Covers the structure, the normalization, every integer parameter and
        the voltage scales; not the float copies or the provenance.  Stable
        across re-saves of the same model.
        """
        h = hashlib.sha256()
        h.update(f"{FORMAT_NAME}/{FORMAT_VERSION}".encode())
        h.update(json.dumps(list(self.input_shape)).encode())
        h.update(self.input_mean.astype("<f8").tobytes())
        h.update(self.input_std.astype("<f8").tobytes())
        for layer in self.layers:
            h.update(json.dumps([layer.name, layer.kind, list(layer.out_shape)]).encode())
            if layer.is_neuron:
                for arr, dt in ((layer.weight, "<i1"), (layer.gain, "<i2"), (layer.bias, "<i4")):
                    h.update(json.dumps(list(arr.shape)).encode())
                    h.update(arr.astype(dt).tobytes())
                consts = [layer.shift, layer.theta, layer.lam12, float(layer.voltage_scale).hex()]
                h.update(json.dumps(consts).encode())
        return h.hexdigest()

    def summary_rows(self) -> list[dict]:
        """One dict per layer: name, kind, shape, neurons, synapses, bits, errors."""
        rows = []
        for layer in self.layers:
            row = {"name": layer.name, "kind": layer.kind, "out_shape": layer.out_shape}
            if layer.is_neuron:
                row.update(
                    neurons=layer.num_neurons,
                    synapses=synapse_count(layer),
                    weight_bits=fp.WEIGHT_BITS,
                    gain_steps=layer.gain_steps,
                    shift=layer.shift,
                    theta=layer.theta if layer.spiking else None,
                    leak=layer.lam12 / fp.LEAK_ONE,
                    quant_error=dict(layer.quant_error),
                )
            rows.append(row)
        return rows


def synapse_count(layer: NeuronLayer) -> int:
    """Number of non-padding synapses (weight uses) of a neuron layer.

    For a conv layer this counts, for every output neuron, the kernel taps
    that land inside the input: ``sum_{y,x} taps(y, x) * C_in * C_out``.
    """
    if layer.kind != "conv":
        return int(layer.weight.size)
    c_out, c_in, k, _ = layer.weight.shape
    _, h, w = layer.out_shape
    return int(conv_taps(h, w, k).sum()) * c_in * c_out

