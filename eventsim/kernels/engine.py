"""The engine's driver: allocate each layer's buffers, call its batch kernel, assemble the :class:`Result`.

Layers run in order, each over all ``T`` steps of a chunk of images
(layer-wise order): a layer reads its source's spike bitmaps of every step
and writes its own.  Every spike of step ``t`` is decided from ``v[t-1]``
(DESIGN section 2), so the order changes nothing in the results; it lets
each layer be one specialised kernel call per thread.

Threads: the kernels release the GIL (``nogil``), so the driver splits a
chunk's images into ``numba.get_num_threads()`` contiguous ranges and runs
one range per thread; each image owns its rows of every buffer, so threads
never write the same memory.  (Plain threads instead of ``prange``: the
specialised kernels then compile in a fraction of the time, see
docs/engine.md.)
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from ..result import COUNTER_NAMES
from ..result import Result
from .interface import Outputs, Sam
from .jit import vectorizing

#: Images per call of the layer kernels (bounds the bitmap buffers; progress is reported between chunks).
CHUNK = 64


_pool_lock = threading.Lock()
_pool: list = []


def _executor() -> ThreadPoolExecutor:
    with _pool_lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(max_workers=max(1, numba.config.NUMBA_NUM_THREADS - 1),
                                            thread_name_prefix="eventsim"))
        return _pool[0]


def parallel_images(kernel, n, *args) -> None:
    """Call ``kernel(lo, hi, *args)`` on ``numba.get_num_threads()`` contiguous ranges of ``n`` images.

    The calling thread runs the first range itself while the pool runs the others.
    """
    parts = max(1, min(numba.get_num_threads(), n))
    bounds = [n * k // parts for k in range(parts + 1)]
    futures = [_executor().submit(kernel, lo, hi, *args) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    try:
        kernel(bounds[0], bounds[1], *args)
    finally:
        for future in futures:
            future.result()


def _clock() -> float:
    return time.thread_time() if numba.get_num_threads() == 1 else time.perf_counter()


class Workspace:
    """Scratch buffers of the layer kernels, kept between chunks and runs.

    Fresh multi-megabyte buffers cost page faults and the kernel's zeroing of
    new pages every run (0.4-0.6 ms of system time per image of the default
    model, about a third of the run); reused buffers cost nothing, and each
    kernel clears the per-image state it reads before writing
    (:func:`eventsim.kernels.neurons.reset_image`).  Buffers are sized for
    the largest chunk seen with the current ``T``, SAM layers and
    convention.  A workspace serves one run at a time (:attr:`lock`).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self._key = None
        self._layers = None

    def layers(self, plans, n, steps, sam_layers, reference) -> list:
        """Per-plan dicts of scratch arrays with at least ``n`` image rows."""
        key = (steps, tuple(sam_layers), bool(reference))
        if self._key != key or self._layers[0]["vol"].shape[0] < n:
            self._layers = [_scratch(p, n, steps, p.name in sam_layers, reference) for p in plans]
            self._key = key
        return self._layers


def _scratch(plan, n, steps, sam, reference) -> dict:
    c, h, w = plan.shape
    size = c * h * w if sam else 0
    border = plan.kernel_size - 1
    out = {"bits": np.empty((n, steps, h * w * plan.words) if plan.spiking else (n, 1, 0), np.uint64),
           "vol": np.empty((n, c * h * w), np.int32), "counters": np.empty((n, 4, steps), np.int64),
           "trace": np.empty((n, size), np.int64), "t_last": np.empty((n, size), np.int32),
           "count": np.empty((n, size if reference else 0), np.int32)}
    if plan.kind == "conv_input":
        out["grid"] = np.empty((n, (h + border) * (w + border) * plan.src_channels), np.int16)
    elif plan.kind == "conv_events":
        cell = (1 << plan.geometry.pool_shift) ** 2 * plan.src_channels
        out["acc"] = np.empty((n, c * (h + border) * (w + border)), np.int32)
        out["offsets"] = np.empty((n, cell), np.int64)
    else:
        out["acc"] = np.empty((n, c * h * w), np.int32)
    return out


def _run_layer(plan, scratch, m, src, x, table, reference, maps, in_spikes) -> Outputs:
    """Run one layer's batch kernel on the first ``m`` rows of its scratch buffers."""
    steps = x.shape[1]
    _, h, w = plan.shape
    outs = Outputs(scratch["bits"][:m], scratch["vol"][:m], scratch["counters"][:m])
    sam = Sam(table, bool(reference), scratch["trace"][:m], scratch["t_last"][:m], scratch["count"][:m],
              maps.reshape(m, steps, h * w) if maps is not None else np.zeros((m, 0, 0), np.float32))
    layer = (plan.weights, plan.neurons, sam, outs)
    if plan.kind == "conv_input":
        parallel_images(plan.batch, m, x, *layer, plan.geometry, scratch["grid"][:m], in_spikes)
    elif plan.kind == "conv_events":
        parallel_images(plan.batch, m, src, *layer, plan.geometry, scratch["acc"][:m], scratch["offsets"][:m])
    elif plan.kind == "dense_input":
        parallel_images(plan.batch, m, x, *layer, plan.geometry, scratch["acc"][:m], in_spikes)
    elif plan.kind == "dense_events":
        parallel_images(plan.batch, m, src, plan.src_channels, *layer, plan.geometry, scratch["acc"][:m])
    elif plan.kind == "generic_input":
        parallel_images(plan.batch, m, x, *layer, plan.fanout, scratch["acc"][:m], in_spikes)
    else:
        parallel_images(plan.batch, m, src, plan.src_channels, *layer, plan.fanout, scratch["acc"][:m])
    return outs


def unpack_bits(bits: np.ndarray, shape) -> np.ndarray:
    """Spike bitmaps ``(N, T, H*W*NW)`` uint64 to ``(N, T, C, H, W)`` uint8 (layout of :mod:`.neurons`)."""
    c, h, w = shape
    n, steps = bits.shape[:2]
    flat = np.unpackbits(bits.astype("<u8").view(np.uint8), axis=-1, bitorder="little")
    per_pos = flat.reshape(n, steps, h, w, -1)[..., :c]
    return np.ascontiguousarray(per_pos.transpose(0, 1, 4, 2, 3))


def _channels_first(vol: np.ndarray, shape) -> np.ndarray:
    c, h, w = shape
    return np.ascontiguousarray(vol.reshape(vol.shape[0], h, w, c).transpose(0, 3, 1, 2))


def run(plans, x, table, reference, sam_layers, voltage_scale, record=False, progress=None, layer_clock=None,
        workspace=None) -> Result:
    """Simulate input spikes through the planned layers.

    Parameters
    ----------
    plans : tuple of LayerPlan
        From :func:`eventsim.kernels.plan.build_plan`.
    x : ndarray of int8, shape (N, T, C, H, W)
        Input spikes.
    table : ndarray of int64, shape (T + 1,)
        SAM decay table.
    reference : bool
        ``"reference"`` SAM convention.
    sam_layers : sequence of str
    voltage_scale : float
        Real value of one output voltage unit (``logits = v * voltage_scale / T``); unused when the
        output layer spikes (``logits`` are then its spike counts per class over the ``T`` steps).
    record : bool
        Also return spikes and final voltages.
    progress : callable, optional
        Called with the number of images finished after each chunk.
    layer_clock : dict, optional
        When given, ``layer_clock[name]`` accumulates the seconds (thread CPU
        time with one thread, wall time otherwise) spent in each layer's
        kernel, for the per-layer benchmark.
    workspace : Workspace, optional
        Scratch buffers to reuse (a :class:`~eventsim.Simulator` keeps one);
        a busy or missing one is replaced by a fresh one for this run.

    Returns
    -------
    Result
        ``attrs`` empty (the caller fills them).
    """
    n, steps = x.shape[:2]
    x = np.ascontiguousarray(x, np.int8)
    sam = {p.name: np.zeros((n, steps) + p.shape[1:], np.float32) for p in plans if p.name in sam_layers}
    counters = {p.name: np.zeros((n, 4, steps), np.int64) for p in plans}
    in_spikes = np.zeros((n, steps), np.int64)
    spikes = {p.name: np.zeros((n, steps) + p.shape, np.uint8) for p in plans if p.spiking} if record else None
    voltages = {p.name: np.zeros((n,) + p.shape, np.int32) for p in plans} if record else None
    out_v = np.zeros((n, plans[-1].shape[0]), np.int64)
    out_spikes = np.zeros((n, plans[-1].shape[0]), np.int64)
    if workspace is None or not workspace.lock.acquire(blocking=False):
        workspace = Workspace()
        workspace.lock.acquire()
    try:
        scratch = workspace.layers(plans, min(n, CHUNK), steps, sam_layers, reference)
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            done = []
            with vectorizing():
                for p, buffers in zip(plans, scratch):
                    maps = sam[p.name][lo:hi] if p.name in sam else None
                    src = done[p.source].bits if p.source >= 0 else None
                    start = _clock()
                    outs = _run_layer(p, buffers, hi - lo, src, x[lo:hi], table, reference, maps, in_spikes[lo:hi])
                    if layer_clock is not None:
                        layer_clock[p.name] = layer_clock.get(p.name, 0.0) + _clock() - start
                    done.append(outs)
            for p, outs in zip(plans, done):
                counters[p.name][lo:hi] = outs.counters
                if record:
                    voltages[p.name][lo:hi] = _channels_first(outs.vol, p.shape)
                    if p.spiking:
                        spikes[p.name][lo:hi] = unpack_bits(outs.bits, p.shape)
            out_v[lo:hi] = done[-1].vol
            if plans[-1].spiking:
                out_spikes[lo:hi] = unpack_bits(done[-1].bits, plans[-1].shape).sum(axis=1).reshape(hi - lo, -1)
            if progress is not None:
                progress(hi - lo)
    finally:
        workspace.lock.release()
    counts = {name: {key: np.ascontiguousarray(c[:, i]) for i, key in enumerate(COUNTER_NAMES)}
              for name, c in counters.items()}
    counts["input"] = {key: in_spikes if key == "spikes" else np.zeros_like(in_spikes) for key in COUNTER_NAMES}
    logits = out_spikes.astype(np.float64) if plans[-1].spiking else out_v * voltage_scale / steps
    return Result(logits=logits, sam=sam, counts=counts, attrs={}, spikes=spikes, voltages=voltages)
