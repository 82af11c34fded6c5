"""Pure ``@njit`` kernels of the event-driven engine (DESIGN section 5).

Kernels take arrays and scalars only, allocate nothing inside their loops and
do no I/O.  Numba options come from :mod:`eventsim.kernels.jit`.
"""
