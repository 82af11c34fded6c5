"""``eventsim dataset export --split test --n 16 --out X.npy [--labels L.npy --masks M.npy --boxes B.npy]``.

Writes SynthShapes images as a float32 ``(N, 3, H, W)`` array in [0, 1] for
``eventsim run --images X.npy`` (NumPy only: works without PyTorch).
``--composite`` writes the two-object side-by-side images ``(N, 3, H, 2W)``
with labels ``(N, 2)``, masks ``(N, 2, H, 2W)`` and boxes ``(N, 2, 4)``.
"""
from __future__ import annotations

import argparse

import numpy as np

from eventsim.io import check_output_paths, save_npy

from .data import SPLITS, SynthShapes
from .errors import DatasetError

#: Largest image side ``--size`` accepts.
MAX_SIZE = 4096
#: Bytes the exported arrays (images, labels, masks, boxes) may take together.
MAX_EXPORT_BYTES = 4 << 30


def _save(path, array):
    save_npy(path, array)
    print(f"wrote {path}  {array.dtype} {array.shape}")


def main(argv, prog="eventsim dataset") -> int:
    p = argparse.ArgumentParser(prog=prog, description="SynthShapes data for 'eventsim run'.")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = sub.add_parser("export", help="write images (and optionally labels, masks, boxes) as .npy")
    e.add_argument("--split", choices=sorted(SPLITS), default="test")
    e.add_argument("--n", type=int, default=16, help="number of items (default 16)")
    e.add_argument("--start", type=int, default=0, help="first item index (default 0)")
    e.add_argument("--size", type=int, default=64, help="image side (default 64)")
    e.add_argument("--seed", type=int, default=0, help="data set seed (default 0)")
    e.add_argument("--composite", action="store_true", help="two objects side by side (H x 2W)")
    e.add_argument("--out", required=True, help="images .npy")
    e.add_argument("--labels", help="also write labels .npy")
    e.add_argument("--masks", help="also write object masks .npy")
    e.add_argument("--boxes", help="also write boxes (x0, y0, x1, y1) .npy")
    args = p.parse_args(argv)
    if args.n < 1 or args.start < 0:
        raise DatasetError(f"--n must be >= 1 and --start >= 0, got {args.n} and {args.start}")
    if not 16 <= args.size <= MAX_SIZE:
        raise DatasetError(f"--size must lie in [16, {MAX_SIZE}], got {args.size}")
    width = 2 * args.size if args.composite else args.size
    per_item = 4 * 3 * args.size * width + args.size * width * (2 if args.composite else 1) + 64
    if args.n * per_item > MAX_EXPORT_BYTES:
        raise DatasetError(f"--n {args.n} x --size {args.size} would need about {args.n * per_item / 2**30:.1f} GiB "
                           f"(limit {MAX_EXPORT_BYTES / 2**30:.0f} GiB); export fewer or smaller images")
    check_output_paths({"--out": args.out, "--labels": args.labels, "--masks": args.masks, "--boxes": args.boxes})
    need = 2 * (args.start + args.n) if args.composite else args.start + args.n
    ds = SynthShapes(args.split, size=args.size, seed=args.seed, length=max(need, 1))
    if args.composite:
        parts = [ds.composite(i) for i in range(args.start, args.start + args.n)]
        images, labels, masks, boxes = (np.stack([x[k] for x in parts]) for k in range(4))
    else:
        images, labels, masks, boxes = ds.arrays(args.start, args.start + args.n)
    for path, arr in ((args.out, images), (args.labels, labels), (args.masks, masks), (args.boxes, boxes)):
        if path:
            _save(path, arr)
    return 0
