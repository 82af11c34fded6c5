"""Training checkpoints: plain dicts of state dicts, read with ``torch.load(weights_only=True)``.

A checkpoint is one ``torch.save`` of a dict::

    format       "eventsim-checkpoint"
    version      1
    kind         "snn" or "ann"
    net          NetConfig.to_dict()      (architecture, T, leak, normalisation ...)
    state_dict   the network's state dict (tensors only)
    epoch        epochs completed
    train        training options (dict of numbers / strings)
    optimizer, scheduler, generator   resume state (optional)
    history      per-epoch records (list of dicts)
    extra        anything else JSON-like (accuracies, the command, conversion info)

No pickled objects: everything is a tensor, number, string, list or dict, so
``weights_only=True`` loads it and a hostile file cannot run code.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from eventsim.io import atomic_output

from .errors import CheckpointError, ConfigError
from .models import NetConfig, build_network

FORMAT = "eventsim-checkpoint"
VERSION = 1


def save_checkpoint(path, kind, net, epoch=0, train=None, optimizer=None, scheduler=None, generator=None,
                    history=None, extra=None) -> Path:
    """Write a checkpoint atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or Path
    kind : {"snn", "ann"}
    net : SpikingVGG or AnnVGG
        Its ``cfg`` and ``state_dict()`` are stored.
    epoch : int
    train : dict, optional
    optimizer, scheduler : optional
        Objects with ``state_dict()``.
    generator : torch.Generator, optional
        Its state, so a resumed run draws the same batches.
    history : list of dict, optional
    extra : dict, optional

    Returns
    -------
    Path
    """
    ckpt = {
        "format": FORMAT, "version": VERSION, "kind": kind, "net": net.cfg.to_dict(),
        "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
        "epoch": int(epoch), "train": dict(train or {}), "history": list(history or []), "extra": dict(extra or {}),
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        ckpt["scheduler"] = scheduler.state_dict()
    if generator is not None:
        ckpt["generator"] = generator.get_state()
    with atomic_output(path, suffix=".pt") as tmp:
        torch.save(ckpt, tmp)
    return Path(path)


def read_checkpoint(path) -> dict:
    """Load and check a checkpoint dict without building the network.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file is not a readable eventsim checkpoint (corrupt, truncated,
        pickled objects, missing keys, wrong format or version).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt, truncated, or it holds "
                              f"pickled objects, which are refused): {first}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: not an eventsim training checkpoint (format {found!r}, expected {FORMAT!r}); "
                              "a bare state dict cannot be exported because it lacks the architecture")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')!r} is not supported (expected {VERSION})")
    missing = [k for k in ("kind", "net", "state_dict", "epoch") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return ckpt


def network_from_checkpoint(ckpt: dict, label="checkpoint", expect=None):
    """Build the network a checkpoint describes and load its weights.

    Parameters
    ----------
    ckpt : dict
        From :func:`read_checkpoint`.
    label : str
        File name for messages.
    expect : NetConfig, optional
        If given, the checkpoint's architecture must match it (used when
        resuming with explicit options).

    Returns
    -------
    nn.Module
        :class:`~training.models.SpikingVGG` or :class:`~training.models.AnnVGG`.

    Raises
    ------
    CheckpointError
        For a configuration that cannot be built, an architecture other than
        ``expect``, or a state dict whose keys or shapes do not fit.
    """
    try:
        cfg = NetConfig.from_dict(dict(ckpt["net"]))
        net = build_network(ckpt["kind"], cfg)
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{label}: cannot rebuild the network: {exc}") from None
    if expect is not None:
        diff = {k: (v, getattr(expect, k)) for k, v in cfg.to_dict().items()
                if k in ("arch", "input_shape", "num_classes", "timesteps", "norm", "kernel_size")
                and v != expect.to_dict()[k]}
        if diff:
            desc = "; ".join(f"{k}: checkpoint {a} vs requested {b}" for k, (a, b) in diff.items())
            raise CheckpointError(f"{label}: checkpoint is of another architecture ({desc})")
    load_state(net, ckpt["state_dict"], label)
    return net


def load_state(net, state: dict, label="checkpoint"):
    """``load_state_dict`` with a message that lists missing, unexpected and mis-shaped keys."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append(f"shape mismatch {shapes[:3]}{' ...' if len(shapes) > 3 else ''}")
        raise CheckpointError(f"{label}: weights are from another architecture than {','.join(net.cfg.arch)}: "
                              + "; ".join(parts))
    net.load_state_dict(state)
    return net


def load_network(path, expect=None):
    """Read a checkpoint file and return ``(network, checkpoint dict)``."""
    ckpt = read_checkpoint(path)
    return network_from_checkpoint(ckpt, str(path), expect), ckpt
