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
            _pool.append(ThreadPoolExecutor(max_workers=numba.config.NUMBA_NUM_THREADS,
                                            thread_name_prefix="eventsim"))
        return _pool[0]


def parallel_images(kernel, n, *args) -> None:
    """Call ``kernel(lo, hi, *args)`` on ``numba.get_num_threads()`` contiguous ranges of ``n`` images."""
    parts = max(1, min(numba.get_num_threads(), n))
    if parts == 1:
        kernel(0, n, *args)
        return
    bounds = [n * k // parts for k in range(parts + 1)]
    futures = [_executor().submit(kernel, lo, hi, *args) for lo, hi in zip(bounds[:-1], bounds[1:])]
    for future in futures:
        future.result()


def _sam(plan, n, steps, table, reference, maps) -> Sam:
    """The :class:`Sam` of one layer for ``n`` images; ``maps`` is ``None`` for a layer without SAM."""
    c, h, w = plan.shape
    size = c * h * w if maps is not None else 0
    return Sam(table, bool(reference), np.zeros((n, size), np.int64), np.zeros((n, size), np.int32),
               np.zeros((n, size if reference else 0), np.int32),
               maps.reshape(n, steps, h * w) if maps is not None else np.zeros((n, 0, 0), np.float32))


def _run_layer(plan, src, x, sam, in_spikes) -> Outputs:
    """Allocate one layer's outputs and scratch for a chunk and run its batch kernel."""
    n, steps = x.shape[:2]
    c, h, w = plan.shape
    bits = np.zeros((n, steps, h * w * plan.words) if plan.spiking else (n, 1, 0), np.uint64)
    outs = Outputs(bits, np.zeros((n, c * h * w), np.int32), np.zeros((n, 4, steps), np.int64))
    args = (plan.weights, plan.neurons, sam, outs, plan.geometry)
    if plan.kind == "conv_input":
        border = plan.kernel_size - 1
        grid = np.zeros((n, (h + border) * (w + border) * plan.src_channels), np.int16)
        parallel_images(plan.batch, n, x, *args, grid, in_spikes)
    elif plan.kind == "conv_events":
        cell = (1 << plan.geometry.pool_shift) ** 2 * plan.src_channels
        border = plan.kernel_size - 1
        acc = np.zeros((n, c * (h + border) * (w + border)), np.int32)
        parallel_images(plan.batch, n, src, *args, acc, np.zeros((n, cell), np.int64))
    elif plan.kind == "dense_input":
        parallel_images(plan.batch, n, x, *args, np.zeros((n, c), np.int32), in_spikes)
    else:
        parallel_images(plan.batch, n, src, plan.src_channels, *args, np.zeros((n, c), np.int32))
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


def run(plans, x, table, reference, sam_layers, voltage_scale, record=False, progress=None) -> Result:
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
        Real value of one output voltage unit (``logits = v * voltage_scale / T``).
    record : bool
        Also return spikes and final voltages.
    progress : callable, optional
        Called with the number of images finished after each chunk.

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
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        done = []
        with vectorizing():
            for p in plans:
                maps = sam[p.name][lo:hi] if p.name in sam else None
                src = done[p.source].bits if p.source >= 0 else None
                outs = _run_layer(p, src, x[lo:hi], _sam(p, hi - lo, steps, table, reference, maps),
                                  in_spikes[lo:hi])
                done.append(outs)
        for p, outs in zip(plans, done):
            counters[p.name][lo:hi] = outs.counters
            if record:
                voltages[p.name][lo:hi] = _channels_first(outs.vol, p.shape)
                if p.spiking:
                    spikes[p.name][lo:hi] = unpack_bits(outs.bits, p.shape)
        out_v[lo:hi] = done[-1].vol
        if progress is not None:
            progress(hi - lo)
    counts = {name: {key: np.ascontiguousarray(c[:, i]) for i, key in enumerate(COUNTER_NAMES)}
              for name, c in counters.items()}
    counts["input"] = {key: in_spikes if key == "spikes" else np.zeros_like(in_spikes) for key in COUNTER_NAMES}
    return Result(logits=out_v * voltage_scale / steps, sam=sam, counts=counts, attrs={}, spikes=spikes, voltages=voltages)
