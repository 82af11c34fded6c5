"""On-line SAM: a per-neuron trace updated only when that neuron spikes.

DESIGN section 4, paper Eq. 12-14.  For a spike of neuron ``n`` at step ``t``:

.. math::

    x_n &\\leftarrow \\mathrm{rs}(x_n L[t - t^{last}_n], 24)  \\\\
    M_t(\\mathrm{pos}(n)) &\\mathrel{+}= x_n  \\qquad \\text{(NCS of earlier spikes, Eq. 13-14)} \\\\
    x_n &\\leftarrow x_n + 2^{24}, \\quad t^{last}_n \\leftarrow t

The ``"reference"`` convention adds, for the released code's loop,
``2^24`` (the current spike) and ``(t - count_n) L[t]`` (one ``e^{-gamma t}``
for every earlier step without a spike).  Cost: O(1) per spike.
"""
from __future__ import annotations

import numpy as np

from .. import fixed_point as fp
from numba.extending import register_jitable

from .jit import kernel


@register_jitable
def spike_ncs(decayed, t, earlier, e_t, reference):
    """NCS contribution of one spike at step ``t`` (scalars only, so it inlines).

    Parameters
    ----------
    decayed : int
        The neuron's trace decayed to ``t``: ``rs(x L[t - t_last], 24)``, Q24.
    t : int
    earlier : int
        Number of the neuron's earlier spikes (``"reference"`` only).
    e_t : int
        ``L[t] = rint(2^24 e^{-gamma t})`` (``"reference"`` only).
    reference : bool

    Returns
    -------
    int
        ``decayed`` (Eq. 13), or for the released code's loop
        ``decayed + 2^24 + (t - earlier) L[t]``.
    """
    if reference:
        return decayed + fp.SAM_ONE + (t - earlier) * e_t
    return decayed


@kernel
def flush_map(q24, out):
    """Write one step's Q24 map as float32 real values and clear it.

    ``out[i] = float32(q24[i] / 2^24)``: the rounding of
    :func:`eventsim.fixed_point.sam_to_real` (an exact float64 division by a
    power of two, then one round to nearest float32).

    Parameters
    ----------
    q24 : ndarray of int64, shape (H*W,)
        ``M_t`` in Q24; zeroed on return.
    out : ndarray of float32, shape (H*W,)
    """
    for i in range(q24.shape[0]):
        out[i] = np.float32(q24[i] / float(fp.SAM_ONE))
        q24[i] = 0
