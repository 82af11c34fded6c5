"""Event-camera streams: the event array, reading and writing, binning into frames, denoise, downsampling.

An event stream is a 1-D NumPy structured array with the fields tonic uses:
``x`` and ``y`` (pixel column and row), ``t`` (timestamp, microseconds,
int64, non-decreasing) and ``p`` (polarity channel, ``0 <= p < P``).  A
sensor is ``sensor_size = (W, H, P)``: width, height and number of polarity
channels (tonic's order).  :func:`to_frames` bins a stream into int8 counts
``(T, P, H, W)`` with tonic's ``ToFrame`` rules; see ``docs/events.md``.
Nothing here needs tonic.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import event_io
from .errors import EventsError
from .kernels.jit import kernel

#: dtype of the arrays :func:`make_events` and :func:`check_events` return.
EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
#: Field names of an event array (tonic's).
FIELDS = ("x", "y", "t", "p")
#: Largest sensor width or height (coordinates are int16).
MAX_SIDE = int(np.iinfo(np.int16).max) + 1
#: Largest number of frame elements ``T * P * H * W`` :func:`to_frames` builds.
MAX_FRAME_ELEMENTS = 1 << 30
#: Sensor of the N-MNIST recordings (the default for ``.bin`` files).
NMNIST_SENSOR_SIZE = (34, 34, 2)
#: File suffix -> format name for :func:`read` and :func:`write`.
SUFFIX_FORMATS = {".bin": "nmnist", ".npy": "npy", ".h5": "hdf5", ".hdf5": "hdf5"}
POLARITY_MODES = ("split", "signed")

_RANGES = {"x": (0, MAX_SIDE - 1), "y": (0, MAX_SIDE - 1), "t": (0, int(np.iinfo(np.int64).max)),
           "p": (0, int(np.iinfo(np.int8).max))}


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _positive_int(value, label) -> int:
    if not _is_int(value) or value < 1:
        raise EventsError(f"{label}: expected a positive integer, got {value!r}")
    return int(value)


def check_sensor_size(sensor_size, label="sensor_size") -> tuple:
    """``sensor_size`` as a tuple ``(W, H, P)`` of Python ints, or :class:`EventsError`.

    ``W`` and ``H`` are at most :data:`MAX_SIDE`; ``P`` is 1 or 2.
    """
    try:
        values = tuple(sensor_size)
    except TypeError:
        raise EventsError(f"{label}: expected (W, H, P), got {sensor_size!r}") from None
    if len(values) != 3 or not all(_is_int(v) and v >= 1 for v in values):
        raise EventsError(f"{label}: expected three positive integers (W, H, P), got {sensor_size!r}")
    width, height, polarities = (int(v) for v in values)
    if width > MAX_SIDE or height > MAX_SIDE:
        raise EventsError(f"{label}: width and height must be at most {MAX_SIDE}, got {values!r}")
    if polarities not in (1, 2):
        raise EventsError(f"{label}: P (polarity channels) must be 1 or 2, got {polarities}")
    return width, height, polarities


def _field(name, values) -> np.ndarray:
    """``values`` of event field ``name`` as a 1-D int64 array (bool accepted for ``p``)."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise EventsError(f"events field {name!r}: expected a 1-D array, got shape {a.shape}")
    kinds = "iub" if name == "p" else "iu"
    if a.dtype.kind not in kinds:
        expected = "integers or booleans" if name == "p" else "integers"
        raise EventsError(f"events field {name!r}: expected {expected}, got dtype {a.dtype}")
    if a.dtype.kind == "u" and a.size and int(a.max()) > _RANGES[name][1]:
        raise EventsError(f"events field {name!r}: value {int(a.max())} exceeds {_RANGES[name][1]}")
    return a.astype(np.int64)


def _build(fields) -> np.ndarray:
    lengths = {name: len(a) for name, a in fields.items()}
    if len(set(lengths.values())) > 1:
        raise EventsError(f"events: fields have different lengths {lengths}")
    for name, a in fields.items():
        low, high = _RANGES[name]
        if a.size and (int(a.min()) < low or int(a.max()) > high):
            bad = int(np.flatnonzero((a < low) | (a > high))[0])
            raise EventsError(f"events field {name!r}: event {bad} has {name}={int(a[bad])}, "
                              f"expected {low} <= {name} <= {high}")
    out = np.empty(lengths["x"], dtype=EVENT_DTYPE)
    for name, a in fields.items():
        out[name] = a
    return out


def make_events(x, y, t, p) -> np.ndarray:
    """Build an event array from four equal-length 1-D integer arrays.

    Parameters
    ----------
    x, y : array_like of int, shape (N,)
        Pixel column and row, ``0 <= x, y < 32768``.
    t : array_like of int, shape (N,)
        Timestamps in microseconds, ``>= 0``.
    p : array_like of int or bool, shape (N,)
        Polarity channel, ``0 <= p <= 127`` (``True`` is 1).

    Returns
    -------
    numpy.ndarray, shape (N,), dtype :data:`EVENT_DTYPE`
        Not checked against a sensor or for time order; see :func:`check_events`.

    Raises
    ------
    EventsError
        Non-integer values, arrays that are not 1-D or differ in length, values out of range.
    """
    return _build({name: _field(name, v) for name, v in zip(FIELDS, (x, y, t, p))})


def check_events(events, sensor_size=None) -> np.ndarray:
    """Validate an event stream; return it as a new array of dtype :data:`EVENT_DTYPE`.

    Parameters
    ----------
    events : numpy.ndarray, shape (N,), structured
        Exactly the fields ``x``, ``y``, ``t``, ``p`` (any order), integer
        dtypes (``p`` may be bool), as tonic's event arrays.
    sensor_size : (W, H, P) or None
        When given, every event must lie on the sensor: ``0 <= x < W``,
        ``0 <= y < H``, ``0 <= p < P``.

    Returns
    -------
    numpy.ndarray, shape (N,), dtype :data:`EVENT_DTYPE`

    Raises
    ------
    EventsError
        Not a structured array, missing or extra fields, non-integer fields,
        an empty stream, a negative or decreasing timestamp, an event
        outside the sensor (the message names the first offending event).
    """
    names = getattr(getattr(events, "dtype", None), "names", None)
    if not isinstance(events, np.ndarray) or names is None:
        raise EventsError(f"events: expected a NumPy structured array with fields {FIELDS}, "
                          f"got {type(events).__name__}")
    missing = [n for n in FIELDS if n not in names]
    extra = [n for n in names if n not in FIELDS]
    if missing or extra:
        raise EventsError(f"events: expected the fields {FIELDS}; missing {missing}, unexpected {extra}")
    fields = {name: _field(name, events[name]) for name in FIELDS}
    if fields["t"].size == 0:
        raise EventsError("events: the stream is empty (no events)")
    if sensor_size is not None:
        sizes = dict(zip(("x", "y", "p"), check_sensor_size(sensor_size)))
        for name, size in sizes.items():
            a = fields[name]
            outside = (a < 0) | (a >= size)
            if outside.any():
                bad = int(np.flatnonzero(outside)[0])
                raise EventsError(f"events: event {bad} has {name}={int(a[bad])}, outside the sensor "
                                  f"(expected 0 <= {name} < {size} for sensor_size={tuple(sensor_size)})")
    back = np.flatnonzero(np.diff(fields["t"]) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise EventsError(f"events: timestamps must not decrease, but event {i} has t={int(fields['t'][i])} "
                          f"us after t={int(fields['t'][i - 1])} us")
    return _build(fields)


def time_bins(t, n_time_bins=None, time_window=None, include_incomplete=False) -> tuple:
    """Bins of tonic's ``ToFrame`` (overlap 0): bin ``i`` holds ``start + i*width <= t < start + (i+1)*width``.

    Parameters
    ----------
    t : numpy.ndarray of int64, shape (N,), N >= 1, non-decreasing
        Timestamps (microseconds).
    n_time_bins : int, optional
        ``width = (t[-1] - t[0]) // n_time_bins``; events at or after
        ``t[0] + n_time_bins * width`` (always the last event when the
        duration divides evenly) fall in no bin.
    time_window : int, optional
        ``width = time_window``; ``T = (duration - width) // width + 1``
        whole windows (at least 1), or ``ceil((duration - width) / width) + 1``
        with ``include_incomplete``.  Events after the last bin fall in none.
    include_incomplete : bool
        Only with ``time_window``.

    Returns
    -------
    start : int
        ``t[0]``, microseconds.
    width : int
        Bin width, microseconds.
    n_bins : int
        Number of bins ``T``.

    Raises
    ------
    EventsError
        Not exactly one of ``n_time_bins``/``time_window``, a non-positive
        value, ``include_incomplete`` with ``n_time_bins``, or a stream
        shorter than ``n_time_bins`` microseconds (every bin would be empty).
    """
    if (n_time_bins is None) == (time_window is None):
        raise EventsError("to_frames: give exactly one of n_time_bins and time_window")
    start, duration = int(t[0]), int(t[-1]) - int(t[0])
    if n_time_bins is not None:
        n_bins = _positive_int(n_time_bins, "n_time_bins")
        if include_incomplete:
            raise EventsError("include_incomplete applies to time_window only, not to n_time_bins")
        width = duration // n_bins
        if width == 0:
            raise EventsError(f"n_time_bins={n_bins}: the stream lasts {duration} us, less than one "
                              "microsecond per bin, so every bin would be empty; use fewer bins")
        return start, width, n_bins
    width = _positive_int(time_window, "time_window")
    rest = duration - width
    n_bins = -(-rest // width) + 1 if include_incomplete else rest // width + 1
    return start, width, max(n_bins, 1)


def to_frames(events, sensor_size, n_time_bins=None, time_window=None, polarity="split",
              include_incomplete=False) -> np.ndarray:
    """Count events per time bin, polarity and pixel, as tonic's ``ToFrame`` (overlap 0).

    Parameters
    ----------
    events : numpy.ndarray, shape (N,), structured
        An event stream (see :func:`check_events`).
    sensor_size : (W, H, P)
    n_time_bins, time_window, include_incomplete
        How time is cut into bins; exactly one of ``n_time_bins`` and
        ``time_window`` (microseconds).  See :func:`time_bins` for the rules.
    polarity : {"split", "signed"}
        ``"split"``: one channel per polarity (``P`` channels).  ``"signed"``
        (``P`` must be 2): one channel holding ``count(p=1) - count(p=0)``.

    Returns
    -------
    numpy.ndarray of int8, shape (T, P, H, W) or (T, 1, H, W) for ``"signed"``

    Raises
    ------
    EventsError
        Invalid events or arguments, frames larger than
        :data:`MAX_FRAME_ELEMENTS`, or a count outside int8.
    """
    width, height, polarities = check_sensor_size(sensor_size)
    if polarity not in POLARITY_MODES:
        raise EventsError(f"polarity: expected one of {POLARITY_MODES}, got {polarity!r}")
    if polarity == "signed" and polarities != 2:
        raise EventsError(f"polarity='signed' needs two polarity channels, but sensor_size has P={polarities}")
    ev = check_events(events, sensor_size)
    start, bin_width, n_bins = time_bins(ev["t"], n_time_bins, time_window, include_incomplete)
    channels = polarities if polarity == "split" else 1
    size = n_bins * channels * height * width
    if size > MAX_FRAME_ELEMENTS:
        raise EventsError(f"to_frames: {n_bins} bins of {channels}x{height}x{width} make {size} counts "
                          f"(limit {MAX_FRAME_ELEMENTS}); use fewer bins or a longer time_window")
    index = (ev["t"] - start) // bin_width
    kept = index < n_bins
    index, x, y, p = index[kept], ev["x"][kept].astype(np.int64), ev["y"][kept].astype(np.int64), ev["p"][kept]
    if polarity == "split":
        flat = ((index * polarities + p) * height + y) * width + x
        counts = np.bincount(flat, minlength=size)
    else:
        flat = (index * height + y) * width + x
        counts = np.bincount(flat[p == 1], minlength=size) - np.bincount(flat[p == 0], minlength=size)
    frames = counts.reshape(n_bins, channels, height, width)
    _check_int8(frames, polarity)
    return frames.astype(np.int8)


def _check_int8(frames, polarity):
    info = np.iinfo(np.int8)
    bad = np.argwhere((frames > info.max) | (frames < info.min))
    if bad.size:
        b, c, y, x = (int(v) for v in bad[0])
        raise EventsError(f"to_frames: bin {b}, channel {c}, pixel (x={x}, y={y}) counts {int(frames[b, c, y, x])} "
                          f"events ({polarity}), outside int8 [{info.min}, {info.max}]; use more bins or a "
                          "shorter time_window")


@kernel
def _denoise_kernel(x, y, t, width, height, filter_time):
    fired = np.zeros((height, width), np.bool_)
    last = np.zeros((height, width), np.int64)
    keep = np.zeros(t.shape[0], np.bool_)
    for i in range(t.shape[0]):
        xi, yi, ti = x[i], y[i], t[i]
        fired[yi, xi] = True
        last[yi, xi] = ti
        near = False
        if xi > 0 and fired[yi, xi - 1] and ti - last[yi, xi - 1] < filter_time:
            near = True
        if xi < width - 1 and fired[yi, xi + 1] and ti - last[yi, xi + 1] < filter_time:
            near = True
        if yi > 0 and fired[yi - 1, xi] and ti - last[yi - 1, xi] < filter_time:
            near = True
        if yi < height - 1 and fired[yi + 1, xi] and ti - last[yi + 1, xi] < filter_time:
            near = True
        keep[i] = near
    return keep


def denoise(events, filter_time) -> np.ndarray:
    """Drop events with no earlier event at a 4-neighbour pixel less than ``filter_time`` before.

    Event ``i`` at ``(x, y, t)`` is kept when some earlier event of the
    stream (earlier in order, so possibly at the same ``t``) lies at
    ``(x +- 1, y)`` or ``(x, y +- 1)`` with ``t - t_neighbour < filter_time``:
    tonic's ``Denoise``, except that tonic also treats a neighbour that
    never fired as having fired at time 0 (see ``docs/events.md``).

    Parameters
    ----------
    events : numpy.ndarray, shape (N,), structured
    filter_time : int
        Microseconds, positive.

    Returns
    -------
    numpy.ndarray, shape (M,), dtype :data:`EVENT_DTYPE`, M <= N
        The kept events, in order (possibly none).
    """
    ev = check_events(events)
    filter_time = _positive_int(filter_time, "filter_time")
    x, y = ev["x"].astype(np.int64), ev["y"].astype(np.int64)
    keep = _denoise_kernel(x, y, ev["t"], int(x.max()) + 1, int(y.max()) + 1, np.int64(filter_time))
    return ev[keep]


def downsample(events, sensor_size, factor) -> tuple:
    """Shrink the sensor by an integer ``factor``: ``x // factor``, ``y // factor``; no event is dropped.

    Parameters
    ----------
    events : numpy.ndarray, shape (N,), structured
    sensor_size : (W, H, P)
    factor : int
        Positive.

    Returns
    -------
    events : numpy.ndarray, shape (N,), dtype :data:`EVENT_DTYPE`
    sensor_size : (ceil(W / factor), ceil(H / factor), P)
    """
    width, height, polarities = check_sensor_size(sensor_size)
    factor = _positive_int(factor, "factor")
    ev = check_events(events, sensor_size)
    ev["x"] //= factor
    ev["y"] //= factor
    return ev, (-(-width // factor), -(-height // factor), polarities)


def _format(path, format) -> str:
    if format is None:
        suffix = Path(path).suffix.lower()
        if suffix not in SUFFIX_FORMATS:
            raise EventsError(f"{path}: cannot tell the event format from the suffix {suffix!r}; "
                              f"expected one of {sorted(SUFFIX_FORMATS)} or give format=")
        return SUFFIX_FORMATS[suffix]
    if format not in set(SUFFIX_FORMATS.values()):
        raise EventsError(f"format: expected one of {sorted(set(SUFFIX_FORMATS.values()))}, got {format!r}")
    return format


def read(path, format=None, sensor_size=None) -> tuple:
    """Read an event stream from a file.

    Parameters
    ----------
    path : str or Path
    format : {"nmnist", "npy", "hdf5"}, optional
        Default: from the suffix (``.bin``, ``.npy``, ``.h5``/``.hdf5``).
    sensor_size : (W, H, P), optional
        HDF5 files carry their own (a different one given here is an
        error); ``.bin`` defaults to N-MNIST's (34, 34, 2); ``.npy`` defaults
        to the smallest two-polarity sensor holding the events.

    Returns
    -------
    events : numpy.ndarray, shape (N,), dtype :data:`EVENT_DTYPE`
        Checked with :func:`check_events` against ``sensor_size``.
    sensor_size : (W, H, P)
    """
    kind = _format(path, format)
    if sensor_size is not None:
        sensor_size = check_sensor_size(sensor_size)
    try:
        return _read(path, kind, sensor_size)
    except EventsError as exc:
        if str(path) in str(exc):
            raise
        raise EventsError(f"{path}: {exc}") from None


def _read(path, kind, sensor_size) -> tuple:
    if kind == "nmnist":
        events = make_events(*event_io.read_nmnist(path))
        size = sensor_size or NMNIST_SENSOR_SIZE
    elif kind == "npy":
        events = check_events(event_io.read_npy(path))
        size = sensor_size or (int(events["x"].max()) + 1, int(events["y"].max()) + 1, 2)
    else:
        fields, stored = event_io.read_hdf5(path)
        events = make_events(*(fields[n] for n in FIELDS))
        stored = check_sensor_size(stored, f"{path}:/events sensor_size attribute")
        if sensor_size is not None and sensor_size != stored:
            raise EventsError(f"{path}: stores sensor_size={stored}, but sensor_size={sensor_size} was given")
        size = stored
    return check_events(events, size), size


def write(path, events, sensor_size, format=None) -> Path:
    """Write an event stream atomically as HDF5 (``/events/x|y|t|p``, ``sensor_size``) or ``.npy``.

    The events are checked against ``sensor_size`` first; on any error
    nothing is written.  ``.npy`` files do not keep ``sensor_size``.

    Returns
    -------
    Path
    """
    kind = _format(path, format)
    size = check_sensor_size(sensor_size)
    ev = check_events(events, size)
    if kind == "hdf5":
        return event_io.write_hdf5(path, {n: ev[n] for n in FIELDS}, size)
    if kind == "npy":
        return event_io.write_npy(path, ev)
    raise EventsError(f"{path}: writing the {kind!r} format is not supported; use .h5 or .npy")
