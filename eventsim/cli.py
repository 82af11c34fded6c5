"""The ``eventsim`` command.

Core subcommands (``run``, ``info``, ``plot``, ``view``, ``demo``, ``energy``, ``nir``) live here.  Commands
that need extra packages live in their own packages and register an
:class:`~eventsim.extensions.Extension` under the entry-point group ``eventsim.commands``
(``[project.entry-points."eventsim.commands"]`` in ``pyproject.toml``); the
module that runs one is imported only when it is called and exposes
``main(argv, prog) -> int``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys

from .errors import EventsimError, InputError
from .extensions import Extension, extensions
from .io import load_array
from .result import SAM_CONVENTIONS

def add_run_arguments(r: argparse.ArgumentParser) -> None:
    """The arguments ``eventsim run`` shares with ``python -m lava_port run``."""
    r.add_argument("model", help="model file (.h5), or a packaged model: default, sparse, dvs")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help=".npy float array (N, C, H, W) in [0, 1]")
    src.add_argument("--spikes", help=".npy int array (N, T, C, H, W): spikes in {-1, 0, 1}, or int8 event counts for a "
                          "model with input encoding 'counts'")
    src.add_argument("--events", help="event stream file (.bin N-MNIST, .npy structured, .h5) for a model with "
                          "input encoding 'counts'; binned into --timesteps bins or --time-window bins")
    r.add_argument("--timesteps", "--bins", type=int, help="T, or the number of time bins of --events "
                   "(default: the model's)")
    r.add_argument("--time-window", type=int, help="with --events: bin width in microseconds instead of a bin count")
    r.add_argument("--gamma", type=float, default=0.5, help="SAM kernel steepness (default 0.5)")
    r.add_argument("--seed", type=int, default=0, help="encoder seed (default 0)")
    r.add_argument("--sam-layers", help="comma-separated spiking layers (default: every conv layer)")
    r.add_argument("--convention", choices=SAM_CONVENTIONS, default="paper", help="SAM convention")
    r.add_argument("--record-spikes", action="store_true", help="store every layer's spikes")
    r.add_argument("--out", required=True, help="result file (.h5)")
    add_verify_argument(r)


def add_verify_argument(p: argparse.ArgumentParser) -> None:
    """``--no-verify``: skip the content checksum of model and result files (forensic use)."""
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="load files whose content checksum does not match (to inspect a damaged file)")


def run_inputs(args):
    """``(model, sam_layers, images, spikes)`` from parsed run arguments (``--events`` become ``spikes``).

    The output path is checked first (not a directory, device or input of the
    command), so a bad ``--out`` costs nothing and writes nothing.
    """
    from .io import check_output_path
    from .model_io import load_model

    from .assets import model_argument

    args.model = model_argument(args.model)
    check_output_path(args.out, [args.model, args.images, args.spikes, args.events], "--out")
    if args.time_window is not None and not args.events:
        raise InputError("--time-window: only with --events")
    model = load_model(args.model, verify=args.verify)
    sam_layers = None if args.sam_layers is None else [s for s in args.sam_layers.split(",") if s]
    images = load_array(args.images, "images") if args.images else None
    spikes = load_array(args.spikes, "spikes") if args.spikes else None
    if args.events:
        from .event_input import event_frames
        from .events import read

        events, size = read(args.events)
        bins = None if args.time_window else args.timesteps
        spikes = event_frames(model, events, size, n_time_bins=bins, time_window=args.time_window)
        args.timesteps = None
    return model, sam_layers, images, spikes


def report_run(result, out, backend) -> None:
    """Print what a run did and where it went."""
    print(f"simulated {result.logits.shape[0]} image(s) x {result.timesteps} steps with {backend}; wrote {out}")
    print(f"predictions: {result.predictions.tolist()}")
    for name, rate in result.spike_rates().items():
        print(f"  {name:>12s}: spike rate {rate:.4f}")


def _cmd_run(args) -> int:
    from .simulator import Simulator

    model, sam_layers, images, spikes = run_inputs(args)
    sim = Simulator(model, sam_gamma=args.gamma, sam_layers=sam_layers, sam_convention=args.convention)
    result = sim.run(images=images, spikes=spikes, timesteps=args.timesteps, seed=args.seed,
                     record_spikes=args.record_spikes, backend=args.backend)
    result.save(args.out)
    report_run(result, args.out, args.backend)
    return 0


def _cmd_info(args) -> int:
    from .assets import model_argument
    from .info import describe
    from .model_io import load_model

    model = load_model(model_argument(args.model), verify=args.verify)
    if args.json:
        print(json.dumps(describe(model, as_dict=True), indent=2, default=str))
    else:
        print(describe(model))
    return 0


def _cmd_plot(args) -> int:
    from .plots import plot_command

    return plot_command(args)


def _cmd_demo(args) -> int:
    import os

    from .demo import run_demo

    if args.n < 1:
        raise InputError(f"--n: expected at least 1 {'stream' if args.events else 'image'}, got {args.n}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise InputError(f"--out: {args.out} exists and is not a directory")
    if args.events:
        from .demo_events import run_event_demo

        return run_event_demo(out_dir=args.out, n_streams=args.n)
    return run_demo(out_dir=args.out, n_images=args.n, seed=args.seed)


def _cmd_view(args) -> int:
    from .view import view_command

    return view_command(args)


def _cmd_energy(args) -> int:
    from .energy import energy_command

    return energy_command(args)


def _cmd_run_dataset(args) -> int:
    from .dataset_cli import run_dataset_command

    return run_dataset_command(args)


def _cmd_merge(args) -> int:
    from .dataset_cli import merge_command

    return merge_command(args)


def build_parser(commands=None) -> argparse.ArgumentParser:
    """The parser of the core commands, listing the extension ``commands`` (default :func:`extensions`)."""
    p = argparse.ArgumentParser(prog="eventsim", description=__doc__.splitlines()[0] + " See README.md.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="simulate a model file on images or spikes and write a result file")
    add_run_arguments(r)
    r.add_argument("--backend", choices=("eventsim", "reference"), default="eventsim")
    r.set_defaults(func=_cmd_run)

    i = sub.add_parser("info", help="layers, shapes, neurons, synapses, bit widths, quantization error")
    i.add_argument("model", help="model file (.h5), or a packaged model: default, sparse, dvs")
    i.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_verify_argument(i)
    i.set_defaults(func=_cmd_info)

    pl = sub.add_parser("plot", help="SAM heatmap grid (layers x time steps) and optional GIF")
    pl.add_argument("result", help="result file from 'eventsim run'")
    pl.add_argument("--images", required=True, help="the .npy images the result was computed on")
    pl.add_argument("--out", required=True, help="output PNG")
    pl.add_argument("--index", type=int, default=0, help="which image of the batch (default 0)")
    pl.add_argument("--steps", type=int, default=10, help="number of sampled time steps (default 10)")
    pl.add_argument("--gif", help="also write an animated GIF over time to this path")
    add_verify_argument(pl)
    pl.set_defaults(func=_cmd_plot)

    v = sub.add_parser("view", help="interactive HTML viewer of SAM over time (one self-contained file)")
    v.add_argument("result", help="result file from 'eventsim run'")
    v.add_argument("--images", help="the .npy images the result was computed on (shown under the maps)")
    v.add_argument("--out", required=True, help="output .html")
    v.add_argument("--layers", help="comma-separated SAM layers to include (default: all)")
    v.add_argument("--indices", help="comma-separated image indices to include (default: all)")
    v.add_argument("--steps", help="time steps to include: A:B, A:B:S or a comma-separated list (default: all)")
    v.add_argument("--max-mb", type=float, help="refuse to write a larger page (default 50 MB)")
    v.set_defaults(func=_cmd_view)

    d = sub.add_parser("demo", help="run the default model with SAM and write pictures to ./demo-out")
    d.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    d.add_argument("--n", type=int, default=4, help="number of images or event streams (default 4)")
    d.add_argument("--seed", type=int, default=0, help="Poisson encoder seed (images)")
    d.add_argument("--events", action="store_true",
                   help="run the DVS model on SynthShapes-DVS event streams instead: a GIF per stream with the events "
                   "and SAM side by side (events_<i>.gif)")
    d.set_defaults(func=_cmd_demo)

    from .energy import CONSTANT_SETS, DEFAULT_SET

    en = sub.add_parser("energy", help="energy per image of a result under a named constant set, "
                        "and NeuroBench-style operation counts")
    en.add_argument("result", help="result file from 'eventsim run'")
    en.add_argument("--constants", default=DEFAULT_SET,
                    help=f"constant set, one of {', '.join(CONSTANT_SETS)} (default {DEFAULT_SET})")
    en.add_argument("--model", help="the model file of the run (adds NeuroBench 'Dense' operations)")
    en.add_argument("--json", action="store_true", help="print JSON (joules per image per layer, total_j)")
    add_verify_argument(en)
    en.set_defaults(func=_cmd_energy)

    from .dataset_cli import add_merge_arguments, add_run_dataset_arguments

    rd = sub.add_parser("run-dataset", help="simulate a whole data set in resumable shards (optionally on Dask)")
    add_run_dataset_arguments(rd)
    rd.set_defaults(func=_cmd_run_dataset)

    mg = sub.add_parser("merge", help="join a run-dataset folder's shards into one file and summarize it")
    add_merge_arguments(mg)
    mg.set_defaults(func=_cmd_merge)

    from .nir_cli import add_nir_arguments

    nr = sub.add_parser("nir", help="import a NIR graph (Sinabs, snnTorch, ...) as a model, or export a model to NIR")
    add_nir_arguments(nr)

    for name, ext in (extensions() if commands is None else commands).items():
        sub.add_parser(name, help=ext.help, add_help=False)
    return p


def _run_extension(name, ext: Extension, argv) -> int:
    try:
        module = importlib.import_module(ext.module)
    except ModuleNotFoundError as exc:
        if exc.name in ("torch", "matplotlib", "tqdm"):
            print(f"error: 'eventsim {name}' needs {exc.name}; install it with "
                  f"pip install -e '.[{ext.extra}]' (make test does this in .venv)", file=sys.stderr)
            return 2
        raise
    return int(module.main(argv, prog=f"eventsim {name}") or 0)


def main(argv=None) -> int:
    """Entry point of the ``eventsim`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        commands = extensions()
        if argv and argv[0] in commands:
            return _run_extension(argv[0], commands[argv[0]], argv[1:])
        parser = build_parser(commands)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except (EventsimError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
