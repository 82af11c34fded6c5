r"""Ground-truth localization scores of SAM maps against object masks (NumPy only).

The same definitions as ``training.metrics`` (``docs/metrics.md``, section
"Ground-truth metrics"), re-implemented here so that eventsim needs nothing
from the training side:

* a per-step SAM stack ``(T, h, w)`` is first summed over steps (for a stored
  mean or last-step map ``T = 1``); both scores are invariant to a positive
  scale, so the sum and the mean score the same;
* the map is resized to the mask's resolution by :func:`resize` (bilinear,
  half-pixel centres, edge clamping: PyTorch's ``align_corners=False``);
* **pointing game**: the map's largest pixel (first in row-major order) lies
  in the mask (or, with a ``tolerance``, within that many pixels of it); an
  all-zero map is a miss;
* **energy in mask**: ``sum_{mask} m / sum m`` (0 for an all-zero map).
"""
from __future__ import annotations

import numpy as np

from .errors import InputError

#: Zhang et al.'s pointing-game tolerance as a fraction of the image side (15 pixels of 224).
POINTING_TOLERANCE = 15 / 224


def bilinear_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) bilinear weights: output ``o`` samples ``max(0, (o + 1/2) n_in/n_out - 1/2)``."""
    src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), i0), 1.0 - frac)
    np.add.at(m, (np.arange(n_out), i1), frac)
    return m


def resize(maps, size) -> np.ndarray:
    """Bilinear resize of the last two axes to ``size = (H, W)``.

    Parameters
    ----------
    maps : array_like of float, shape (N, h, w)
    size : tuple of int

    Returns
    -------
    ndarray of float64, shape (N, H, W)
        Each map is resized on its own (one fixed-shape product per map), so
        a map's result does not depend on the other maps in the batch.
    """
    m = np.asarray(maps, np.float64)
    h, w = (int(v) for v in size)
    if m.shape[-2:] == (h, w):
        return m.copy()
    rows, cols = bilinear_matrix(h, m.shape[-2]), bilinear_matrix(w, m.shape[-1])
    return np.stack([rows @ x @ cols.T for x in m]) if len(m) else np.zeros((0, h, w))


def _prepare(maps, masks):
    m = np.asarray(maps, np.float64)
    k = np.asarray(masks, bool)
    if m.ndim == 4:
        m = m.sum(axis=1)
    if m.ndim != 3 or k.ndim != 3 or len(m) != len(k):
        raise InputError(f"maps (N, [T,] h, w) and masks (N, H, W) must agree in N; got {m.shape} and {k.shape}")
    if not np.all(np.isfinite(m)) or m.min(initial=0.0) < 0:
        raise InputError("maps: expected finite, non-negative SAM maps")
    return resize(m, k.shape[-2:]), k


def dilate(masks, radius: float) -> np.ndarray:
    """Masks grown by every pixel within Euclidean distance ``radius`` (pixels) of the mask.

    Parameters
    ----------
    masks : array_like of bool, shape (N, H, W)
    radius : float
        0 returns the masks unchanged.

    Returns
    -------
    ndarray of bool, shape (N, H, W)
    """
    k = np.asarray(masks, bool)
    out = k.copy()
    r = int(np.floor(radius))
    h, w = k.shape[-2:]
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if (dy or dx) and dy * dy + dx * dx <= radius * radius:
                out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] |= \
                    k[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def pointing_game(maps, masks, tolerance: float = 0.0) -> np.ndarray:
    """Whether each map's maximum lies inside its object mask (or within ``tolerance`` pixels of it).

    Parameters
    ----------
    maps : array_like of float, shape (N, T, h, w) or (N, h, w)
        Raw SAM; summed over ``T``, then resized to the masks' resolution.
    masks : array_like of bool, shape (N, H, W)
    tolerance : float
        Also count a maximum within this Euclidean distance of the mask, in
        pixels of the masks' resolution (:func:`dilate`).  Zhang et al.'s
        pointing game ("Top-down neural attention by excitation backprop",
        IJCV 2018) allows 15 pixels on images of about 224 pixels, that is
        :data:`POINTING_TOLERANCE` of the side; the default 0 is the strict
        game.

    Returns
    -------
    ndarray of bool, shape (N,)
        False for an all-zero map.
    """
    m, k = _prepare(maps, masks)
    if tolerance < 0:
        raise InputError(f"tolerance: expected pixels >= 0, got {tolerance}")
    k = dilate(k, tolerance) if tolerance > 0 else k
    flat = m.reshape(len(m), -1)
    idx = flat.argmax(axis=1)
    return k.reshape(len(k), -1)[np.arange(len(k)), idx] & (flat.max(axis=1, initial=0.0) > 0)


def mask_energy(maps, masks) -> np.ndarray:
    r"""Share of the heat inside the mask, :math:`\sum_{mask} m / \sum m`.

    Parameters
    ----------
    maps : array_like of float, shape (N, T, h, w) or (N, h, w)
    masks : array_like of bool, shape (N, H, W)

    Returns
    -------
    ndarray of float64, shape (N,)
        In [0, 1]; the mask's area fraction for a uniform map, 0 for an
        all-zero map.
    """
    m, k = _prepare(maps, masks)
    total = m.sum(axis=(1, 2))
    inside = (m * k).sum(axis=(1, 2))
    return np.where(total > 0, inside / np.where(total > 0, total, 1.0), 0.0)


def heat_centroid(maps, size=None) -> np.ndarray:
    r"""Heat-weighted centre of each map, in pixel coordinates.

    With the map ``m`` resized to ``size = (H, W)`` by :func:`resize`, the
    centre is :math:`(\sum_{y,x} m\,x / \sum m,\ \sum_{y,x} m\,y / \sum m)`,
    where pixel ``(y, x)`` has its centre at integer coordinates.

    Parameters
    ----------
    maps : array_like of float, shape (N, h, w)
        Finite, non-negative maps (one SAM step each).
    size : tuple of int, optional
        Resolution to score at (default: the maps' own).

    Returns
    -------
    ndarray of float64, shape (N, 2)
        ``(x, y)`` per map; NaN for an all-zero map.
    """
    m = np.asarray(maps, np.float64)
    if m.ndim != 3:
        raise InputError(f"maps: expected (N, h, w), got shape {m.shape}")
    if not np.all(np.isfinite(m)) or m.min(initial=0.0) < 0:
        raise InputError("maps: expected finite, non-negative maps")
    if size is not None:
        m = resize(m, size)
    total = m.sum(axis=(1, 2))
    safe = np.where(total > 0, total, 1.0)
    x = (m.sum(axis=1) * np.arange(m.shape[2])).sum(axis=1) / safe
    y = (m.sum(axis=2) * np.arange(m.shape[1])).sum(axis=1) / safe
    out = np.stack([x, y], axis=1)
    out[total <= 0] = np.nan
    return out
