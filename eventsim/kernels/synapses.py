"""Synaptic scatter kernels: each event adds its weight rows to the target accumulators.

A source event is a ``(y, x, c)`` triple (stored as three rows of an int32
array, so no kernel divides to decode an index).  It moves to its pooled
position ``(y // p, x // p)`` (a shift: ``p`` is a power of two; dropped when
outside the floor-cropped map), and its weight rows are added to the target
accumulator, whose inner loop over output channels is contiguous so it
vectorizes.
"""
from __future__ import annotations

from .jit import kernel
from .plan import EV_C, EV_X, EV_Y, GAP, KIND, KIND_CONV, PH, POOL_SHIFT, PW, C, H, K, V_OFF, W, W_OFF


@kernel
def gather_input(spikes_t, events, signs):
    """Compact one step of signed input spikes into an event list.

    Parameters
    ----------
    spikes_t : ndarray of int8, shape (H, W, C)
        Input spikes at one step, channels-last, values in {-1, 0, 1}.
    events : ndarray of int32, shape (3, >= H*W*C)
        Output: rows ``EV_Y``, ``EV_X``, ``EV_C`` of the non-zero entries.
    signs : ndarray of int8
        Output: their signs.

    Returns
    -------
    int
        Number of events.
    """
    n = 0
    for y in range(spikes_t.shape[0]):
        for x in range(spikes_t.shape[1]):
            for c in range(spikes_t.shape[2]):
                s = spikes_t[y, x, c]
                if s != 0:
                    events[EV_Y, n] = y
                    events[EV_X, n] = x
                    events[EV_C, n] = c
                    signs[n] = s
                    n += 1
    return n


@kernel
def _add_block(acc, a0, weights, w0, n, negative):
    """``acc[a0:a0+n] += weights[w0:w0+n]`` (or ``-=``) through slice views, so it vectorizes."""
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

    For a conv target, an event at pooled position ``(yy, xx)`` reaches the
    outputs ``yo in [yy - pad, yy + pad]``, ``xo in [xx - pad, xx + pad]``
    (clipped to the map).  The weights are stored flipped,
    ``[c_in][k-1-ky][k-1-kx][c_out]``, so for one ``yo`` the clipped run of
    ``xo`` and its weights are both contiguous: one vector loop of
    ``n_x * C_out`` adds per kernel row.

    Parameters
    ----------
    m : ndarray of int64, shape (N_META,)
        Plan row of the target layer.
    events : ndarray of int32, shape (3, >= n_events)
        Source events as rows ``EV_Y``, ``EV_X``, ``EV_C``.
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
    p_shift = m[POOL_SHIFT]
    c_out, h, w, k = m[C], m[H], m[W], m[K]
    ph, pw, v0, w0 = m[PH], m[PW], m[V_OFF], m[W_OFF]
    pad = k // 2
    signed = signs.shape[0] > 0
    conv = m[KIND] == KIND_CONV
    synops = 0
    for e in range(n_events):
        c = events[EV_C, e]
        yy = events[EV_Y, e] >> p_shift
        xx = events[EV_X, e] >> p_shift
        if yy >= ph or xx >= pw:
            continue
        negative = signed and signs[e] < 0
        if conv:
            y_lo, y_hi = max(0, yy - pad), min(h - 1, yy + pad)
            x_lo, x_hi = max(0, xx - pad), min(w - 1, xx + pad)
            run = (x_hi - x_lo + 1) * c_out
            for yo in range(y_lo, y_hi + 1):
                tap = (c * k + yo - yy + pad) * k + x_lo - xx + pad
                _add_block(acc, v0 + (yo * w + x_lo) * c_out, weights, w0 + tap * c_out, run, negative)
            synops += (y_hi - y_lo + 1) * run
        else:
            f = c if m[GAP] else (c * ph + yy) * pw + xx
            _add_block(acc, v0, weights, w0 + f * c_out, c_out, negative)
            synops += c_out
    return synops


@kernel
def gather_pooled_input(spikes_t, p_shift, counts, events, values):
    """Sum-pool one step of signed input spikes and list the non-empty pooled cells.

    Pooling first turns up to ``p^2`` input spikes that land on the same
    pooled cell into one weighted event, so the first layer adds one weight
    row times a small integer instead of one row per spike.

    Parameters
    ----------
    spikes_t : ndarray of int8, shape (H, W, C)
        Input spikes at one step, channels-last, values in {-1, 0, 1}.
    p_shift : int
        ``log2(p)`` of the total pool factor ``p``.
    counts : ndarray of int32, shape (PH, PW, C, 2)
        Scratch: signed sum and spike count per pooled cell (floor-cropped).
    events : ndarray of int32, shape (3, >= PH*PW*C)
        Output: rows ``EV_Y``, ``EV_X``, ``EV_C`` of the cells with spikes.
    values : ndarray of int32, shape (2, >= PH*PW*C)
        Output: row 0 the signed sum (the weight multiplier), row 1 the
        number of spikes (for the synaptic-op count).

    Returns
    -------
    n_events : int
        Number of pooled events.
    n_spikes : int
        Number of input spikes at this step (cropped ones included).
    """
    ph, pw, c_in = counts.shape[0], counts.shape[1], counts.shape[2]
    counts[:] = 0
    total = 0
    for y in range(spikes_t.shape[0]):
        yy = y >> p_shift
        for x in range(spikes_t.shape[1]):
            xx = x >> p_shift
            inside = yy < ph and xx < pw
            if inside:  # branch-free inner loop: about 40% of input pixels spike, at random
                for c in range(c_in):
                    s = spikes_t[y, x, c]
                    counts[yy, xx, c, 0] += s
                    counts[yy, xx, c, 1] += s != 0
            else:
                for c in range(c_in):
                    total += spikes_t[y, x, c] != 0
    n = 0
    for y in range(ph):
        for x in range(pw):
            for c in range(c_in):
                if counts[y, x, c, 1] != 0:
                    events[EV_Y, n] = y
                    events[EV_X, n] = x
                    events[EV_C, n] = c
                    values[0, n] = counts[y, x, c, 0]
                    values[1, n] = counts[y, x, c, 1]
                    total += counts[y, x, c, 1]
                    n += 1
    return n, total


@kernel
def _add_scaled_block(acc, a0, weights, w0, n, scale):
    """``acc[a0:a0+n] += scale * weights[w0:w0+n]`` through slice views."""
    dst = acc[a0 : a0 + n]
    src = weights[w0 : w0 + n]
    for j in range(n):
        dst[j] += scale * src[j]


@kernel
def scatter_pooled(m, events, n_events, values, weights, acc):
    """:func:`scatter` for pooled, weighted events from :func:`gather_pooled_input`.

    Events are already at pooled positions; each adds ``value`` times its
    weight rows (nothing when the signed sum is 0).  Synaptic operations
    count every input spike, as :func:`scatter` would: ``spikes * run``.

    Returns
    -------
    int
        Synaptic operations.
    """
    c_out, h, w, k = m[C], m[H], m[W], m[K]
    ph, pw, v0, w0 = m[PH], m[PW], m[V_OFF], m[W_OFF]
    pad = k // 2
    conv = m[KIND] == KIND_CONV
    synops = 0
    for e in range(n_events):
        c, yy, xx = events[EV_C, e], events[EV_Y, e], events[EV_X, e]
        scale, spikes = values[0, e], values[1, e]
        if conv:
            y_lo, y_hi = max(0, yy - pad), min(h - 1, yy + pad)
            x_lo, x_hi = max(0, xx - pad), min(w - 1, xx + pad)
            run = (x_hi - x_lo + 1) * c_out
            if scale != 0:
                for yo in range(y_lo, y_hi + 1):
                    tap = (c * k + yo - yy + pad) * k + x_lo - xx + pad
                    _add_scaled_block(acc, v0 + (yo * w + x_lo) * c_out, weights, w0 + tap * c_out, run, scale)
            synops += spikes * (y_hi - y_lo + 1) * run
        else:
            f = c if m[GAP] else (c * ph + yy) * pw + xx
            if scale != 0:
                _add_scaled_block(acc, v0, weights, w0 + f * c_out, c_out, scale)
            synops += spikes * c_out
    return synops
