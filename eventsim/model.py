"""The immutable fixed-point model shared by every backend.

A :class:`Model` is a chain of layers.  *Neuron layers* (``conv``, ``dense``,
``output``) hold integer parameters and state; *shape layers* (``avgpool``,
``sumpool``, ``gap``, ``flatten``) only rearrange or sum-pool the spikes of
the neuron layer (or input) before them.  Pooling is folded (DESIGN section
2): an average pool is a *sum* pool of binary spikes whose ``1/(k_y k_x)``
lives in the next neuron layer's gain, so events stay binary and every spike
fans out through ``pool o conv``.

Format version 2 adds conv stride and padding, any kernel size, general sum
pools, the reset to zero, per-channel thresholds, a spiking output layer and
event-count input; a model that uses none of them is a version-1 model and
is written, hashed and read exactly as before.

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
from .topology import conv_reach

FORMAT_NAME = "eventsim-model"
FORMAT_VERSION = 2
#: Versions this eventsim reads.
FORMAT_VERSIONS = (1, 2)

NEURON_KINDS = ("conv", "dense", "output")
SHAPE_KINDS = ("avgpool", "sumpool", "gap", "flatten")
POOL_KINDS = ("avgpool", "sumpool")
#: How the output layer reads out: accumulate voltage (logits ``v * scale / T``) or count spikes.
READOUTS = ("accumulate", "spikes")
#: Input encodings: the signed Poisson encoder of images, or integer event counts given directly.
INPUT_ENCODINGS = ("signed-poisson", "counts")
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
    threshold : float or ndarray of float64, shape (C_out,)
        Firing threshold (``inf`` for an accumulating output layer); an array
        when it differs per channel.
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
        th = np.asarray(self.threshold, np.float64)
        object.__setattr__(self, "threshold", float(th) if th.ndim == 0 else _frozen(th))


def _pair(value) -> tuple:
    v = tuple(int(x) for x in np.broadcast_to(np.asarray(value, np.int64), (2,)))
    return v


@dataclass(frozen=True)
class ShapeLayer:
    """``avgpool``/``sumpool`` (a sum pool), ``gap`` or ``flatten``.

    Attributes
    ----------
    name : str
    kind : str
    in_shape, out_shape : tuple of int
        ``(C, H, W)``; flattened tensors are ``(F, 1, 1)``.
    kernel, stride, padding : tuple of int
        Pools only: ``(ky, kx)``, ``(sy, sx)`` (default: the kernel) and
        zero padding ``(py, px)``; version 1's ``avgpool`` is 2x2, stride 2,
        no padding.  ``avgpool`` folds ``1 / (ky kx)`` into the next layer's
        gain; ``sumpool`` folds nothing.
    """

    name: str
    kind: str
    in_shape: Shape
    out_shape: Shape
    kernel: tuple = (2, 2)
    stride: tuple = None
    padding: tuple = (0, 0)

    def __post_init__(self):
        kernel = _pair(self.kernel)
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "stride", kernel if self.stride is None else _pair(self.stride))
        object.__setattr__(self, "padding", _pair(self.padding))

    @property
    def is_neuron(self) -> bool:
        return False

    @property
    def is_v1(self) -> bool:
        """Whether format version 1 can store this layer."""
        if self.kind in POOL_KINDS:
            return self.kind == "avgpool" and self.kernel == (2, 2) and self.stride == (2, 2) and self.padding == (0, 0)
        return True


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
        ``(C_out, C_in, k_y, k_x)`` (cross-correlation, like
        ``torch.nn.Conv2d``) or ``(C_out, F_in)`` with ``F_in`` in C-major
        (C, H, W) order.
    gain : ndarray of int16, shape (T_g, C_out)
        Gain mantissas ``G``; ``T_g = 1`` means constant over time.
    bias : ndarray of int32, shape (T_g, C_out)
        ``B`` in voltage units (24-bit).
    shift : int
        ``S`` in [0, 47].
    theta : ndarray of int64, shape (C_out,)
        Threshold per channel in voltage units (an int broadcasts);
        ``fixed_point.OUTPUT_THETA`` for an accumulating output.
    lam12 : int
        Leak in Q12; 4096 for the output layer.
    voltage_scale : float
        Real value of one voltage unit (logits = ``v * voltage_scale / T``).
    floats : FloatParams
    quant_error : dict of str to float
        Quantization errors recorded by the builder (see docs/model-format.md).
    stride : tuple of int
        Conv only: ``(sy, sx)``, default ``(1, 1)``.
    padding : tuple of int
        Conv only: zero padding ``(py, px)``, default "same" ``(k_y // 2, k_x // 2)``.
    reset : {"subtract", "zero"}
        Reset after a spike (:func:`eventsim.fixed_point.neuron_step`).
    readout : {"accumulate", "spikes"}
        Output layer only: accumulate voltage, or spike and count spikes.
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
    stride: tuple = (1, 1)
    padding: tuple = None
    reset: str = "subtract"
    readout: str = "accumulate"

    def __post_init__(self):
        object.__setattr__(self, "weight", _frozen(self.weight))
        object.__setattr__(self, "gain", _frozen(self.gain))
        object.__setattr__(self, "bias", _frozen(self.bias))
        c_out = int(self.out_shape[0])
        theta = np.asarray(self.theta, np.int64)
        if theta.ndim == 0:
            theta = np.full(c_out, int(theta), np.int64)
        object.__setattr__(self, "theta", _frozen(theta))
        object.__setattr__(self, "stride", _pair(self.stride))
        if self.padding is None:
            same = (self.kernel[0] // 2, self.kernel[1] // 2)
            object.__setattr__(self, "padding", same)
        else:
            object.__setattr__(self, "padding", _pair(self.padding))

    @property
    def is_neuron(self) -> bool:
        return True

    @property
    def spiking(self) -> bool:
        """True for conv and dense layers and a spiking output; an accumulating output never spikes."""
        return self.kind != "output" or self.readout == "spikes"

    @property
    def kernel(self) -> tuple:
        """``(k_y, k_x)`` of a conv layer, ``(0, 0)`` otherwise."""
        return tuple(int(v) for v in self.weight.shape[2:]) if self.kind == "conv" else (0, 0)

    @property
    def kernel_size(self) -> int:
        """``k_x`` of a conv layer (``k`` for square kernels), 0 otherwise."""
        return self.kernel[1]

    @property
    def uniform_theta(self):
        """The threshold as an ``int`` when every channel has the same one, else ``None``."""
        first = int(self.theta[0])
        return first if bool(np.all(self.theta == first)) else None

    @property
    def reset_zero(self) -> bool:
        """Whether a spike resets the voltage to zero (else it subtracts ``theta``)."""
        return self.reset == "zero"

    @property
    def is_v1(self) -> bool:
        """Whether format version 1 can store this layer."""
        if self.reset != "subtract" or self.readout != "accumulate" or self.uniform_theta is None:
            return False
        if self.kind != "conv":
            return True
        ky, kx = self.kernel
        return ky == kx and ky % 2 == 1 and self.stride == (1, 1) and self.padding == (ky // 2, kx // 2)

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
    input_encoding : {"signed-poisson", "counts"}
        Images through the signed Poisson encoder (values in {-1, 0, 1}),
        or integer event counts in the int8 range given directly.
    """

    name: str
    input_shape: Shape
    input_mean: np.ndarray
    input_std: np.ndarray
    layers: tuple
    default_timesteps: int
    provenance: dict = field(default_factory=dict)
    input_encoding: str = "signed-poisson"

    def __post_init__(self):
        object.__setattr__(self, "input_mean", _frozen(np.asarray(self.input_mean, np.float64)))
        object.__setattr__(self, "input_std", _frozen(np.asarray(self.input_std, np.float64)))
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))

    @property
    def input_max(self) -> int:
        """Largest ``|x|`` of one input value: 1 for Poisson spikes, ``fixed_point.INPUT_COUNT_MAX`` for counts."""
        return fp.POISSON_MAX if self.input_encoding == "signed-poisson" else fp.INPUT_COUNT_MAX

    @property
    def format_version(self) -> int:
        """1 when the model uses no version-2 feature (it is then stored as version 1), else 2."""
        v1 = self.input_encoding == "signed-poisson" and all(layer.is_v1 for layer in self.layers)
        return 1 if v1 else 2

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
        """Names of the spiking conv layers: the default SAM layers."""
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
        version = self.format_version
        h.update(f"{FORMAT_NAME}/{version}".encode())
        h.update(json.dumps(list(self.input_shape)).encode())
        h.update(self.input_mean.astype("<f8").tobytes())
        h.update(self.input_std.astype("<f8").tobytes())
        if version > 1:
            h.update(json.dumps(["input", self.input_encoding]).encode())
        for layer in self.layers:
            h.update(json.dumps([layer.name, layer.kind, list(layer.out_shape)]).encode())
            if version > 1 and not layer.is_neuron:
                h.update(json.dumps([list(layer.kernel), list(layer.stride), list(layer.padding)]).encode())
            if layer.is_neuron:
                for arr, dt in ((layer.weight, "<i1"), (layer.gain, "<i2"), (layer.bias, "<i4")):
                    h.update(json.dumps(list(arr.shape)).encode())
                    h.update(arr.astype(dt).tobytes())
                theta = int(layer.theta[0]) if version == 1 else [int(v) for v in layer.theta]
                consts = [layer.shift, theta, layer.lam12, float(layer.voltage_scale).hex()]
                if version > 1:
                    consts += [list(layer.stride), list(layer.padding), layer.reset, layer.readout]
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
                    theta=(layer.uniform_theta if layer.uniform_theta is not None else "per-channel")
                    if layer.spiking else None,
                    leak=layer.lam12 / fp.LEAK_ONE,
                    reset=layer.reset if layer.spiking else None,
                    quant_error=dict(layer.quant_error),
                )
                if layer.kind == "conv":
                    row.update(kernel=layer.kernel, stride=layer.stride, padding=layer.padding)
                if layer.kind == "output":
                    row.update(readout=layer.readout)
            elif layer.kind in POOL_KINDS:
                row.update(kernel=layer.kernel, stride=layer.stride, padding=layer.padding)
            rows.append(row)
        return rows


def synapse_count(layer: NeuronLayer) -> int:
    """Number of non-padding synapses (weight uses) of a neuron layer.

    For a conv layer this counts, for every output neuron, the kernel taps
    that land inside the input: ``sum_{y,x} reach(y, x) * C_in * C_out``
    (:func:`eventsim.topology.conv_reach`).
    """
    if layer.kind != "conv":
        return int(layer.weight.size)
    c_out, c_in = layer.weight.shape[:2]
    _, h, w = layer.in_shape
    return int(conv_reach(h, w, layer).sum()) * c_in * c_out
