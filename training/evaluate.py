"""Accuracy and spike counts of a network on a batch of images, in torch or in eventsim.

Torch is imported only by the torch evaluators, so ``eventsim evaluate
--backend eventsim`` works without it.

Both backends see the *same* input spikes: :func:`eventsim.encode_poisson`
with the seed and each image's index in the data set (``start_index``), so
any difference between them comes from the fixed-point arithmetic alone.
With ``encoding="counts"`` the inputs are event counts ``(N, T, C, H, W)``
(:mod:`training.dvs`), given to both backends as they are.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eventsim import Simulator, encode_poisson
from eventsim.progress import progress_bar


@dataclass
class Evaluation:
    """Predictions and activity on ``N`` images.

    Attributes
    ----------
    logits : ndarray of float64, shape (N, K)
    spikes : dict of str to ndarray of int64, shape (N, T)
        Spikes per layer and step (``"input"`` included); empty for ANNs.
    neurons : dict of str to int
        Neurons per layer, for spike rates.
    """

    logits: np.ndarray
    spikes: dict = field(default_factory=dict)
    neurons: dict = field(default_factory=dict)

    @property
    def predictions(self) -> np.ndarray:
        return np.argmax(self.logits, axis=1)

    def accuracy(self, labels) -> float:
        """Fraction in [0, 1] of predictions equal to ``labels``."""
        return float(np.mean(self.predictions == np.asarray(labels)))

    def spike_rates(self) -> dict:
        """Mean spikes per neuron and step, per layer."""
        return {k: float(v.sum() / (v.size * self.neurons[k])) for k, v in self.spikes.items() if self.neurons.get(k)}


def _batches(n, batch_size, progress, desc):
    for s in progress_bar(range(0, n, batch_size), progress, desc):
        yield s, min(n, s + batch_size)


def input_spikes(images, timesteps, seed, mean, std, start_index=0):
    """``encode_poisson`` of a slice of the data set as a float32 tensor (N, T, C, H, W)."""
    import torch

    x = encode_poisson(images, timesteps, seed, mean=mean, std=std, start_index=start_index)
    return torch.from_numpy(x.astype(np.float32))


def _check_counts(frames, timesteps):
    if frames.ndim != 5:
        raise ValueError(f"counts input: expected (N, T, C, H, W) event counts, got shape {frames.shape}")
    if timesteps is not None and int(timesteps) != frames.shape[1]:
        raise ValueError(f"counts input: the frames have T={frames.shape[1]} bins, but timesteps={timesteps}")


def evaluate_snn(net, images, timesteps=None, seed=0, batch_size=64, progress=False,
                 encoding="signed-poisson") -> Evaluation:
    """Run a float SNN (``SpikingVGG`` or ``FoldedSNN``) in eval mode on eventsim's input spikes.

    Parameters
    ----------
    net : nn.Module
        Has ``cfg.timesteps``, ``cfg.mean``, ``cfg.std`` and
        ``forward(spikes, record=True) -> (logits, {layer: spikes})``.
    images : ndarray of float, shape (N, C, H, W), or of int8, shape (N, T, C, H, W)
        Pixels in [0, 1], or event counts with ``encoding="counts"``.
    timesteps : int, optional
        Default ``net.cfg.timesteps`` (the frames' ``T`` for counts).
    seed : int
        Encoder seed (image ``i`` uses stream ``[seed, i]``; unused for counts).
    batch_size : int
    progress : bool
    encoding : {"signed-poisson", "counts"}

    Returns
    -------
    Evaluation
    """
    import torch

    net.eval()
    if encoding == "counts":
        _check_counts(images, timesteps)
    steps = net.cfg.timesteps if timesteps is None else int(timesteps)
    logits, counts = [], {}
    neurons = {"input": int(np.prod(images.shape[-3:]))}
    for a, b in _batches(len(images), batch_size, progress, "torch"):
        if encoding == "counts":
            spikes = torch.from_numpy(np.asarray(images[a:b], np.float32))
        else:
            spikes = input_spikes(images[a:b], steps, seed, net.cfg.mean, net.cfg.std, start_index=a)
        with torch.no_grad():
            out, rec = net(spikes, record=True)
        logits.append(out.double().numpy())
        counts.setdefault("input", []).append(spikes.abs().flatten(2).sum(2).long().numpy())
        for name, s in rec.items():
            counts.setdefault(name, []).append(s.flatten(2).sum(2).long().numpy())
            neurons[name] = int(np.prod(s.shape[2:]))
    return Evaluation(np.concatenate(logits), {k: np.concatenate(v) for k, v in counts.items()}, neurons)


def evaluate_eventsim(model, images, timesteps=None, seed=0, batch_size=64, progress=False,
                      encoding="signed-poisson", backend="eventsim") -> Evaluation:
    """Run the event-driven simulator (no SAM) on the same input spikes as :func:`evaluate_snn`.

    Parameters
    ----------
    model : eventsim.Model or path
    images : ndarray of float, shape (N, C, H, W), or of int8, shape (N, T, C, H, W)
    timesteps : int, optional
        Default ``model.default_timesteps``.
    seed, batch_size, progress, encoding
        As :func:`evaluate_snn`.
    backend : {"eventsim", "reference"}
        The Numba engine or the NumPy reference (bit-exact twins; the
        reference also runs model-format-2 features the engine does not yet).

    Returns
    -------
    Evaluation
    """
    sim = Simulator(model, sam_layers=[])
    if encoding == "counts":
        _check_counts(images, timesteps)
    steps = sim.model.default_timesteps if timesteps is None else int(timesteps)
    logits, counts, neurons = [], {}, {}
    for a, b in _batches(len(images), batch_size, progress, "eventsim"):
        if encoding == "counts":
            spikes = sim.input_spikes(spikes=images[a:b])
        else:
            spikes = sim.input_spikes(images=images[a:b], timesteps=steps, seed=seed, start_index=a)
        res = sim.run(spikes=spikes, backend=backend)
        logits.append(res.logits)
        neurons = res.attrs["neurons"]
        for name in ["input"] + sim.model.spiking_layers:
            counts.setdefault(name, []).append(res.counts[name]["spikes"])
    return Evaluation(np.concatenate(logits), {k: np.concatenate(v) for k, v in counts.items()},
                      {k: neurons[k] for k in counts})


def evaluate_ann(net, images, batch_size=128, progress=False) -> Evaluation:
    """Logits of a ReLU :class:`~training.models.AnnVGG` on normalised images."""
    import torch

    net.eval()
    logits = []
    for a, b in _batches(len(images), batch_size, progress, "ann"):
        with torch.no_grad():
            x = net.normalize(torch.as_tensor(images[a:b], dtype=torch.float32))
            logits.append(net(x).double().numpy())
    return Evaluation(np.concatenate(logits))
