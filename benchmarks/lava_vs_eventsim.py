"""Time per sample of the Lava graph vs the eventsim engine on the same model and spikes.

Run in ``.venv-lava``::

    python benchmarks/lava_vs_eventsim.py [--quick] [--model MODEL.h5] [--json OUT.json]

A benchmark runner can import :func:`measure`.  Both backends get the same
int8 spike tensor and the results are checked to be bit-identical.  Lava is
timed end to end (:func:`lava_port.run`: graph build, process start-up,
run, stop) and per extra sample (the slope between a one-sample run and the
full batch), which separates its fixed start-up cost from the steady cost of
the N samples that run back to back in one graph.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make this checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import lava_port  # noqa: E402
from eventsim import Simulator, default_model, load_model  # noqa: E402
from eventsim.model import synapse_count  # noqa: E402
from eventsim.random_models import random_model  # noqa: E402

QUICK_ARCH = (("conv", 8), ("pool", 0), ("conv", 16), ("gap", 0), ("dense", 16))
FULL_ARCH = (("conv", 16), ("pool", 0), ("conv", 32), ("pool", 0), ("conv", 64), ("pool", 0), ("conv", 64), ("gap", 0))


def _median_time(fn, repeats):
    """Median seconds of ``repeats`` calls of ``fn`` and its last output."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def _identical(a, b) -> bool:
    return (np.array_equal(a.logits, b.logits)
            and all(np.array_equal(a.sam[k], b.sam[k]) for k in a.sam)
            and all(np.array_equal(a.counts[k][c], b.counts[k][c]) for k in a.counts for c in a.counts[k]))


def measure(model, spikes, *, repeats=3) -> dict:
    """Seconds per sample of eventsim and Lava on ``spikes``, and their ratio.

    Parameters
    ----------
    model : eventsim.Model
    spikes : ndarray of int8, shape (N, T, C, H, W)
        ``N >= 2`` samples.
    repeats : int
        eventsim runs (after a warm-up); the median is kept.  Lava runs once
        per batch size, after a one-sample warm-up.

    Returns
    -------
    dict
        ``eventsim_s_per_sample``; ``lava_s_per_sample`` (end to end / N);
        ``lava_fixed_s`` and ``lava_marginal_s_per_sample`` (from a one-sample
        run and the N-sample run); ``ratio`` and ``ratio_marginal`` (Lava /
        eventsim); ``bit_exact`` (logits, SAM maps and counters equal); and
        the sizes ``n_samples``, ``timesteps``, ``neurons``, ``synapses``.
    """
    n, steps = spikes.shape[:2]
    if n < 2:
        raise ValueError(f"spikes: need at least 2 samples to separate fixed and per-sample cost, got {n}")
    sim = Simulator(model)
    sim.run(spikes=spikes[:1])  # compile / load the Numba kernels
    t_eventsim, expected = _median_time(lambda: sim.run(spikes=spikes), repeats)
    lava_port.run(model, spikes[:1])  # first Lava run of the process: imports, discovery
    t_one, _ = _median_time(lambda: lava_port.run(model, spikes[:1]), 1)
    t_lava, got = _median_time(lambda: lava_port.run(model, spikes), 1)
    marginal = (t_lava - t_one) / (n - 1)
    per_eventsim = t_eventsim / n
    return {
        "model": model.name, "n_samples": int(n), "timesteps": int(steps),
        "neurons": int(sum(layer.num_neurons for layer in model.neuron_layers)),
        "synapses": int(sum(synapse_count(layer) for layer in model.neuron_layers)),
        "eventsim_s_per_sample": per_eventsim,
        "lava_s_per_sample": t_lava / n,
        "lava_fixed_s": t_one - marginal,
        "lava_marginal_s_per_sample": marginal,
        "ratio": t_lava / n / per_eventsim,
        "ratio_marginal": marginal / per_eventsim,
        "bit_exact": _identical(expected, got),
    }


def _case(quick, model_path):
    if model_path:
        model = load_model(model_path)
    elif quick:
        model = random_model(seed=0, input_shape=(3, 16, 16), arch=QUICK_ARCH, num_classes=10, timesteps=20)
    else:
        try:
            model = load_model(default_model())
        except FileNotFoundError:
            model = random_model(seed=0, input_shape=(3, 32, 32), arch=FULL_ARCH, num_classes=10, timesteps=20,
                                 name="random-small-vgg")
    n = 3 if quick else 8
    images = np.random.default_rng(0).random((n,) + tuple(model.input_shape))
    return model, Simulator(model).input_spikes(images=images, seed=0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small random model, 3 samples")
    p.add_argument("--model", help="model file (default: the default model, else a random small VGG)")
    p.add_argument("--json", help="also write the measurements to this JSON file")
    args = p.parse_args(argv)
    model, spikes = _case(args.quick, args.model)
    out = measure(model, spikes, repeats=2 if args.quick else 3)
    for key, value in out.items():
        print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if out["bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
