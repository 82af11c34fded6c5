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
  in the mask; an all-zero map is a miss;
* **energy in mask**: ``sum_{mask} m / sum m`` (0 for an all-zero map).
"""
from __future__ import annotations

import numpy as np

from .errors import InputError


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


def pointing_game(maps, masks) -> np.ndarray:
    """Whether each map's maximum lies inside its object mask.

    Parameters
    ----------
    maps : array_like of float, shape (N, T, h, w) or (N, h, w)
        Raw SAM; summed over ``T``, then resized to the masks' resolution.
    masks : array_like of bool, shape (N, H, W)

    Returns
    -------
    ndarray of bool, shape (N,)
        False for an all-zero map.
    """
    m, k = _prepare(maps, masks)
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
