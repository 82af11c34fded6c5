"""The paper's experiments (Kim & Panda, ICCV 2021, Section 5) as ``eventsim experiment NAME`` commands.

Each experiment module has ``NAME``, ``TITLE`` and ``run(ctx)``; the
registry below maps command names to modules and the figures they
reproduce.  See ``docs/experiments.md``.
"""
from __future__ import annotations

import importlib

#: name -> (module, what it reproduces)
EXPERIMENTS = {
    "sam-vs-gradcam": ("sam_vs_gradcam", "Fig. 2, 3, 5"),
    "surrogate-vs-conversion": ("surrogate_vs_conversion", "Fig. 6"),
    "leak": ("leak", "Table 1"),
    "gamma": ("gamma", "Fig. 8"),
    "fgsm": ("fgsm", "Fig. 7, 9"),
    "multi-object": ("multi_object", "Fig. 10"),
    "dvs-tracking": ("dvs_tracking", "beyond the paper: SAM on moving objects, event input"),
}


def load(name: str):
    """The module of experiment ``name``."""
    return importlib.import_module(f"{__name__}.{EXPERIMENTS[name][0]}")
