"""The run contract every backend follows: options, inputs, seeds, result attributes.

A backend (the Numba engine and the NumPy reference behind
:class:`eventsim.Simulator`, the Lava graph behind ``lava_port.run``) is
handed what this module checked and converted, and returns a
:class:`~eventsim.result.Result` whose ``attrs`` come from
:func:`result_attrs`::

    run_options(model, sam_gamma, sam_layers, sam_convention) -> RunOptions
    input_spikes(model, images | spikes, timesteps, seed)     -> int8 (N, T, C, H, W)
    <backend>(options, spikes)                                -> Result (logits, sam, counts, ...)
    result_attrs(options, T, run_seed(spikes, seed), backend) -> Result.attrs

Errors surface here, in the user's words (the argument's name and what was
expected), before any backend allocates anything.  Nothing in this module
knows how a backend computes.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from .encoding import check_images, check_seed, check_spikes, check_timesteps, encode_poisson
from .errors import ArgumentTypeError, InputError
from .model import Model
from .model_io import load_model
from .result import SAM_CONVENTIONS
from .validation import check_layer_name


class RunOptions(NamedTuple):
    """Checked options of a run, the same for every backend.

    Attributes
    ----------
    model : Model
    sam_gamma : float
        ``gamma >= 0`` of the TSCS kernel, paper Eq. 12.
    sam_layers : tuple of str
        Spiking layers with a SAM map, unique, in the order given.
    sam_convention : str
        One of :data:`eventsim.result.SAM_CONVENTIONS`.
    """

    model: Model
    sam_gamma: float
    sam_layers: tuple
    sam_convention: str

    @property
    def reference(self) -> bool:
        """Whether the ``"reference"`` SAM convention (the released loop) is asked for."""
        return self.sam_convention == "reference"


def run_options(model, sam_gamma=0.5, sam_layers=None, sam_convention="paper") -> RunOptions:
    """Check and convert the options of a run.

    Parameters
    ----------
    model : Model or str or os.PathLike
        A model, or the path of a model file (loaded and verified).
    sam_gamma : float
        ``gamma >= 0``.
    sam_layers : str or sequence of str, optional
        Spiking layers with a SAM map; default every conv layer, ``[]`` for none.
    sam_convention : {"paper", "reference"}

    Returns
    -------
    RunOptions

    Raises
    ------
    eventsim.errors.ArgumentTypeError
        ``model`` or ``sam_layers`` of the wrong type.
    eventsim.errors.InputError
        A negative or non-finite gamma, an unknown layer, an unknown convention.
    eventsim.errors.ModelFormatError
        A model file that cannot be loaded, or a layer name that cannot be stored.
    """
    if not isinstance(model, (Model, str, os.PathLike)):
        raise ArgumentTypeError(f"model: expected a Model or the path of a model file, got "
                                f"{type(model).__name__}")
    model = model if isinstance(model, Model) else load_model(model)
    for layer in model.layers:
        check_layer_name(layer.name, "model")
    gamma = _check_gamma(sam_gamma)
    layers = _check_sam_layers(model, sam_layers)
    if not isinstance(sam_convention, str) or sam_convention not in SAM_CONVENTIONS:
        raise InputError(f"sam_convention: expected one of {SAM_CONVENTIONS}, got {sam_convention!r}")
    return RunOptions(model, gamma, layers, sam_convention)


def input_spikes(model: Model, images=None, spikes=None, timesteps=None, seed=0, start_index=0) -> np.ndarray:
    """Validated int8 input spikes ``(N, T, C, H, W)`` from images or spikes.

    Parameters
    ----------
    model : Model
    images : array_like of float, shape (N, C, H, W), optional
        Pixels in [0, 1], encoded with :func:`eventsim.encode_poisson`.
    spikes : array_like of int, shape (N, T, C, H, W), optional
        Input spikes in {-1, 0, 1}, or signed int8 event counts for a model
        with ``input_encoding = "counts"``; exactly one of ``images`` and
        ``spikes``.
    timesteps : int, optional
        ``T``; default ``model.default_timesteps``; must match ``spikes``.
    seed : int
        Encoder seed (checked only with ``images``).
    start_index : int
        Index of the first image in the encoder's stream.

    Returns
    -------
    ndarray of int8, shape (N, T, C, H, W)
    """
    if (images is None) == (spikes is None):
        raise InputError("give exactly one of images=... or spikes=...")
    counts = model.input_encoding == "counts"
    if images is not None:
        if counts:
            raise InputError(f"model {model.name!r} takes event counts (input_encoding 'counts'), not images: pass "
                             "spikes=... (for example from eventsim.events.to_frames)")
        check_seed(seed)
    limit = model.max_timesteps()
    if spikes is not None:
        arr = check_spikes(spikes, model.input_shape, counts=counts)
        if timesteps is not None and check_timesteps(timesteps, limit) != arr.shape[1]:
            raise InputError(f"timesteps={timesteps} but spikes have T={arr.shape[1]}")
        check_timesteps(arr.shape[1], limit)
        return arr
    steps = check_timesteps(model.default_timesteps if timesteps is None else timesteps, limit)
    imgs = check_images(images, model.input_shape)
    return encode_poisson(imgs, steps, seed, mean=model.input_mean, std=model.input_std, start_index=start_index)


def run_seed(spikes, seed) -> int:
    """The ``seed`` attribute of a result: the encoder seed, or -1 when spikes were given."""
    return -1 if spikes is not None else int(seed)


def result_attrs(options: RunOptions, steps: int, seed: int, backend: str) -> dict:
    """The ``Result.attrs`` of a run; every backend uses it.

    Parameters
    ----------
    options : RunOptions
    steps : int
        ``T`` of the run.
    seed : int
        :func:`run_seed`.
    backend : str
        ``"eventsim"``, ``"reference"`` or ``"lava"``.

    Returns
    -------
    dict
        :data:`eventsim.result.ATTRS` and ``neurons`` (``{layer: count}``,
        ``"input"`` included).
    """
    model = options.model
    return {
        "timesteps": int(steps), "gamma": float(options.sam_gamma), "sam_convention": options.sam_convention,
        "seed": int(seed), "model_sha256": model.sha256, "backend": backend,
        "neurons": {"input": int(np.prod(model.input_shape)),
                    **{layer.name: layer.num_neurons for layer in model.neuron_layers}},
    }


def _check_gamma(gamma) -> float:
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise InputError(f"sam_gamma: expected a number >= 0, got {gamma!r}") from None
    if not np.isfinite(g) or g < 0:
        raise InputError(f"sam_gamma: expected a finite number >= 0, got {gamma!r}")
    return g


def _check_sam_layers(model: Model, names) -> tuple:
    if names is None:
        return tuple(model.conv_layers)
    if isinstance(names, str):
        names = [names]
    try:
        listed = list(names)
    except TypeError:
        listed = [names]
    if not all(isinstance(n, str) for n in listed):
        raise ArgumentTypeError(f"sam_layers: expected None or a list of layer names, got {names!r}")
    spiking = model.spiking_layers
    unknown = [n for n in listed if n not in spiking]
    if unknown:
        raise InputError(f"sam_layers: {unknown} are not spiking layers of this model; choose from {spiking}")
    return tuple(dict.fromkeys(listed))
