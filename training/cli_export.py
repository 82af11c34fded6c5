"""``eventsim export CKPT OUT.h5`` and the body of ``eventsim convert``.

Export folds BNTT and pooling, quantizes, and writes the model file with its
provenance: the commands, seeds, the float accuracy, the per-layer
quantization error and (with ``--evaluate N``) the float and eventsim
accuracies and spike rates on ``N`` SynthShapes test images run on the same
input spikes.
"""
from __future__ import annotations

import argparse
import shlex
import time
from dataclasses import replace

from eventsim.io import check_output_path
from eventsim.model_io import save_model


def fidelity_report(net, model, n, seed=0, progress=True, cache_dir=None, backend="eventsim") -> dict:
    """Float (torch) vs eventsim on the first ``n`` SynthShapes test images, same input spikes.

    A network taking ``"counts"`` is measured on the first ``n``
    SynthShapes-DVS test streams instead (:func:`training.dvs.dvs_frames`,
    ``T`` = the model's steps; ``cache_dir`` as there).  ``backend``:
    ``"eventsim"`` (the Numba engine) or ``"reference"`` (its bit-exact
    NumPy twin, which already runs model-format-2 files such as counts
    networks).

    Returns
    -------
    dict
        ``n``, ``seed``, ``float_accuracy``, ``eventsim_accuracy``,
        ``agreement`` (fraction of equal predictions), ``spike_rates``
        (eventsim, per layer), ``spike_rates_float``, ``spike_count_rel_diff``
        (per layer) and ``seconds`` (eventsim run time).
    """
    from .data import SynthShapes
    from .evaluate import evaluate_eventsim, evaluate_snn
    from .export import agreement, spike_count_error

    encoding = net.cfg.input_encoding
    if encoding == "counts":
        from .dvs import dvs_frames

        images, labels = dvs_frames("test", n, model.input_shape[1], 0, model.default_timesteps, cache_dir, progress)
    else:
        images, labels, _, _ = SynthShapes("test", size=model.input_shape[1:], seed=0, length=n).arrays(
            0, n, progress=progress)
    fl = evaluate_snn(net, images, seed=seed, progress=progress, encoding=encoding)
    t0 = time.perf_counter()
    ev = evaluate_eventsim(model, images, seed=seed, progress=progress, encoding=encoding, backend=backend)
    seconds = time.perf_counter() - t0
    return {
        "n": int(n), "seed": int(seed), "split": "test", "backend": backend, "dataset": "synthshapes-dvs" if encoding == "counts"
        else "synthshapes",
        "float_accuracy": fl.accuracy(labels), "eventsim_accuracy": ev.accuracy(labels),
        "agreement": agreement(fl.predictions, ev.predictions),
        "spike_rates": ev.spike_rates(), "spike_rates_float": fl.spike_rates(),
        "spike_count_rel_diff": spike_count_error(fl.spikes, ev.spikes), "seconds": seconds,
    }


def export_and_report(ckpt_path, out_path, evaluate_n=0, seed=0, progress=True, extra=None, cache_dir=None,
                      backend="eventsim"):
    """Export ``ckpt_path`` to ``out_path``; with ``evaluate_n`` measure and record accuracies.

    ``cache_dir``: SynthShapes-DVS stream cache of the evaluation (counts networks); ``backend``: as
    :func:`fidelity_report`.

    Returns
    -------
    eventsim.Model
    """
    from .checkpoint import load_network
    from .export import export_checkpoint

    check_output_path(out_path)
    net, ckpt = load_network(ckpt_path)
    history = ckpt.get("history") or []
    extra = dict(extra or {})
    if history:
        extra.setdefault("float_accuracy", {"split": "val", "n": ckpt["train"].get("val_size"),
                                            "value": history[-1]["val_acc"]})
    extra.setdefault("seed", ckpt.get("train", {}).get("seed"))
    extra.setdefault("train_epoch_seconds", float(sum(h.get("seconds", 0.0) for h in history)))
    model = export_checkpoint(ckpt, net, out_path, label=str(ckpt_path), extra_provenance=extra)
    print(f"exported {ckpt_path} -> {out_path} (sha256 {model.sha256[:16]})")
    for name, err in model.provenance["quantization_error"].items():
        print(f"  {name:>8s}: " + ", ".join(f"{k} {v:.2e}" for k, v in err.items()))
    if evaluate_n > 0:
        report = fidelity_report(net, model, evaluate_n, seed, progress, cache_dir, backend)
        prov = dict(model.provenance, float_accuracy={"split": "test", "n": report["n"],
                                                      "value": report["float_accuracy"]},
                    evaluation=report)
        model = replace(model, provenance=prov)
        save_model(model, out_path)
        items = "images" if report["dataset"] == "synthshapes" else "SynthShapes-DVS streams"
        print(f"test accuracy on {report['n']} {items}: float {report['float_accuracy']:.4f}, "
              f"eventsim {report['eventsim_accuracy']:.4f}, prediction agreement {report['agreement']:.4f}")
        for name, rate in report["spike_rates"].items():
            print(f"  {name:>8s}: spike rate {rate:.4f} (float {report['spike_rates_float'][name]:.4f}, "
                  f"count difference {100 * report['spike_count_rel_diff'][name]:.2f} %)")
    return model


def main(argv, prog="eventsim export") -> int:
    p = argparse.ArgumentParser(prog=prog, description="Fold, quantize and write a checkpoint as a model file.")
    p.add_argument("checkpoint", help="SNN checkpoint (.pt) from 'eventsim train' or 'eventsim convert'")
    p.add_argument("out", help="model file to write (.h5)")
    p.add_argument("--evaluate", type=int, default=0, metavar="N",
                   help="measure float and eventsim accuracy on N SynthShapes (or, for a counts network, "
                        "SynthShapes-DVS) test items (default 0: skip)")
    p.add_argument("--seed", type=int, default=0, help="Poisson seed of the evaluation (default 0)")
    p.add_argument("--cache-dir", help="counts networks: SynthShapes-DVS stream cache of the evaluation")
    p.add_argument("--eval-backend", choices=("eventsim", "reference"), default="eventsim",
                   help="fixed-point backend of --evaluate: the Numba engine (default) or its NumPy reference twin")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    export_and_report(args.checkpoint, args.out, args.evaluate, args.seed, progress=not args.quiet,
                      extra={"export_command": shlex.join(prog.split() + list(argv))}, cache_dir=args.cache_dir,
                      backend=args.eval_backend)
    return 0


def convert_main(argv, prog="eventsim convert") -> int:
    """``eventsim convert ANN.pt --out SNN.pt``: Algorithm 1 threshold balancing."""
    p = argparse.ArgumentParser(prog=prog, description="ANN-to-SNN conversion with threshold balancing "
                                "(Algorithm 1; lambda = 1).")
    p.add_argument("checkpoint", help="ANN checkpoint from 'eventsim train --kind ann'")
    p.add_argument("--out", required=True, help="SNN checkpoint to write (.pt)")
    p.add_argument("--timesteps", type=int, default=100, help="T of the converted SNN (default 100)")
    p.add_argument("--scale", type=float, default=1.0, help="threshold scale alpha (default 1: plain Algorithm 1)")
    p.add_argument("--calibration", type=int, default=256, help="training images used to balance (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    from .checkpoint import load_network, save_checkpoint
    from .convert import convert
    from .data import SynthShapes
    from .errors import CheckpointError

    check_output_path(args.out)
    ann, ckpt = load_network(args.checkpoint)
    if ckpt["kind"] != "ann":
        raise CheckpointError(f"{args.checkpoint}: is an SNN checkpoint; conversion takes an ANN "
                              "('eventsim train --kind ann')")
    data_seed = ckpt.get("train", {}).get("data_seed", 0)
    images, _, _, _ = SynthShapes("train", size=ann.cfg.input_shape[1:], seed=data_seed,
                                  length=args.calibration).arrays(progress=not args.quiet)
    snn, thresholds = convert(ann, images, args.timesteps, args.scale, args.seed, progress=not args.quiet)
    command = shlex.join(prog.split() + list(argv))
    extra = dict(ckpt.get("extra", {}), name="synthshapes-converted",
                 conversion={"source": str(args.checkpoint), "scale": args.scale, "calibration": args.calibration,
                             "seed": args.seed, "thresholds": thresholds, "command": command})
    save_checkpoint(args.out, "snn", snn, ckpt["epoch"], ckpt.get("train"), history=ckpt.get("history"),
                    extra=extra)
    print(f"converted {args.checkpoint} -> {args.out} (T={args.timesteps}, scale {args.scale})")
    for name, th in thresholds.items():
        print(f"  {name:>8s}: threshold {th:.4f}")
    return 0

