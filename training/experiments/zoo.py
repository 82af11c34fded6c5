"""Trained models for the experiments, cached on disk and keyed by their recipe.

Every network an experiment needs (the ReLU VGG, surrogate-gradient SNNs at
several leaks, the converted SNN) is described by a *recipe*: a JSON-able
dict of everything that determines its weights (architecture, image size,
``T``, ``lambda``, epochs, training items, learning rate, seeds, and
:data:`CACHE_VERSION`).  The cache entry is the folder
``<root>/<kind>-<sha256(recipe)[:16]>/`` holding

``checkpoint.pt``
    A :mod:`training.checkpoint` file (state dicts only, read with
    ``torch.load(weights_only=True)``); written after every epoch, so a
    killed run resumes where it stopped.
``meta.json``
    The recipe, training time and history; written last, so its presence
    marks a complete entry.
``model.h5``, ``model-<H>x<W>.h5``
    eventsim model files exported from the checkpoint on first use (the
    second for other input sizes, e.g. the 64x128 composites).

The root is ``--cache-dir``, else ``$EVENTSIM_CACHE_DIR``, else
``~/.cache/eventsim/experiments``.  A missing entry is trained (unless
``allow_train=False``, where it is an error naming the recipe); an entry
whose files cannot be read, or whose recipe differs from its key, is a
:class:`CacheError` that names the folder to delete.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import replace
from pathlib import Path

from eventsim import load_model, save_model
from eventsim.io import atomic_output
from eventsim.errors import EventsimError

from ..checkpoint import network_from_checkpoint, read_checkpoint, save_checkpoint
from ..convert import convert
from ..data import channel_stats
from ..errors import CheckpointError
from ..export import build_model
from ..models import NetConfig
from ..train import Trainer, TrainOptions

#: Bump when a code change alters what a recipe trains to; old entries are then ignored.
CACHE_VERSION = 1


class CacheError(EventsimError, ValueError):
    """A cache folder that is unusable (corrupt, mismatched) or an entry that is missing when training is off."""


def cache_root(path=None) -> Path:
    """The cache root: ``path``, else ``$EVENTSIM_CACHE_DIR``, else ``~/.cache/eventsim/experiments``."""
    root = Path(path or os.environ.get("EVENTSIM_CACHE_DIR") or Path.home() / ".cache" / "eventsim" / "experiments")
    if root.exists() and not root.is_dir():
        raise CacheError(f"cache dir {root} exists and is not a folder; pass --cache-dir DIR with a folder")
    return root


def recipe_key(recipe: dict) -> str:
    """``<kind>-<first 16 hex digits of sha256(canonical JSON)>``."""
    blob = json.dumps({**recipe, "cache_version": CACHE_VERSION}, sort_keys=True, separators=(",", ":"))
    return f"{recipe['kind']}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


class ModelZoo:
    """Get-or-train access to cached networks.

    Parameters
    ----------
    root : str or Path, optional
        See :func:`cache_root`.
    allow_train : bool
        Train missing entries (default); ``False`` makes them a :class:`CacheError`.
    data : callable
        ``data(split, n, size) -> (images, labels)``; the experiments pass a
        memoising loader.
    progress : bool
        Progress bars while training.
    log : callable
        One line of text per event.
    """

    def __init__(self, root=None, allow_train=True, data=None, progress=True, log=print):
        self.root = cache_root(root)
        self.allow_train, self.data, self.progress, self.log = allow_train, data, progress, log
        self.trained_seconds = 0.0

    # ----------------------------------------------------------------- entries
    def entry(self, recipe: dict) -> Path:
        return self.root / recipe_key(recipe)

    def _load(self, recipe):
        """The network of a complete entry, or ``None`` if the entry is absent or incomplete."""
        folder = self.entry(recipe)
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise CacheError(f"cache entry {folder} is corrupt (meta.json: {exc}); delete that folder to retrain") \
                from None
        if not isinstance(meta, dict) or meta.get("recipe") != json.loads(json.dumps(recipe)):
            raise CacheError(f"cache entry {folder} holds another recipe than its name says; delete it to retrain")
        try:
            net = network_from_checkpoint(read_checkpoint(folder / "checkpoint.pt"), str(folder / "checkpoint.pt"))
        except (CheckpointError, FileNotFoundError) as exc:
            raise CacheError(f"cache entry {folder} is corrupt ({exc}); delete that folder to retrain") from None
        return net.eval(), meta

    def _need_training(self, recipe):
        if not self.allow_train:
            raise CacheError(f"no cached model for {recipe['kind']} recipe {json.dumps(recipe, sort_keys=True)} "
                             f"in {self.root} (looked for {recipe_key(recipe)}); run without --no-train to train it")
        folder = self.entry(recipe)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _finish(self, folder, recipe, seconds, extra=None):
        meta = {"recipe": recipe, "key": folder.name, "train_seconds": seconds, "created": time.time(),
                **(extra or {})}
        with atomic_output(folder / "meta.json", suffix=".json") as tmp:
            tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
        self.trained_seconds += seconds
        return meta

    # ------------------------------------------------------------- networks
    def trained(self, recipe: dict):
        """A trained ``SpikingVGG`` (``kind="snn"``) or ``AnnVGG`` (``kind="ann"``) and its meta dict.

        ``recipe`` keys: ``kind, arch, size, timesteps, leak, epochs, train_size, val_size, lr,
        batch_size, dropout, seed, data_seed``.
        """
        found = self._load(recipe)
        if found is not None:
            return found
        folder = self._need_training(recipe)
        kind, size = recipe["kind"], (recipe["size"], recipe["size"])
        opts = TrainOptions(epochs=recipe["epochs"], batch_size=recipe["batch_size"], lr=recipe["lr"],
                            train_size=recipe["train_size"], val_size=recipe["val_size"],
                            data_seed=recipe["data_seed"], seed=recipe["seed"], threads=1)
        train = self.data("train", recipe["train_size"], recipe["size"])
        val = self.data("val", recipe["val_size"], recipe["size"])
        ckpt = folder / "checkpoint.pt"
        log = lambda msg: self.log(f"[{folder.name}] {msg}")   # noqa: E731
        if ckpt.is_file():
            log("resuming an interrupted training run")
            try:
                trainer = Trainer.resume(ckpt, log)
            except CheckpointError as exc:
                raise CacheError(f"cache entry {folder} holds an unreadable partial run ({exc}); "
                                 "delete that folder to retrain") from None
        else:
            mean, std = channel_stats(train[0][:1000])
            cfg = NetConfig(arch=recipe["arch"], input_shape=(3,) + size, timesteps=recipe["timesteps"],
                            leak=recipe["leak"] if kind == "snn" else 1.0, norm="bntt" if kind == "snn" else "none",
                            mean=mean, std=std, dropout=recipe["dropout"])
            log(f"training {kind} {recipe['arch']} (T={recipe['timesteps']}, leak={recipe['leak']}) "
                f"for {opts.epochs} epoch(s) on {opts.train_size} images")
            trainer = Trainer(kind, cfg, opts, log)
        trainer.fit(ckpt, train, val, progress=self.progress, extra={"name": folder.name, "recipe": recipe})
        seconds = float(sum(h["seconds"] for h in trainer.history))
        meta = self._finish(folder, recipe, seconds, {"history": trainer.history})
        log(f"trained in {seconds:.0f} s; final validation accuracy {trainer.history[-1]['val_acc']:.3f}")
        return trainer.net.eval(), meta

    def converted(self, ann_recipe: dict, timesteps: int, scale: float, calibration: int):
        """The ANN of ``ann_recipe`` converted by Algorithm 1 (threshold balancing), and its meta dict."""
        recipe = {"kind": "converted", "ann": ann_recipe, "timesteps": int(timesteps), "scale": float(scale),
                  "calibration": int(calibration)}
        found = self._load(recipe)
        if found is not None:
            return found
        ann, _ = self.trained(ann_recipe)
        folder = self._need_training(recipe)
        images, _ = self.data("train", calibration, ann_recipe["size"])
        t0 = time.perf_counter()
        snn, thresholds = convert(ann, images, timesteps, scale=scale, seed=ann_recipe["seed"],
                                  progress=self.progress)
        seconds = time.perf_counter() - t0
        save_checkpoint(folder / "checkpoint.pt", "snn", snn, extra={"thresholds": thresholds, "recipe": recipe})
        meta = self._finish(folder, recipe, seconds, {"thresholds": thresholds})
        self.log(f"[{folder.name}] converted (T={timesteps}, threshold scale {scale}) in {seconds:.0f} s")
        return snn.eval(), meta

    # ------------------------------------------------------------ model files
    def model(self, net, meta: dict, input_shape=None):
        """The eventsim model of a cached SNN (its file is exported on first use), optionally for another input size.

        Parameters
        ----------
        net : SpikingVGG
        meta : dict
            From :meth:`trained` or :meth:`converted`.
        input_shape : tuple of int, optional
            ``(C, H, W)``; only architectures ending in global pooling run on
            other sizes.
        """
        folder = self.root / meta["key"]
        shape = tuple(net.cfg.input_shape if input_shape is None else input_shape)
        name = "model.h5" if shape == tuple(net.cfg.input_shape) else f"model-{shape[1]}x{shape[2]}.h5"
        path = folder / name
        if path.is_file():
            try:
                return load_model(path)
            except EventsimError as exc:
                raise CacheError(f"cache entry {folder} has a corrupt {name} ({exc}); delete that file") from None
        if shape != tuple(net.cfg.input_shape):
            net = _resized(net, shape)
        model = build_model(net, name=meta["key"], provenance={"source": "training.experiments",
                                                               "recipe": meta["recipe"]})
        save_model(model, path)
        return model


def _resized(net, shape):
    """A copy of a global-pooling SNN for another input size (same weights)."""
    from ..models import SpikingVGG

    if "G" not in net.cfg.arch:
        raise CacheError(f"architecture {','.join(net.cfg.arch)} has no global pooling; it cannot run on {shape}")
    other = SpikingVGG(replace(net.cfg, input_shape=tuple(shape)))
    other.load_state_dict(net.state_dict())
    return other.eval()
