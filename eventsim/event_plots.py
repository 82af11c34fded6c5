"""Pictures of event input: ON/OFF event frames and an animated GIF of events beside SAM.

Colours follow the usual event-camera convention: on a white ground, ON
events (polarity 1, brighter) red, OFF events (polarity 0) blue, the shade
growing with the count.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import atomic_output
from .metrics import resize
from .plots import normalize_layer, pyplot


#: Colour strength of a single event (a count of ``scale`` is full colour), so lone events stay visible.
FAINTEST = 0.45


def event_rgb(frame: np.ndarray, scale: float | None = None) -> np.ndarray:
    """One bin of event counts as an RGB picture.

    Parameters
    ----------
    frame : array_like of int, shape (2, H, W) or (1, H, W)
        Counts per polarity (index 0 OFF, 1 ON), or one signed channel
        (positive ON, negative OFF).
    scale : float, optional
        The count drawn at full colour (default: the frame's largest count);
        a pixel with count ``c > 0`` gets strength
        ``FAINTEST + (1 - FAINTEST) min(c / scale, 1)``.

    Returns
    -------
    ndarray of float64, shape (H, W, 3)
        In [0, 1]: white where there is no event.
    """
    f = np.asarray(frame, np.float64)
    if f.ndim != 3 or f.shape[0] not in (1, 2):
        raise ValueError(f"frame: expected (2, H, W) or (1, H, W) counts, got shape {f.shape}")
    on, off = (f[1], f[0]) if f.shape[0] == 2 else (np.maximum(f[0], 0), np.maximum(-f[0], 0))
    top = max(float(max(on.max(), off.max())), 1.0) if scale is None else float(scale)
    on, off = (np.where(v > 0, FAINTEST + (1 - FAINTEST) * np.clip(v / top, 0, 1), 0.0) for v in (on, off))
    return np.stack([1 - off, 1 - np.maximum(on, off), 1 - on], axis=-1)


def stream_picture(frames) -> np.ndarray:
    """A whole stream's events, summed over its time bins, as an image ``(3, H, W)`` in [0, 1] (:func:`event_rgb`).

    ``frames`` is (T, P, H, W) counts; the image layout is the one
    :func:`eventsim.plots.image_for_display` and the viewer take.
    """
    return event_rgb(np.asarray(frames, np.int64).sum(axis=0)).transpose(2, 0, 1)


def outline(mask) -> list:
    """The 0.5 contour of a mask as line segments in pixel coordinates (pixel ``(y, x)`` spans ``[x, x+1)``)."""
    import contourpy

    m = np.asarray(mask, np.float64)
    if not np.any(m):
        return []
    h, w = m.shape
    gen = contourpy.contour_generator(np.arange(w) + 0.5, np.arange(h) + 0.5, m)
    return list(gen.lines(0.5))


def events_sam_gif(frames, sam: dict, path, masks=None, title=None, fps=3, alpha=0.6) -> Path:
    """Animated GIF over time: the step's events, then SAM of each layer over them.

    Parameters
    ----------
    frames : array_like of int, shape (T, P, H, W)
        The input counts of one sample (``P`` = 2 polarities or 1 signed).
    sam : dict of str to ndarray, shape (T, h, w)
        Raw SAM of each layer; each layer is min-max scaled over all steps, so
        quiet steps look quiet.
    path : str or Path
        Output ``.gif``, written atomically.
    masks : array_like of bool, shape (T, H, W), optional
        The object at each step, drawn as an outline (grey on the events, white
        on the heat).
    title : str, optional
    fps : float
        Frames (time steps) per second.
    alpha : float
        Opacity of the heat over the events.

    Returns
    -------
    Path
    """
    plt = pyplot()
    from matplotlib.collections import LineCollection
    from PIL import Image

    frames = np.asarray(frames)
    steps, h, w = frames.shape[0], frames.shape[2], frames.shape[3]
    scale = max(float(np.abs(frames).max()), 1.0)
    events = [event_rgb(frames[t], scale) for t in range(steps)]
    heat = {name: normalize_layer(resize(maps, (h, w))) for name, maps in sam.items()}
    names = ["events", *heat]
    fig, axes = plt.subplots(1, len(names), figsize=(1.9 * len(names), 2.35), squeeze=False)
    pictures, heats = [], {}
    for ax, name in zip(axes[0], names):
        pictures.append(ax.imshow(events[0], interpolation="nearest", extent=(0, w, h, 0)))
        if name in heat:
            heats[name] = ax.imshow(heat[name][0], cmap="jet", vmin=0, vmax=1, alpha=alpha, interpolation="bilinear",
                                    extent=(0, w, h, 0))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=8)
    outlines = [ax.add_collection(LineCollection([], colors="white" if name in heat else "0.3", linewidths=0.9,
                                                zorder=3)) for ax, name in zip(axes[0], names)]
    segments = [outline(masks[t]) if masks is not None else [] for t in range(steps)]
    caption = fig.text(0.5, 0.02, "", ha="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3, rect=(0, 0.06, 1, 0.93 if title else 1))

    def draw(t):
        for picture in pictures:
            picture.set_data(events[t])
        for name, image in heats.items():
            image.set_data(heat[name][t])
        for lines in outlines:
            lines.set_segments(segments[t])
        caption.set_text(f"time step {t} of {steps}")
        fig.canvas.draw()
        return Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())

    pictures_t = [draw(t) for t in range(steps)]
    plt.close(fig)
    with atomic_output(path, suffix=".gif") as tmp:
        pictures_t[0].save(tmp, format="GIF", save_all=True, append_images=pictures_t[1:], duration=int(1000 / fps),
                           loop=0)
    return Path(path)
