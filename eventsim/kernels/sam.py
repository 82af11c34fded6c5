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
from .plan import EV_C, EV_X, EV_Y, SAM_OFF, C, W


@kernel
def sam_update(m, events, n_events, t, state, table, sam_map, reference):
    """Update the traces of the spiking neurons and add their NCS to ``M_t``.

    Parameters
    ----------
    m : ndarray of int64, shape (N_META,)
    events : ndarray of int32, shape (3, >= n_events)
        The layer's spikes at step ``t`` (rows ``EV_Y``, ``EV_X``, ``EV_C``).
    n_events : int
    t : int
    state : tuple of ndarray, each shape (sam_neurons,)
        ``(trace, t_last, count)``: the Q24 trace (int64), the step of the
        last spike (int32) and, for the ``"reference"`` convention only, the
        number of earlier spikes (int32).  The layer's block starts at
        ``m[SAM_OFF]``, in channels-last neuron order.
    table : ndarray of int64, shape (T + 1,)
        ``L[d]`` from :func:`eventsim.fixed_point.sam_decay_table`.
    sam_map : ndarray of int64, shape (H*W,)
        ``M_t`` of this layer at this step, Q24.
    reference : bool
        Use the released-code convention.
    """
    c_out, w = m[C], m[W]
    s0 = m[SAM_OFF]
    trace, t_last, count = state
    for e in range(n_events):
        pos = events[EV_Y, e] * w + events[EV_X, e]
        n = s0 + pos * c_out + events[EV_C, e]
        x = fp.sam_decay(trace[n], table[t - t_last[n]])
        ncs = x
        if reference:
            ncs += fp.SAM_ONE + (t - count[n]) * table[t]
            count[n] += 1
        sam_map[pos] += ncs
        trace[n] = x + fp.SAM_ONE
        t_last[n] = t
