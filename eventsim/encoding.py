"""Seeded signed-Poisson encoding of images into input spikes (DESIGN section 2).

For a normalized pixel ``p = (image - mean) / std`` and a uniform draw
``u ~ U[0, 1)`` at every step, the input spike is

.. math:: x_t = \\mathrm{sign}(p) \\cdot [2 u_t \\le |p|]

which follows the released BNTT code (``rand * 2 <= |inp|``).  The draws of
image ``i`` come from ``numpy.random.default_rng([seed, i])`` alone, so an
image gets the same spikes whatever batch it is in.
"""
from __future__ import annotations

import numpy as np

from . import fixed_point as fp
from .errors import ArgumentTypeError, InputError

RESCALE = 2.0


def check_images(images, input_shape=None, name="images") -> np.ndarray:
    """Validate a float image batch ``(N, C, H, W)`` with values in [0, 1].

    Parameters
    ----------
    images : array_like
    input_shape : tuple of int, optional
        Expected ``(C, H, W)``.
    name : str
        Argument name used in error messages.

    Returns
    -------
    ndarray of float64, shape (N, C, H, W)

    Raises
    ------
    InputError
        For a wrong rank, shape or channel count, non-numeric data, NaN/inf or
        values outside [0, 1].
    """
    arr = np.asarray(images)
    if arr.dtype.kind not in "fiub":
        raise InputError(f"{name}: expected a float array, got dtype {arr.dtype}")
    if arr.ndim != 4:
        hint = " (add a batch axis with images[None])" if arr.ndim == 3 else ""
        want = f"(N, {', '.join(map(str, input_shape))})" if input_shape else "(N, C, H, W)"
        raise InputError(f"{name}: expected shape {want}, got {arr.shape}{hint}")
    if input_shape is not None and tuple(arr.shape[1:]) != tuple(input_shape):
        c, h, w = input_shape
        if arr.shape[1] != c:
            raise InputError(f"{name}: the model takes {c} channel(s), got {arr.shape[1]} (shape {arr.shape})")
        raise InputError(f"{name}: the model takes {h}x{w} images, got {arr.shape[2]}x{arr.shape[3]}")
    if arr.shape[0] == 0:
        raise InputError(f"{name}: the batch is empty")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: contains NaN or inf pixels (first at index "
                         f"{tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])})")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise InputError(f"{name}: pixels must lie in [0, 1], found range [{lo:.4g}, {hi:.4g}]; "
                         "divide 8-bit images by 255")
    return arr


def check_timesteps(timesteps, limit=fp.MAX_TIMESTEPS) -> int:
    """``T`` as a positive int no larger than ``limit``."""
    if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)):
        raise InputError(f"timesteps: expected a positive integer, got {timesteps!r}")
    if not 1 <= int(timesteps) <= limit:
        raise InputError(f"timesteps: expected 1 <= T <= {limit}, got {timesteps}")
    return int(timesteps)


def check_seed(seed, name="seed") -> int:
    """``seed`` as an int in ``[0, 2**63)`` (it is stored as int64); no silent truncation of floats.

    Raises
    ------
    ArgumentTypeError
        For a non-integer (``1.5``, ``"abc"``, ``None``, ``True``).
    InputError
        For a negative or too large integer.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ArgumentTypeError(f"{name}: expected a non-negative integer, got {seed!r} ({type(seed).__name__})")
    if not 0 <= int(seed) < 2**63:
        raise InputError(f"{name}: expected an integer in [0, 2**63), got {seed}")
    return int(seed)


def encode_poisson(images, timesteps, seed=0, *, mean=None, std=None, start_index=0) -> np.ndarray:
    """Signed-Poisson spikes for a batch of images.

    Parameters
    ----------
    images : array_like of float, shape (N, C, H, W)
        Pixels in [0, 1].
    timesteps : int
        ``T >= 1``.
    seed : int
        Base seed; image ``i`` uses the stream ``[seed, start_index + i]``.
    mean, std : array_like of float, shape (C,), optional
        Per-channel normalization (default 0 and 1); pass the model's
        ``input_mean``/``input_std``.
    start_index : int
        Index of ``images[0]`` in the whole data set, so that a split batch
        reproduces the spikes of the full batch.

    Returns
    -------
    ndarray of int8, shape (N, T, C, H, W)
        Values in {-1, 0, 1}.
    """
    arr = check_images(images)
    t = check_timesteps(timesteps)
    seed = check_seed(seed)
    start_index = check_seed(start_index, "start_index")
    n, c = arr.shape[:2]
    mean = np.zeros(c) if mean is None else np.asarray(mean, np.float64).reshape(c)
    std = np.ones(c) if std is None else np.asarray(std, np.float64).reshape(c)
    norm = (arr - mean[None, :, None, None]) / std[None, :, None, None]
    out = np.empty((n, t) + arr.shape[1:], np.int8)
    for i in range(n):
        rng = np.random.default_rng([seed, start_index + i])
        u = rng.random((t,) + arr.shape[1:])
        p = norm[i]
        out[i] = np.sign(p).astype(np.int8) * (u * RESCALE <= np.abs(p))
    return out


def check_spikes(spikes, input_shape=None, name="spikes", counts=False) -> np.ndarray:
    """Validate an input tensor ``(N, T, C, H, W)``: spikes in {-1, 0, 1}, or signed event counts.

    Parameters
    ----------
    spikes : array_like of int
    input_shape : tuple of int, optional
        ``(C, H, W)`` the model expects.
    name : str
        Argument name for error messages.
    counts : bool
        Accept signed counts in the int8 range ``[-128, 127]`` (models with
        ``input_encoding = "counts"``) instead of {-1, 0, 1}.

    Returns
    -------
    ndarray of int8
    """
    arr = np.asarray(spikes)
    if arr.ndim != 5:
        want = f"(N, T, {', '.join(map(str, input_shape))})" if input_shape else "(N, T, C, H, W)"
        raise InputError(f"{name}: expected shape {want}, got {arr.shape}")
    if input_shape is not None and tuple(arr.shape[2:]) != tuple(input_shape):
        raise InputError(f"{name}: expected per-step shape {tuple(input_shape)}, got {arr.shape[2:]}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{name}: needs at least one image and one time step, got shape {arr.shape}")
    if arr.dtype.kind not in "iub" and not (arr.dtype.kind == "f" and np.all(np.isfinite(arr))):
        raise InputError(f"{name}: expected integer spikes, got dtype {arr.dtype}")
    if counts:
        info = np.iinfo(np.int8)
        bad = (arr < info.min) | (arr > info.max) | (arr != np.round(arr) if arr.dtype.kind == "f" else False)
        rule = f"integer event counts in the int8 range [{info.min}, {info.max}]"
    else:
        bad = (arr != -1) & (arr != 0) & (arr != 1)
        rule = "-1, 0 or 1 (this model's input is signed Poisson spikes; event counts need a model with " \
               "input_encoding='counts')"
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{name}: values must be {rule}; found {arr[idx].item()!r} at index {idx}")
    return arr.astype(np.int8)
