"""SAM pictures: heatmap overlays, layer x time grids (paper Fig. 5) and GIFs.

Maps stay raw everywhere else; normalization happens only here.  Each layer
is min-max normalized over *all* its time steps, so a quiet step looks quiet
(the paper's surrogate-trained SNNs show no activity at the first and last
steps) and the colours of one row are comparable across time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import atomic_output
from .errors import InputError


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (the ``plot`` extra).

    Raises
    ------
    eventsim.errors.InputError
        When matplotlib is not installed, saying how to install it.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        raise InputError("plotting needs matplotlib: pip install -e '.[plot]'") from None
    return plt


def normalize_layer(maps: np.ndarray) -> np.ndarray:
    """Min-max normalize one layer's maps ``(T, H, W)`` jointly to [0, 1]."""
    maps = np.asarray(maps, np.float64)
    lo, hi = maps.min(), maps.max()
    return np.zeros_like(maps) if hi <= lo else (maps - lo) / (hi - lo)


def sample_steps(timesteps: int, count: int) -> np.ndarray:
    """``count`` uniformly spaced step indices in ``[0, T-1]`` (all if ``T <= count``)."""
    if timesteps <= count:
        return np.arange(timesteps)
    return np.unique(np.rint(np.linspace(0, timesteps - 1, count)).astype(int))


def image_for_display(image: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] to an ``(H, W, 3)`` RGB array (grey for C != 3)."""
    img = np.asarray(image, np.float64)
    if img.shape[0] == 3:
        return np.clip(img.transpose(1, 2, 0), 0, 1)
    grey = np.clip(img.mean(axis=0), 0, 1)
    return np.repeat(grey[:, :, None], 3, axis=2)


def overlay(ax, image, heat, alpha=0.55, cmap="jet"):
    """Draw ``heat`` (values in [0, 1], any resolution) over a grey version of ``image`` on ``ax``.

    The image is shown in grey so that every colour in the panel comes from
    the heatmap.
    """
    rgb = image_for_display(image)
    h, w = rgb.shape[:2]
    grey = rgb.mean(axis=2)
    ax.imshow(grey, extent=(0, w, h, 0), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.imshow(heat, extent=(0, w, h, 0), cmap=cmap, vmin=0.0, vmax=1.0, alpha=alpha, interpolation="bilinear")
    ax.set_xticks([])
    ax.set_yticks([])


def sam_grid(image, sam: dict, steps: int = 10, title: str | None = None, layers=None):
    """Figure with one row per SAM layer and one column per sampled step.

    Parameters
    ----------
    image : ndarray, shape (C, H, W)
        The input image, values in [0, 1].
    sam : dict of str to ndarray, shape (T, h, w)
        Raw SAM maps of one image.
    steps : int
        Number of uniformly sampled time steps (columns).
    title : str, optional
    layers : sequence of str, optional
        Row order (default: ``sam``'s order).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    layers = list(sam) if layers is None else list(layers)
    if not layers:
        raise InputError("no SAM layers to plot; run with --sam-layers or the default conv layers")
    timesteps = next(iter(sam.values())).shape[0]
    cols = sample_steps(timesteps, steps)
    fig, axes = plt.subplots(len(layers), len(cols) + 1, figsize=(1.35 * (len(cols) + 1), 1.45 * len(layers) + 0.5),
                             squeeze=False)
    for r, name in enumerate(layers):
        norm = normalize_layer(sam[name])
        axes[r, 0].imshow(image_for_display(image), interpolation="nearest")
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=9)
        for c, t in enumerate(cols):
            overlay(axes[r, c + 1], image, norm[t])
            if r == 0:
                axes[r, c + 1].set_title(f"t={t}", fontsize=8)
    axes[0, 0].set_title("input", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3, rect=(0, 0, 0.95, 1))
    mappable = plt.cm.ScalarMappable(cmap="jet", norm=plt.Normalize(0, 1))
    cax = fig.add_axes((0.955, 0.15, 0.012, 0.7))
    bar = fig.colorbar(mappable, cax=cax)
    bar.set_label("SAM, min-max per layer over time", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    return fig


def save_figure(fig, path, dpi=110):
    """Save a figure atomically and close it."""
    plt = pyplot()
    with atomic_output(path, suffix=Path(path).suffix) as tmp:
        fig.savefig(tmp, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return Path(path)


def sam_gif(image, sam: dict, path, fps=4, layers=None):
    """Animated GIF: one frame per time step, one panel per SAM layer."""
    plt = pyplot()
    from matplotlib.animation import FuncAnimation, PillowWriter

    layers = list(sam) if layers is None else list(layers)
    timesteps = next(iter(sam.values())).shape[0]
    norms = {name: normalize_layer(sam[name]) for name in layers}
    fig, axes = plt.subplots(1, len(layers), figsize=(2.0 * len(layers), 2.3), squeeze=False)

    def draw(t):
        for ax, name in zip(axes[0], layers):
            ax.clear()
            overlay(ax, image, norms[name][t])
            ax.set_title(f"{name}  t={t}", fontsize=8)
        return []

    anim = FuncAnimation(fig, draw, frames=timesteps, blit=False)
    with atomic_output(path, suffix=".gif") as tmp:
        anim.save(tmp, writer=PillowWriter(fps=fps))
    plt.close(fig)
    return Path(path)


def check_map_sizes(image_hw, sam: dict, label="--images"):
    """Every SAM map ``(h, w)`` must be the image size halved ``k >= 0`` times (pooling), or 1x1.

    Raises
    ------
    InputError
        Naming the layer whose map does not fit the images.
    """
    h_img, w_img = (int(v) for v in image_hw)
    for name, maps in sam.items():
        h, w = (int(v) for v in maps.shape[-2:])
        if (h, w) != (1, 1) and not any((h_img >> k, w_img >> k) == (h, w) for k in range(64)):
            raise InputError(f"{label}: images are {h_img}x{w_img} but the SAM map of layer {name!r} is {h}x{w}; "
                             "were these the images of this result?")


def plot_command(args) -> int:
    """``eventsim plot RESULT --images X.npy --out fig.png [--gif G] [--index i]``."""
    from .io import check_output_paths, load_array
    from .encoding import check_images
    from .result import Result

    check_output_paths({"--out": args.out, "--gif": args.gif}, [args.result, args.images])
    if args.steps < 1:
        raise InputError(f"--steps: expected at least 1, got {args.steps}")
    result = Result.load(args.result, verify=args.verify)
    images = check_images(load_array(args.images, "images"), name="--images")
    n = result.logits.shape[0]
    if images.shape[0] != n:
        raise InputError(f"--images has {images.shape[0]} images but the result has {n}")
    if not 0 <= args.index < n:
        raise InputError(f"--index must lie in [0, {n - 1}], got {args.index}")
    if not result.sam:
        raise InputError(f"{args.result}: holds no SAM maps (was it run with --sam-layers ''?)")
    check_map_sizes(images.shape[2:], result.sam)
    sam = {name: maps[args.index] for name, maps in result.sam.items()}
    pred = int(result.predictions[args.index])
    title = f"SAM (gamma={result.attrs['gamma']}, {result.attrs['sam_convention']}), image {args.index}, pred {pred}"
    save_figure(sam_grid(images[args.index], sam, steps=args.steps, title=title), args.out)
    print(f"wrote {args.out}")
    if args.gif:
        sam_gif(images[args.index], sam, args.gif)
        print(f"wrote {args.gif}")
    return 0
