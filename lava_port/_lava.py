"""Make Lava importable after something else chose a multiprocessing start method.

Lava 0.10 calls ``multiprocessing.set_start_method('fork')`` when it is first
imported, which raises ``RuntimeError: context has already been set`` if the
process already fixed its start method.  eventsim's Numba engine does (its
threading layer asks for the default context), so running eventsim before
Lava in one process would break the Lava import.  Importing this module
first clears a ``'fork'`` choice, which Lava then sets again; any other
choice is refused, because Lava needs ``fork``.
"""
from __future__ import annotations

import multiprocessing as mp
import sys

LAVA_MP_MODULE = "lava.magma.runtime.message_infrastructure.multiprocessing"


def allow_lava_import() -> None:
    """Clear an already-fixed ``'fork'`` start method before Lava's first import.

    Raises
    ------
    ImportError
        If the process fixed another start method (Lava 0.10 needs ``fork``).
    """
    if LAVA_MP_MODULE in sys.modules:
        return
    method = mp.get_start_method(allow_none=True)
    if method is None:
        return
    if method != "fork":
        raise ImportError(f"Lava 0.10 needs the multiprocessing start method 'fork', but this process already "
                          f"uses {method!r}; import lava_port before choosing a start method")
    mp.set_start_method(None, force=True)


allow_lava_import()
