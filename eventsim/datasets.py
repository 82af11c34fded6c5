"""Data sets for ``eventsim run-dataset``: a pluggable registry of image sources.

A data set is named by a string ``KIND[:ARG]``:

``synthshapes[:SPLIT]``
    The procedural SynthShapes set (:mod:`eventsim.synthshapes`, NumPy only), split
    ``test`` by default, rendered at the model's input size, with labels and
    object masks.  Item ``i`` depends only on ``(seed 0, split, i)``; the set
    is procedural, so ``n`` may exceed the split's default length (2000).
``folder:PATH``
    ``PATH/<class>/*.{png,jpg,jpeg,bmp}`` (classes = sorted folder names, as
    ``training.folders.ImageFolder``) or a flat folder of images (no labels).
    Images are read with Pillow and resized bilinearly to the model's input.
``npy:PATH``
    ``PATH`` is a float ``.npy`` array ``(N, C, H, W)`` in [0, 1]; optional
    ``<stem>.labels.npy`` (int, ``(N,)``) and ``<stem>.masks.npy`` (bool,
    ``(N, H, W)``) beside it are picked up.  Read with memory mapping, so a
    shard reads only its own images.
``synthshapes-dvs``
    Reserved for the event-camera issue (``eventsim.events``); not built yet.

A source is reopened from its name inside every worker (only the name
travels), so ``PATH`` must be visible to every worker.  New kinds are added
with :func:`register_dataset`; a source may yield input spikes instead of
images (:class:`Batch`), as event streams will.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DatasetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass
class Batch:
    """Items ``start..stop-1`` of a source.

    Attributes
    ----------
    images : ndarray of float32, shape (n, C, H, W), or None
        Pixels in [0, 1] (Poisson-encoded by the run).
    spikes : ndarray of int8, shape (n, T, C, H, W), or None
        Input spikes, for sources that are already events.
    labels : ndarray of int64, shape (n,), or None
    masks : ndarray of bool, shape (n, H, W), or None
    """

    images: np.ndarray | None = None
    spikes: np.ndarray | None = None
    labels: np.ndarray | None = None
    masks: np.ndarray | None = None


class Source:
    """Base class of data set sources.

    Subclasses set ``name`` (the string that reopens them), ``length``
    (the default number of items), ``unbounded`` (items exist beyond
    ``length``, as in a procedural set), ``has_labels`` and ``has_masks``,
    and implement :meth:`load`.
    """

    name: str = ""
    length: int = 0
    unbounded: bool = False
    has_labels: bool = False
    has_masks: bool = False

    def __len__(self) -> int:
        return self.length

    def load(self, start: int, stop: int, masks: bool = False) -> Batch:
        """Items ``start..stop-1``; masks only when asked (and available)."""
        raise NotImplementedError


#: kind -> factory(arg, input_shape) -> Source
_REGISTRY: dict[str, Callable] = {}


def register_dataset(kind: str, factory: Callable, replace: bool = False) -> None:
    """Make ``KIND[:ARG]`` resolve to ``factory(arg, input_shape)``.

    Parameters
    ----------
    kind : str
        The part of the name before the first ``:``.
    factory : callable
        ``factory(arg: str or None, input_shape: (C, H, W)) -> Source``.
        It must be importable by workers (a module-level function).
    replace : bool
        Allow replacing an existing kind.
    """
    if kind in _REGISTRY and not replace:
        raise ValueError(f"data set kind {kind!r} is already registered")
    _REGISTRY[kind] = factory


def kinds() -> tuple:
    """Registered data set kinds."""
    return tuple(sorted(_REGISTRY))


def open_dataset(name: str, input_shape) -> Source:
    """The source named ``name`` for a model taking ``input_shape = (C, H, W)``.

    Raises
    ------
    DatasetError
        For an unknown kind or an unreadable source, naming it.
    """
    kind, _, arg = str(name).partition(":")
    if kind not in _REGISTRY:
        raise DatasetError(f"unknown data set {name!r}: expected one of "
                           f"{', '.join(k + ('' if k.startswith('synth') else ':PATH') for k in kinds())}")
    return _REGISTRY[kind](arg or None, tuple(int(v) for v in input_shape))


def canonical_name(name: str) -> str:
    """``name`` with a PATH argument made absolute (so workers elsewhere find the same file)."""
    kind, sep, arg = str(name).partition(":")
    if kind in ("folder", "npy") and arg:
        return f"{kind}:{Path(arg).expanduser().resolve()}"
    return name


class SynthShapesSource(Source):
    """SynthShapes items ``0..length-1`` of one split at the model's input size."""

    unbounded = True

    def __init__(self, split, input_shape):
        from .synthshapes import DEFAULT_LENGTH, SPLITS, SynthShapes

        split = split or "test"
        if split not in SPLITS:
            raise DatasetError(f"synthshapes: unknown split {split!r}; expected one of {sorted(SPLITS)}")
        if input_shape[0] != 3:
            raise DatasetError(f"synthshapes images are RGB, but the model takes {input_shape[0]} channel(s)")
        self.name = f"synthshapes:{split}"
        self.length = DEFAULT_LENGTH[split]
        self.data = SynthShapes(split, size=input_shape[1:], length=2**31 - 1)
        self.has_labels = self.has_masks = True

    def load(self, start, stop, masks=False):
        images, labels, mask_arr, _ = self.data.arrays(start, stop)
        return Batch(images=images, labels=labels, masks=mask_arr if masks else None)


def _synthshapes_dvs(arg, input_shape):
    raise DatasetError("data set 'synthshapes-dvs' needs the event-camera reader (eventsim.events, "
                       "'eventsim run --events', issue: event-camera streams), which is not built yet; "
                       "it will register itself here with eventsim.datasets.register_dataset")


class NpySource(Source):
    """A float ``.npy`` array ``(N, C, H, W)``, with optional ``<stem>.labels.npy`` / ``<stem>.masks.npy``."""

    def __init__(self, path, input_shape):
        if not path:
            raise DatasetError("npy: give the array's path, as npy:PATH")
        path = Path(path)
        self.name = f"npy:{path}"
        self.images = _open_npy(path, "images")
        if self.images.ndim != 4 or tuple(self.images.shape[1:]) != tuple(input_shape):
            raise DatasetError(f"{path}: expected images of shape (N, {', '.join(map(str, input_shape))}) "
                               f"for this model, got {self.images.shape}")
        if self.images.dtype.kind != "f":
            raise DatasetError(f"{path}: expected a float array in [0, 1], got dtype {self.images.dtype}")
        self.length = len(self.images)
        stem = path.with_suffix("")
        self.labels = self._beside(Path(f"{stem}.labels.npy"), "labels", (self.length,), "iu")
        self.masks = self._beside(Path(f"{stem}.masks.npy"), "masks", (self.length,) + tuple(input_shape[1:]), "b")
        self.has_labels, self.has_masks = self.labels is not None, self.masks is not None

    def _beside(self, path, label, shape, kinds_ok):
        if not path.exists():
            return None
        arr = _open_npy(path, label)
        if tuple(arr.shape) != shape or arr.dtype.kind not in kinds_ok:
            raise DatasetError(f"{path}: expected {label} of shape {shape} and dtype kind {kinds_ok!r}, "
                               f"got {arr.shape} {arr.dtype}")
        return arr

    def load(self, start, stop, masks=False):
        return Batch(images=np.array(self.images[start:stop], np.float32),
                     labels=None if self.labels is None else np.array(self.labels[start:stop], np.int64),
                     masks=np.array(self.masks[start:stop], bool) if masks and self.masks is not None else None)


def _open_npy(path: Path, label):
    if not path.is_file():
        raise DatasetError(f"{label} file not found: {path}")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DatasetError(f"{path}: cannot read {label} as a plain .npy array ({exc})") from None


class FolderSource(Source):
    """``PATH/<class>/*.png`` (labelled, classes sorted by name) or a flat folder of images (unlabelled)."""

    def __init__(self, path, input_shape):
        if not path:
            raise DatasetError("folder: give the folder, as folder:PATH")
        root = Path(path)
        self.name, self.shape = f"folder:{root}", input_shape
        if not root.is_dir():
            raise DatasetError(f"data set folder not found: {root}")
        if not os.access(root, os.R_OK | os.X_OK):
            raise DatasetError(f"data set folder is not readable: {root}")
        try:
            flat = _images_in(root)
            classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
            if flat:
                self.files, self.label_of = flat, None
            else:
                self.files = [f for c in classes for f in _images_in(root / c)]
                self.label_of = [i for i, c in enumerate(classes) for _ in _images_in(root / c)]
        except OSError as exc:
            raise DatasetError(f"cannot list data set folder {root}: {exc}") from None
        if not self.files:
            raise DatasetError(f"{root}: no images ({'/'.join(IMAGE_EXTENSIONS)}) in it or in class subfolders")
        self.classes = None if flat else tuple(classes)
        self.length, self.has_labels = len(self.files), not flat

    def load(self, start, stop, masks=False):
        images = np.stack([read_image(f, self.shape) for f in self.files[start:stop]])
        labels = None if self.label_of is None else np.array(self.label_of[start:stop], np.int64)
        return Batch(images=images, labels=labels)


def _images_in(folder: Path):
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def read_image(path, input_shape) -> np.ndarray:
    """One image file as float32 ``(C, H, W)`` in [0, 1], bilinearly resized (Pillow), RGB or grey."""
    try:
        from PIL import Image
    except ModuleNotFoundError:
        raise DatasetError("reading image folders needs Pillow: pip install pillow") from None
    c, h, w = input_shape
    if c not in (1, 3):
        raise DatasetError(f"image folders give 1 or 3 channels, the model takes {c}")
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if c == 3 else "L").resize((w, h), Image.BILINEAR)
            arr = np.asarray(im, np.float32) / 255.0
    except OSError as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from None
    return arr.transpose(2, 0, 1).copy() if c == 3 else arr[None].copy()


register_dataset("synthshapes", SynthShapesSource)
register_dataset("synthshapes-dvs", _synthshapes_dvs)
register_dataset("npy", NpySource)
register_dataset("folder", FolderSource)
