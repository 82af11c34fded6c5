"""Neuron kernels: the voltage update (leak, per-step gain, soft reset, 24-bit
saturation) and the emission of the next step's spikes.

The update is a branch-free sweep over every neuron (O(neurons), as on Loihi)
so it vectorizes; emission is a separate scan that writes the compact event
list of the neurons above threshold and, for SAM layers, updates their traces.
"""
from __future__ import annotations

from .. import fixed_point as fp
from .jit import kernel
from .plan import EV_C, EV_X, EV_Y, G_OFF, LAM12, SAM_OFF, SAM_SLOT, SHIFT, TG, THETA, V_OFF, C, H, W
from .sam import spike_ncs


@kernel
def update_voltages(m, t, vol, acc, gains, biases):
    """Advance one layer from ``v[t-1]`` to ``v[t]``; clear its accumulators.

    Applies :func:`eventsim.fixed_point.neuron_step` to every neuron; the
    spike ``s[t] = v[t-1] > theta`` that drives the soft reset is recomputed
    here from the stored voltage.

    Parameters
    ----------
    m : ndarray of int64, shape (N_META,)
    t : int
        Current step; selects the gain row when ``T_g > 1``.
    vol : ndarray of int64
        Voltages (flat, channels-last), updated in place.
    acc : ndarray of int32
        Synaptic sums ``I[t]``, read and zeroed.
    gains, biases : ndarray of int64
        Flat ``G`` and ``B`` tables.

    Returns
    -------
    int
        Neurons clamped at step ``t``.
    """
    c_out = m[C]
    g0 = m[G_OFF] + (t * c_out if m[TG] > 1 else 0)
    theta, shift, lam12 = m[THETA], m[SHIFT], m[LAM12]
    v_layer = vol[m[V_OFF] : m[V_OFF] + m[H] * m[W] * c_out]
    a_layer = acc[m[V_OFF] : m[V_OFF] + m[H] * m[W] * c_out]
    g = gains[g0 : g0 + c_out]
    b = biases[g0 : g0 + c_out]
    n_sat = 0
    for pos in range(m[H] * m[W]):
        v_row = v_layer[pos * c_out : (pos + 1) * c_out]
        a_row = a_layer[pos * c_out : (pos + 1) * c_out]
        for c in range(c_out):
            v, _, sat = fp.neuron_step(v_row[c], a_row[c], g[c], b[c], shift, theta, lam12)
            v_row[c] = v
            a_row[c] = 0
            n_sat += sat
    return n_sat


@kernel
def emit_spikes(m, vol, events, sam, t_next):
    """List the neurons with ``v > theta`` (the spikes of step ``t_next``) and update their SAM traces.

    Emission scans the layer in channels-last order, so it knows each
    spiking neuron's ``(y, x, c)`` and index without decoding anything; the
    on-line SAM update of DESIGN section 4 (:mod:`eventsim.kernels.sam`) runs
    right there, for SAM layers and ``t_next < T``.

    Parameters
    ----------
    m : ndarray of int64, shape (N_META,)
    vol : ndarray of int64
        Voltages after :func:`update_voltages`.
    events : ndarray of int32, shape (3, >= neurons)
        Output: this layer's event list (rows ``EV_Y``, ``EV_X``, ``EV_C``).
    sam : tuple
        ``(trace, t_last, count, table, step_map, reference)``: the Q24
        traces (int64), last spike steps (int32), earlier-spike counts
        (int32, sized only for the ``"reference"`` convention), the decay
        table ``L`` (int64, ``T + 1``), this layer's Q24 map of step
        ``t_next`` (int64, ``H*W``) and the convention flag.  State arrays
        are indexed from ``m[SAM_OFF]`` in channels-last neuron order.
    t_next : int
        The step these spikes belong to.

    Returns
    -------
    int
        Number of events.
    """
    c_out, w, theta = m[C], m[W], m[THETA]
    v0, s0 = m[V_OFF], m[SAM_OFF]
    trace, t_last, count, table, step_map, reference = sam
    do_sam = m[SAM_SLOT] >= 0 and t_next < table.shape[0] - 1
    n = 0
    for y in range(m[H]):
        for x in range(w):
            pos = y * w + x
            row = vol[v0 + pos * c_out : v0 + (pos + 1) * c_out]
            for c in range(c_out):
                if row[c] > theta:
                    events[EV_Y, n] = y
                    events[EV_X, n] = x
                    events[EV_C, n] = c
                    n += 1
                    if do_sam:  # on-line SAM, DESIGN section 4 (kernels/sam.py)
                        k = s0 + pos * c_out + c
                        decayed = fp.sam_decay(trace[k], table[t_next - t_last[k]])
                        if reference:
                            step_map[pos] += spike_ncs(decayed, t_next, count[k], table[t_next], True)
                            count[k] += 1
                        else:
                            step_map[pos] += decayed
                        trace[k] = decayed + fp.SAM_ONE
                        t_last[k] = t_next
    return n
