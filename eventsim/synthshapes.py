r"""SynthShapes: a deterministic, procedural RGB data set with masks and boxes (NumPy only).

Each item is one of ten object classes (:data:`CLASSES`), drawn at a random
position, size (radius 18-32 % of the image side), rotation, aspect and
colour over a cluttered background.  The background (a smooth two-colour
field, an optional stripe or dot texture, three to seven distractors that
belong to no class, pixel noise) is drawn from its own random stream, which
never sees the label: a classifier can only find the class in the object.
Items carry a boolean object mask and its box.

Everything is a function of ``(seed, split, index)``: item ``i`` of split
``s`` uses ``numpy.random.default_rng([seed, SPLITS[s], i, k])`` for stream
``k`` (0 background, 1 object), and labels come in shuffled blocks of ten,
so every class has the same count in each block.

This module needs only NumPy, so ``eventsim demo`` and ``eventsim dataset``
work without PyTorch; :mod:`training.data` re-exports it under its
historical name.  The ImageFolder / Tiny-ImageNet loader lives in
:mod:`training.folders`.

Examples
--------
>>> ds = SynthShapes("test", length=20)
>>> images, labels, masks, boxes = ds.arrays(0, 4)
>>> images.shape, images.dtype, masks.shape, boxes.shape
((4, 3, 64, 64), dtype('float32'), (4, 64, 64), (4, 4))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DatasetError
from .progress import progress_bar

CLASSES = ("circle", "square", "triangle", "cross", "star", "ring", "crescent", "heart", "arrow", "hexagon")
SPLITS = {"train": 0, "val": 1, "test": 2}
DEFAULT_LENGTH = {"train": 20000, "val": 2000, "test": 2000}
_SUPERSAMPLE = 3


@dataclass(frozen=True)
class Sample:
    """One rendered item.

    Attributes
    ----------
    image : ndarray of float32, shape (3, H, W)
        RGB in [0, 1].
    label : int
        Index into :data:`CLASSES`.
    mask : ndarray of bool, shape (H, W)
        Pixels covered by the object (at least half covered).
    box : ndarray of int64, shape (4,)
        ``(x0, y0, x1, y1)`` of the mask, ``x1``/``y1`` exclusive.
    """

    image: np.ndarray
    label: int
    mask: np.ndarray
    box: np.ndarray


def _polygon(px, py, vx, vy):
    """Even-odd point-in-polygon test, vectorised over points."""
    inside = np.zeros(px.shape, bool)
    j = len(vx) - 1
    for i in range(len(vx)):
        crosses = (vy[i] > py) != (vy[j] > py)
        x_at = (vx[j] - vx[i]) * (py - vy[i]) / (vy[j] - vy[i] + 1e-12) + vx[i]
        inside ^= crosses & (px < x_at)
        j = i
    return inside


def _regular(n, radius, phase=np.pi / 2):
    a = phase + 2 * np.pi * np.arange(n) / n
    return radius * np.cos(a), radius * np.sin(a)


def _star(points=5, outer=1.0, inner=0.42):
    a = np.pi / 2 + np.pi * np.arange(2 * points) / points
    r = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return r * np.cos(a), r * np.sin(a)


_CROSS = (np.array([-.3, .3, .3, 1, 1, .3, .3, -.3, -.3, -1, -1, -.3]),
          np.array([-1, -1, -.3, -.3, .3, .3, 1, 1, .3, .3, -.3, -.3]))
_ARROW = (np.array([-1, .15, .15, 1, .15, .15, -1]), np.array([-.22, -.22, -.62, 0, .62, .22, .22]))


def shape_inside(label: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether unit-frame points ``(u, v)`` (object radius about 1) lie inside class ``label``.

    Parameters
    ----------
    label : int
    u, v : ndarray of float
        Coordinates in the object's rotated, scaled frame.

    Returns
    -------
    ndarray of bool, same shape as ``u``
    """
    r2 = u * u + v * v
    name = CLASSES[label]
    if name == "circle":
        return r2 <= 0.9**2
    if name == "square":
        return (np.abs(u) <= 0.78) & (np.abs(v) <= 0.78)
    if name == "triangle":
        return _polygon(u, v, *_regular(3, 1.05))
    if name == "cross":
        return _polygon(u, v, *_CROSS)
    if name == "star":
        return _polygon(u, v, *_star())
    if name == "ring":
        return (r2 <= 0.95**2) & (r2 >= 0.55**2)
    if name == "crescent":
        return (r2 <= 1.0) & ((u - 0.5) ** 2 + v * v >= 0.8**2)
    if name == "heart":
        x, y = 1.15 * u, -1.15 * v + 0.3
        return (x * x + y * y - 1) ** 3 - x * x * y**3 <= 0
    if name == "arrow":
        return _polygon(u, v, *_ARROW)
    return _polygon(u, v, *_regular(6, 0.95, 0.0))


def _bilinear(coarse: np.ndarray, h: int, w: int) -> np.ndarray:
    """Upsample ``(g, g, C)`` to ``(h, w, C)`` bilinearly, corners aligned."""
    g = coarse.shape[0]
    y = np.linspace(0, g - 1, h)
    x = np.linspace(0, g - 1, w)
    y0 = np.minimum(y.astype(int), g - 2)
    x0 = np.minimum(x.astype(int), g - 2)
    fy, fx = (y - y0)[:, None, None], (x - x0)[None, :, None]
    c00, c01 = coarse[y0][:, x0], coarse[y0][:, x0 + 1]
    c10, c11 = coarse[y0 + 1][:, x0], coarse[y0 + 1][:, x0 + 1]
    return (c00 * (1 - fx) + c01 * fx) * (1 - fy) + (c10 * (1 - fx) + c11 * fx) * fy


def _paint(canvas, alpha, colour):
    """Alpha-blend ``colour`` (3,) into ``canvas`` (H, W, 3) in place."""
    canvas *= 1.0 - alpha[:, :, None]
    canvas += alpha[:, :, None] * colour[None, None, :]


def _segment_alpha(yy, xx, p0, p1, width):
    """Coverage of a thick line segment, with a one-pixel soft edge."""
    d = p1 - p0
    t = np.clip(((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]) / max(d @ d, 1e-9), 0, 1)
    dist = np.hypot(yy - (p0[0] + t * d[0]), xx - (p0[1] + t * d[1]))
    return np.clip(width / 2 + 0.5 - dist, 0, 1)


def _background(rng, h, w):
    """Smooth field + texture + distractors; returns (H, W, 3) float64 and the noise field."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    c1, c2 = _muted(rng), _muted(rng)
    field = _bilinear(rng.random((5, 5, 1)), h, w)
    img = c1 * (1 - field) + c2 * field
    texture = rng.integers(3)
    if texture == 1:                                   # stripes
        ang, freq = rng.uniform(0, np.pi), rng.uniform(3, 10) / max(h, w)
        wave = np.sin(2 * np.pi * freq * (xx * np.cos(ang) + yy * np.sin(ang)) + rng.uniform(0, 2 * np.pi))
        img += rng.uniform(0.05, 0.15) * wave[:, :, None] * rng.normal(0, 1, 3)
    elif texture == 2:                                 # dot lattice
        step = rng.uniform(5, 10)
        dots = (np.hypot((yy % step) - step / 2, (xx % step) - step / 2) < step / 5).astype(float)
        img += rng.uniform(0.06, 0.15) * dots[:, :, None] * rng.normal(0, 1, 3)
    for _ in range(rng.integers(2, 6)):
        kind, colour = rng.integers(3), rng.random(3)
        p0 = rng.uniform(0, 1, 2) * (h, w)
        if kind == 0:                                  # line segment
            p1 = p0 + rng.uniform(8, 0.6 * max(h, w)) * _unit(rng)
            alpha = _segment_alpha(yy, xx, p0, p1, rng.uniform(1.0, 2.0))
        elif kind == 1:                                # small dot
            alpha = np.clip(rng.uniform(1.5, 3.5) + 0.5 - np.hypot(yy - p0[0], xx - p0[1]), 0, 1)
        else:                                          # wavy stroke
            alpha = _wave_alpha(rng, yy, xx, p0)
        _paint(img, alpha, colour)
    noise = rng.normal(0, rng.uniform(0.02, 0.06), (h, w, 3))
    return img, noise


def _muted(rng):
    """A background colour: a random grey level plus a weak random tint."""
    return np.clip(rng.uniform(0.25, 0.75) + rng.uniform(-0.15, 0.15, 3), 0, 1)


def _unit(rng):
    a = rng.uniform(0, 2 * np.pi)
    return np.array([np.sin(a), np.cos(a)])


def _wave_alpha(rng, yy, xx, p0):
    d, length = _unit(rng), rng.uniform(10, 30)
    n = np.array([-d[1], d[0]])
    s = (yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]
    off = (yy - p0[0]) * n[0] + (xx - p0[1]) * n[1]
    curve = rng.uniform(1.5, 3.5) * np.sin(2 * np.pi * s / rng.uniform(6, 12))
    inside = (s >= 0) & (s <= length)
    return np.where(inside, np.clip(1.5 - np.abs(off - curve), 0, 1), 0.0)


def _object(rng, label, h, w, bg):
    """Render the object; returns coverage alpha (H, W) and colour field (H, W, 3)."""
    side = min(h, w)
    radius = rng.uniform(0.24, 0.36) * side
    cy, cx = rng.uniform(radius, h - radius), rng.uniform(radius, w - radius)
    angle, aspect = rng.uniform(-np.pi / 12, np.pi / 12), rng.uniform(0.9, 1.1)
    k = _SUPERSAMPLE
    sub = (np.arange(k) + 0.5) / k - 0.5
    ys = (np.arange(h)[:, None] + sub[None, :]).ravel()
    xs = (np.arange(w)[:, None] + sub[None, :]).ravel()
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(angle), np.sin(angle)
    u = (dx * c + dy * s) / (radius * aspect)
    v = (-dx * s + dy * c) * aspect / radius
    near = u * u + v * v <= 1.3
    inside = np.zeros(u.shape, bool)
    inside[near] = shape_inside(label, u[near], v[near])
    alpha = inside.reshape(h, k, w, k).mean(axis=(1, 3))
    under = bg[alpha > 0.5].mean(axis=0) if np.any(alpha > 0.5) else bg.reshape(-1, 3).mean(axis=0)
    candidates = rng.random((12, 3))
    colour = candidates[np.argmax(np.abs(candidates - under).sum(axis=1))]
    shade = 1.0 + rng.uniform(-0.15, 0.15) * ((xx[::k, ::k] - cx) * s + (yy[::k, ::k] - cy) * c) / radius
    return alpha, np.clip(colour[None, None, :] * shade[:, :, None], 0, 1)


class SynthShapes:
    """Deterministic procedural shapes on clutter.

    Parameters
    ----------
    split : {"train", "val", "test"}
    size : int or tuple of int
        Image side ``H = W`` (default 64), or ``(H, W)``.
    seed : int
        Base seed; different seeds give independent data sets.
    length : int, optional
        Number of items (default 20000 / 2000 / 2000).

    Examples
    --------
    >>> SynthShapes("train", length=10)[3].label in range(10)
    True
    """

    classes = CLASSES

    def __init__(self, split="train", size=64, seed=0, length=None):
        if split not in SPLITS:
            raise DatasetError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        h, w = (size, size) if np.isscalar(size) else tuple(size)
        if min(h, w) < 16:
            raise DatasetError(f"size must be at least 16 pixels, got {(h, w)}")
        self.split, self.height, self.width, self.seed = split, int(h), int(w), int(seed)
        self.length = DEFAULT_LENGTH[split] if length is None else int(length)
        if self.length < 1:
            raise DatasetError(f"length must be >= 1, got {length}")

    def __len__(self):
        return self.length

    def _rng(self, index, stream):
        return np.random.default_rng([self.seed, SPLITS[self.split], int(index), stream])

    def label(self, index: int) -> int:
        """Class of item ``index``: blocks of ten are shuffled permutations of the classes."""
        block = np.random.default_rng([self.seed, SPLITS[self.split], int(index) // 10, 2]).permutation(10)
        return int(block[int(index) % 10])

    def _check(self, index):
        if not 0 <= int(index) < self.length:
            raise IndexError(f"index {index} out of range for {self.split} split of length {self.length}")

    def background(self, index: int) -> np.ndarray:
        """Item ``index`` without its object: float32 (3, H, W), the exact pixels around it."""
        self._check(index)
        bg, noise = _background(self._rng(index, 0), self.height, self.width)
        return np.clip(bg + noise, 0, 1).transpose(2, 0, 1).astype(np.float32)

    def layers(self, index: int) -> tuple:
        """The parts item ``index`` is composed of: ``image = clip(bg (1 - alpha) + colour alpha + noise, 0, 1)``.

        Returns
        -------
        bg : ndarray of float64, shape (H, W, 3)
            The background before pixel noise.
        alpha : ndarray of float64, shape (H, W)
            Object coverage in [0, 1] (the mask is ``alpha >= 0.5``).
        colour : ndarray of float64, shape (H, W, 3)
            The object's shaded colour field.
        noise : ndarray of float64, shape (H, W, 3)
            Pixel noise.
        """
        self._check(index)
        bg, noise = _background(self._rng(index, 0), self.height, self.width)
        alpha, colour = _object(self._rng(index, 1), self.label(index), self.height, self.width, bg)
        return bg, alpha, colour, noise

    def __getitem__(self, index: int) -> Sample:
        bg, alpha, colour, noise = self.layers(index)
        label = self.label(index)
        img = bg * (1 - alpha[:, :, None]) + colour * alpha[:, :, None] + noise
        mask = alpha >= 0.5
        ys, xs = np.nonzero(mask)
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.int64)
        return Sample(np.clip(img, 0, 1).transpose(2, 0, 1).astype(np.float32), label, mask, box)

    def arrays(self, start=0, stop=None, progress=False):
        """Items ``start..stop-1`` stacked.

        Returns
        -------
        images : ndarray of float32, shape (N, 3, H, W)
        labels : ndarray of int64, shape (N,)
        masks : ndarray of bool, shape (N, H, W)
        boxes : ndarray of int64, shape (N, 4)
        """
        stop = self.length if stop is None else min(int(stop), self.length)
        if not 0 <= start < stop:
            raise DatasetError(f"empty range [{start}, {stop}) of the {self.split} split (length {self.length})")
        n = stop - start
        images = np.empty((n, 3, self.height, self.width), np.float32)
        labels = np.empty(n, np.int64)
        masks = np.empty((n, self.height, self.width), bool)
        boxes = np.empty((n, 4), np.int64)
        for k, i in enumerate(progress_bar(range(start, stop), progress, f"SynthShapes {self.split}", unit="img")):
            s = self[i]
            images[k], labels[k], masks[k], boxes[k] = s.image, s.label, s.mask, s.box
        return images, labels, masks, boxes

    def composite(self, index: int):
        """Two objects side by side: items ``2 index`` and ``2 index + 1`` (always different classes).

        Returns
        -------
        image : ndarray of float32, shape (3, H, 2W)
        labels : ndarray of int64, shape (2,)
            Left, right.
        masks : ndarray of bool, shape (2, H, 2W)
        boxes : ndarray of int64, shape (2, 4)
            In the composite's coordinates.
        """
        left, right = self[2 * index], self[2 * index + 1]
        w = self.width
        image = np.concatenate([left.image, right.image], axis=2)
        masks = np.zeros((2, self.height, 2 * w), bool)
        masks[0, :, :w], masks[1, :, w:] = left.mask, right.mask
        boxes = np.stack([left.box, right.box + np.array([w, 0, w, 0])])
        return image, np.array([left.label, right.label], np.int64), masks, boxes


def channel_stats(images: np.ndarray) -> tuple[tuple, tuple]:
    """Per-channel mean and standard deviation of ``(N, C, H, W)`` images (floats)."""
    mean = images.mean(axis=(0, 2, 3), dtype=np.float64)
    std = images.std(axis=(0, 2, 3), dtype=np.float64)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
