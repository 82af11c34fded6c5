"""``eventsim train`` and ``eventsim convert``.

``eventsim train --kind snn|ann --arch ARCH --epochs E --timesteps T --leak L --out CKPT [--resume CKPT]``
trains on SynthShapes and checkpoints after every epoch; ``--export OUT.h5``
also writes the model file when done.  ``--dataset synthshapes-dvs`` trains
on SynthShapes-DVS event counts instead (``T = --timesteps`` bins, input
encoding ``counts``; ``--dvs-recipe`` is the shipped DVS model's recipe).  ``eventsim convert ANN.pt --out
SNN.pt`` balances thresholds (Algorithm 1) and writes an SNN checkpoint that
``eventsim export`` takes like any other.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

from eventsim.synthshapes_dvs import DEFAULT_SIZE

from .errors import ConfigError
from .models import ARCH_PRESETS, NetConfig
from .train import DATASETS, TrainOptions, data_stats, train_run

#: The recipe of the shipped default model (``make default-model``).
DEFAULT_RECIPE = ["--kind", "snn", "--arch", "P,16,P,32,P,64,P,64,G", "--timesteps", "20", "--leak", "0.99",
                  "--epochs", "8", "--train-size", "10000"]
#: The recipe of the shipped DVS model (``make dvs-model``).
DVS_RECIPE = ["--dataset", "synthshapes-dvs", "--kind", "snn", "--arch", "16,P,32,P,64,P,64,G", "--timesteps", "16",
              "--leak", "0.99", "--epochs", "12", "--train-size", "10000"]


def build_train_parser(prog="eventsim train") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Train a spiking VGG (BNTT, surrogate gradient, BPTT) or a "
                                "ReLU VGG on SynthShapes.")
    p.add_argument("--kind", choices=("snn", "ann"), default="snn")
    p.add_argument("--arch", default="small", help=f"layers, e.g. 16,P,32,P,64,G, or a preset {sorted(ARCH_PRESETS)}")
    p.add_argument("--timesteps", type=int, default=20, help="T (SNN; default 20)")
    p.add_argument("--leak", type=float, default=0.99, help="lambda of Eq. 2 (SNN; default 0.99)")
    p.add_argument("--threshold", type=float, default=1.0, help="theta (default 1)")
    p.add_argument("--dataset", choices=DATASETS, default="synthshapes",
                   help="synthshapes (images, Poisson input) or synthshapes-dvs (event counts, SNN only)")
    p.add_argument("--size", type=int, help="image or sensor side (default 64 for synthshapes, 32 for -dvs)")
    p.add_argument("--cache-dir", help="synthshapes-dvs: cache the synthesized streams here (reused by later runs)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, help="base learning rate (default 0.1 for snn, 0.01 for ann)")
    p.add_argument("--train-size", type=int, default=20000, help="SynthShapes training items (default 20000)")
    p.add_argument("--val-size", type=int, default=1000)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.2, help="ANN dropout (default 0.2)")
    p.add_argument("--out", required=True, help="checkpoint written after every epoch (.pt)")
    p.add_argument("--resume", help="continue the run in this checkpoint (its options win)")
    p.add_argument("--export", help="also export the final SNN to this model file (.h5)")
    p.add_argument("--evaluate", type=int, default=0, metavar="N",
                   help="with --export: measure float and eventsim accuracy on N test images")
    p.add_argument("--eval-backend", choices=("eventsim", "reference"), default="eventsim",
                   help="fixed-point backend of --evaluate: the Numba engine (default) or its NumPy reference twin")
    p.add_argument("--synops-weight", type=float, default=0.0,
                   help="SNN: weight of the estimated synaptic operations (fraction of the dense count) in the "
                        "loss; 0 = off (default). See docs/training.md")
    p.add_argument("--rate-weight", type=float, default=0.0,
                   help="SNN: weight of the per-layer penalty max(0, spike rate - --rate-target)^2; 0 = off")
    p.add_argument("--rate-target", type=float, default=0.0, help="SNN: per-layer spike-rate target in [0, 1]")
    p.add_argument("--default-recipe", action="store_true", help="use the shipped default model's recipe")
    p.add_argument("--dvs-recipe", action="store_true", help="use the shipped DVS model's recipe")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv, prog="eventsim train") -> int:
    if prog.endswith("convert"):
        from .cli_export import convert_main

        return convert_main(argv, prog)
    argv = list(argv)
    for flag, recipe in (("--default-recipe", DEFAULT_RECIPE), ("--dvs-recipe", DVS_RECIPE)):
        if flag in argv:
            argv = recipe + [a for a in argv if a != flag]
    args = build_train_parser(prog).parse_args(argv)
    dvs = args.dataset == "synthshapes-dvs"
    if dvs and args.kind != "snn":
        raise ConfigError("--dataset synthshapes-dvs trains SNNs only (--kind snn)")
    size = args.size or (DEFAULT_SIZE if dvs else 64)
    from eventsim.io import check_output_path

    check_output_path(args.out)
    if args.export:
        check_output_path(args.export)
    opts = TrainOptions(epochs=args.epochs, batch_size=args.batch_size,
                        lr=args.lr if args.lr is not None else (0.1 if args.kind == "snn" else 0.01),
                        train_size=args.train_size, val_size=args.val_size, data_seed=args.data_seed,
                        seed=args.seed, threads=args.threads, synops_weight=args.synops_weight,
                        rate_weight=args.rate_weight, rate_target=args.rate_target, dataset=args.dataset)
    cfg = None
    if not args.resume:
        if dvs:
            channels, encoding, (mean, std) = 2, "counts", ((0.0, 0.0), (1.0, 1.0))
        else:
            channels, encoding, (mean, std) = 3, "signed-poisson", data_stats(opts, (size, size))
        cfg = NetConfig(arch=args.arch, input_shape=(channels, size, size), timesteps=args.timesteps,
                        leak=args.leak if args.kind == "snn" else 1.0, threshold=args.threshold,
                        norm="bntt" if args.kind == "snn" else "none", mean=mean, std=std, dropout=args.dropout,
                        input_encoding=encoding)
    command = shlex.join(prog.split() + list(argv))
    t0 = time.perf_counter()
    trainer = train_run(args.kind, cfg, opts, args.out, resume=args.resume, progress=not args.quiet,
                        extra={"command": command, "name": f"{args.dataset}-{args.kind}"}, cache_dir=args.cache_dir)
    seconds = time.perf_counter() - t0
    print(f"trained {trainer.epoch} epoch(s) in {seconds:.0f} s; wrote {args.out}")
    if args.export:
        from .cli_export import export_and_report

        export_and_report(args.out, args.export, args.evaluate, progress=not args.quiet,
                          extra={"train_seconds": seconds}, cache_dir=args.cache_dir, backend=args.eval_backend)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
