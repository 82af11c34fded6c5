"""``eventsim demo``: run the default model with SAM and write pictures.

Until the trained default model ships (``eventsim/data/default_model.h5``),
the demo uses a small random model on random-blob images and says so.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .random_models import random_model
from .simulator import Simulator

def _blob_images(n, shape, seed):
    """Smooth random blobs on a dark background: a stand-in data set."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((n, c, h, w))
    for i in range(n):
        cy, cx, r = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w, rng.uniform(0.12, 0.25) * h
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        out[i] = blob[None] * rng.uniform(0.5, 1.0, (c, 1, 1)) + rng.uniform(0, 0.15, (c, h, w))
    return np.clip(out, 0, 1)


def run_demo(out_dir="demo-out", n_images=4, seed=0) -> int:
    """Simulate a few images with SAM at every conv layer; write PNG, GIF, HDF5, summary."""
    from .plots import sam_gif, sam_grid, save_figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = random_model(seed=7, input_shape=(3, 32, 32), timesteps=20, name="random-demo")
    images = _blob_images(n_images, model.input_shape, seed)
    label = "a small built-in RANDOM model (the trained default model has not shipped yet)"
    print(f"eventsim demo: {label}")
    sim = Simulator(model, sam_gamma=0.5)
    sim.run(images=images[:1], timesteps=2)  # compile outside the timing
    t0 = time.perf_counter()
    result = sim.run(images=images, seed=seed)
    elapsed = time.perf_counter() - t0
    np.save(out / "images.npy", images.astype(np.float32))
    result.save(out / "result.h5")
    written = [out / "images.npy", out / "result.h5"]
    for i in range(n_images):
        sam = {name: maps[i] for name, maps in result.sam.items()}
        png = save_figure(sam_grid(images[i], sam, title=f"SAM, image {i}, prediction {result.predictions[i]}"),
                          out / f"sam_grid_{i}.png")
        gif = sam_gif(images[i], sam, out / f"sam_{i}.gif")
        written += [png, gif]
    summary = out / "summary.md"
    summary.write_text(_summary(model, result, elapsed, label))
    written.append(summary)
    print(f"simulated {n_images} images x {result.timesteps} steps in {elapsed:.2f} s")
    for path in written:
        print(f"  wrote {path}")
    return 0


def _summary(model, result, elapsed, label) -> str:
    lines = [f"# eventsim demo\n", f"Model: {label} (`{model.name}`, sha256 `{model.sha256[:16]}`).\n",
             f"Simulated {result.logits.shape[0]} images for T={result.timesteps} in {elapsed:.3f} s.\n",
             "| layer | spikes/image | spike rate | synaptic ops/image |", "|---|---:|---:|---:|"]
    rates = result.spike_rates()
    for name, c in result.counts.items():
        lines.append(f"| {name} | {c['spikes'].sum(1).mean():.0f} | {rates.get(name, 0):.4f} | "
                     f"{c['synops'].sum(1).mean():.0f} |")
    return "\n".join(lines) + "\n"
