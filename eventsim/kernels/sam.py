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

from .. import fixed_point as fp
from .jit import kernel
from .plan import SAM_OFF, C

TRACE, T_LAST, COUNT = 0, 1, 2


@kernel
def sam_update(m, events, n_events, t, state, table, sam_map, reference):
    """Update the traces of the spiking neurons and add their NCS to ``M_t``.

    Parameters
    ----------
    m : ndarray of int64, shape (N_META,)
    events : ndarray of int32
        The layer's spikes at step ``t`` (local channels-last indices).
    n_events : int
    t : int
    state : ndarray of int64, shape (3, sam_neurons)
        Rows ``TRACE`` (Q24), ``T_LAST`` and ``COUNT``; block at ``m[SAM_OFF]``.
    table : ndarray of int64, shape (T + 1,)
        ``L[d]`` from :func:`eventsim.fixed_point.sam_decay_table`.
    sam_map : ndarray of int64, shape (H*W,)
        ``M_t`` of this layer at this step, Q24.
    reference : bool
        Use the released-code convention.
    """
    c_out = m[C]
    s0 = m[SAM_OFF]
    for e in range(n_events):
        i = events[e]
        n = s0 + i
        x = fp.sam_decay(state[TRACE, n], table[t - state[T_LAST, n]])
        ncs = x
        if reference:
            ncs += fp.SAM_ONE + (t - state[COUNT, n]) * table[t]
        sam_map[i // c_out] += ncs
        state[TRACE, n] = x + fp.SAM_ONE
        state[T_LAST, n] = t
        state[COUNT, n] += 1
