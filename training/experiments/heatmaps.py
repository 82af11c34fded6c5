"""Heatmaps and accuracies for the experiments: SAM from eventsim, Grad-CAM and SNN-crafted Grad-CAM from torch.

SAM always comes from the event-driven simulator running the exported
model file; the two Grad-CAMs come from the float networks through
:mod:`training.gradcam`.  The SNN-crafted Grad-CAM is computed on exactly the
input spikes eventsim encodes (:func:`eventsim.encode_poisson` with the same
seed and image indices).
"""
from __future__ import annotations

import numpy as np
import torch

from eventsim import Simulator
from eventsim.progress import progress_bar

from .. import metrics
from ..errors import ConfigError
from ..evaluate import evaluate_ann, evaluate_eventsim, input_spikes
from ..gradcam import GradCAM, SNNGradCAM
from ..models import parse_arch


def conv_names(arch) -> list[str]:
    """Conv layer names (``conv1``, ...) of an architecture string, without building it."""
    return [f"conv{i + 1}" for i in range(sum(tok.isdigit() for tok in parse_arch(arch)))]


def check_layers(layers, arch) -> tuple:
    """``layers`` if every one is a conv layer of ``arch``, else :class:`ConfigError` listing the choices."""
    valid = conv_names(arch)
    unknown = [name for name in layers if name not in valid]
    if not layers or unknown:
        raise ConfigError(f"--layers: {unknown or 'none given'} are not conv layers of {arch}; choose from {valid}")
    return tuple(layers)


def simulate(model, images, layers, gamma, seed=0, progress=False):
    """eventsim run with SAM at ``layers``; returns the :class:`eventsim.Result` (its maps checked finite)."""
    sim = Simulator(model, sam_gamma=gamma, sam_layers=list(layers))
    result = sim.run(images=np.asarray(images, np.float32), seed=seed, progress=progress)
    _check_finite(result.sam, "SAM")
    return result


def ann_gradcam(ann, images, labels, layers, batch=64, progress=False) -> dict:
    """Grad-CAM of the ReLU VGG for the ground-truth ``labels``: ``{layer: float32 (N, h, w)}``."""
    out = {name: [] for name in layers}
    with GradCAM(ann, layers) as cam:
        for a in progress_bar(range(0, len(images), batch), progress, "Grad-CAM"):
            maps = cam(torch.as_tensor(images[a:a + batch]), labels[a:a + batch])
            for name in layers:
                out[name].append(maps[name].numpy())
    return _check_finite({k: np.concatenate(v) for k, v in out.items()}, "ANN Grad-CAM")


def snn_gradcam(snn, images, labels, layers, seed=0, batch=16, progress=False) -> dict:
    """SNN-crafted Grad-CAM (Eq. 9-10) on eventsim's input spikes: ``{layer: float32 (N, T, h, w)}``."""
    cfg = snn.cfg
    out = {name: [] for name in layers}
    with SNNGradCAM(snn, layers) as cam:
        for a in progress_bar(range(0, len(images), batch), progress, "SNN Grad-CAM"):
            spikes = input_spikes(images[a:a + batch], cfg.timesteps, seed, cfg.mean, cfg.std, start_index=a)
            maps = cam(spikes, labels[a:a + batch])
            for name in layers:
                out[name].append(maps[name].numpy())
    return _check_finite({k: np.concatenate(v) for k, v in out.items()}, "SNN Grad-CAM")


def ann_accuracy(ann, images, labels) -> float:
    """Fraction in [0, 1] of correct ANN predictions."""
    return evaluate_ann(ann, np.asarray(images, np.float32)).accuracy(labels)


def eventsim_accuracy(model, images, labels, seed=0, progress=False) -> float:
    """Fraction in [0, 1] of correct eventsim predictions (no SAM), encoded and run batch by batch."""
    return evaluate_eventsim(model, np.asarray(images, np.float32), seed=seed, progress=progress).accuracy(labels)


def spikes_per_step(result, layers) -> dict:
    """Spikes per step summed over images, divided by the layer's largest step (paper Fig. 6b): ``{layer: (T,)}``."""
    out = {}
    for name in layers:
        per_step = result.counts[name]["spikes"].sum(axis=0).astype(np.float64)
        out[name] = per_step / per_step.max() if per_step.max() > 0 else per_step
    return out


def time_sum(maps) -> np.ndarray:
    """One map per image from per-step maps: ``(N, T, h, w) -> (N, h, w)`` (sum over steps)."""
    return np.asarray(maps, np.float64).sum(axis=1)


def shuffled(maps: dict) -> dict:
    """Each image gets the maps of the next image (a label-free, image-agnostic baseline)."""
    return {k: np.roll(v, 1, axis=0) for k, v in maps.items()}


def _check_finite(maps: dict, what: str) -> dict:
    """Raise if a heatmap holds NaN or infinity (a diverged network), naming the layer."""
    for name, m in maps.items():
        if not np.all(np.isfinite(m)):
            raise ConfigError(f"{what} at {name} is not finite; the network diverged")
    return maps


def center_prior(n: int, shape) -> np.ndarray:
    """A label-free baseline map: an isotropic Gaussian at the image centre, sigma = side / 4; (n, H, W)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    g = np.exp(-(((yy - (h - 1) / 2) / (h / 4)) ** 2 + ((xx - (w - 1) / 2) / (w / 4)) ** 2) / 2)
    return np.broadcast_to(g, (n, h, w)).copy()


def mean_sem(values) -> dict:
    """``{"mean", "sem"}`` of per-image values (standard error of the mean)."""
    v = np.asarray(values, np.float64)
    sem = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "sem": sem}


def localization(maps: dict, reference: dict, layers, size) -> dict:
    """Localization error (Section 5.1) per layer: ``{layer: {"mean", "sem", "best_step_mean"}}``."""
    out = {}
    for name in layers:
        err, step = metrics.localization_error(maps[name], reference[name], size=size)
        out[name] = {**mean_sem(err), "best_step_mean": float(np.mean(step))}
    return out


def ground_truth(maps, masks) -> dict:
    """Pointing game, energy inside the mask and IoU at 0.5 of single maps (N, h, w), as means over images."""
    return {"pointing": float(np.mean(metrics.pointing_game(maps, masks))),
            "energy": float(np.mean(metrics.mask_energy(maps, masks))),
            "iou": float(np.mean(metrics.iou_at_threshold(maps, masks, 0.5)))}
