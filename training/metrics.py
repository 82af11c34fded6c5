r"""Heatmap metrics: localization error, pixel variance, normalized L1 distance, ground-truth scores.

NumPy only.  Every function takes raw, non-negative heatmaps (SAM from
eventsim, Grad-CAM, SNN-crafted Grad-CAM) and does its own resizing and
normalisation, exactly as ``docs/metrics.md`` defines them:

* **Resizing** (:func:`resize`): bilinear with half-pixel centres and edge
  clamping (PyTorch's ``interpolate(mode="bilinear", align_corners=False)``),
  always *before* normalising.  Every metric compares maps at the input
  image's resolution.
* **Min-max** (:func:`minmax`): each map on its own to [0, 1]; a constant
  map becomes all zeros.
* **Peak scaling** (:func:`peak_scale`): a stack of ``T`` maps of one image
  divided by its largest value over all steps and pixels, so zero stays
  zero, flat maps stay flat and quiet steps stay quiet.

Shapes: an ANN map is (N, H, W); an SNN map is (N, T, H, W) (one per step).
"""
from __future__ import annotations

import numpy as np

from eventsim.metrics import bilinear_matrix

from .errors import ConfigError

#: Clamp of the predicted probability in the binary cross entropy.
BCE_EPS = 1e-2
#: Images per chunk where per-step stacks are resized.
CHUNK = 16


def resize(maps, size) -> np.ndarray:
    """Bilinear resize of the last two axes.

    Parameters
    ----------
    maps : array_like of float, shape (..., h, w)
    size : tuple of int or None
        ``(H, W)``; ``None`` returns the maps unchanged (as float64).

    Returns
    -------
    ndarray of float64, shape (..., H, W)
    """
    m = np.asarray(maps, np.float64)
    if m.ndim < 2:
        raise ConfigError(f"maps: expected at least 2 dimensions (..., h, w), got shape {m.shape}")
    if size is None or tuple(size) == m.shape[-2:]:
        return m
    h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise ConfigError(f"size: expected positive (H, W), got {size}")
    return bilinear_matrix(h, m.shape[-2]) @ m @ bilinear_matrix(w, m.shape[-1]).T


def minmax(maps) -> np.ndarray:
    r"""Each map (last two axes) to [0, 1]: ``(m - min m) / (max m - min m)``; constant maps become 0."""
    m = np.asarray(maps, np.float64)
    lo = m.min(axis=(-2, -1), keepdims=True)
    span = m.max(axis=(-2, -1), keepdims=True) - lo
    return np.where(span > 0, (m - lo) / np.where(span > 0, span, 1.0), 0.0)


def peak_scale(maps) -> np.ndarray:
    r"""Divide each image's stack by its peak: ``m / max_{t,i,j} m`` over every axis but the first."""
    m = np.asarray(maps, np.float64)
    peak = m.reshape(m.shape[0], -1).max(axis=1).reshape((-1,) + (1,) * (m.ndim - 1))
    return np.where(peak > 0, m / np.where(peak > 0, peak, 1.0), 0.0)


def _check_nonneg(maps, name):
    m = np.asarray(maps, np.float64)
    if not np.all(np.isfinite(m)) or m.min(initial=0.0) < 0:
        raise ConfigError(f"{name}: expected finite, non-negative heatmaps")
    return m


def binary_cross_entropy(pred, target, eps: float = BCE_EPS) -> np.ndarray:
    r"""Mean pixelwise binary cross entropy over the last two axes.

    .. math::

        \mathrm{BCE}(g, m) = -\frac{1}{HW} \sum_{i,j}
            \left[g_{ij} \ln \hat m_{ij} + (1 - g_{ij}) \ln(1 - \hat m_{ij})\right],
        \qquad \hat m = \mathrm{clip}(m, \epsilon, 1 - \epsilon)

    Parameters
    ----------
    pred, target : array_like of float, broadcastable, values in [0, 1]
        ``m`` (the prediction) and ``g`` (the reference).
    eps : float

    Returns
    -------
    ndarray of float64, the broadcast shape without the last two axes
    """
    m = np.clip(np.asarray(pred, np.float64), eps, 1.0 - eps)
    g = np.asarray(target, np.float64)
    return -(g * np.log(m) + (1.0 - g) * np.log1p(-m)).mean(axis=(-2, -1))


def localization_error(maps, reference, size=None, eps: float = BCE_EPS):
    r"""Localization error of paper Section 5.1: BCE against the ANN Grad-CAM, minimum over steps.

    .. math:: E = \min_t \mathrm{BCE}\left(\mathrm{mm}(R(G)),\ \mathrm{mm}(R(M_t))\right)

    with ``R`` the resize to ``size`` and ``mm`` the per-map min-max.

    Parameters
    ----------
    maps : array_like of float, shape (N, T, h, w) or (N, h, w)
        SAM (or SNN-crafted Grad-CAM) per step, raw.
    reference : array_like of float, shape (N, h', w')
        ANN Grad-CAM, raw.
    size : tuple of int, optional
        Common resolution ``(H, W)`` (the input image's); default: the
        reference's, which then must equal the maps'.
    eps : float

    Returns
    -------
    error : ndarray of float64, shape (N,)
    step : ndarray of int64, shape (N,)
        The step that attains the minimum.
    """
    m = _check_nonneg(maps, "maps")
    g = _check_nonneg(reference, "reference")
    if m.ndim == 3:
        m = m[:, None]
    if m.ndim != 4 or g.ndim != 3 or m.shape[0] != g.shape[0]:
        raise ConfigError(f"maps (N, T, h, w) and reference (N, h, w) must agree in N; got {m.shape} and {g.shape}")
    if size is None and m.shape[-2:] != g.shape[-2:]:
        raise ConfigError(f"size: needed when maps {m.shape[-2:]} and reference {g.shape[-2:]} differ in resolution")
    size = g.shape[-2:] if size is None else tuple(size)
    per_step = np.concatenate([                       # chunks of images bound the memory of the resized stacks
        binary_cross_entropy(minmax(resize(m[a:a + CHUNK], size)), minmax(resize(g[a:a + CHUNK], size))[:, None], eps)
        for a in range(0, len(m), CHUNK)])
    return per_step.min(axis=1), per_step.argmin(axis=1)


def pixel_variance(maps, size=None, normalize: str = "peak") -> np.ndarray:
    r"""Heatmap pixel variance (paper Fig. 3): the largest per-step variance of the normalised maps.

    .. math:: V = \max_t \operatorname{Var}_{i,j}\left(\frac{R(M)_{t,ij}}{\max_{t',i',j'} R(M)_{t',i'j'}}\right)

    Parameters
    ----------
    maps : array_like of float, shape (N, T, h, w) or (N, h, w)
    size : tuple of int, optional
        Resize to ``(H, W)`` first.
    normalize : {"peak", "minmax"}
        ``"peak"`` (the definition above): the stack is peak-scaled over all
        steps.  ``"minmax"``: each step min-max normalised on its own (a
        sensitivity check; it stretches near-flat maps to [0, 1]).

    Returns
    -------
    ndarray of float64, shape (N,), values in [0, 0.25]
    """
    if normalize not in ("peak", "minmax"):
        raise ConfigError(f"normalize: expected 'peak' or 'minmax', got {normalize!r}")
    m = _check_nonneg(maps, "maps")
    m = m[:, None] if m.ndim == 3 else m
    scale = peak_scale if normalize == "peak" else minmax
    return np.concatenate([scale(resize(m[a:a + CHUNK], size)).var(axis=(-2, -1)).max(axis=1)
                           for a in range(0, len(m), CHUNK)])


def normalized_l1(clean, adversarial, size=None) -> np.ndarray:
    r"""Normalized L1 distance between heatmaps (paper Fig. 9), the maximum over steps for SNNs.

    .. math:: D = \max_t \frac{1}{HW} \sum_{i,j} \left|\hat a_{t,ij} - \hat b_{t,ij}\right|

    where ``a_hat`` and ``b_hat`` are each image's stacks, resized and
    peak-scaled separately.  ``D`` lies in [0, 1].

    Parameters
    ----------
    clean, adversarial : array_like of float, shape (N, T, h, w) or (N, h, w)
    size : tuple of int, optional

    Returns
    -------
    ndarray of float64, shape (N,)
    """
    a, b = _check_nonneg(clean, "clean"), _check_nonneg(adversarial, "adversarial")
    if a.shape != b.shape:
        raise ConfigError(f"clean and adversarial maps must have one shape, got {a.shape} and {b.shape}")
    a, b = (x[:, None] if x.ndim == 3 else x for x in (a, b))
    diff = np.abs(peak_scale(resize(a, size)) - peak_scale(resize(b, size)))
    return diff.mean(axis=(-2, -1)).max(axis=1)


def _maps_and_masks(maps, masks):
    m = resize(_check_nonneg(maps, "maps"), np.asarray(masks).shape[-2:])
    k = np.asarray(masks, bool)
    if m.shape != k.shape:
        raise ConfigError(f"maps (N, h, w) and masks (N, H, W) must agree in N; got {m.shape} and {k.shape}")
    return m, k


def pointing_game(maps, masks) -> np.ndarray:
    """Whether each map's maximum (first in row-major order) lies inside the object mask.

    Parameters
    ----------
    maps : array_like of float, shape (N, h, w)
        Resized to the masks' resolution first.  An all-zero map points nowhere (a miss).
    masks : array_like of bool, shape (N, H, W)

    Returns
    -------
    ndarray of bool, shape (N,)
    """
    m, k = _maps_and_masks(maps, masks)
    flat = m.reshape(len(m), -1)
    idx = flat.argmax(axis=1)
    return k.reshape(len(k), -1)[np.arange(len(k)), idx] & (flat.max(axis=1) > 0)


def mask_energy(maps, masks) -> np.ndarray:
    r"""Share of the heat inside the mask, ``sum_{mask} m / sum m`` (0 for an all-zero map).

    A map spread uniformly scores the mask's area fraction; a perfect one scores 1.

    Returns
    -------
    ndarray of float64, shape (N,)
    """
    m, k = _maps_and_masks(maps, masks)
    total = m.sum(axis=(1, 2))
    inside = (m * k).sum(axis=(1, 2))
    return np.where(total > 0, inside / np.where(total > 0, total, 1.0), 0.0)


def iou_at_threshold(maps, masks, threshold: float = 0.5) -> np.ndarray:
    r"""IoU of ``{minmax(m) >= threshold}`` with the mask (0 for an all-zero map).

    Returns
    -------
    ndarray of float64, shape (N,)
    """
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"threshold: expected a number in (0, 1], got {threshold}")
    m, k = _maps_and_masks(maps, masks)
    region = (minmax(m) >= threshold) & (m.max(axis=(1, 2), keepdims=True) > 0)
    inter = (region & k).sum(axis=(1, 2))
    union = (region | k).sum(axis=(1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def attention_shares(maps, masks) -> np.ndarray:
    r"""Mean heat inside each of ``K`` object masks, as shares that sum to 1.

    .. math:: e_k = \frac{\sum_{mask_k} m}{|mask_k|}, \qquad s_k = e_k / \sum_{k'} e_{k'}

    Parameters
    ----------
    maps : array_like of float, shape (N, ..., h, w)
        For example SAM (N, T, h, w).
    masks : array_like of bool, shape (N, K, H, W)

    Returns
    -------
    ndarray of float64, shape (N, ..., K)
        All zeros where the map is all zero inside every mask.
    """
    k = np.asarray(masks, bool)
    m = resize(_check_nonneg(maps, "maps"), k.shape[-2:])
    if m.shape[0] != k.shape[0]:
        raise ConfigError(f"maps and masks must agree in N; got {m.shape} and {k.shape}")
    area = np.maximum(k.sum(axis=(-2, -1)), 1)                       # (N, K)
    kk = k.reshape((k.shape[0],) + (1,) * (m.ndim - 3) + k.shape[1:])
    mean_heat = (m[..., None, :, :] * kk).sum(axis=(-2, -1)) / area.reshape(kk.shape[:-2])
    total = mean_heat.sum(axis=-1, keepdims=True)
    return np.where(total > 0, mean_heat / np.where(total > 0, total, 1.0), 0.0)
