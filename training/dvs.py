"""SynthShapes-DVS for training and evaluation: binned event counts, optionally cached on disk.

Streams are synthesized by :class:`eventsim.synthshapes_dvs.SynthShapesDVS`
(default parameters) and binned with ``eventsim.events.to_frames(...,
n_time_bins=T, polarity="split")`` into int8 counts ``(N, T, 2, H, W)``: the
input of a network with ``input_encoding="counts"``.  Synthesis costs about
50 ms per stream, binning well under 1 ms, so a cache keeps the streams (the
HDF5 layout of :mod:`eventsim.dvs_io`), not the frames: one cache file
serves every ``T``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eventsim.dvs_io import EventDataset, write_event_dataset
from eventsim.synthshapes_dvs import SynthShapesDVS

from .errors import DatasetError

#: Bins of the masks in cache files (the masks are not used for training).
CACHE_MASK_BINS = 16


def cache_path(cache_dir, split, n, size, seed) -> Path:
    """File that caches streams ``0..n-1`` of a split."""
    return Path(cache_dir) / f"synthshapes-dvs_{split}_n{n}_size{size}_seed{seed}.h5"


def dvs_frames(split, n, size, seed, n_time_bins, cache_dir=None, progress=True) -> tuple:
    """Streams ``0..n-1`` of a SynthShapes-DVS split as training input.

    Parameters
    ----------
    split : {"train", "val", "test"}
    n : int
    size : int
        Sensor side.
    seed : int
        Data set seed.
    n_time_bins : int
        ``T``.
    cache_dir : str or Path, optional
        Read the streams from (or first write them to) :func:`cache_path`.
    progress : bool

    Returns
    -------
    frames : ndarray of int8, shape (n, T, 2, size, size)
    labels : ndarray of int64, shape (n,)

    Raises
    ------
    DatasetError
        A cache file made with other generator parameters.
    """
    ds = SynthShapesDVS(split, size=size, seed=seed, length=max(n, 1))
    if cache_dir is None:
        return ds.frames(0, n, n_time_bins, progress=progress)
    path = cache_path(cache_dir, split, n, size, seed)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_event_dataset(path, ds, 0, n, CACHE_MASK_BINS, progress=progress)
    cached = EventDataset(path)
    expected = json.loads(json.dumps(ds.params()))
    if cached.params != expected or len(cached) != n or cached.indices[0] != 0:
        raise DatasetError(f"{path}: cache made with other parameters ({cached.params}, {len(cached)} streams); "
                           f"expected {expected} and {n} streams from 0; delete it to regenerate")
    return cached.frames(n_time_bins, progress=progress), cached.labels.astype(np.int64)
