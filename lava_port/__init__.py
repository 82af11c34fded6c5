"""lava_port: an eventsim model as a Lava (lava-nc 0.10.0) process graph, bit-exact with eventsim.

Public API::

    lava_port.run(model, spikes, ...) -> eventsim.Result     # backend "lava"
    python -m lava_port run MODEL (--spikes S.npy | --images X.npy) --out OUT.h5

``import lava_port`` does not import Lava; :func:`run` does.  See
``docs/lava.md`` for the mapping of layers to Lava Processes.
"""
from lava_port.api import run
from lava_port.errors import LavaRunError, UnsupportedModelError

__all__ = ["LavaRunError", "UnsupportedModelError", "run"]
