"""Shared benchmark machinery: models, interleaved timing, peak memory, output files.

Numbers are ratios measured side by side in one run: the machine is shared
and noisy, so absolute seconds are reported only as context.
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np

from eventsim import Simulator, encode_poisson
from eventsim.model import Model
from eventsim.random_models import random_model

#: A small VGG for cases that need constant gains (long T) or other input sizes.
STANDIN_ARCH = (("conv", 32), ("pool", 0), ("conv", 64), ("pool", 0), ("conv", 64), ("gap", 0), ("dense", 64))


@dataclasses.dataclass(frozen=True)
class Bench:
    """What every case gets: the size of the run, where to write, and the model.

    Attributes
    ----------
    quick : bool
        Small sizes and few repeats.
    out_dir : Path
        Folder for plots.
    model : Model
        The model under test (the default model unless ``--model`` is given).
    label : str
        How the report names it.
    path : str or None
        The model file given with ``--model``, if any.
    """

    quick: bool
    out_dir: Path
    model: Model
    label: str
    path: str | None = None


def bench_model(path=None, quick=False):
    """The model to benchmark and its label.

    ``path`` if given; else the shipped default model; else a random stand-in
    (a small VGG with per-step gains) so the suite still runs.
    """
    from eventsim import default_model, load_model

    if path is not None:
        return load_model(path), f"model file {path}"
    try:
        return load_model(default_model()), "default model"
    except FileNotFoundError:
        shape = (3, 32, 32) if quick else (3, 64, 64)
        return random_model(seed=0, input_shape=shape, arch=STANDIN_ARCH, timesteps=25,
                            name="standin"), "random stand-in (default model missing)"


def constant_gain_model(input_shape=(3, 32, 32), firing=1.0, seed=0) -> Model:
    """Random small VGG with time-constant gains, so any ``T`` can run."""
    return random_model(seed=seed, input_shape=input_shape, arch=STANDIN_ARCH, timesteps=10,
                        per_step_gain=False, firing=firing, name=f"const-{input_shape[1]}")


def test_images(model: Model, n: int, seed: int = 0) -> np.ndarray:
    """``n`` SynthShapes test images at the model's input size (uniform noise if that cannot be had).

    SynthShapes needs the training package and 3-channel inputs of at least 16 pixels.
    """
    c, h, w = model.input_shape
    try:
        from training.data import SynthShapes

        if c == 3 and min(h, w) >= 16:
            return SynthShapes("test", size=(h, w), seed=seed, length=n).arrays(0, n)[0]
    except ImportError:
        pass
    return np.random.default_rng(seed).uniform(0, 1, (n,) + model.input_shape)


def input_spikes(model: Model, images: np.ndarray, timesteps=None, seed=0) -> np.ndarray:
    steps = timesteps or model.default_timesteps
    return encode_poisson(images, steps, seed, mean=model.input_mean, std=model.input_std)


def with_threshold_scale(model: Model, factor: float) -> Model:
    """The same model with every spiking threshold multiplied by ``factor``."""
    layers = []
    for layer in model.layers:
        if layer.is_neuron and layer.spiking:
            floats = dataclasses.replace(layer.floats, threshold=layer.floats.threshold * factor)
            theta = np.clip(np.rint(layer.theta * factor), 1, 2**23 - 1).astype(np.int64)
            layer = dataclasses.replace(layer, theta=theta, floats=floats)
        layers.append(layer)
    return dataclasses.replace(model, layers=tuple(layers), name=f"{model.name}-theta-x{factor:.3g}")


def hidden_rate(result, model: Model) -> float:
    """Spikes per hidden neuron per step over all spiking layers."""
    spikes = sum(int(result.counts[n]["spikes"].sum()) for n in model.spiking_layers)
    neurons = sum(model.layer(n).num_neurons for n in model.spiking_layers)
    return spikes / (neurons * result.logits.shape[0] * result.timesteps)


def model_at_rate(model: Model, spikes: np.ndarray, target: float, iters: int = 14):
    """Scale thresholds by bisection until the hidden spike rate is near ``target``.

    Returns
    -------
    model : Model
    rate : float
        The rate reached.
    """
    lo, hi = np.log(0.02), np.log(20.0)
    best = None
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        scaled = with_threshold_scale(model, float(np.exp(mid)))
        rate = hidden_rate(Simulator(scaled, sam_layers=[]).run(spikes=spikes), scaled)
        if best is None or abs(rate - target) < abs(best[1] - target):
            best = (scaled, rate)
        if abs(rate - target) < 0.05 * target:
            break
        lo, hi = (lo, mid) if rate < target else (mid, hi)
    return best


def time_rounds(fns: dict, repeats: int, warmup: int = 1) -> dict:
    """Seconds of each callable in each of ``repeats`` round-robin rounds: ``{key: [s, ...]}``."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return times


def time_interleaved(fns: dict, repeats: int, warmup: int = 1) -> dict:
    """Median seconds of each callable over ``repeats`` round-robin rounds."""
    return {k: float(np.median(v)) for k, v in time_rounds(fns, repeats, warmup).items()}


def spread(values) -> dict:
    """``{"min", "median", "max"}`` of per-round values (e.g. the ratio of two contenders in each round)."""
    v = np.asarray(values, np.float64)
    return {"min": float(v.min()), "median": float(np.median(v)), "max": float(v.max())}


def ratio_spread(num, den) -> dict:
    """:func:`spread` of ``num[r] / den[r]`` over rounds ``r`` timed side by side."""
    return spread(np.asarray(num, np.float64) / np.asarray(den, np.float64))


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _RssSampler(threading.Thread):
    """Poll this process's resident set size every ``interval`` seconds; keep the maximum."""

    def __init__(self, interval=0.0005):
        super().__init__(daemon=True)
        self.interval, self.peak, self._stop_event = interval, _rss_bytes(), threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak, _rss_bytes())


def _child(conn, fn, args):
    try:
        warm, job = fn(*args)
        warm()
        base = _rss_bytes()
        sampler = _RssSampler()
        sampler.start()
        t0 = time.perf_counter()
        job()
        elapsed = time.perf_counter() - t0
        peak = sampler.stop()
        conn.send({"peak_mb": (peak - base) / 2**20, "base_rss_mb": base / 2**20, "seconds": elapsed})
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


def peak_memory(fn, *args, timeout=900) -> dict:
    """Peak resident memory growth of a job, measured in a fresh process.

    ``fn(*args)`` runs in a spawned child and returns ``(warm, job)``: two
    callables.  ``warm`` compiles and imports whatever ``job`` needs; then the
    child samples its RSS every 0.5 ms while ``job`` runs.  ``fn`` must be a
    module-level function (the child imports it by name).

    Returns
    -------
    dict
        ``peak_mb`` (maximum RSS during ``job`` minus RSS before it),
        ``base_rss_mb`` and ``seconds``.
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args))
    proc.start()
    child.close()
    if not parent.poll(timeout):
        proc.kill()
        raise TimeoutError(f"memory measurement of {fn.__name__} exceeded {timeout} s")
    out = parent.recv()
    proc.join()
    if "error" in out:
        raise RuntimeError(f"{fn.__name__} failed in the measuring process: {out['error']}")
    return out


def machine_info() -> dict:
    import numba
    import numpy

    info = {"python": platform.python_version(), "numpy": numpy.__version__, "numba": numba.__version__,
            "cpus": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "load_average": os.getloadavg()}
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    return info


def write_json(path: Path, data) -> Path:
    """Write JSON atomically (temp file, then rename)."""
    from eventsim.io import atomic_output

    with atomic_output(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=float))
    return path


def markdown_table(rows: list, columns: list, fmt: dict | None = None) -> str:
    """A Markdown table of ``rows`` (dicts) with the given ``columns``."""
    fmt = fmt or {}
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" for _ in columns) + "|"]
    for row in rows:
        cells = []
        for col in columns:
            val = row.get(col, "")
            cells.append(fmt.get(col, "{}").format(val) if val != "" else "")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)
