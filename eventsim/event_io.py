"""Event file codecs behind :func:`eventsim.events.read` and :func:`eventsim.events.write`.

These return and take plain field arrays; :mod:`eventsim.events` builds and
checks the event array.  Formats (see ``docs/events.md``):

* N-MNIST ``.bin``: 5 bytes per event, ``x``, ``y``, then polarity (bit 7)
  and a 23-bit timestamp in microseconds, big-endian over bytes 2-4.  A
  record with ``y == 240`` is a timestamp-overflow marker: it is dropped and
  adds ``2**13`` us to its own and every later timestamp (as tonic's and
  Orchard's reference readers do; N-MNIST's 34x34 recordings contain none).
* ``.npy``: a structured array, read without pickle.
* HDF5: datasets ``/events/x``, ``/events/y``, ``/events/t``, ``/events/p``
  and the attribute ``sensor_size`` (W, H, P) on the ``/events`` group.
"""
from __future__ import annotations

import numpy as np

from ._h5safe import Budget, check_regular_file, open_checked
from .errors import EventsError, EventsimError, UnsafeEventsFileError
from .io import atomic_output, h5_image, load_array, save_npy

#: Bytes of event data (declared) one HDF5 event file may make the reader allocate.
MAX_EVENT_FILE_BYTES = 1 << 32
#: Bytes per N-MNIST record.
NMNIST_RECORD = 5
#: ``y`` value of an N-MNIST timestamp-overflow record.
NMNIST_OVERFLOW_Y = 240
#: Microseconds an N-MNIST overflow record adds to the timestamps from it on.
NMNIST_OVERFLOW_US = 1 << 13
_FIELDS = ("x", "y", "t", "p")


def decode_nmnist(data, label="N-MNIST data") -> tuple:
    """Decode N-MNIST records.

    Parameters
    ----------
    data : bytes
        A whole number of 5-byte records.
    label : str
        For messages (the file name).

    Returns
    -------
    x, y, t, p : numpy.ndarray of int64, shape (N,)
        ``t`` in microseconds, ``p`` in {0, 1}; overflow records removed.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size % NMNIST_RECORD:
        raise EventsError(f"{label}: {raw.size} bytes is not a whole number of {NMNIST_RECORD}-byte "
                          "N-MNIST events (truncated or not an N-MNIST file?)")
    rec = raw.reshape(-1, NMNIST_RECORD).astype(np.int64)
    x, y = rec[:, 0], rec[:, 1]
    p = rec[:, 2] >> 7
    t = ((rec[:, 2] & 0x7F) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    overflow = y == NMNIST_OVERFLOW_Y
    t = t + np.cumsum(overflow) * NMNIST_OVERFLOW_US
    keep = ~overflow
    return x[keep], y[keep], t[keep], p[keep]


def read_nmnist(path) -> tuple:
    """Read an N-MNIST ``.bin`` file; see :func:`decode_nmnist`."""
    path = check_regular_file(path, "events", EventsError)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EventsError(f"{path}: cannot read events ({exc.strerror})") from None
    return decode_nmnist(data, str(path))


def read_npy(path) -> np.ndarray:
    """Load a structured ``.npy`` event array (no pickle)."""
    try:
        array = load_array(path, "events")
    except EventsError:
        raise
    except EventsimError as exc:
        raise EventsError(str(exc)) from None
    if array.dtype.names is None:
        raise EventsError(f"{path}: expected a structured event array with fields {_FIELDS}, "
                          f"got a plain {array.dtype} array of shape {array.shape}")
    return array


def read_hdf5(path) -> tuple:
    """Read ``/events/x|y|t|p`` and the ``sensor_size`` attribute.

    Returns
    -------
    fields : dict of str -> numpy.ndarray, shape (N,)
    sensor_size : tuple
        The attribute's values as stored (checked by the caller).
    """
    f = open_checked(path, "events", EventsError, UnsafeEventsFileError)
    budget = Budget(MAX_EVENT_FILE_BYTES, str(path), EventsError)
    with f:
        group = f.get("events")
        if group is None or not hasattr(group, "keys"):
            raise EventsError(f"{path}: no /events group; expected datasets /events/x, /events/y, "
                              "/events/t, /events/p")
        fields = {}
        for name in _FIELDS:
            ds = group.get(name)
            if ds is None or not hasattr(ds, "shape"):
                raise EventsError(f"{path}:/events/{name}: missing; expected a 1-D integer dataset")
            if len(ds.shape) != 1:
                raise EventsError(f"{path}:/events/{name}: expected a 1-D dataset, got shape {ds.shape}")
            budget.charge(ds, f"/events/{name}")
            fields[name] = ds[()]
        if "sensor_size" not in group.attrs:
            raise EventsError(f"{path}:/events: missing the sensor_size attribute (W, H, P)")
        sensor_size = tuple(np.asarray(group.attrs["sensor_size"]).ravel().tolist())
    return fields, sensor_size


def write_hdf5(path, fields, sensor_size):
    """Write ``fields`` (``x``, ``y``, ``t``, ``p`` arrays) and ``sensor_size`` atomically; returns the path."""
    with atomic_output(path, suffix=".h5") as tmp:
        with h5_image(tmp) as f:
            group = f.create_group("events")
            group.attrs["sensor_size"] = np.asarray(sensor_size, np.int64)
            for name in _FIELDS:
                group.create_dataset(name, data=fields[name])
    return path


def write_npy(path, events):
    """Write the structured event array as ``.npy`` (no pickle) atomically; returns the path."""
    return save_npy(path, events)
