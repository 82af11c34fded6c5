"""``eventsim demo``: the shipped default model, on-line SAM, pictures and a summary.

Runs :func:`eventsim.default_model` (a spiking VGG trained on SynthShapes,
see ``docs/training.md``) with SAM at every spiking layer on a few
SynthShapes test images and writes to the output folder:

* ``sam_grid_<i>.png``: layers x time steps, the paper's Fig. 5 layout;
* ``sam_<i>.gif``: every step, one panel per layer;
* ``index.html``: the interactive viewer (``eventsim view``, ``docs/view.md``), from
  the same run with spikes recorded so that it reads spike counts per position;
* ``result.h5``: the :class:`~eventsim.Result` (``eventsim plot`` reads it);
* ``images.npy`` and ``labels.npy``: the inputs;
* ``summary.md``: accuracy on these images, spikes and synaptic operations
  per layer, and the share of the run time that SAM costs (the same run
  timed with SAM at every spiking layer and with ``sam_layers=[]``).

SynthShapes (:mod:`eventsim.synthshapes`) is NumPy-only, so the demo needs no PyTorch.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .io import atomic_output, save_npy
from .assets import default_model
from .model_io import load_model
from .simulator import Simulator
from .synthshapes import CLASSES, SynthShapes


def _best_time(sim, spikes, repeats):
    best, result = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = sim.run(spikes=spikes)
        best = min(best, time.perf_counter() - t0)
    return best, result


def run_demo(out_dir="demo-out", n_images=4, seed=0, repeats=3) -> int:
    """Simulate ``n_images`` SynthShapes test images with SAM; write pictures, result and summary.

    Parameters
    ----------
    out_dir : str or Path
        Created if missing.
    n_images : int
        Test images ``0 .. n_images - 1``.
    seed : int
        Poisson encoder seed.
    repeats : int
        Timed runs per configuration (the fastest counts).

    Returns
    -------
    int
        0 on success.
    """
    from .plots import sam_gif, sam_grid, save_figure
    from .view import write_html

    path = default_model()
    model = load_model(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images, labels, _, _ = SynthShapes("test", size=model.input_shape[1:], length=max(n_images, 1)).arrays()
    print(f"eventsim demo: default model {path.name} ({model.name}, T={model.default_timesteps}) "
          f"on {n_images} SynthShapes test images")
    with_sam = Simulator(model, sam_gamma=0.5, sam_layers=model.spiking_layers)
    without = Simulator(model, sam_layers=[])
    spikes = with_sam.input_spikes(images=images, seed=seed)
    with_sam.run(spikes=spikes[:1, :2])          # compile outside the timing
    without.run(spikes=spikes[:1, :2])
    t_sam, result = _best_time(with_sam, spikes, repeats)
    t_plain, _ = _best_time(without, spikes, repeats)
    save_npy(out / "images.npy", images)
    save_npy(out / "labels.npy", labels)
    result.save(out / "result.h5")
    written = [out / "images.npy", out / "labels.npy", out / "result.h5"]
    recorded = with_sam.run(spikes=spikes, record_spikes=True)
    written.append(write_html(recorded, images, out / "index.html",
                              title=f"eventsim demo: SAM over time, default model on {n_images} SynthShapes images"))
    for i in range(n_images):
        sam = {name: maps[i] for name, maps in result.sam.items()}
        truth, pred = CLASSES[labels[i]], CLASSES[result.predictions[i]]
        title = f"SAM (gamma 0.5), test image {i}: {truth}, predicted {pred}"
        written.append(save_figure(sam_grid(images[i], sam, title=title), out / f"sam_grid_{i}.png"))
        written.append(sam_gif(images[i], sam, out / f"sam_{i}.gif"))
    summary = out / "summary.md"
    with atomic_output(summary, suffix=".md") as tmp:
        tmp.write_text(_summary(model, path, result, labels, t_sam, t_plain))
    written.append(summary)
    acc = float(np.mean(result.predictions == labels))
    print(f"simulated {n_images} images x {result.timesteps} steps in {t_sam:.3f} s with SAM "
          f"({t_plain:.3f} s without); accuracy {acc:.2f}")
    for p in written:
        print(f"  wrote {p}")
    return 0


def _summary(model, path, result, labels, t_sam, t_plain) -> str:
    n = len(labels)
    acc = float(np.mean(result.predictions == labels))
    share = max(0.0, (t_sam - t_plain) / t_sam) if t_sam > 0 else 0.0
    lines = [
        "# eventsim demo\n",
        f"Model: `{path.name}` (`{model.name}`, sha256 `{model.sha256[:16]}`), T = {result.timesteps}, "
        f"SAM gamma = {result.attrs['gamma']} at {', '.join(result.sam)}.\n",
        f"Accuracy on these {n} SynthShapes test images: **{acc:.2f}** "
        f"({int(round(acc * n))}/{n}).\n",
        "| image | label | prediction |", "|---:|---|---|",
    ]
    lines += [f"| {i} | {CLASSES[labels[i]]} | {CLASSES[result.predictions[i]]} |" for i in range(n)]
    lines += ["", "Per image (mean over the images):\n",
              "| layer | spikes | spike rate | synaptic ops | SAM updates |", "|---|---:|---:|---:|---:|"]
    rates = result.spike_rates()
    for name in ["input", *model.spiking_layers, model.output_layer.name]:
        c = result.counts[name]
        spiking = name != model.output_layer.name
        spikes = f"{c['spikes'].sum(1).mean():.0f}" if spiking else "-"
        rate = f"{rates.get(name, 0):.4f}" if spiking else "-"
        lines.append(f"| {name} | {spikes} | {rate} | {c['synops'].sum(1).mean():.0f} | "
                     f"{c['sam_updates'].sum(1).mean():.0f} |")
    lines += ["", "Synaptic operations are counted at the receiving layer (weights added, border-clipped)."]
    lines += ["", f"Run time for the batch (fastest of repeated runs): {t_sam * 1e3:.1f} ms with SAM at every "
              f"spiking layer, {t_plain * 1e3:.1f} ms without (`sam_layers=[]`): SAM's share of the time is "
              f"**{100 * share:.1f} %**.", ""]
    return "\n".join(lines)
