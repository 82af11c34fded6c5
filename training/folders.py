"""Image folders: the Tiny-ImageNet layout and a plain ImageFolder (NumPy + Pillow, no torchvision).

Tiny-ImageNet layout (the paper's data set, Section 5.1)::

    ROOT/wnids.txt                           optional: one class id per line
    ROOT/train/<wnid>/images/*.JPEG
    ROOT/train/<wnid>/<wnid>_boxes.txt       optional: file x0 y0 x1 y1 (tab separated)
    ROOT/val/images/*.JPEG
    ROOT/val/val_annotations.txt             file wnid x0 y0 x1 y1 (tab separated)

Plain ImageFolder layout: ``ROOT[/<split>]/<class>/*.{png,jpg,jpeg,bmp}``.

Classes are the sorted class folder names of the training split (or
``wnids.txt``); images are resized to the requested size with bilinear
filtering, boxes scaled with them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DatasetError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class FolderItem:
    """One file: its path, class index and box ``(x0, y0, x1, y1)`` in source pixels, or None."""

    path: Path
    label: int
    box: tuple | None


def _images_in(folder: Path):
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file())


def _read_boxes(path: Path, with_class: bool):
    """Parse a tab/space separated annotation file into ``{file: (wnid or None, box)}``."""
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        want = 6 if with_class else 5
        if len(parts) != want:
            raise DatasetError(f"{path}:{n}: expected {want} fields (file{' wnid' if with_class else ''} "
                               f"x0 y0 x1 y1), got {len(parts)}")
        try:
            box = tuple(int(v) for v in parts[-4:])
        except ValueError:
            raise DatasetError(f"{path}:{n}: box coordinates must be integers: {line!r}") from None
        out[parts[0]] = (parts[1] if with_class else None, box)
    return out


class ImageFolder:
    """Images, labels and boxes from a Tiny-ImageNet or ImageFolder directory.

    Parameters
    ----------
    root : str or Path
    split : {"train", "val"}
    size : tuple of int
        Output ``(H, W)``.

    Raises
    ------
    FileNotFoundError
        If ``root`` or the split folder does not exist.
    DatasetError
        For a missing ``val_annotations.txt``, an empty class folder, an
        annotation naming an unknown class or file, or no classes at all.
    """

    def __init__(self, root, split="train", size=(64, 64)):
        self.root, self.split, self.size = Path(root), split, tuple(int(v) for v in size)
        if not self.root.is_dir():
            raise FileNotFoundError(f"data set folder not found: {self.root}")
        self.classes = self._classes()
        self.items = self._tiny_val() if self._is_tiny() and split == "val" else self._class_folders()

    def _is_tiny(self):
        train = self.root / "train"
        return train.is_dir() and any((d / "images").is_dir() for d in train.iterdir() if d.is_dir())

    def _class_root(self, split):
        base = self.root / split
        return base if base.is_dir() else self.root

    def _classes(self):
        wnids = self.root / "wnids.txt"
        if wnids.is_file():
            names = [w.strip() for w in wnids.read_text().split() if w.strip()]
        else:
            names = sorted(d.name for d in self._class_root("train").iterdir()
                           if d.is_dir() and d.name not in ("train", "val", "test"))
        if not names:
            raise DatasetError(f"{self.root}: no class folders found (expected train/<class>/... or <class>/...)")
        return tuple(names)

    def _class_folders(self):
        base = self._class_root(self.split)
        if self.split != "train" and base == self.root and (self.root / "train").is_dir():
            raise FileNotFoundError(f"split folder not found: {self.root / self.split}")
        items = []
        for label, name in enumerate(self.classes):
            folder = base / name
            if not folder.is_dir():
                raise DatasetError(f"class {name!r} has no folder {folder}")
            tiny = (folder / "images").is_dir()
            files = _images_in(folder / "images" if tiny else folder)
            if not files:
                raise DatasetError(f"class folder {folder} is empty: no {'/'.join(EXTENSIONS)} images"
                                   + (" in images/" if tiny else ""))
            boxes = {}
            box_file = folder / f"{name}_boxes.txt"
            if tiny and box_file.is_file():
                boxes = _read_boxes(box_file, with_class=False)
            items += [FolderItem(f, label, boxes.get(f.name, (None, None))[1]) for f in files]
        return items

    def _tiny_val(self):
        ann = self.root / "val" / "val_annotations.txt"
        if not ann.is_file():
            raise DatasetError(f"Tiny-ImageNet validation split needs its annotations file, missing: {ann}")
        images = self.root / "val" / "images"
        index = {c: i for i, c in enumerate(self.classes)}
        items = []
        for fname, (wnid, box) in sorted(_read_boxes(ann, with_class=True).items()):
            if wnid not in index:
                raise DatasetError(f"{ann}: {fname} has class {wnid!r}, which is not a training class")
            path = images / fname
            if not path.is_file():
                raise DatasetError(f"{ann}: lists {fname}, but {path} does not exist")
            items.append(FolderItem(path, index[wnid], box))
        if not items:
            raise DatasetError(f"{ann}: lists no images")
        return items

    def __len__(self):
        return len(self.items)

    def load(self, index: int):
        """Image ``index``: float32 (3, H, W) in [0, 1], its label and its box scaled to ``size`` (or None)."""
        try:
            from PIL import Image
        except ModuleNotFoundError:
            raise DatasetError("reading image folders needs Pillow: pip install pillow") from None
        item = self.items[index]
        try:
            with Image.open(item.path) as im:
                w0, h0 = im.size
                im = im.convert("RGB").resize((self.size[1], self.size[0]), Image.BILINEAR)
                arr = np.asarray(im, np.float32) / 255.0
        except OSError as exc:
            raise DatasetError(f"cannot read image {item.path}: {exc}") from None
        box = None
        if item.box is not None:
            sx, sy = self.size[1] / w0, self.size[0] / h0
            x0, y0, x1, y1 = item.box
            box = (int(round(x0 * sx)), int(round(y0 * sy)), int(round(x1 * sx)), int(round(y1 * sy)))
        return arr.transpose(2, 0, 1).copy(), item.label, box

    def arrays(self, start=0, stop=None):
        """Images ``(N, 3, H, W)`` float32 and labels ``(N,)`` int64 of items ``start..stop-1``."""
        stop = len(self) if stop is None else min(int(stop), len(self))
        if not 0 <= start < stop:
            raise DatasetError(f"empty range [{start}, {stop}) of {self.root} ({len(self)} images)")
        loaded = [self.load(i) for i in range(start, stop)]
        return np.stack([x[0] for x in loaded]), np.array([x[1] for x in loaded], np.int64)
