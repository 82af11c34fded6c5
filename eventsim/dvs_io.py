"""Files of many labelled event streams (SynthShapes-DVS exports): writing and reading.

Layout (HDF5, written atomically; ``N`` streams, ``T`` mask bins, sensor ``(W, H, P)``):

=====================  ==================  ==============================================
path                   dtype, shape        meaning
=====================  ==================  ==============================================
``/streams/x``         int16 (E,)          all streams' events, concatenated
``/streams/y``         int16 (E,)
``/streams/t``         int64 (E,)          microseconds; non-decreasing within a stream
``/streams/p``         int8 (E,)           polarity channel (1 ON, 0 OFF)
``/streams/offsets``   int64 (N + 1,)      stream ``k`` is events ``offsets[k]:offsets[k+1]``
``/labels``            int64 (N,)          class index
``/indices``           int64 (N,)          item index in the data set's split
``/masks``             bool (N, T, H, W)   object mask at the centre of each bin
``/bin_edges``         int64 (N, T + 1)    the bins of ``to_frames(stream, n_time_bins=T)``
=====================  ==================  ==============================================

Root attributes: ``format`` (``"eventsim-event-dataset"``), ``version`` (1),
``dataset`` (``"synthshapes-dvs"``), ``sensor_size`` (int64 ``[W, H, P]``),
``n_time_bins`` (``T``), ``classes`` (JSON list) and ``params`` (JSON: the
generator's parameters).  The file is read with the checks of
:mod:`eventsim._h5safe` (no links, no virtual datasets, bounded sizes).
"""
from __future__ import annotations

import json

import numpy as np

from ._h5safe import Budget, open_checked
from .errors import EventsError, UnsafeEventsFileError
from .event_io import MAX_EVENT_FILE_BYTES
from .events import FIELDS, check_sensor_size, make_events, to_frames
from .io import atomic_output, h5_image
from .progress import progress_bar

FORMAT = "eventsim-event-dataset"
VERSION = 1


def write_event_dataset(path, dataset, start, n, n_time_bins, progress=False):
    """Synthesize streams ``start..start+n-1`` of ``dataset`` and write them (layout above) atomically.

    Parameters
    ----------
    path : str or Path
    dataset : eventsim.synthshapes_dvs.SynthShapesDVS
    start, n : int
    n_time_bins : int
        ``T`` of the per-bin masks.
    progress : bool

    Returns
    -------
    Path
    """
    from .synthshapes import CLASSES

    size = dataset.size
    streams, labels = [], np.empty(n, np.int64)
    masks = np.empty((n, n_time_bins, size, size), bool)
    edges = np.empty((n, n_time_bins + 1), np.int64)
    for k, i in enumerate(progress_bar(range(start, start + n), progress, "SynthShapes-DVS", unit="stream")):
        s = dataset[i]
        streams.append(s.events)
        labels[k] = s.label
        masks[k], edges[k] = dataset.bin_masks(i, s.events, n_time_bins)
    events = np.concatenate(streams)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in streams])]).astype(np.int64)
    with atomic_output(path, suffix=".h5") as tmp:
        with h5_image(tmp) as f:
            f.attrs.update({"format": FORMAT, "version": VERSION, "dataset": "synthshapes-dvs",
                            "sensor_size": np.asarray(dataset.sensor_size, np.int64),
                            "n_time_bins": int(n_time_bins), "classes": json.dumps(list(CLASSES)),
                            "params": json.dumps(dataset.params(), sort_keys=True)})
            g = f.create_group("streams")
            for name in FIELDS:
                g.create_dataset(name, data=events[name], compression="gzip", shuffle=True)
            g.create_dataset("offsets", data=offsets)
            f.create_dataset("labels", data=labels)
            f.create_dataset("indices", data=np.arange(start, start + n, dtype=np.int64))
            f.create_dataset("masks", data=masks, compression="gzip", chunks=(1, n_time_bins, size, size))
            f.create_dataset("bin_edges", data=edges)
    return path


class EventDataset:
    """A file of labelled event streams, loaded into memory and checked.

    Parameters
    ----------
    path : str or Path

    Attributes
    ----------
    sensor_size : tuple of int
        ``(W, H, P)``.
    labels, indices : ndarray of int64, shape (N,)
    masks : ndarray of bool, shape (N, T, H, W)
    bin_edges : ndarray of int64, shape (N, T + 1)
    n_time_bins : int
    params : dict
    classes : list of str

    Raises
    ------
    EventsError
        A missing or malformed dataset or attribute (named), or a stream
        that fails :func:`eventsim.events.check_events`.
    UnsafeEventsFileError
        A file refused by the HDF5 safety checks.
    """

    def __init__(self, path):
        self.path = str(path)
        f = open_checked(path, "event data set", EventsError, UnsafeEventsFileError)
        budget = Budget(MAX_EVENT_FILE_BYTES, self.path, EventsError)
        with f:
            if f.attrs.get("format") != FORMAT or int(f.attrs.get("version", -1)) != VERSION:
                raise EventsError(f"{path}: not an event data set (root attributes format={FORMAT!r}, "
                                  f"version={VERSION} expected)")
            for name in ("sensor_size", "n_time_bins", "classes", "params"):
                if name not in f.attrs:
                    raise EventsError(f"{path}: missing the root attribute {name!r}")
            self.sensor_size = check_sensor_size(tuple(np.asarray(f.attrs["sensor_size"]).ravel().tolist()),
                                                 f"{path}: sensor_size")
            self.n_time_bins = int(f.attrs["n_time_bins"])
            try:
                self.classes, self.params = json.loads(f.attrs["classes"]), json.loads(f.attrs["params"])
            except (TypeError, ValueError):
                raise EventsError(f"{path}: the classes and params attributes must be JSON text") from None
            read = {}
            for name in [f"streams/{n}" for n in FIELDS + ("offsets",)] + ["labels", "indices", "masks", "bin_edges"]:
                ds = f.get(name)
                if ds is None or not hasattr(ds, "shape"):
                    raise EventsError(f"{path}:/{name}: missing dataset")
                budget.charge(ds, f"/{name}")
                read[name] = ds[()]
        self._check(read)

    def _check(self, read):
        w, h, _ = self.sensor_size
        n = len(read["labels"])
        shapes = {"indices": (n,), "masks": (n, self.n_time_bins, h, w), "bin_edges": (n, self.n_time_bins + 1),
                  "streams/offsets": (n + 1,), "labels": (n,)}
        for name, shape in shapes.items():
            if tuple(read[name].shape) != shape:
                raise EventsError(f"{self.path}:/{name}: expected shape {shape}, got {read[name].shape}")
        offsets = read["streams/offsets"].astype(np.int64)
        total = len(read["streams/t"])
        if offsets[0] != 0 or offsets[-1] != total or np.any(np.diff(offsets) < 1):
            raise EventsError(f"{self.path}:/streams/offsets: expected 0 = offsets[0] < offsets[1] < ... "
                              f"< offsets[N] = {total} (every stream non-empty)")
        if self.classes and (read["labels"].min() < 0 or read["labels"].max() >= len(self.classes)):
            raise EventsError(f"{self.path}:/labels: expected class indices in [0, {len(self.classes)})")
        try:
            events = make_events(*(read[f"streams/{name}"] for name in FIELDS))
        except EventsError as exc:
            raise EventsError(f"{self.path}:/streams: {exc}") from None
        for name, limit in zip(("x", "y", "p"), self.sensor_size):
            bad = np.flatnonzero(events[name] >= limit)
            if bad.size:
                raise EventsError(f"{self.path}:/streams/{name}: event {int(bad[0])} has {name}="
                                  f"{int(events[name][bad[0]])}, outside the sensor {self.sensor_size}")
        step = np.diff(events["t"])
        step[offsets[1:-1] - 1] = 0                        # a new stream may start earlier
        if np.any(step < 0):
            k = int(np.searchsorted(offsets, np.flatnonzero(step < 0)[0] + 1, side="right") - 1)
            raise EventsError(f"{self.path}:/streams/t: stream {k} has decreasing timestamps")
        self.events, self.offsets = events, offsets
        self.labels = read["labels"].astype(np.int64)
        self.indices = read["indices"].astype(np.int64)
        self.masks = read["masks"].astype(bool)
        self.bin_edges = read["bin_edges"].astype(np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def stream(self, k: int) -> np.ndarray:
        """Events of stream ``k`` (:data:`eventsim.events.EVENT_DTYPE`)."""
        return self.events[self.offsets[k]:self.offsets[k + 1]]

    def frames(self, n_time_bins=None, start=0, stop=None, progress=False) -> np.ndarray:
        """``to_frames(stream, n_time_bins=T, polarity="split")`` of streams ``start..stop-1``.

        Returns
        -------
        ndarray of int8, shape (N, T, P, H, W)
        """
        n_bins = self.n_time_bins if n_time_bins is None else int(n_time_bins)
        stop = len(self) if stop is None else min(int(stop), len(self))
        w, h, p = self.sensor_size
        out = np.empty((stop - start, n_bins, p, h, w), np.int8)
        for k in progress_bar(range(start, stop), progress, "to_frames", unit="stream"):
            out[k - start] = to_frames(self.stream(k), self.sensor_size, n_time_bins=n_bins)
        return out

