"""``eventsim experiment NAME [--quick] --out DIR``: reproduce one of the paper's experiments.

Each experiment writes ``report.md`` (the paper's numbers beside ours and a
verdict per claim), ``results.json`` and PNG figures into ``--out``.
Trained networks are reused through the cache of :mod:`training.experiments.zoo`.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from ..errors import ConfigError
from . import EXPERIMENTS, load
from .common import FULL, QUICK, Context, write_outputs
from .heatmaps import check_layers
from .zoo import ModelZoo


def parse_epsilons(text: str) -> tuple:
    """``"0,1/255,4/255"`` -> floats; each must be a finite number >= 0 (pixel units)."""
    from ..attacks import check_epsilon

    out = []
    for part in (p.strip() for p in text.split(",")):
        try:
            value = float(Fraction(part))
        except (ValueError, ZeroDivisionError):
            raise ConfigError(f"--epsilons: {part!r} is not a number (use e.g. 4/255 or 0.0157)") from None
        out.append(check_epsilon(value))
    if not out:
        raise ConfigError("--epsilons: give at least one value")
    return tuple(out)


def build_parser(prog="eventsim experiment") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0],
                                epilog="experiments: " + ", ".join(f"{k} ({v[1]})" for k, v in EXPERIMENTS.items()))
    p.add_argument("name", metavar="NAME", help=f"one of {', '.join(EXPERIMENTS)}, or 'all'")
    p.add_argument("--out", required=True, help="output folder (created; for 'all', one sub-folder per experiment)")
    p.add_argument("--quick", action="store_true", help="tiny models and few images (a few minutes; the tests)")
    p.add_argument("--cache-dir", help="trained-model cache (default $EVENTSIM_CACHE_DIR or "
                   "~/.cache/eventsim/experiments)")
    p.add_argument("--no-train", action="store_true", help="use cached models only; a missing one is an error")
    p.add_argument("--layers", help="comma-separated conv layers to analyse (default: the scale's three depths)")
    p.add_argument("--epsilons", help="fgsm: comma-separated attack strengths in pixel units, e.g. 0,2/255,4/255")
    p.add_argument("--images", type=int, help="override the number of test images for heatmap metrics")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv, prog="eventsim experiment") -> int:
    args = build_parser(prog).parse_args(list(argv))
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    if args.name not in EXPERIMENTS and args.name != "all":
        raise ConfigError(f"unknown experiment {args.name!r}; choose from {', '.join(EXPERIMENTS)} or 'all'")
    scale = QUICK if args.quick else FULL
    if args.images is not None:
        if args.images < 2:
            raise ConfigError(f"--images: expected at least 2, got {args.images}")
        scale = replace(scale, map_n=args.images)
    layers = scale.layers if args.layers is None else tuple(s for s in args.layers.split(",") if s.strip())
    layers = check_layers([s.strip() for s in layers], scale.arch)
    epsilons = parse_epsilons(args.epsilons) if args.epsilons else None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} exists and is not a folder")
    command = " ".join([prog] + [shlex.quote(a) for a in argv])
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    zoo = ModelZoo(args.cache_dir, allow_train=not args.no_train, progress=not args.quiet, log=log)
    data_cache: dict = {}
    for name in names:
        folder = out / name if args.name == "all" else out
        folder.mkdir(parents=True, exist_ok=True)
        module = load(name)
        ctx = Context(scale, folder, zoo, progress=not args.quiet, log=log, layers=layers, epsilons=epsilons,
                      data_cache=data_cache)
        zoo.trained_seconds = 0.0
        started = time.perf_counter()
        log(f"== {name} ({scale.name}) -> {folder}")
        results, body, claims = module.run(ctx)
        full = write_outputs(ctx, module, results, body, claims, started, command)
        verdicts = ", ".join(f"{c['reproduced']}" for c in claims)
        print(f"{name}: wrote {folder / 'report.md'}, results.json and {len(ctx.figures)} figure(s) in "
              f"{full['runtime_seconds']:.0f} s; claims reproduced: {verdicts}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
