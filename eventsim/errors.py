"""Exceptions raised at eventsim's public boundary, phrased in the user's terms."""
from __future__ import annotations


class EventsimError(Exception):
    """Base class of every error eventsim raises on purpose."""


class ModelFormatError(EventsimError, ValueError):
    """A model file (or in-memory model description) breaks the format contract.

    The message names the HDF5 path (``file.h5:/layers/conv1/weight``) and what
    was expected there.
    """


class InputError(EventsimError, ValueError):
    """Images, spikes or run options that the simulator cannot accept.

    The message names the argument and what was expected.
    """


class ResultFormatError(EventsimError, ValueError):
    """A result file that is not a readable eventsim result."""
