"""The public simulator: validate inputs, run a backend, return a :class:`Result`.

Three tiers (DESIGN section 8.2): :class:`Simulator` checks and converts what
the user gave, with the backend-neutral run contract of
:mod:`eventsim.contract`; the private drivers allocate buffers; the kernels
compute.
"""
from __future__ import annotations

from . import fixed_point as fp
from . import reference as ref
from .progress import Progress
from .contract import input_spikes, result_attrs, run_options, run_seed
from .errors import InputError
from .event_input import event_frames
from .kernels import engine
from .kernels.plan import build_plan
from .result import Result

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
        self.options = run_options(model, sam_gamma, sam_layers, sam_convention)
        self._plans = None
        self._workspace = engine.Workspace()

    @property
    def model(self):
        """The :class:`~eventsim.model.Model` simulated."""
        return self.options.model

    @property
    def sam_gamma(self) -> float:
        return self.options.sam_gamma

    @property
    def sam_layers(self) -> tuple:
        """Spiking layers with a SAM map."""
        return self.options.sam_layers

    @property
    def sam_convention(self) -> str:
        return self.options.sam_convention

    def input_spikes(self, images=None, spikes=None, timesteps=None, seed=0, start_index=0):
        """Validated int8 input spikes ``(N, T, C, H, W)`` from images or spikes.

        Exactly one of ``images`` (float, [0, 1]) and ``spikes`` ({-1, 0, 1},
        or int8 counts for a ``"counts"`` model) must be given; ``timesteps`` defaults to the model's and must match a
        given spike tensor (:func:`eventsim.contract.input_spikes`).
        """
        return input_spikes(self.model, images, spikes, timesteps, seed, start_index)

    def run(self, images=None, spikes=None, timesteps=None, seed=0, record_spikes=False, backend="eventsim",
            progress=None, events=None, sensor_size=None, time_window=None):
        """Simulate a batch.

        Parameters
        ----------
        images : array_like of float, shape (N, C, H, W), optional
            Pixels in [0, 1], encoded with :func:`eventsim.encode_poisson`.
        spikes : array_like of int, shape (N, T, C, H, W), optional
            Input spikes in {-1, 0, 1} (instead of ``images``), or signed
            int8 event counts for a model whose ``input_encoding`` is
            ``"counts"`` (which takes no images).
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
        events : structured ndarray or list of them, optional
            Event streams, one per sample (instead of ``images`` or
            ``spikes``), for a model with ``input_encoding = "counts"``;
            binned by :func:`eventsim.event_input.event_frames` into
            ``timesteps`` bins (default the model's) or bins of
            ``time_window`` microseconds.
        sensor_size : (W, H, P), optional
            The event sensor; default ``(W, H, 2)`` of the model's input.
        time_window : int, optional
            Bin width in microseconds, instead of a number of bins.

        Returns
        -------
        Result
        """
        if not isinstance(backend, str) or backend not in BACKENDS:
            raise InputError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        if events is not None:
            if images is not None or spikes is not None:
                raise InputError("give exactly one of images=..., spikes=... or events=...")
            spikes = event_frames(self.model, events, sensor_size, None if time_window else timesteps, time_window)
            timesteps = None
        x = self.input_spikes(images, spikes, timesteps, seed)
        if backend == "reference":
            run = ref.simulate(self.model, x, sam_gamma=self.sam_gamma, sam_layers=self.sam_layers,
                               sam_convention=self.sam_convention)
            out = _from_reference(run, record_spikes)
        else:
            out = self._run_engine(x, record_spikes, progress)
        out.attrs = self.result_attrs(x.shape[1], run_seed(spikes, seed), backend)
        return out

    def result_attrs(self, steps, seed, backend) -> dict:
        """The ``Result.attrs`` of a run of this simulator (:func:`eventsim.contract.result_attrs`).

        Parameters
        ----------
        steps : int
            ``T`` of the run.
        seed : int
            Encoder seed, or -1 when spikes were given.
        backend : str
            ``"eventsim"``, ``"reference"`` or ``"lava"``.
        """
        return result_attrs(self.options, steps, seed, backend)

    def _run_engine(self, x, record, progress=None):
        if self._plans is None:
            self._plans = build_plan(self.model)
        n, steps = x.shape[:2]
        bar = Progress(n, "eventsim", enabled=progress if progress is not None or n > engine.CHUNK else False)
        return engine.run(self._plans, x, fp.sam_decay_table(self.sam_gamma, steps),
                          self.options.reference, self.sam_layers,
                          self.model.output_layer.voltage_scale, record, bar.update, workspace=self._workspace)


def _from_reference(run: ref.ReferenceRun, record: bool) -> Result:
    spikes = voltages = None
    if record:
        spikes = {k: v for k, v in run.spikes.items() if k != "input"}
        voltages = dict(run.voltages)
    return Result(logits=run.logits, sam={k: fp.sam_to_real(v) for k, v in run.sam.items()},
                  counts=run.counts, attrs={}, spikes=spikes, voltages=voltages)
