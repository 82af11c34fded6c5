"""The fan-out table of the generic kernels: where an event at each source position goes.

Pools and convs act on the two axes separately, so the table is built per
axis and combined.  Along one axis (source length ``n``):

* a pool ``(k, s, p)`` sums source ``i`` into every output ``o`` with
  ``0 <= i - (o s - p) < k``; the chain of pools is the product of these
  0/1 matrices, ``A[i, q]`` = number of paths from source ``i`` to pooled
  ``q`` (:func:`pool_paths`);
* a conv ``(k, s, p)`` reads pooled ``q`` at output ``o`` with tap
  ``a = q - (o s - p)``, ``0 <= a < k``.

A source position ``(y, x)`` then reaches the entries

.. math:: \\{(o_y W_o + o_x,\\; a_y k_x + a_x,\\; A_y[y, q_y] A_x[x, q_x])\\}

over the axis entries of ``y`` and ``x`` (conv target); a dense target
reads pooled feature ``q_y W_p + q_x`` (flatten) or the channel alone
(global pooling, one entry whose multiplicity is the total).  The
multiplicities times ``C_out`` sum to the synaptic operations of one unit
event, :func:`eventsim.reference.synaptic_input`'s count.
"""
from __future__ import annotations

import numpy as np

from ..topology import Connection, window_out
from .interface import Fanout


def pool_paths(size: int, windows) -> np.ndarray:
    """Paths from each source index to each pooled index through a chain of 1-D windows.

    Parameters
    ----------
    size : int
        Source length.
    windows : sequence of (kernel, stride, padding)

    Returns
    -------
    ndarray of int64, shape (size, pooled)
    """
    paths = np.eye(size, dtype=np.int64)
    n = size
    for k, s, p in windows:
        out = window_out(n, k, s, p)
        step = np.zeros((n, out), np.int64)
        for o in range(out):
            lo, hi = max(0, o * s - p), min(n, o * s - p + k)
            step[lo:hi, o] = 1
        paths = paths @ step
        n = out
    return paths


def _axis_table(rows):
    """Per-axis entries ``[(o, a, m) per source index]`` as a CSR: ``(start, o, a, m)``."""
    start = np.concatenate([[0], np.cumsum([len(m) for _, _, m in rows])]).astype(np.int64)
    cat = [np.concatenate([r[k] for r in rows]).astype(np.int64) for k in range(3)]
    return start, cat[0], cat[1], cat[2]


def _conv_axis(paths, out, k, s, p):
    """Per source index: arrays ``(o, a, m)`` of conv outputs, taps and multiplicities."""
    o, a = np.meshgrid(np.arange(out), np.arange(k), indexing="ij")
    q = o * s - p + a
    ok = (q >= 0) & (q < paths.shape[1])
    o, a, q = o[ok], a[ok], q[ok]
    rows = []
    for i in range(paths.shape[0]):
        m = paths[i, q]
        keep = m > 0
        rows.append((o[keep], a[keep], m[keep]))
    return _axis_table(rows)


def _dense_axis(paths, gap):
    """Per source index: arrays ``(q, 0, m)`` of pooled indices and multiplicities (one total for ``gap``)."""
    rows = []
    for i in range(paths.shape[0]):
        if gap:
            m = paths[i].sum(keepdims=True)
            q = np.zeros(1, np.int64)
        else:
            q = np.flatnonzero(paths[i])
            m = paths[i, q]
        keep = m > 0
        rows.append((q[keep], np.zeros(int(keep.sum()), np.int64), m[keep]))
    return _axis_table(rows)


def _combine(axis_y, axis_x, out_of, wo_of):
    """The 2-D CSR table from the per-axis ones (positions in ``y * W + x`` order).

    Position ``(y, x)`` gets every pair of an entry of ``y`` and an entry of
    ``x``: its ``k``-th entry pairs y-entry ``k // n_x`` with x-entry ``k % n_x``.
    """
    (sy, oy, ay, my), (sx, ox, ax, mx) = axis_y, axis_x
    ny, nx = np.diff(sy), np.diff(sx)
    counts = np.outer(ny, nx).ravel()
    start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    pos = np.repeat(np.arange(counts.size), counts)
    k = np.arange(pos.size) - start[pos]
    y, x = np.divmod(pos, nx.size)
    iy = sy[y] + k // nx[x]  # an entry exists only where nx[x] > 0
    ix = sx[x] + k % nx[x]
    out = out_of(oy[iy], ox[ix])
    wo = wo_of(ay[iy], ax[ix], oy[iy], ox[ix])
    return start, [np.ascontiguousarray(v, np.int64) for v in (out, wo, my[iy] * mx[ix])]


def build_fanout(conn: Connection) -> Fanout:
    """The :class:`~eventsim.kernels.interface.Fanout` of a connection (weights as :func:`generic_weights`)."""
    layer = conn.target
    _, sh, sw = conn.source_shape
    _, ph, pw = conn.pooled_shape
    c_out = int(layer.out_shape[0])
    paths_y = pool_paths(sh, [(pl.kernel[0], pl.stride[0], pl.padding[0]) for pl in conn.pools])
    paths_x = pool_paths(sw, [(pl.kernel[1], pl.stride[1], pl.padding[1]) for pl in conn.pools])
    if layer.kind == "conv":
        (ky, kx), (sy, sx), (py, px) = layer.kernel, layer.stride, layer.padding
        _, ho, wo = layer.out_shape
        start, (out, woff, mult) = _combine(_conv_axis(paths_y, ho, ky, sy, py), _conv_axis(paths_x, wo, kx, sx, px),
                                            lambda oy, ox: (oy * wo + ox) * c_out,
                                            lambda ay, ax, oy, ox: (ay * kx + ax) * c_out)
        cstride = ky * kx * c_out
    else:
        start, (out, woff, mult) = _combine(_dense_axis(paths_y, conn.gap), _dense_axis(paths_x, conn.gap),
                                            lambda qy, qx: np.zeros_like(qy),
                                            lambda ay, ax, qy, qx: (qy * pw + qx) * c_out)
        cstride = c_out if conn.gap else ph * pw * c_out
    running = np.concatenate([[0], np.cumsum(mult)]).astype(np.int64)
    fan = (running[start[1:]] - running[start[:-1]]) * c_out
    return Fanout(start, out, woff, mult, np.ascontiguousarray(fan, np.int64), int(cstride), c_out)


def generic_weights(layer) -> np.ndarray:
    """Weights of a layer in the generic kernels' layout, int32, flat.

    Conv ``(C_out, C_in, k_y, k_x)`` becomes ``[c][a_y][a_x][c_out]`` (row
    ``c * k_y k_x C_out + (a_y k_x + a_x) C_out``); dense ``(C_out, F)``
    becomes ``[f][c_out]`` with ``f = c H_p W_p + q`` (flatten) or ``f = c``
    (global pooling).
    """
    w = layer.weight
    order = (1, 2, 3, 0) if w.ndim == 4 else (1, 0)
    return np.ascontiguousarray(w.transpose(order), np.int32).ravel()
