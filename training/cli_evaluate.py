"""``eventsim evaluate MODEL --dataset synthshapes --split test --n N --backend eventsim|reference|torch [--json]``.

Prints the accuracy and the per-layer spike rates.  ``--backend reference``
runs the NumPy reference instead of the Numba engine (the same fixed-point
arithmetic, bit for bit; slower, but it already runs every model-format-2
feature).  ``--backend torch``
runs the float network rebuilt from the model file
(:func:`training.models.from_model_file`) on the same input spikes as
eventsim.  With ``--json`` it prints one JSON object with ``accuracy`` (a
fraction in [0, 1]), ``n``, ``spike_rates`` and the run settings.

``--dataset synthshapes-dvs`` evaluates a model taking event counts
(``input_encoding = "counts"``; other data sets need a Poisson model) on
SynthShapes-DVS streams binned into the model's ``T`` steps: synthesized
(``--cache-dir`` keeps them) or read from an ``eventsim dataset export
--dataset synthshapes-dvs`` file given as ``--root EVENTS.h5``.
"""
from __future__ import annotations

import argparse
import json
import time

from eventsim import load_model
from eventsim.assets import model_argument

from .errors import DatasetError


def _dvs_data(args, model):
    steps = args.timesteps or model.default_timesteps
    if args.root:
        from eventsim.dvs_io import EventDataset

        ds = EventDataset(args.root)
        sensor = (model.input_shape[2], model.input_shape[1], model.input_shape[0])
        if tuple(ds.sensor_size) != sensor:
            raise DatasetError(f"{args.root}: sensor {ds.sensor_size} does not fit the model's input "
                               f"{tuple(model.input_shape)} (expected sensor {sensor})")
        n = min(args.n, len(ds))
        return ds.frames(steps, 0, n, progress=not args.json), ds.labels[:n]
    from .dvs import dvs_frames

    if model.input_shape[0] != 2 or model.input_shape[1] != model.input_shape[2]:
        raise DatasetError(f"synthshapes-dvs gives two polarity channels on a square sensor; the model takes "
                           f"{tuple(model.input_shape)}")
    return dvs_frames(args.split, args.n, model.input_shape[1], args.data_seed, steps, args.cache_dir,
                      progress=not args.json)


def _data(args, model):
    size = tuple(model.input_shape[1:])
    if args.dataset == "synthshapes-dvs":
        return _dvs_data(args, model)
    if args.dataset == "synthshapes":
        from .data import SynthShapes

        ds = SynthShapes(args.split, size=size, seed=args.data_seed)
        n = min(args.n, len(ds))
        images, labels, _, _ = ds.arrays(0, n, progress=not args.json)
        return images, labels
    if not args.root:
        raise DatasetError("--dataset folder needs --root PATH (an ImageFolder or Tiny-ImageNet directory)")
    from .folders import ImageFolder

    split = "val" if args.split == "test" else args.split
    ds = ImageFolder(args.root, split=split, size=size)
    n = min(args.n, len(ds))
    images, labels = ds.arrays(0, n)
    return images, labels


def main(argv, prog="eventsim evaluate") -> int:
    p = argparse.ArgumentParser(prog=prog, description="Accuracy and per-layer spike rates of a model file.")
    p.add_argument("model", help="model file (.h5), or a packaged model: default, sparse, dvs")
    p.add_argument("--dataset", choices=("synthshapes", "synthshapes-dvs", "folder"), default="synthshapes")
    p.add_argument("--root", help="with --dataset folder: the ImageFolder / Tiny-ImageNet directory; with "
                                  "synthshapes-dvs (optional): an exported EVENTS.h5 instead of synthesizing")
    p.add_argument("--cache-dir", help="synthshapes-dvs: cache the synthesized streams here")
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--n", type=int, default=500, help="number of images (default 500)")
    p.add_argument("--backend", choices=("eventsim", "reference", "torch"), default="eventsim",
                   help="Numba engine (default), its NumPy reference twin, or the float network in PyTorch")
    p.add_argument("--timesteps", type=int, help="T (default: the model's)")
    p.add_argument("--seed", type=int, default=0, help="Poisson seed (default 0)")
    p.add_argument("--data-seed", type=int, default=0, help="SynthShapes seed (default 0)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.n < 1:
        raise DatasetError(f"--n must be >= 1, got {args.n}")
    args.model = str(model_argument(args.model))
    model = load_model(args.model)
    encoding = model.input_encoding
    if (encoding == "counts") != (args.dataset == "synthshapes-dvs"):
        raise DatasetError(f"{args.model} takes {encoding!r} input; --dataset {args.dataset} gives "
                           f"{'images' if args.dataset != 'synthshapes-dvs' else 'event counts'} (use "
                           f"{'synthshapes-dvs' if encoding == 'counts' else 'synthshapes or folder'})")
    images, labels = _data(args, model)
    t0 = time.perf_counter()
    if args.backend in ("eventsim", "reference"):
        from .evaluate import evaluate_eventsim

        ev = evaluate_eventsim(model, images, args.timesteps, args.seed, args.batch_size, progress=not args.json,
                               encoding=encoding, backend=args.backend)
    else:
        from .evaluate import evaluate_snn
        from .folded import FoldedSNN

        ev = evaluate_snn(FoldedSNN(model), images, args.timesteps, args.seed, args.batch_size,
                          progress=not args.json, encoding=encoding)
    seconds = time.perf_counter() - t0
    out = {"model": str(args.model), "backend": args.backend, "dataset": args.dataset, "split": args.split,
           "n": int(len(labels)), "timesteps": args.timesteps or model.default_timesteps, "seed": args.seed,
           "accuracy": ev.accuracy(labels), "spike_rates": ev.spike_rates(), "seconds": seconds}
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return 0
    print(f"{args.model} on {out['n']} {args.dataset} {args.split} images, backend {args.backend}, "
          f"T={out['timesteps']}: accuracy {out['accuracy']:.4f} ({seconds:.1f} s)")
    for name, rate in out["spike_rates"].items():
        print(f"  {name:>8s}: spike rate {rate:.4f}")
    return 0
