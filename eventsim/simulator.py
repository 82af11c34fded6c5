"""The public simulator: validate inputs, run a backend, return a :class:`Result`.

Three tiers (DESIGN section 8.2): :class:`Simulator` checks and converts what
the user gave; the private drivers allocate buffers; the kernels compute.
"""
from __future__ import annotations

import os

import numpy as np

from . import fixed_point as fp
from . import reference as ref
from ._progress import Progress
from .encoding import check_images, check_seed, check_spikes, check_timesteps, encode_poisson
from .errors import ArgumentTypeError, InputError
from .kernels import engine
from .kernels.plan import build_plan
from .model import Model
from .model_io import load_model
from .result import Result
from .validation import check_layer_name

BACKENDS = ("eventsim", "reference")


class Simulator:
    """Event-driven fixed-point simulation with on-line SAM.

    Parameters
    ----------
    model : Model or str or Path
        A model, or the path of a model file.
    sam_gamma : float
        ``gamma >= 0`` of the TSCS kernel, paper Eq. 12.
    sam_layers : sequence of str, optional
        Spiking layers that get a SAM map; default: every conv layer.  Pass
        ``[]`` for none.
    sam_convention : {"paper", "reference"}
        ``"paper"`` follows Eq. 13 (earlier spikes only); ``"reference"``
        reproduces the authors' released loop (see ``docs/sam.md``).

    Examples
    --------
    >>> sim = Simulator("model.h5", sam_gamma=0.5)            # doctest: +SKIP
    >>> result = sim.run(images=x, timesteps=20, seed=0)      # doctest: +SKIP
    >>> result.sam["conv1"].shape                              # doctest: +SKIP
    (16, 20, 64, 64)
    """

    def __init__(self, model, sam_gamma=0.5, sam_layers=None, sam_convention="paper"):
        if not isinstance(model, (Model, str, os.PathLike)):
            raise ArgumentTypeError(f"model: expected a Model or the path of a model file, got "
                                    f"{type(model).__name__}")
        self.model = model if isinstance(model, Model) else load_model(model)
        for layer in self.model.layers:
            check_layer_name(layer.name, "model")
        self.sam_gamma = _check_gamma(sam_gamma)
        self.sam_layers = self._check_sam_layers(sam_layers)
        if not isinstance(sam_convention, str) or sam_convention not in ref.SAM_CONVENTIONS:
            raise InputError(f"sam_convention: expected one of {ref.SAM_CONVENTIONS}, got {sam_convention!r}")
        self.sam_convention = sam_convention
        self._plans = None
        self._workspace = engine.Workspace()

    def _check_sam_layers(self, names):
        if names is None:
            return tuple(self.model.conv_layers)
        if isinstance(names, str):
            names = [names]
        try:
            listed = list(names)
        except TypeError:
            listed = [names]
        if not all(isinstance(n, str) for n in listed):
            raise ArgumentTypeError(f"sam_layers: expected None or a list of layer names, got {names!r}")
        names = listed
        spiking = self.model.spiking_layers
        unknown = [n for n in names if n not in spiking]
        if unknown:
            raise InputError(f"sam_layers: {unknown} are not spiking layers of this model; choose from {spiking}")
        return tuple(dict.fromkeys(names))

    def input_spikes(self, images=None, spikes=None, timesteps=None, seed=0, start_index=0):
        """Validated int8 input spikes ``(N, T, C, H, W)`` from images or spikes.

        Exactly one of ``images`` (float, [0, 1]) and ``spikes`` ({-1, 0, 1})
        must be given; ``timesteps`` defaults to the model's and must match a
        given spike tensor.
        """
        if (images is None) == (spikes is None):
            raise InputError("give exactly one of images=... or spikes=...")
        if images is not None:
            check_seed(seed)
        limit = self.model.max_timesteps()
        if spikes is not None:
            arr = check_spikes(spikes, self.model.input_shape)
            if timesteps is not None and check_timesteps(timesteps, limit) != arr.shape[1]:
                raise InputError(f"timesteps={timesteps} but spikes have T={arr.shape[1]}")
            check_timesteps(arr.shape[1], limit)
            return arr
        steps = check_timesteps(self.model.default_timesteps if timesteps is None else timesteps, limit)
        imgs = check_images(images, self.model.input_shape)
        return encode_poisson(imgs, steps, seed, mean=self.model.input_mean, std=self.model.input_std,
                              start_index=start_index)

    def run(self, images=None, spikes=None, timesteps=None, seed=0, record_spikes=False, backend="eventsim",
            progress=None):
        """Simulate a batch.

        Parameters
        ----------
        images : array_like of float, shape (N, C, H, W), optional
            Pixels in [0, 1], encoded with :func:`eventsim.encode_poisson`.
        spikes : array_like of int, shape (N, T, C, H, W), optional
            Input spikes in {-1, 0, 1} (instead of ``images``).
        timesteps : int, optional
            ``T``; default ``model.default_timesteps``.  Models with a
            per-step gain table accept ``T <= T_g``.
        seed : int
            Encoder seed (ignored with ``spikes``).
        record_spikes : bool
            Also return every spiking layer's spikes and the final voltages.
        backend : {"eventsim", "reference"}
            The event-driven Numba engine, or the dense NumPy specification.
        progress : bool, optional
            Print progress on stderr; default: when stderr is a terminal and
            the batch has more than one chunk of images.

        Returns
        -------
        Result
        """
        if not isinstance(backend, str) or backend not in BACKENDS:
            raise InputError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        x = self.input_spikes(images, spikes, timesteps, seed)
        if backend == "reference":
            run = ref.simulate(self.model, x, sam_gamma=self.sam_gamma, sam_layers=self.sam_layers,
                               sam_convention=self.sam_convention)
            out = _from_reference(run, record_spikes)
        else:
            out = self._run_engine(x, record_spikes, progress)
        out.attrs = self.result_attrs(x.shape[1], -1 if spikes is not None else int(seed), backend)
        return out

    def result_attrs(self, steps, seed, backend) -> dict:
        """The ``Result.attrs`` of a run of this simulator; every backend uses it.

        Parameters
        ----------
        steps : int
            ``T`` of the run.
        seed : int
            Encoder seed, or -1 when spikes were given.
        backend : str
            ``"eventsim"``, ``"reference"`` or ``"lava"``.
        """
        return {
            "timesteps": int(steps), "gamma": float(self.sam_gamma), "sam_convention": self.sam_convention,
            "seed": seed, "model_sha256": self.model.sha256, "backend": backend,
            "neurons": {"input": int(np.prod(self.model.input_shape)),
                        **{layer.name: layer.num_neurons for layer in self.model.neuron_layers}},
        }

    def _run_engine(self, x, record, progress=None):
        if self._plans is None:
            self._plans = build_plan(self.model)
        n, steps = x.shape[:2]
        bar = Progress(n, "eventsim", enabled=progress if progress is not None or n > engine.CHUNK else False)
        return engine.run(self._plans, x, fp.sam_decay_table(self.sam_gamma, steps),
                          self.sam_convention == "reference", self.sam_layers,
                          self.model.output_layer.voltage_scale, record, bar.update, workspace=self._workspace)


def _check_gamma(gamma) -> float:
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise InputError(f"sam_gamma: expected a number >= 0, got {gamma!r}") from None
    if not np.isfinite(g) or g < 0:
        raise InputError(f"sam_gamma: expected a finite number >= 0, got {gamma!r}")
    return g


def _from_reference(run: ref.ReferenceRun, record: bool) -> Result:
    spikes = voltages = None
    if record:
        spikes = {k: v for k, v in run.spikes.items() if k != "input"}
        voltages = dict(run.voltages)
    return Result(logits=run.logits, sam={k: fp.sam_to_real(v) for k, v in run.sam.items()},
                  counts=run.counts, attrs={}, spikes=spikes, voltages=voltages)
