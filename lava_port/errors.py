"""Exceptions raised by lava_port, on top of eventsim's (all are ``EventsimError``)."""
from __future__ import annotations

from eventsim.errors import EventsimError, ModelFormatError


class UnsupportedModelError(ModelFormatError):
    """A valid eventsim model that the Lava graph cannot run bit-exactly.

    The message names the layer and the Lava limit it breaks (24-bit ``Conv``
    output, int8 ``Conv`` parameters).
    """


class LavaRunError(EventsimError, RuntimeError):
    """The Lava run failed: a Process crashed, the worker died or timed out."""
