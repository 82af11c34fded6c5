"""Synaptic scatter kernels: each event adds one weight row per target position.

A source event is a local index ``i`` in the channels-last layout of its
layer (or of the input).  It is decoded to ``(c, y, x)``, moved to its pooled
position ``(y // p, x // p)`` (dropped when outside the floor-cropped map),
and its weight rows are added to the target accumulator, whose inner loop
over output channels is contiguous so it vectorizes.
"""
from __future__ import annotations

from .jit import kernel
from .plan import GAP, KIND, KIND_CONV, PH, POOL, PW, SC, SW, C, H, K, V_OFF, W, W_OFF


@kernel
def gather_input(spikes_t, events, signs):
    """Compact one step of signed input spikes into an event list.

    Parameters
    ----------
    spikes_t : ndarray of int8, shape (H*W*C,)
        Input spikes at one step, channels-last, values in {-1, 0, 1}.
    events : ndarray of int32
        Output: indices of the non-zero entries.
    signs : ndarray of int8
        Output: their signs.

    Returns
    -------
    int
        Number of events.
    """
    n = 0
    for i in range(spikes_t.shape[0]):
        s = spikes_t[i]
        if s != 0:
            events[n] = i
            signs[n] = s
            n += 1
    return n


@kernel
def _add_row(acc, a0, weights, w0, n, negative):
    dst = acc[a0 : a0 + n]
    src = weights[w0 : w0 + n]
    if negative:
        for j in range(n):
            dst[j] -= src[j]
    else:
        for j in range(n):
            dst[j] += src[j]


@kernel
def scatter(m, events, n_events, signs, weights, acc):
    """Add the weight rows of ``n_events`` source events into ``acc``.

    Parameters
    ----------
    m : ndarray of int64, shape (N_META,)
        Plan row of the target layer.
    events : ndarray of int32
        Source events (local channels-last indices).
    n_events : int
    signs : ndarray of int8
        Event signs, or an empty array for binary hidden-layer spikes.
    weights : ndarray of int32
        Flat pre-transposed weights of the plan.
    acc : ndarray of int32
        Flat accumulators; the target's block starts at ``m[V_OFF]``.

    Returns
    -------
    int
        Synaptic operations: weights added (border-clipped).
    """
    c_src, w_src, p = m[SC], m[SW], m[POOL]
    c_out, h, w, k = m[C], m[H], m[W], m[K]
    ph, pw, v0, w0 = m[PH], m[PW], m[V_OFF], m[W_OFF]
    pad = k // 2
    signed = signs.shape[0] > 0
    synops = 0
    for e in range(n_events):
        i = events[e]
        c = i % c_src
        pos = i // c_src
        yy = (pos // w_src) // p
        xx = (pos % w_src) // p
        if yy >= ph or xx >= pw:
            continue
        negative = signed and signs[e] < 0
        if m[KIND] == KIND_CONV:
            for ky in range(k):
                yo = yy - ky + pad
                if yo < 0 or yo >= h:
                    continue
                for kx in range(k):
                    xo = xx - kx + pad
                    if xo < 0 or xo >= w:
                        continue
                    _add_row(acc, v0 + (yo * w + xo) * c_out, weights, w0 + ((c * k + ky) * k + kx) * c_out,
                             c_out, negative)
                    synops += c_out
        else:
            f = c if m[GAP] else (c * ph + yy) * pw + xx
            _add_row(acc, v0, weights, w0 + f * c_out, c_out, negative)
            synops += c_out
    return synops
