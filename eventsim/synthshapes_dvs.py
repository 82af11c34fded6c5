r"""SynthShapes-DVS: SynthShapes items seen by a simulated event camera (ESIM-style, NumPy only).

Item ``i`` of a split is SynthShapes item ``i`` (:mod:`eventsim.synthshapes`,
same seed, split and index, rendered at the sensor size, default 32x32)
turned into grey luminance

.. math:: Y = 0.299 R + 0.587 G + 0.114 B \in [0, 1]

and moved along an N-MNIST-style saccade path: three linear saccades of
``duration_us / 3`` each around an equilateral triangle of side
``amplitude`` pixels, starting and ending at the rest position (up-right,
down-right, left; :func:`saccade_offsets`).  At each of the
``duration_us / frame_us`` frame times the moved image is resampled
bilinearly at sub-pixel offsets (image borders clamped, :func:`shift_image`)
and every pixel tracks its log intensity ``L = log(Y + log_eps)``.

Each pixel holds a reference level ``r`` (``L`` at ``t = 0``) and its own
contrast thresholds ``C_on``, ``C_off`` drawn once per stream from
``N(contrast, contrast_sigma^2)`` (clipped to at least ``contrast / 4``).
Between two frames ``L`` moves linearly from ``L_0`` to ``L_1``; every time
it reaches ``r + C_on`` the pixel emits an ON event (``p = 1``) and
``r += C_on``, every time it reaches ``r - C_off`` an OFF event (``p = 0``)
and ``r -= C_off``.  The ``k``-th crossing in a frame interval ``[t_0, t_1]``
is stamped where the line reaches the crossed level (:func:`emit_events`):

.. math:: t_k = t_0 + (t_1 - t_0) \frac{r + k C - L_0}{L_1 - L_0}

rounded down to whole microseconds.  Optional noise events arrive at
``noise_rate`` Hz per pixel (both polarities together): a Poisson count,
uniform in pixel, time and polarity.  The stream is sorted by time (stable).

Every random draw comes from ``numpy.random.default_rng([seed, split, i,
stream])`` (streams 10: thresholds, 11: noise), so a stream is a function
of ``(seed, split, i)`` and the parameters.  The object mask moves with the
image: :meth:`SynthShapesDVS.masks_at` gives it at any time and
:meth:`SynthShapesDVS.bin_masks` at the centre of each bin of
:func:`eventsim.events.to_frames`, so localization can be scored while the
object moves.

Examples
--------
>>> ds = SynthShapesDVS("test", length=4)
>>> s = ds[0]
>>> s.events.dtype.names, ds.sensor_size
(('x', 'y', 't', 'p'), (32, 32, 2))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DatasetError
from .events import EVENT_DTYPE, time_bins, to_frames
from .progress import progress_bar
from .synthshapes import SPLITS, SynthShapes

#: Sensor side of the default data set (pixels).
DEFAULT_SIZE = 32
#: Default stream length: three saccades of 100 ms (microseconds).
DEFAULT_DURATION_US = 300_000
#: Rec. 601 luma weights of R, G, B.
LUMA = (0.299, 0.587, 0.114)
#: Random streams of an item (SynthShapes uses 0-2).
_THRESHOLD_STREAM, _NOISE_STREAM = 10, 11


def luminance(image: np.ndarray) -> np.ndarray:
    """Grey level ``Y`` of an RGB image.

    Parameters
    ----------
    image : ndarray of float, shape (3, H, W)
        RGB in [0, 1].

    Returns
    -------
    ndarray of float64, shape (H, W), in [0, 1]
    """
    return np.tensordot(np.asarray(LUMA), np.asarray(image, np.float64), axes=1)


def saccade_offsets(times_us, amplitude: float, duration_us: int) -> np.ndarray:
    """Image offset ``(dx, dy)`` in pixels at each time, along the three-saccade triangle.

    The vertices are ``(0, 0)``, ``(a/2, -a sqrt(3)/2)`` and ``(a, 0)`` (``y``
    grows downwards); the image visits them in that order and returns to
    ``(0, 0)`` at ``duration_us``, each saccade at constant speed for a third
    of the time.  Times outside ``[0, duration_us]`` are clamped.

    Parameters
    ----------
    times_us : array_like of float, shape (K,)
    amplitude : float
        Triangle side ``a`` in pixels.
    duration_us : int

    Returns
    -------
    ndarray of float64, shape (K, 2)
    """
    a = float(amplitude)
    vertices = np.array([[0.0, 0.0], [a / 2, -a * np.sqrt(3) / 2], [a, 0.0], [0.0, 0.0]])
    u = np.clip(np.asarray(times_us, np.float64) / duration_us, 0.0, 1.0) * 3
    leg = np.minimum(u.astype(np.int64), 2)
    f = (u - leg)[:, None]
    return vertices[leg] * (1 - f) + vertices[leg + 1] * f


def shift_image(image: np.ndarray, offsets) -> np.ndarray:
    """``image`` moved by each offset: ``out[k, y, x] = image(y - dy_k, x - dx_k)``, bilinear, borders clamped.

    Parameters
    ----------
    image : ndarray of float, shape (H, W)
    offsets : array_like of float, shape (K, 2)
        ``(dx, dy)`` in pixels (right, down).

    Returns
    -------
    ndarray of float64, shape (K, H, W)
    """
    img = np.asarray(image, np.float64)
    h, w = img.shape
    off = np.asarray(offsets, np.float64).reshape(-1, 2)
    ys = np.clip(np.arange(h)[None, :] - off[:, 1:], 0, h - 1)
    xs = np.clip(np.arange(w)[None, :] - off[:, :1], 0, w - 1)
    y0 = np.minimum(np.floor(ys).astype(np.int64), max(h - 2, 0))
    x0 = np.minimum(np.floor(xs).astype(np.int64), max(w - 2, 0))
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, :, None], (xs - x0)[:, None, :]
    across = (img[:, x0] * (1 - fx[:, 0]) + img[:, x1] * fx[:, 0]).transpose(1, 0, 2)   # (K, H, W) along x
    k = np.arange(len(off))[:, None]
    return across[k, y0] * (1 - fy) + across[k, y1] * fy


def emit_events(log_frames: np.ndarray, times_us: np.ndarray, c_on: np.ndarray, c_off: np.ndarray) -> np.ndarray:
    """Contrast-threshold events of a pixel array whose log intensity moves linearly between frames.

    Parameters
    ----------
    log_frames : ndarray of float, shape (K, H, W)
        Log intensity ``L`` at each frame time; frame 0 sets the reference levels.
    times_us : ndarray of int, shape (K,)
        Increasing frame times, microseconds.
    c_on, c_off : ndarray of float, shape (H, W)
        Positive per-pixel ON and OFF thresholds.

    Returns
    -------
    ndarray of :data:`eventsim.events.EVENT_DTYPE`, shape (N,)
        Sorted by time (stable, from generation order: frame, then pixel in
        row-major order, then crossing); see the module docstring.
    """
    frames = np.asarray(log_frames, np.float64)
    n_frames, h, w = frames.shape
    flat = frames.reshape(n_frames, h * w)
    times = np.asarray(times_us, np.int64)
    c_on, c_off = np.asarray(c_on, np.float64).ravel(), np.asarray(c_off, np.float64).ravel()
    up = np.zeros((n_frames - 1, h * w), np.int64)
    down = np.zeros_like(up)
    refs = np.empty((n_frames - 1, h * w))
    ref = flat[0].copy()
    for k in range(1, n_frames):                       # the reference level is a sequential recurrence
        refs[k - 1] = ref
        diff = flat[k] - ref
        up[k - 1] = np.floor(np.maximum(diff, 0) / c_on)
        down[k - 1] = np.floor(np.maximum(-diff, 0) / c_off)
        ref = ref + up[k - 1] * c_on - down[k - 1] * c_off
    count = (up + down).ravel()
    cell = np.repeat(np.arange(count.size), count)     # (frame interval, pixel) of each event
    nth = np.arange(cell.size) - np.repeat(np.cumsum(count) - count, count) + 1
    frame, pix = np.divmod(cell, h * w)
    on = up.ravel()[cell] > 0
    level = refs.ravel()[cell] + np.where(on, nth * c_on[pix], -nth * c_off[pix])
    l0, l1 = flat[frame, pix], flat[frame + 1, pix]
    frac = np.clip((level - l0) / (l1 - l0), 0.0, 1.0)
    out = np.empty(cell.size, EVENT_DTYPE)
    out["x"], out["y"], out["p"] = pix % w, pix // w, on
    out["t"] = times[frame] + np.floor((times[frame + 1] - times[frame]) * frac).astype(np.int64)
    return out[np.argsort(out["t"], kind="stable")]


@dataclass(frozen=True)
class DVSSample:
    """One synthesized stream.

    Attributes
    ----------
    events : ndarray of :data:`eventsim.events.EVENT_DTYPE`, shape (N,)
        Sorted by time, inside ``sensor_size``.
    label : int
        Index into :data:`eventsim.synthshapes.CLASSES`.
    mask : ndarray of bool, shape (H, W)
        The object at rest (time 0); :meth:`SynthShapesDVS.masks_at` moves it.
    """

    events: np.ndarray
    label: int
    mask: np.ndarray


class SynthShapesDVS:
    """Deterministic event streams of moving SynthShapes items.

    Parameters
    ----------
    split : {"train", "val", "test"}
    size : int
        Sensor side ``H = W`` (default 32); the sensor is ``(size, size, 2)``.
    seed : int
        SynthShapes seed (and of the thresholds and noise).
    length : int, optional
        Number of items (default: the SynthShapes split's).
    contrast : float
        Mean contrast threshold ``C`` (log units, default 0.2).
    contrast_sigma : float
        Per-pixel threshold spread (default 0.03).
    noise_rate : float
        Noise events per pixel and second (default 1.0; 0 for none).
    amplitude : float
        Saccade triangle side in pixels (default 3).
    duration_us, frame_us : int
        Stream length (default 300 ms) and rendering interval (default 1 ms);
        ``frame_us`` must divide ``duration_us``.
    log_eps : float
        ``L = log(Y + log_eps)`` (default 0.1).
    min_contrast : float
        Least log contrast of the object's grey level to the background
        under it (default 0.4, twice ``C``; 0 keeps SynthShapes' colours),
        see :meth:`grey`.
    """

    def __init__(self, split="train", size=DEFAULT_SIZE, seed=0, length=None, contrast=0.2, contrast_sigma=0.03,
                 noise_rate=1.0, amplitude=3.0, duration_us=DEFAULT_DURATION_US, frame_us=1000, log_eps=0.1,
                 min_contrast=0.4):
        self.shapes = SynthShapes(split, size=size, seed=seed, length=length)
        if self.shapes.height != self.shapes.width:
            raise DatasetError(f"SynthShapes-DVS needs a square sensor, got size {size}")
        checks = ((contrast > 0, f"contrast must be > 0, got {contrast}"),
                  (contrast_sigma >= 0, f"contrast_sigma must be >= 0, got {contrast_sigma}"),
                  (noise_rate >= 0, f"noise_rate must be >= 0, got {noise_rate}"),
                  (amplitude >= 0, f"amplitude must be >= 0, got {amplitude}"),
                  (log_eps > 0, f"log_eps must be > 0, got {log_eps}"),
                  (0 <= min_contrast <= 1, f"min_contrast must lie in [0, 1], got {min_contrast}"),
                  (frame_us >= 1 and duration_us >= 3 * frame_us and duration_us % frame_us == 0,
                   f"frame_us ({frame_us}) must be >= 1 and divide duration_us ({duration_us}) at least 3 times"))
        for ok, msg in checks:
            if not ok:
                raise DatasetError(msg)
        self.split, self.seed = split, int(seed)
        self.contrast, self.contrast_sigma, self.noise_rate = float(contrast), float(contrast_sigma), float(noise_rate)
        self.amplitude, self.log_eps, self.min_contrast = float(amplitude), float(log_eps), float(min_contrast)
        self.duration_us, self.frame_us = int(duration_us), int(frame_us)

    @property
    def size(self) -> int:
        return self.shapes.height

    @property
    def sensor_size(self) -> tuple:
        """``(W, H, P)`` = ``(size, size, 2)``."""
        return self.size, self.size, 2

    def __len__(self):
        return len(self.shapes)

    def params(self) -> dict:
        """The generation parameters (JSON-ready), as written in exported files."""
        return {"split": self.split, "size": self.size, "seed": self.seed, "contrast": self.contrast,
                "contrast_sigma": self.contrast_sigma, "noise_rate": self.noise_rate, "amplitude": self.amplitude,
                "duration_us": self.duration_us, "frame_us": self.frame_us, "log_eps": self.log_eps,
                "min_contrast": self.min_contrast}

    def _rng(self, index, stream):
        return np.random.default_rng([self.seed, SPLITS[self.split], int(index), stream])

    def label(self, index: int) -> int:
        """Class of item ``index`` (SynthShapes')."""
        return self.shapes.label(index)

    def frame_times(self) -> np.ndarray:
        """Rendering times ``0, frame_us, ..., duration_us`` (int64 microseconds)."""
        return np.arange(0, self.duration_us + 1, self.frame_us, dtype=np.int64)

    def thresholds(self, index: int) -> tuple:
        """Per-pixel ``(C_on, C_off)``, each float64 (H, W)."""
        rng = self._rng(index, _THRESHOLD_STREAM)
        c = rng.normal(self.contrast, self.contrast_sigma, (2, self.size, self.size))
        c = np.maximum(c, self.contrast / 4)
        return c[0], c[1]

    def noise(self, index: int) -> np.ndarray:
        """Noise events of item ``index`` (unsorted, EVENT_DTYPE)."""
        rng = self._rng(index, _NOISE_STREAM)
        mean = self.noise_rate * self.size * self.size * self.duration_us * 1e-6
        n = int(rng.poisson(mean))
        out = np.empty(n, EVENT_DTYPE)
        out["x"] = rng.integers(0, self.size, n)
        out["y"] = rng.integers(0, self.size, n)
        out["t"] = rng.integers(0, self.duration_us + 1, n)
        out["p"] = rng.integers(0, 2, n)
        return out

    def grey(self, index: int) -> np.ndarray:
        r"""The grey scene of item ``index``: float64 (H, W) in [0, 1].

        The luminance of SynthShapes item ``index``, except that an object
        whose grey level is too close to the background's is lightened or
        darkened.  With ``Y_o`` the mean luminance of the object's colour
        field and ``Y_u`` that of the background under it (both over the
        mask), the object's log contrast is
        ``c = log((Y_o + eps) / (Y_u + eps))``.  If ``|c| < min_contrast``
        the colour field is mixed with white (``c >= 0``) or black
        (``c < 0``; the other one when the first cannot reach it), in the
        proportion that gives ``|c| = min_contrast`` exactly, before the
        image is composed as in SynthShapes
        (``clip(bg (1 - alpha) + colour alpha + noise, 0, 1)``).  SynthShapes
        picks the object's colour far from the background in RGB, which
        leaves some objects nearly iso-luminant: an event camera cannot see
        them (docs/events.md).
        """
        bg, alpha, colour, noise = self.shapes.layers(index)
        luma = np.asarray(LUMA)
        on = alpha >= 0.5
        y_obj, y_under, eps = float((colour[on] @ luma).mean()), float((bg[on] @ luma).mean()), self.log_eps
        c = np.log((y_obj + eps) / (y_under + eps))
        if abs(c) < self.min_contrast:
            up = (y_under + eps) * np.exp(self.min_contrast) - eps
            down = (y_under + eps) * np.exp(-self.min_contrast) - eps
            lighten = (c >= 0 and up <= 1) or down < 0
            if lighten:
                colour = colour + (up - y_obj) / (1 - y_obj) * (1 - colour)
            else:
                colour = colour * (down / y_obj)
        image = np.clip(bg * (1 - alpha[:, :, None]) + colour * alpha[:, :, None] + noise, 0, 1)
        return image @ luma

    def __getitem__(self, index: int) -> DVSSample:
        sample = self.shapes[index]
        times = self.frame_times()
        offsets = saccade_offsets(times, self.amplitude, self.duration_us)
        log_frames = np.log(shift_image(self.grey(index), offsets) + self.log_eps)
        ev = emit_events(log_frames, times, *self.thresholds(index))
        if self.noise_rate > 0:
            ev = np.concatenate([ev, self.noise(index)])
            ev = ev[np.argsort(ev["t"], kind="stable")]
        return DVSSample(ev, sample.label, sample.mask)

    def masks_at(self, index: int, times_us) -> np.ndarray:
        """The moved object mask at each time: bool (K, H, W), ``shift_image(mask) >= 0.5``."""
        mask = self.shapes[index].mask.astype(np.float64)
        return shift_image(mask, saccade_offsets(times_us, self.amplitude, self.duration_us)) >= 0.5

    def bin_masks(self, index: int, events: np.ndarray, n_time_bins: int) -> tuple:
        """Masks at the centres of the ``to_frames(events, n_time_bins=T)`` bins of a stream.

        Returns
        -------
        masks : ndarray of bool, shape (T, H, W)
        edges : ndarray of int64, shape (T + 1,)
            Bin edges in microseconds (``start + i * width``).
        """
        start, width, n = time_bins(events["t"], n_time_bins=n_time_bins)
        edges = start + width * np.arange(n + 1, dtype=np.int64)
        return self.masks_at(index, (edges[:-1] + edges[1:]) / 2), edges

    def frames(self, start, stop, n_time_bins, progress=False) -> tuple:
        """Binned streams ``start..stop-1`` for training: ``to_frames(..., polarity="split")``.

        Returns
        -------
        frames : ndarray of int8, shape (N, T, 2, H, W)
            Event counts per bin, polarity (0 OFF, 1 ON) and pixel.
        labels : ndarray of int64, shape (N,)
        """
        stop = min(int(stop), len(self))
        if not 0 <= start < stop:
            raise DatasetError(f"empty range [{start}, {stop}) of the {self.split} split (length {len(self)})")
        out = np.empty((stop - start, n_time_bins, 2, self.size, self.size), np.int8)
        labels = np.empty(stop - start, np.int64)
        for k, i in enumerate(progress_bar(range(start, stop), progress, f"SynthShapes-DVS {self.split}",
                                           unit="stream")):
            s = self[i]
            out[k], labels[k] = to_frames(s.events, self.sensor_size, n_time_bins=n_time_bins), s.label
        return out, labels

    def binned(self, start, stop, n_time_bins, progress=False) -> dict:
        """Streams ``start..stop-1`` with what scoring a heat map per time bin needs.

        Returns
        -------
        dict
            ``events``: list of the streams; ``frames`` int8 (N, T, 2, H, W)
            (:meth:`frames`); ``labels`` int64 (N,); ``masks`` bool (N, T, H, W),
            the object at each bin's centre (:meth:`bin_masks`); ``rest`` bool
            (N, H, W), the object at rest; ``offsets`` float64 (N, T, 2), the
            image's ``(dx, dy)`` in pixels at each bin's centre
            (:func:`saccade_offsets`).
        """
        stop = min(int(stop), len(self))
        if not 0 <= start < stop:
            raise DatasetError(f"empty range [{start}, {stop}) of the {self.split} split (length {len(self)})")
        n, h = stop - start, self.size
        out = {"events": [], "frames": np.empty((n, n_time_bins, 2, h, h), np.int8),
               "labels": np.empty(n, np.int64), "masks": np.empty((n, n_time_bins, h, h), bool),
               "rest": np.empty((n, h, h), bool), "offsets": np.empty((n, n_time_bins, 2))}
        for k, i in enumerate(progress_bar(range(start, stop), progress, f"SynthShapes-DVS {self.split}",
                                           unit="stream")):
            s = self[i]
            out["events"].append(s.events)
            out["frames"][k] = to_frames(s.events, self.sensor_size, n_time_bins=n_time_bins)
            out["masks"][k], edges = self.bin_masks(i, s.events, n_time_bins)
            out["offsets"][k] = saccade_offsets((edges[:-1] + edges[1:]) / 2, self.amplitude, self.duration_us)
            out["labels"][k], out["rest"][k] = s.label, s.mask
        return out
