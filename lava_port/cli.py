"""``python -m lava_port run ...``: the ``eventsim run`` command on the Lava graph.

Takes the same arguments as ``eventsim run`` (plus ``--timeout``) and writes
the same result file layout, with ``backend = "lava"``.
"""
from __future__ import annotations

import argparse
import sys

from eventsim.cli import load_array
from eventsim.errors import EventsimError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lava_port",
                                description="Run an eventsim model as a Lava process graph (bit-exact with eventsim).")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    r = sub.add_parser("run", help="simulate a model file on images or spikes and write a result file")
    r.add_argument("model", help="model file (.h5)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help=".npy float array (N, C, H, W) in [0, 1]")
    src.add_argument("--spikes", help=".npy int array (N, T, C, H, W) in {-1, 0, 1}")
    r.add_argument("--timesteps", type=int, help="T (default: the model's)")
    r.add_argument("--gamma", type=float, default=0.5, help="SAM kernel steepness (default 0.5)")
    r.add_argument("--seed", type=int, default=0, help="encoder seed (default 0)")
    r.add_argument("--sam-layers", help="comma-separated spiking layers (default: every conv layer)")
    r.add_argument("--convention", choices=("paper", "reference"), default="paper", help="SAM convention")
    r.add_argument("--record-spikes", action="store_true", help="store every layer's spikes")
    r.add_argument("--timeout", type=float, help="seconds before the Lava run is killed (default: 60 + 0.5 per step)")
    r.add_argument("--out", required=True, help="result file (.h5)")
    return p


def _cmd_run(args) -> int:
    from eventsim._io import check_output_path
    from lava_port.api import run

    check_output_path(args.out)
    sam_layers = None if args.sam_layers is None else [s for s in args.sam_layers.split(",") if s]
    images = load_array(args.images, "images") if args.images else None
    spikes = load_array(args.spikes, "spikes") if args.spikes else None
    result = run(args.model, spikes, images=images, timesteps=args.timesteps, seed=args.seed, sam_gamma=args.gamma,
                 sam_layers=sam_layers, sam_convention=args.convention, record_spikes=args.record_spikes,
                 timeout=args.timeout)
    result.save(args.out)
    print(f"simulated {result.logits.shape[0]} image(s) x {result.timesteps} steps with lava; wrote {args.out}")
    print(f"predictions: {result.predictions.tolist()}")
    for name, rate in result.spike_rates().items():
        print(f"  {name:>12s}: spike rate {rate:.4f}")
    return 0


def main(argv=None) -> int:
    """Entry point of ``python -m lava_port``; returns the exit status (2 on a user error)."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.command != "run":
        parser.print_help()
        return 2
    try:
        return _cmd_run(args)
    except (EventsimError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
