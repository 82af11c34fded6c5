"""Arguments and actions of ``eventsim run-dataset`` and ``eventsim merge`` (wired in :mod:`eventsim.cli`)."""
from __future__ import annotations

import argparse


def add_run_dataset_arguments(p: argparse.ArgumentParser) -> None:
    """``eventsim run-dataset MODEL --dataset D --out DIR [...]``."""
    p.add_argument("model", help="model file (.h5); 'default' for the shipped model")
    p.add_argument("--dataset", required=True,
                   help="synthshapes[:SPLIT] | synthshapes-dvs | folder:PATH | npy:PATH (docs/scaling.md)")
    p.add_argument("--n", type=int, help="number of items 0..N-1 (default: the whole data set)")
    p.add_argument("--out", required=True, help="run folder (created; rerunning into it resumes)")
    p.add_argument("--shard-size", type=int, default=64, help="images per shard and per task (default 64)")
    p.add_argument("--scheduler", help="local[:W] (Dask LocalCluster, W worker processes) or tcp://HOST:PORT; "
                                       "default: in this process")
    p.add_argument("--sam-store", choices=("none", "last", "mean", "all"), default="mean",
                   help="SAM kept per image and layer (default mean over steps)")
    p.add_argument("--sam-dtype", choices=("float16", "float32"), default="float16")
    p.add_argument("--masks", action="store_true",
                   help="score SAM against the data set's object masks (pointing game, energy in mask)")
    p.add_argument("--timesteps", type=int, help="T (default: the model's)")
    p.add_argument("--gamma", type=float, default=0.5, help="SAM kernel steepness (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="encoder seed (default 0)")
    p.add_argument("--sam-layers", help="comma-separated spiking layers (default: every conv layer)")
    p.add_argument("--convention", choices=("paper", "reference"), default="paper", help="SAM convention")
    p.add_argument("--connect-timeout", type=float, default=10.0,
                   help="seconds to wait for a tcp:// scheduler (default 10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_dataset_command(args) -> int:
    """Run ``eventsim run-dataset`` from parsed arguments and print what it did."""
    from .assets import default_model
    from .dataset_run import run_dataset

    model = default_model() if args.model == "default" else args.model
    layers = None if args.sam_layers is None else [s for s in args.sam_layers.split(",") if s]
    report = run_dataset(model, args.dataset, args.out, n=args.n, shard_size=args.shard_size,
                         scheduler=args.scheduler, sam_store=args.sam_store, sam_dtype=args.sam_dtype,
                         masks=args.masks, timesteps=args.timesteps, seed=args.seed, gamma=args.gamma,
                         sam_layers=layers, sam_convention=args.convention,
                         progress=False if args.no_progress else None, connect_timeout=args.connect_timeout)
    s = report.summary
    print(f"{report.images} image(s) in {report.shards} shard(s): {report.computed} computed, "
          f"{report.skipped} already done; {report.seconds:.1f} s"
          + (f" ({report.images_per_second:.1f} images/s)" if report.computed else ""))
    if "accuracy" in s:
        print(f"accuracy {s['accuracy']:.4f}")
    print(f"wrote {report.out}/summary.json and summary.md; join the shards with 'eventsim merge {report.out} "
          f"--out ALL.h5'")
    return 0


def add_merge_arguments(p: argparse.ArgumentParser) -> None:
    """``eventsim merge DIR --out ALL.h5``."""
    p.add_argument("dir", help="run folder of 'eventsim run-dataset'")
    p.add_argument("--out", required=True, help="merged file (.h5) of virtual datasets over the shards")


def merge_command(args) -> int:
    """Merge a run's shards and rewrite its summary."""
    from .dataset_summary import write_summary
    from .shards import merge

    out = merge(args.dir, args.out)
    summary = write_summary(args.dir)
    print(f"merged {summary['images']} image(s) from {summary['run']['shards']} shard(s) into {out} "
          f"(virtual datasets; keep the shards beside it)")
    print(f"wrote {args.dir}/summary.json and summary.md")
    return 0
