"""SynthShapes, the procedural data set (NumPy only): :mod:`eventsim.synthshapes` under its training name.

The generator lives in eventsim so that ``eventsim demo`` needs nothing from
this package; see that module for the data set's definition.
"""
from __future__ import annotations

from eventsim.synthshapes import CLASSES, DEFAULT_LENGTH, SPLITS, Sample, SynthShapes, channel_stats, shape_inside

__all__ = ["CLASSES", "DEFAULT_LENGTH", "SPLITS", "Sample", "SynthShapes", "channel_stats", "shape_inside"]
