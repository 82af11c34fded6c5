"""Errors raised by the training package, phrased in the user's terms.

All derive from :class:`eventsim.errors.EventsimError`, so the ``eventsim``
command prints them without a traceback.
"""
from __future__ import annotations

from eventsim.errors import DatasetError, EventsimError

__all__ = ["CheckpointError", "ConfigError", "DatasetError", "UnsupportedLayerError"]


class ConfigError(EventsimError, ValueError):
    """An architecture string, option or configuration that cannot be built."""


class CheckpointError(EventsimError, ValueError):
    """A checkpoint that is corrupt, of another architecture, or not ours."""


class UnsupportedLayerError(EventsimError, ValueError):
    """A network module that the model file (and so eventsim) cannot express."""
