"""Neuron update kernel: leak, per-step gain, soft reset, 24-bit saturation."""
from __future__ import annotations

from .. import fixed_point as fp
from .jit import kernel
from .plan import G_OFF, LAM12, SHIFT, TG, THETA, V_OFF, C, H, W


@kernel
def update_neurons(m, t, vol, acc, gains, biases, events):
    """Advance one layer from ``v[t-1]`` to ``v[t]`` and list its next spikes.

    Applies :func:`eventsim.fixed_point.neuron_step` to every neuron (an
    O(neurons) sweep, as on Loihi), clears the accumulators, and writes the
    neurons with ``v[t] > theta`` (the spikes of step ``t + 1``) to
    ``events``.

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
    events : ndarray of int32
        Output event list of this layer (local indices).

    Returns
    -------
    n_events : int
        Spikes of step ``t + 1``.
    n_saturated : int
        Neurons clamped at step ``t``.
    """
    c_out = m[C]
    n_pos = m[H] * m[W]
    v0 = m[V_OFF]
    g0 = m[G_OFF] + (t * c_out if m[TG] > 1 else 0)
    theta, shift, lam12 = m[THETA], m[SHIFT], m[LAM12]
    n_events = 0
    n_sat = 0
    for pos in range(n_pos):
        base = v0 + pos * c_out
        for c in range(c_out):
            j = base + c
            v, _, sat = fp.neuron_step(vol[j], acc[j], gains[g0 + c], biases[g0 + c], shift, theta, lam12)
            vol[j] = v
            acc[j] = 0
            n_sat += sat
            if v > theta:
                events[v0 + n_events] = j - v0
                n_events += 1
    return n_events, n_sat
