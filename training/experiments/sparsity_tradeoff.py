"""The accuracy / synaptic-operations trade-off of sparsity-aware training, measured in eventsim.

``python -m training.experiments.sparsity_tradeoff MODEL.h5 [MODEL.h5 ...] --n 2000 --json T.json --png P.png``

Every model runs on the same SynthShapes test items ``0..n-1`` with the same
input spikes (:func:`eventsim.encode_poisson`, seed 0, image ``i`` drawing
stream ``[0, i]``, as ``eventsim evaluate`` does), SAM at every conv layer
(paper convention, gamma 0.5).  Per model it reports:

* eventsim accuracy and its binomial standard error ``sqrt(p (1 - p) / n)``;
* spike rates (spikes per neuron and step) of every layer, synops per image
  of every layer, over all layers and over the *hidden* layers (those fed by
  a spiking layer; the first conv layer's synops come from the input spikes);
* energy per image under every set of :data:`eventsim.energy.CONSTANT_SETS`
  and the NeuroBench-style metrics of :func:`eventsim.energy.neurobench_metrics`;
* SAM localization per conv layer against the object masks
  (:mod:`eventsim.metrics`: pointing game and energy in the mask, the map
  summed over steps), with two label-free controls: the same map scored
  against *another* image's mask (the next item's), and the share of all-zero
  maps (which score 0 in both).  A uniform map's energy in the mask is the
  mean mask area, reported once under ``baselines``.

The regularization weight of each model comes from its provenance
(``train.synops_weight``, 0 when absent); the packaged models are recognised
by their hash.  Outputs: a JSON table, a Pareto chart (accuracy against
``Effective_ACs`` per image, one point per model labelled with its weight)
and, on stdout, the Markdown tables of docs/training.md.  Speed is not
measured here (``eventsim bench`` does that).
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from eventsim import Simulator, default_model, load_model, metrics
from eventsim.energy import CONSTANT_SETS, estimate_energy, layer_counts, neurobench_metrics
from eventsim.errors import InputError
from eventsim.io import atomic_output, check_output_paths
from eventsim.progress import progress_bar
from eventsim.result import Result
from eventsim.synthshapes import SynthShapes
from eventsim.topology import connections

from .common import jsonable


def packaged_names() -> dict:
    """``{sha256: name}`` of the packaged models (``eventsim.default_model(name)``) that are installed."""
    out = {}
    for name in ("default", "sparse"):
        try:
            out[load_model(default_model(name)).sha256] = name
        except FileNotFoundError:
            continue
    return out


def synops_weight(model) -> float:
    """The ``--synops-weight`` a model was trained with (its provenance), 0 when it has none."""
    train = (model.provenance or {}).get("train") or {}
    return float(train.get("synops_weight", 0.0))


def hidden_layers(model) -> list:
    """Names of the neuron layers whose synaptic input comes from a spiking layer (not the encoder)."""
    return [conn.target.name for conn in connections(model) if conn.source != "input"]


def simulate(model, n, seed=0, gamma=0.5, batch=64, progress=False):
    """Run ``model`` on SynthShapes test items ``0..n-1`` with SAM at every conv layer.

    Returns
    -------
    result : Result
        Logits and counters of all ``n`` images (no SAM maps kept).
    labels : ndarray of int64, shape (n,)
    sam_scores : dict of str to dict of str to ndarray, shape (n,)
        Per conv layer: ``pointing``, ``energy`` (own mask), ``pointing_other``,
        ``energy_other`` (the next item's mask) and ``empty`` (bool, all-zero map).
    mask_area : ndarray of float64, shape (n,)
        Each mask's share of the image (a uniform map's energy in the mask).
    """
    sim = Simulator(model, sam_gamma=gamma, sam_layers=list(model.conv_layers))
    data = SynthShapes("test", size=tuple(model.input_shape[1:]), seed=0, length=n)
    logits, counts, labels, area, attrs = [], {}, [], [], None
    scores = {name: {k: [] for k in ("pointing", "energy", "pointing_other", "energy_other", "empty")}
              for name in sim.sam_layers}
    for a in progress_bar(range(0, n, batch), progress, "eventsim"):
        b = min(n, a + batch)
        images, lab, masks, _ = data.arrays(a, b)
        # the "other" mask of image i is item i+1's; the last image of the run takes item 0's
        other = np.concatenate([masks[1:], data.arrays(b % n, b % n + 1)[2]])
        res = sim.run(spikes=sim.input_spikes(images=images, seed=seed, start_index=a))
        attrs = res.attrs
        logits.append(res.logits)
        labels.append(lab)
        area.append(masks.mean(axis=(1, 2)))
        for name, c in res.counts.items():
            for key, v in c.items():
                counts.setdefault(name, {}).setdefault(key, []).append(v)
        for name, sam in res.sam.items():
            s = scores[name]
            s["pointing"].append(metrics.pointing_game(sam, masks))
            s["energy"].append(metrics.mask_energy(sam, masks))
            s["pointing_other"].append(metrics.pointing_game(sam, other))
            s["energy_other"].append(metrics.mask_energy(sam, other))
            s["empty"].append(sam.reshape(len(sam), -1).max(axis=1) <= 0)
    result = Result(logits=np.concatenate(logits), sam={},
                    counts={k: {c: np.concatenate(v) for c, v in d.items()} for k, d in counts.items()},
                    attrs=dict(attrs))
    sam_scores = {name: {k: np.concatenate(v) for k, v in s.items()} for name, s in scores.items()}
    return result, np.concatenate(labels), sam_scores, np.concatenate(area)


def measure(path, n, seed=0, gamma=0.5, batch=64, progress=False, packaged=None) -> dict:
    """Every number of one model's row (see the module docstring); JSON-able."""
    model = load_model(path)
    started = time.perf_counter()
    result, labels, sam, _ = simulate(model, n, seed, gamma, batch, progress)
    acc = float(np.mean(result.predictions == labels))
    per_layer = layer_counts(result)
    hidden = hidden_layers(model)
    prov = model.provenance or {}
    return {
        "path": str(path), "sha256": model.sha256, "packaged": (packaged or {}).get(model.sha256),
        "synops_weight": synops_weight(model),
        "float_accuracy_provenance": (prov.get("evaluation") or {}).get("float_accuracy"),
        "train_seconds_provenance": prov.get("train_seconds"),
        "accuracy": acc, "accuracy_se": math.sqrt(acc * (1 - acc) / n),
        "spike_rates": result.spike_rates(),
        "synops_per_image": {k: v["synops"] for k, v in per_layer.items()},
        "synops_total": sum(v["synops"] for v in per_layer.values()),
        "synops_hidden": sum(per_layer[k]["synops"] for k in hidden),
        "hidden_layers": hidden,
        "energy_j": {name: estimate_energy(result, name)["total_j"] for name in CONSTANT_SETS},
        "neurobench": neurobench_metrics(result, model),
        "sam": {name: {**{k: float(np.mean(v)) for k, v in s.items()},
                       **{f"{k}_se": float(np.std(v, ddof=1) / math.sqrt(n)) for k, v in s.items()}}
                for name, s in sam.items()},
        "seconds": time.perf_counter() - started,
    }


def mask_baseline(n, size) -> float:
    """Mean mask area of SynthShapes test items ``0..n-1`` (a uniform map's energy in the mask)."""
    return float(SynthShapes("test", size=size, seed=0, length=n).arrays(0, n)[2].mean())


def pareto_flags(points) -> list:
    """For ``(cost, accuracy)`` pairs: True where no other point is at least as good in both and better in one."""
    return [not any(c2 <= c and a2 >= a and (c2 < c or a2 > a) for c2, a2 in points) for c, a in points]


def label(row) -> str:
    """``w=8`` plus the packaged name, e.g. ``w=0 (default)``."""
    w = row["synops_weight"]
    text = f"w={w:g}"
    return f"{text} ({row['packaged']})" if row["packaged"] else text


def pareto_figure(rows, n):
    """Accuracy (%, +-1 SE) against synops per image, one labelled point per model; the default model a star.

    A dotted line marks the default model's accuracy minus one point (the
    issue's bar for shipping a sparser model).  Left: ``Effective_ACs`` (all
    layers, the Pareto chart), with the synops of the layers fed by the input
    spikes (the least over the models) as a vertical line.  Right: the hidden layers' synops only (the
    first conv layer's, driven by the input spikes, are the same for every
    model).
    """
    from eventsim.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    ys = [100 * r["accuracy"] for r in rows]
    for ax, key, xlabel in ((axes[0], "all", "Effective_ACs per image, all layers (millions)"),
                            (axes[1], "hidden", "synops per image, hidden layers (millions)")):
        xs = [1e-6 * (r["neurobench"]["Effective_ACs"] if key == "all" else r["synops_hidden"]) for r in rows]
        front = sorted((i for i, r in enumerate(rows) if r["pareto"]), key=lambda i: xs[i])
        if key == "all" and len(front) > 1:
            ax.plot([xs[i] for i in front], [ys[i] for i in front], "--", color="0.6", lw=1, label="Pareto front")
        if key == "all":
            floor = 1e-6 * min(r["synops_total"] - r["synops_hidden"] for r in rows)
            ax.axvline(floor, ls="-.", color="0.4", lw=1, label="synops driven by the input spikes")
        for r in rows:
            if r["packaged"] == "default":
                ax.axhline(100 * r["accuracy"] - 1, ls=":", color="tab:red", lw=1,
                           label="default model - 1 point (shipping bar)")
        for i, r in enumerate(rows):
            is_default = r["packaged"] == "default"
            ax.errorbar(xs[i], ys[i], yerr=100 * r["accuracy_se"], fmt="*" if is_default else "o",
                        ms=14 if is_default else 8, color="tab:red" if is_default else "tab:blue", capsize=3,
                        label="default model" if is_default else None)
            ax.annotate(label(r), (xs[i], ys[i]), textcoords="offset points", xytext=(7, 5), fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_xlim(0, max(xs) * 1.25)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"eventsim accuracy (%), {n} test images, ±1 SE")
    axes[0].legend(loc="center right", fontsize=8)
    fig.suptitle("Sparsity-aware training (--synops-weight w): accuracy vs synaptic operations")
    fig.tight_layout()
    return fig


def markdown(table: dict) -> str:
    """The two Markdown tables of docs/training.md: trade-off and SAM localization."""
    rows, sets = table["models"], list(CONSTANT_SETS)
    spiking = [k for k in rows[0]["spike_rates"] if k not in ("input", "out")]
    head = (["model", "eventsim acc. (±SE)", "spike rates " + " / ".join(spiking), "Effective_ACs / image",
             "hidden synops / image", "activation sparsity (1 - hidden rate)"] + [f"{s} (µJ)" for s in sets])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        nb = r["neurobench"]
        lines.append("| " + " | ".join(
            [label(r), f"{100 * r['accuracy']:.2f} % (±{100 * r['accuracy_se']:.2f})",
             " / ".join(f"{r['spike_rates'][k]:.3f}" for k in spiking), f"{nb['Effective_ACs']:.3e}",
             f"{r['synops_hidden']:.3e}", f"{nb['activation_sparsity']:.3f}"]
            + [f"{1e6 * r['energy_j'][s]:.3g}" for s in sets]) + " |")
    nb0 = rows[0]["neurobench"]
    lines += ["", f"Every model: Effective_MACs {nb0['Effective_MACs']:g}, Dense {nb0['Dense']:.4g} and "
              f"membrane updates {nb0['membrane_updates']:.4g} per image (same architecture).", ""]
    layers = list(rows[0]["sam"])
    head = ["model"] + [f"{k} pointing / energy (other mask) / empty" for k in layers]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{s['pointing']:.3f} / {s['energy']:.3f} ({s['energy_other']:.3f}) / {s['empty']:.3f}"
                 for s in (r["sam"][k] for k in layers)]
        lines.append("| " + " | ".join([label(r)] + cells) + " |")
    worst = {k: max(r["sam"][name][f"{k}_se"] for r in rows for name in layers) for k in ("pointing", "energy")}
    lines += ["", f"Uniform map: energy in mask {table['baselines']['uniform_energy']:.3f}. Standard errors "
              f"(over images) at most {worst['pointing']:.3f} (pointing) and {worst['energy']:.3f} (energy)."]
    return "\n".join(lines)


def run(models, n, json_path=None, png_path=None, seed=0, gamma=0.5, batch=64, progress=False,
        command="") -> dict:
    """Measure every model, sort them by weight, write the JSON table and the chart; returns the table."""
    if n < 2:
        raise InputError(f"--n: expected at least 2 test images, got {n}")
    check_output_paths({"--json": json_path, "--png": png_path}, inputs=models)
    packaged = packaged_names()
    rows = sorted((measure(p, n, seed, gamma, batch, progress, packaged) for p in models),
                  key=lambda r: r["synops_weight"])
    shapes = {tuple(load_model(r["path"]).input_shape) for r in rows}
    if len(shapes) != 1:
        raise InputError(f"models: expected one input shape for all, got {sorted(shapes)}")
    for r, flag in zip(rows, pareto_flags([(r["neurobench"]["Effective_ACs"], r["accuracy"]) for r in rows])):
        r["pareto"] = flag
    size = shapes.pop()[1:]
    table = jsonable({"command": command, "n": n, "split": "test", "seed": seed, "gamma": gamma,
                      "constants": {k: v.source for k, v in CONSTANT_SETS.items()},
                      "baselines": {"uniform_energy": mask_baseline(n, size)}, "models": rows})
    if json_path:
        with atomic_output(json_path, suffix=".json") as tmp:
            tmp.write_text(json.dumps(table, indent=1))
    if png_path:
        from eventsim.plots import save_figure

        save_figure(pareto_figure(rows, n), png_path, dpi=120)
    return table


def build_parser(prog="python -m training.experiments.sparsity_tradeoff") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="model files (.h5) of one architecture")
    p.add_argument("--n", type=int, default=2000, help="SynthShapes test images (default 2000)")
    p.add_argument("--json", help="write the table here (.json)")
    p.add_argument("--png", help="write the Pareto chart here (.png)")
    p.add_argument("--seed", type=int, default=0, help="Poisson encoder seed (default 0)")
    p.add_argument("--gamma", type=float, default=0.5, help="SAM gamma (default 0.5)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv=None, prog="python -m training.experiments.sparsity_tradeoff") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(argv)
    for path in args.models:
        if not Path(path).is_file():
            raise InputError(f"model file {path} does not exist")
    table = run(args.models, args.n, args.json, args.png, args.seed, args.gamma, progress=not args.quiet,
                command=" ".join([prog] + [shlex.quote(a) for a in argv]))
    print(markdown(table))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
