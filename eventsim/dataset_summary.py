"""The reduction of a data-set run: accuracy, spike rates, synaptic operations, SAM localization.

:func:`summarize` works on per-image columns (one shard's arrays, or all
shards concatenated in index order), so a shard's sidecar summary and the
run's ``summary.json`` come from the same code.  Integer totals are exact and
the one float mean (energy in mask) uses :func:`math.fsum`, so the summary
does not depend on how the run was split into shards.
"""
from __future__ import annotations

import math
from pathlib import Path

import h5py

from .io import atomic_output
from .shards import read_columns, read_manifest, shard_files, write_json

COUNTERS = ("spikes", "synops", "sam_updates", "saturations")


def summarize(cols: dict, neurons: dict, timesteps: int, layers=None) -> dict:
    """Totals and means over the images in ``cols``.

    Parameters
    ----------
    cols : dict of str to ndarray
        ``index`` (n,), ``predictions`` (n,), optional ``labels`` (n,),
        ``counts/<layer>/<counter>`` int64 (n, T) and optional
        ``metrics/<layer>/pointing`` bool (n,) and ``metrics/<layer>/energy``
        float64 (n,).
    neurons : dict of str to int
        Neurons per layer (``input`` included).
    timesteps : int
    layers : sequence of str, optional
        Order of the layers in the output (default: as found in ``cols``).

    Returns
    -------
    dict
        ``images``; ``accuracy`` and ``correct`` with labels; ``layers``
        {layer: neurons, spikes, spike_rate (spikes per neuron per step),
        synops, synops_per_image, sam_updates, saturations};
        ``synops_per_image`` (all layers); ``sam`` {layer: pointing_game,
        energy_in_mask} with masks.
    """
    n = int(len(cols["index"]))
    out: dict = {"images": n, "timesteps": int(timesteps)}
    if "labels" in cols:
        correct = int((cols["predictions"] == cols["labels"]).sum())
        out["correct"], out["accuracy"] = correct, correct / n
    found: dict = {}
    for key in (k for k in cols if k.startswith("counts/")):
        _, layer, counter = key.split("/")
        found.setdefault(layer, {})[counter] = int(cols[key].sum())
    order = [k for k in (layers or ()) if k in found] + [k for k in found if k not in (layers or ())]
    layers = {k: found[k] for k in order}
    for layer, tot in layers.items():
        size = int(neurons.get(layer, 0))
        tot["neurons"] = size
        tot["spike_rate"] = tot.get("spikes", 0) / (n * timesteps * size) if size else None
        tot["synops_per_image"] = tot.get("synops", 0) / n
    out["layers"] = layers
    out["synops_per_image"] = sum(t.get("synops", 0) for t in layers.values()) / n
    sam = {}
    scored = [k.split("/")[1] for k in cols if k.startswith("metrics/") and k.endswith("/pointing")]
    for layer in [k for k in order if k in scored]:
        key = f"metrics/{layer}/pointing"
        energy = cols[f"metrics/{layer}/energy"]
        sam[layer] = {"pointing_game": int(cols[key].sum()) / n,
                      "energy_in_mask": math.fsum(float(v) for v in energy) / n}
    if sam:
        out["sam"] = sam
    return out


def _columns_of(path) -> tuple:
    names = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset)
                     and (name.split("/")[0] in ("counts", "metrics") or name in ("index", "predictions", "labels"))
                     else None)
        neurons = {k: int(v) for k, v in f["neurons"].attrs.items()}
        timesteps = int(f.attrs["timesteps"])
    return names, neurons, timesteps


def reduce_run(run_dir) -> dict:
    """The summary of a whole run (every shard must be done and intact)."""
    run_dir = Path(run_dir)
    man = read_manifest(run_dir)
    files = shard_files(run_dir)
    names, neurons, timesteps = _columns_of(files[0])
    summary = summarize(read_columns(run_dir, names), neurons, timesteps, man.get("layers"))
    summary["run"] = {"dataset": man["options"]["dataset"], "model_sha256": man["model_sha256"],
                      "run_id": man["run_id"], "shards": man["num_shards"], "options": man["options"]}
    return summary


def markdown(summary: dict) -> str:
    """``summary.md``: the run, accuracy, a per-layer table and the SAM scores."""
    run = summary.get("run", {})
    opts = run.get("options", {})
    lines = [f"# Data-set run: {run.get('dataset', '?')}", "",
             f"- images: {summary['images']} in {run.get('shards', '?')} shard(s), T = {summary['timesteps']}",
             f"- model sha256: `{run.get('model_sha256', '?')}`",
             "- options: " + ", ".join(f"{k}={v}" for k, v in sorted(opts.items()) if k != "dataset")]
    if "accuracy" in summary:
        lines.append(f"- accuracy: {summary['accuracy']:.4f} ({summary['correct']}/{summary['images']})")
    lines.append(f"- synaptic operations per image (all layers): {summary['synops_per_image']:.1f}")
    lines += ["", "| layer | neurons | spike rate (per neuron per step) | synops per image | saturations |",
              "|---|---:|---:|---:|---:|"]
    for layer, t in summary["layers"].items():
        rate = "-" if t["spike_rate"] is None else f"{t['spike_rate']:.4f}"
        lines.append(f"| {layer} | {t['neurons']} | {rate} | {t['synops_per_image']:.1f} | {t.get('saturations', 0)} |")
    if "sam" in summary:
        lines += ["", "SAM against the object masks (maps summed over steps, resized to the mask; "
                  "see docs/metrics.md):", "", "| layer | pointing game | energy in mask |", "|---|---:|---:|"]
        for layer, s in summary["sam"].items():
            lines.append(f"| {layer} | {s['pointing_game']:.4f} | {s['energy_in_mask']:.4f} |")
    return "\n".join(lines) + "\n"


def write_summary(run_dir) -> dict:
    """Reduce a run and write ``DIR/summary.json`` and ``DIR/summary.md`` atomically; returns the summary."""
    run_dir = Path(run_dir)
    summary = reduce_run(run_dir)
    write_json(run_dir / "summary.json", summary)
    with atomic_output(run_dir / "summary.md", suffix=".md") as tmp:
        tmp.write_text(markdown(summary))
    return summary
