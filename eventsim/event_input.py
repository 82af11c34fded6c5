"""Event streams as model input: bin them with :func:`eventsim.events.to_frames` into the int8 counts a model takes.

A model whose ``input_encoding`` is ``"counts"`` takes ``(N, T, C, H, W)``
int8 counts; this module turns one event stream (or several, one per
sample) into that tensor, choosing the polarity layout from the model's
input channels: ``C = P`` keeps one channel per polarity (``"split"``),
``C = 1`` with ``P = 2`` sums ON minus OFF events (``"signed"``).
"""
from __future__ import annotations

import numpy as np

from .errors import EventsError, InputError
from .events import check_sensor_size, to_frames
from .model import Model


def _streams(events) -> list:
    if isinstance(events, np.ndarray) and events.dtype.names is not None:
        return [events]
    if isinstance(events, (list, tuple)) and events and all(
            isinstance(e, np.ndarray) and e.dtype.names is not None for e in events):
        return list(events)
    raise InputError("events: expected a structured event array (fields x, y, t, p) or a non-empty list of them, "
                     f"got {type(events).__name__}")


def event_frames(model: Model, events, sensor_size=None, n_time_bins=None, time_window=None,
                 include_incomplete=False) -> np.ndarray:
    """Input counts ``(N, T, C, H, W)`` for ``model`` from event streams.

    Parameters
    ----------
    model : Model
        Must have ``input_encoding = "counts"``.
    events : structured ndarray or list of them
        One stream per sample (fields ``x``, ``y``, ``t`` in microseconds, ``p``).
    sensor_size : (W, H, P), optional
        Default ``(W, H, 2)`` of the model's input.
    n_time_bins, time_window : int, optional
        How time is cut into steps (:func:`eventsim.events.time_bins`): ``T``
        bins over each stream's span, or bins of ``time_window`` microseconds.
        Default: ``model.default_timesteps`` bins.  With ``time_window`` every
        stream must give the same ``T``.
    include_incomplete : bool
        Keep a last, shorter bin (``time_window`` only).

    Returns
    -------
    ndarray of int8, shape (N, T, C, H, W)

    Raises
    ------
    InputError
        The model takes images, the frames do not match its input, or the
        streams give different ``T``.
    EventsError
        Bad events (see :func:`eventsim.events.check_events`), or a count
        outside int8.
    """
    if model.input_encoding != "counts":
        raise InputError(f"model {model.name!r} takes images through the Poisson encoder (input_encoding "
                         f"{model.input_encoding!r}), not event streams")
    c, h, w = model.input_shape
    size = check_sensor_size((w, h, 2) if sensor_size is None else sensor_size)
    if (size[0], size[1]) != (w, h):
        raise InputError(f"sensor_size {size} is {size[0]}x{size[1]} but model {model.name!r} takes {w}x{h} "
                         "(W x H); crop or eventsim.events.downsample the events first")
    if c == size[2]:
        polarity = "split"
    elif c == 1 and size[2] == 2:
        polarity = "signed"
    else:
        raise InputError(f"model {model.name!r} has {c} input channels; events with P={size[2]} polarities need "
                         f"{size[2]} channels (one per polarity) or 1 channel with P=2 (ON minus OFF)")
    if n_time_bins is None and time_window is None:
        n_time_bins = model.default_timesteps
    frames = []
    for i, stream in enumerate(_streams(events)):
        try:
            frames.append(to_frames(stream, size, n_time_bins=n_time_bins, time_window=time_window,
                                    polarity=polarity, include_incomplete=include_incomplete))
        except EventsError as exc:
            raise EventsError(f"events[{i}]: {exc}") from None
    steps = {f.shape[0] for f in frames}
    if len(steps) > 1:
        raise InputError(f"events: the streams give different numbers of time bins {sorted(steps)} with "
                         f"time_window={time_window}; use n_time_bins (the same T for every stream)")
    return np.stack(frames)
