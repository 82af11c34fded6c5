"""``python -m lava_port run ...``: the ``eventsim run`` command on the Lava graph.

Takes the same arguments as ``eventsim run`` (plus ``--timeout``) and writes
the same result file layout, with ``backend = "lava"``.
"""
from __future__ import annotations

import argparse
import sys

from eventsim.cli import add_run_arguments, report_run, run_inputs
from eventsim.errors import EventsimError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lava_port",
                                description="Run an eventsim model as a Lava process graph (bit-exact with eventsim).")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    r = sub.add_parser("run", help="simulate a model file on images or spikes and write a result file")
    add_run_arguments(r)
    r.add_argument("--timeout", type=float, help="seconds before the Lava run is killed (default: 60 + 0.5 per step)")
    return p


def _cmd_run(args) -> int:
    from lava_port.api import run

    model, sam_layers, images, spikes = run_inputs(args)
    result = run(model, spikes, images=images, timesteps=args.timesteps, seed=args.seed, sam_gamma=args.gamma,
                 sam_layers=sam_layers, sam_convention=args.convention, record_spikes=args.record_spikes,
                 timeout=args.timeout)
    result.save(args.out)
    report_run(result, args.out, "lava")
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
