"""``eventsim dataset export --split test --n 16 --out X.npy [--labels L.npy --masks M.npy --boxes B.npy]``.

Writes SynthShapes images as a float32 ``(N, 3, H, W)`` array in [0, 1] for
``eventsim run --images X.npy`` (NumPy only: works without PyTorch).
``--composite`` writes the two-object side-by-side images ``(N, 3, H, 2W)``
with labels ``(N, 2)``, masks ``(N, 2, H, 2W)`` and boxes ``(N, 2, 4)``.

``--dataset synthshapes-dvs --out EVENTS.h5 [--bins T]`` writes SynthShapes-DVS
event streams with their labels and per-bin object masks in one HDF5 file
(layout in :mod:`eventsim.dvs_io` and ``docs/events.md``).
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
#: Largest sensor side and number of mask bins of a SynthShapes-DVS export.
MAX_DVS_SIZE, MAX_DVS_BINS = 256, 1000


def _save(path, array):
    save_npy(path, array)
    print(f"wrote {path}  {array.dtype} {array.shape}")


def _export_dvs(args) -> int:
    from eventsim.dvs_io import write_event_dataset
    from eventsim.synthshapes_dvs import DEFAULT_SIZE, SynthShapesDVS

    extra = [flag for flag, v in (("--labels", args.labels), ("--masks", args.masks), ("--boxes", args.boxes),
                                  ("--composite", args.composite)) if v]
    if extra:
        raise DatasetError(f"{', '.join(extra)}: not with --dataset synthshapes-dvs, whose --out file holds the "
                           "labels and per-bin masks")
    size = DEFAULT_SIZE if args.size is None else args.size
    if not 16 <= size <= MAX_DVS_SIZE:
        raise DatasetError(f"--size must lie in [16, {MAX_DVS_SIZE}] for synthshapes-dvs, got {size}")
    if not 1 <= args.bins <= MAX_DVS_BINS:
        raise DatasetError(f"--bins must lie in [1, {MAX_DVS_BINS}], got {args.bins}")
    if args.n * args.bins * size * size > MAX_EXPORT_BYTES:
        raise DatasetError(f"--n {args.n} streams with {args.bins} mask bins of {size}x{size} would need more than "
                           f"{MAX_EXPORT_BYTES / 2**30:.0f} GiB; export fewer streams or bins")
    check_output_paths({"--out": args.out})
    ds = SynthShapesDVS(args.split, size=size, seed=args.seed, length=args.start + args.n, contrast=args.contrast,
                        contrast_sigma=args.contrast_sigma, noise_rate=args.noise_rate, amplitude=args.amplitude,
                        min_contrast=args.min_contrast)
    write_event_dataset(args.out, ds, args.start, args.n, args.bins, progress=True)
    print(f"wrote {args.out}  {args.n} SynthShapes-DVS {args.split} streams {ds.sensor_size}, "
          f"masks per bin ({args.bins} bins)")
    return 0


def main(argv, prog="eventsim dataset") -> int:
    p = argparse.ArgumentParser(prog=prog, description="SynthShapes (and SynthShapes-DVS) data for 'eventsim run'.")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = sub.add_parser("export", help="write images (and optionally labels, masks, boxes) as .npy")
    e.add_argument("--dataset", choices=("synthshapes", "synthshapes-dvs"), default="synthshapes",
                   help="images (.npy) or event streams with labels and masks (.h5)")
    e.add_argument("--split", choices=sorted(SPLITS), default="test")
    e.add_argument("--n", type=int, default=16, help="number of items (default 16)")
    e.add_argument("--start", type=int, default=0, help="first item index (default 0)")
    e.add_argument("--size", type=int, help="image side (default 64), or sensor side (synthshapes-dvs, default 32)")
    e.add_argument("--seed", type=int, default=0, help="data set seed (default 0)")
    e.add_argument("--composite", action="store_true", help="two objects side by side (H x 2W)")
    e.add_argument("--out", required=True, help="images .npy")
    e.add_argument("--labels", help="also write labels .npy")
    e.add_argument("--masks", help="also write object masks .npy")
    e.add_argument("--boxes", help="also write boxes (x0, y0, x1, y1) .npy")
    d = e.add_argument_group("synthshapes-dvs (docs/events.md)")
    d.add_argument("--bins", type=int, default=16, help="time bins of the stored masks (default 16)")
    d.add_argument("--contrast", type=float, default=0.2, help="contrast threshold C, log units (default 0.2)")
    d.add_argument("--contrast-sigma", type=float, default=0.03, help="per-pixel threshold spread (default 0.03)")
    d.add_argument("--noise-rate", type=float, default=1.0, help="noise events per pixel and second (default 1)")
    d.add_argument("--amplitude", type=float, default=3.0, help="saccade triangle side, pixels (default 3)")
    d.add_argument("--min-contrast", type=float, default=0.4,
                   help="least log contrast of the object to the background under it (default 0.4; 0 = plain "
                        "luminance)")
    args = p.parse_args(argv)
    if args.n < 1 or args.start < 0:
        raise DatasetError(f"--n must be >= 1 and --start >= 0, got {args.n} and {args.start}")
    if args.dataset == "synthshapes-dvs":
        return _export_dvs(args)
    args.size = 64 if args.size is None else args.size
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
