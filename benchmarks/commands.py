"""``eventsim bench``, registered under the entry-point group ``eventsim.commands`` (``pyproject.toml``)."""
from __future__ import annotations

from eventsim.extensions import Extension

bench = Extension("benchmarks.cli", "benchmarks: events, SAM overhead, speed vs PyTorch and Lava", "train")
