r"""Export a trained (or converted) spiking VGG to an eventsim model file.

Folding (DESIGN section 2):

* **BNTT** at step ``t``, channel ``c`` (eval mode, Eq. 4) is the affine map

  .. math::

      \mathrm{BN}_t(I)_c = g_{t,c} I + b_{t,c}, \qquad
      g_{t,c} = \frac{\gamma_{t,c}}{\sqrt{\sigma^2_{t,c} + \epsilon}}, \qquad
      b_{t,c} = -g_{t,c} \mu_{t,c}

  A network without BNTT (conversion) has ``g = 1, b = 0``.
* **Structurally silent steps.**  Spiking layer ``d`` (0-based) receives
  nothing before step ``d``: each layer adds one step of delay and
  ``v[-1] = 0``.  Its running variance there decays to 0 in training, so
  ``g`` is huge but multiplies an input that is always exactly zero.  The
  exporter writes ``g = 0`` for those steps (``b`` there is
  ``-g mu = 0`` since ``mu`` stays exactly 0), which changes no output and
  keeps the layer's gain table in a useful fixed-point range.
* **Pooling**: the builder turns each 2x2 average pool into a sum pool and
  moves its ``1/4`` (``1/(HW)`` for global pooling) into the next gain.

Quantization (:mod:`eventsim.builder`, DESIGN section 3) and its error
bounds (:func:`eventsim.builder.quantization_error_bounds`), all recorded
per layer in the file (``quant_error``):

==================  =====================================================
quantity            bound
==================  =====================================================
weight              ``|W - s_c W_q| <= s_c / 2``, ``s_c = max|W_c| / 127``
gain                ``|G 2^-S - g'| <= 2^-(S+1)``; relative to the layer's
                    peak ``|g'|``: ``gain_rel_max <= 2^-15 (1 + 2^-14)``
bias                ``|B s_v - b| <= s_v / 2``: ``bias_abs_max <= 2^-16``
                    (in units of ``theta``)
threshold           exact: ``theta = 2^15 s_v``
leak                ``|lam12 / 4096 - lambda| <= 2^-13``
==================  =====================================================

(``g'`` is the real multiplier from integer synaptic sums to voltage units.)
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from torch import nn

from eventsim import ModelBuilder, save_model

from .errors import CheckpointError, UnsupportedLayerError
from .models import BNTT, Flatten, GlobalPool, Output, Pool, SpikingConv, SpikingDense, SpikingVGG

SUPPORTED = ("SpikingConv (Conv2d: odd square kernel, stride 1, 'same' zero padding, no dilation, groups or bias; "
             "BNTT or no norm), SpikingDense (Linear without bias; BNTT or no norm), Pool (2x2 average), "
             "GlobalPool, Flatten, Output (Linear without bias)")

def _refuse(name, module, why=""):
    raise UnsupportedLayerError(f"layer {name!r} ({type(module).__name__}{': ' + why if why else ''}) cannot be "
                                f"exported to an eventsim model file; supported: {SUPPORTED}")


def _check_conv(name, conv):
    if type(conv) is not nn.Conv2d:
        _refuse(name, conv)
    k = conv.kernel_size
    problems = []
    if k[0] != k[1] or k[0] % 2 == 0:
        problems.append(f"kernel {k[0]}x{k[1]} is not odd and square")
    if tuple(conv.stride) != (1, 1):
        problems.append(f"stride {tuple(conv.stride)}")
    if tuple(conv.padding) != (k[0] // 2, k[1] // 2) or conv.padding_mode != "zeros":
        problems.append(f"padding {conv.padding} ({conv.padding_mode}) is not 'same' zero padding")
    if tuple(conv.dilation) != (1, 1) or conv.groups != 1:
        problems.append("dilation or groups")
    if conv.bias is not None:
        problems.append("a bias")
    if problems:
        _refuse(name, conv, "; ".join(problems))


def _check_linear(name, fc):
    if type(fc) is not nn.Linear:
        _refuse(name, fc)
    if fc.bias is not None:
        _refuse(name, fc, "a bias")


def _check_norm(name, norm):
    if norm is not None and type(norm) is not BNTT:
        _refuse(name, norm)


def fold_norm(norm, channels, timesteps, depth):
    """Per-step gain and bias of a block (see the module docstring).

    Parameters
    ----------
    norm : BNTT or None
    channels, timesteps : int
    depth : int
        Spiking layers below this one: steps ``t < depth`` are silent.

    Returns
    -------
    gain, bias : ndarray of float64, shape (T, C), or floats 1.0 and 0.0 without BNTT
    """
    if norm is None:
        return 1.0, 0.0
    gain, bias = (t.numpy() for t in norm.fold())
    gain, bias = gain[:timesteps].copy(), bias[:timesteps].copy()
    gain[:depth] = 0.0
    bias[:depth] = 0.0
    return gain, bias


def build_model(net: SpikingVGG, name="model", provenance=None):
    """Fold and quantize ``net`` into an :class:`eventsim.Model`.

    Parameters
    ----------
    net : SpikingVGG
    name : str
    provenance : dict, optional

    Returns
    -------
    eventsim.Model

    Raises
    ------
    UnsupportedLayerError
        Naming the first module the model file cannot express and listing
        what is supported.
    """
    if not isinstance(net, SpikingVGG):
        raise UnsupportedLayerError(f"only spiking VGGs export; got {type(net).__name__} "
                                    "(convert an ANN first with 'eventsim convert')")
    cfg = net.cfg
    b = ModelBuilder(cfg.input_shape, mean=cfg.mean, std=cfg.std, name=name, default_timesteps=cfg.timesteps,
                     input_encoding=cfg.input_encoding)
    depth = 0
    for lname, block in net.layers.items():
        kind = type(block)
        if kind is SpikingConv or kind is SpikingDense:
            attr, check, add = ("conv", _check_conv, b.conv) if kind is SpikingConv else ("fc", _check_linear, b.dense)
            inner = getattr(block, attr)
            check(f"{lname}.{attr}", inner)
            _check_norm(f"{lname}.norm", block.norm)
            extra = [n for n, _ in block.named_children() if n not in ("conv", "fc", "norm")]
            if extra:
                _refuse(f"{lname}.{extra[0]}", getattr(block, extra[0]))
            weight = inner.weight.detach().double().numpy()
            gain, bias = fold_norm(block.norm, weight.shape[0], cfg.timesteps, depth)
            add(lname, weight, threshold=float(block.threshold), leak=block.leak, gain=gain, bias=bias)
            depth += 1
        elif kind is Pool:
            b.avgpool(lname)
        elif kind is GlobalPool:
            b.gap(lname)
        elif kind is Flatten:
            b.flatten(lname)
        elif kind is Output:
            _check_linear(f"{lname}.fc", block.fc)
            b.output(lname, block.fc.weight.detach().double().numpy())
        else:
            _refuse(lname, block)
    return b.build(provenance=provenance)


def quant_summary(model) -> dict:
    """``{layer: {error name: value}}`` for every neuron layer."""
    return {layer.name: dict(layer.quant_error) for layer in model.neuron_layers}


def export_checkpoint(ckpt: dict, net, out_path, label="checkpoint", extra_provenance=None):
    """Export a loaded checkpoint to ``out_path`` with its provenance.

    Parameters
    ----------
    ckpt : dict
        From :func:`training.checkpoint.read_checkpoint`.
    net : SpikingVGG
        The network rebuilt from it.
    out_path : str or Path
    label : str
        Checkpoint file name, for messages and the provenance.
    extra_provenance : dict, optional
        Merged into the provenance (e.g. the export command).

    Returns
    -------
    eventsim.Model
    """
    if ckpt["kind"] != "snn":
        raise CheckpointError(f"{label}: is an ANN checkpoint; convert it to an SNN first "
                              "('eventsim convert ANN.pt --out SNN.pt') and export that")
    extra = dict(ckpt.get("extra", {}))
    provenance = {
        "source": "training.export", "checkpoint": str(label), "kind": ckpt["kind"],
        "net": ckpt["net"], "train": ckpt.get("train", {}), "epochs": ckpt["epoch"],
        "history": ckpt.get("history", []), **extra, **(extra_provenance or {}),
    }
    model = build_model(net, name=extra.get("name", "snn"), provenance=provenance)
    model = replace(model, provenance={**provenance, "quantization_error": quant_summary(model)})
    save_model(model, out_path)
    return model


def spike_count_error(reference: dict, other: dict) -> dict:
    """Relative difference of total spikes per layer: ``|other - ref| / ref``."""
    return {k: float(abs(other[k].sum() - v.sum()) / max(v.sum(), 1)) for k, v in reference.items() if k in other}


def agreement(a, b) -> float:
    """Fraction of equal entries of two prediction vectors."""
    return float(np.mean(np.asarray(a) == np.asarray(b)))
