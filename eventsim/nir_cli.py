"""``eventsim nir import`` and ``eventsim nir export`` (wired in :mod:`eventsim.cli`; needs the ``nir`` extra)."""
from __future__ import annotations

import argparse
import sys
import warnings

from .fixed_point import RESET_MODES


def add_nir_arguments(p: argparse.ArgumentParser) -> None:
    """``eventsim nir import GRAPH OUT`` and ``eventsim nir export MODEL OUT``."""
    sub = p.add_subparsers(dest="nir_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="quantize a NIR graph (Sinabs, snnTorch, ...) into an eventsim model file")
    imp.add_argument("graph", help="NIR graph file (.nir, HDF5)")
    imp.add_argument("out", help="model file to write (.h5)")
    imp.add_argument("--reset", choices=RESET_MODES,
                     help="reset rule of every spiking layer; NIR does not store it (needed unless eventsim wrote "
                          "the graph): subtract = Sinabs's IAF/LIF, zero = NIR's v_reset")
    imp.add_argument("--dt", type=float, help="time step in the unit of tau, for LIF/LI nodes (snnTorch: 1e-4 s; "
                                              "Sinabs: 1 step)")
    imp.add_argument("--timesteps", type=int, help="the model's default T (default: the graph's, else 20)")
    imp.add_argument("--name", help="model name (default: the graph's, else 'nir')")
    imp.set_defaults(func=import_command)
    exp = sub.add_parser("export", help="write an eventsim model as a NIR graph that imports back exactly")
    exp.add_argument("model", help="model file (.h5)")
    exp.add_argument("out", help="NIR graph file to write (.nir)")
    exp.add_argument("--mean-gain", action="store_true",
                     help="export per-step (BNTT) gains as their mean over the steps (lossy; NIR has no per-step "
                          "parameters)")
    exp.add_argument("--no-verify", dest="verify", action="store_false",
                     help="load a model whose content checksum does not match")
    exp.set_defaults(func=export_command)


def import_command(args) -> int:
    """Import ``args.graph``, write ``args.out`` and describe the model with its quantization error."""
    from .info import describe
    from .io import check_output_path
    from .model_io import save_model
    from .nir_io import read_nir

    check_output_path(args.out, [args.graph], "OUT")
    model = read_nir(args.graph, reset=args.reset, dt=args.dt, timesteps=args.timesteps, name=args.name)
    save_model(model, args.out)
    print(describe(model))
    print(f"wrote {args.out}")
    return 0


def export_command(args) -> int:
    """Export ``args.model`` to ``args.out``; warnings (lossy export) go to stderr."""
    from .io import check_output_path
    from .model_io import load_model
    from .nir_io import write_nir

    check_output_path(args.out, [args.model], "OUT")
    model = load_model(args.model, verify=args.verify)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_nir(model, args.out, mean_gain=args.mean_gain)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(f"wrote {args.out}: {len(model.layers)} layer(s) of {model.name!r} as a NIR graph")
    return 0
