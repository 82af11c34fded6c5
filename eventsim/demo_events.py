"""``eventsim demo --events``: the packaged DVS model on event streams, SAM following the moving object.

Runs :func:`eventsim.default_model` ``("dvs")`` (a spiking VGG trained on
SynthShapes-DVS event counts, ``docs/training.md``) with SAM at every
spiking layer on a few SynthShapes-DVS test streams (``docs/events.md``):
each stream is fed as events (``Simulator.run(events=...)``), binned into the
model's ``T`` steps.  Writes to the output folder:

* ``events_<i>.gif``: every time step, the step's ON/OFF events beside the
  SAM of each layer over them, with the object's outline at that step;
* ``events_<i>.npy``: the stream itself (structured ``x, y, t, p``), so that
  ``eventsim run MODEL --events events_0.npy`` reproduces the run;
* ``events_result.h5``: the :class:`~eventsim.Result`;
* ``events_index.html``: the interactive viewer (``eventsim view``) of the same
  run with spikes recorded, each stream shown as its events summed over time;
* ``events_summary.md``: predictions, events per stream, spikes and synaptic
  operations per layer, and how often SAM points at the object per layer.

SynthShapes-DVS is NumPy-only, so the demo needs no PyTorch.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .assets import default_model
from .io import atomic_output, save_npy
from .metrics import POINTING_TOLERANCE, pointing_game
from .model_io import load_model
from .simulator import Simulator
from .synthshapes import CLASSES
from .synthshapes_dvs import SynthShapesDVS


def run_event_demo(out_dir="demo-out", n_streams=4, gamma=0.5) -> int:
    """Simulate ``n_streams`` SynthShapes-DVS test streams with SAM; write GIFs, streams, result and summary.

    Parameters
    ----------
    out_dir : str or Path
        Created if missing.
    n_streams : int
        Test streams ``0 .. n_streams - 1``.
    gamma : float
        SAM kernel steepness.

    Returns
    -------
    int
        0 on success.
    """
    from .event_plots import events_sam_gif, stream_picture
    from .view import write_html

    path = default_model("dvs")
    model = load_model(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = model.default_timesteps
    ds = SynthShapesDVS("test", size=model.input_shape[-1], length=n_streams)
    data = ds.binned(0, n_streams, steps)
    print(f"eventsim demo --events: DVS model {path.name} ({model.name}, T={steps}) on {n_streams} "
          f"SynthShapes-DVS test streams")
    sim = Simulator(model, sam_gamma=gamma, sam_layers=model.spiking_layers)
    result = sim.run(events=data["events"], sensor_size=ds.sensor_size, record_spikes=True)
    result.save(out / "events_result.h5")
    written = [out / "events_result.h5", write_html(
        result, np.stack([stream_picture(f) for f in data["frames"]]), out / "events_index.html",
        title=f"eventsim demo --events: SAM over time, DVS model on {n_streams} SynthShapes-DVS streams")]
    labels, masks = data["labels"], data["masks"]
    for i, events in enumerate(data["events"]):
        save_npy(out / f"events_{i}.npy", events)
        title = (f"stream {i}: {CLASSES[labels[i]]}, predicted {CLASSES[result.predictions[i]]} "
                 f"({len(events)} events, {ds.duration_us // 1000} ms)")
        sam = {name: maps[i] for name, maps in result.sam.items()}
        written += [out / f"events_{i}.npy", events_sam_gif(data["frames"][i], sam, out / f"events_{i}.gif",
                                                            masks=masks[i], title=title)]
    summary = out / "events_summary.md"
    with atomic_output(summary, suffix=".md") as tmp:
        tmp.write_text(_summary(model, path, result, labels, [len(e) for e in data["events"]], masks))
    written.append(summary)
    acc = float(np.mean(result.predictions == labels))
    print(f"simulated {n_streams} streams x {result.timesteps} steps; accuracy {acc:.2f}")
    for p in written:
        print(f"  wrote {p}")
    return 0


def _summary(model, path, result, labels, n_events, masks) -> str:
    n = len(labels)
    acc = float(np.mean(result.predictions == labels))
    lines = [
        "# eventsim demo --events\n",
        f"Model: `{path.name}` (`{model.name}`, sha256 `{model.sha256[:16]}`), input {model.input_encoding} "
        f"{tuple(model.input_shape)}, T = {result.timesteps}, SAM gamma = {result.attrs['gamma']} at "
        f"{', '.join(result.sam)}.\n",
        f"Accuracy on these {n} SynthShapes-DVS test streams: **{acc:.2f}** ({int(round(acc * n))}/{n}).\n",
        "| stream | events | label | prediction |", "|---:|---:|---|---|",
    ]
    lines += [f"| {i} | {n_events[i]} | {CLASSES[labels[i]]} | {CLASSES[result.predictions[i]]} |" for i in range(n)]
    tol = POINTING_TOLERANCE * masks.shape[-1]
    lines += ["", "Per stream (mean over the streams). *Pointing*: of the layer's SAM maps that are not all zero "
              f"(one per stream and step), the share whose maximum lies within {tol:.1f} px (Zhang et al.'s "
              "pointing-game tolerance, 15/224 of the side) of the object's mask *at that step*: the object "
              "moves.\n",
              "| layer | spikes | spike rate | synaptic ops | pointing |", "|---|---:|---:|---:|---:|"]
    rates = result.spike_rates()
    for name in model.spiking_layers:
        c = result.counts[name]
        point = "-"
        if name in result.sam:
            sam = result.sam[name]
            hits = np.stack([pointing_game(sam[:, t], masks[:, t], tol) for t in range(sam.shape[1])], axis=1)
            shown = np.any(sam > 0, axis=(2, 3))
            point = f"{hits[shown].mean():.2f}" if shown.any() else "-"
        lines.append(f"| {name} | {c['spikes'].sum(1).mean():.0f} | {rates.get(name, 0):.4f} | "
                     f"{c['synops'].sum(1).mean():.0f} | {point} |")
    lines += ["", "Each GIF shows, per time step, the step's events (ON red, OFF blue) and each layer's SAM over "
              "them (min-max per layer over time); the white outline is the object at that step.", ""]
    return "\n".join(lines)
