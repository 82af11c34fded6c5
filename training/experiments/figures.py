"""Figures of the experiments: heatmap grids (paper Fig. 2, 5, 7, 10), bars and curves (Fig. 3, 6, 8, 9).

Heatmaps are drawn with :func:`eventsim.plots.overlay`.  Per-step maps of
one image and layer share one colour scale (min-max over all steps, by
:func:`eventsim.plots.normalize_layer`), so quiet steps look quiet; single
maps (ANN Grad-CAM, time sums) are min-max scaled on their own.
"""
from __future__ import annotations

import numpy as np

from eventsim.plots import image_for_display, normalize_layer, overlay, pyplot, sample_steps

from ..metrics import minmax, resize

#: Colours of the methods in every chart.
COLOURS = {"SAM": "#d62728", "SAM (surrogate)": "#d62728", "SAM (conversion)": "#1f77b4",
           "SNN Grad-CAM": "#7f7f7f", "SNN Grad-CAM (surrogate)": "#7f7f7f", "SNN Grad-CAM (conversion)": "#bcbd22",
           "shuffled SAM (surrogate)": "#f4a6a6", "shuffled SAM (conversion)": "#a6c8e6",
           "SAM, other Poisson draw (no attack)": "#f4a6a6",
           "ANN Grad-CAM": "#2ca02c", "surrogate": "#d62728", "conversion": "#1f77b4", "ANN": "#2ca02c",
           "SNN": "#d62728"}


def heat_grid(rows, steps=10, title=None):
    """Rows of heatmaps: ``rows`` is a list of ``(label, image, maps)``.

    ``image`` is (C, H, W) in [0, 1]; ``maps`` is (T, h, w) for a per-step
    row (``steps`` columns sampled uniformly; the row shares one colour
    scale) or (h, w) for a single map (drawn in the first heat column).
    Returns the figure.
    """
    plt = pyplot()
    longest = max([m.shape[0] for _, _, m in rows if m.ndim == 3] or [1])
    n_cols = len(sample_steps(longest, steps)) + 1
    aspect = rows[0][1].shape[-1] / rows[0][1].shape[-2]
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(1.15 * aspect * n_cols + 0.3, 1.2 * len(rows) + 0.45),
                             squeeze=False)
    titled = None  # the steps named by the last titles drawn
    for r, (label, image, maps) in enumerate(rows):
        h, w = image.shape[-2:]
        axes[r, 0].imshow(image_for_display(image), interpolation="nearest")
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=6.5)
        used = 1
        if maps.ndim == 2:
            overlay(axes[r, 1], image, minmax(resize(maps, (h, w))))
            if not np.any(maps > 0):  # e.g. a Grad-CAM whose ReLU cut everything: say so, not a blank panel
                axes[r, 1].text(0.5, 0.5, "all zero", transform=axes[r, 1].transAxes, ha="center", va="center",
                                fontsize=7, color="white")
            used = 2
        else:
            norm = normalize_layer(resize(maps, (h, w)))
            shown = tuple(sample_steps(maps.shape[0], steps))
            for c, t in enumerate(shown):
                overlay(axes[r, c + 1], image, norm[t])
                if shown != titled:  # name the steps only where they change, so titles never cover a row
                    axes[r, c + 1].set_title(f"t={t}", fontsize=6, pad=2)
                used = c + 2
            titled = shown
        for c in range(used, n_cols):
            axes[r, c].axis("off")
    axes[0, 0].set_title("input", fontsize=6, pad=2)
    _title(fig, title, 9)
    return fig


def _title(fig, title, size):
    """Suptitle above the axes: tight layout inside a band that leaves room for it."""
    top = 1.0
    if title:
        fig.suptitle(title, fontsize=size, y=0.995, va="top")
        top = 1.0 - 0.32 / fig.get_figheight()
    fig.tight_layout(pad=0.25, rect=(0, 0, 1, top))


def panel_row(panels, titles, title=None):
    """A table of single maps: ``panels[r][c]`` is ``(image, map or None)``; ``None`` draws the bare image."""
    plt = pyplot()
    n_rows, n_cols = len(panels), len(titles)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.55 * n_cols, 1.6 * n_rows + 0.4), squeeze=False)
    for r in range(n_rows):
        for c in range(n_cols):
            img, heat = panels[r][c]
            ax = axes[r, c]
            if heat is None:
                ax.imshow(image_for_display(img), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                overlay(ax, img, minmax(resize(heat, img.shape[-2:])))
            if r == 0:
                ax.set_title(titles[c], fontsize=7)
    _title(fig, title, 9)
    return fig


def grouped_bars(groups, series: dict, ylabel, title, errors=None, hline=None, hline_label=None):
    """Bars for ``series[name][i]`` over ``groups[i]`` (e.g. layers), with optional error bars and a reference line."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(2.8 + 0.3 * len(groups) * max(1, len(series)), 3.0))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for i, (name, values) in enumerate(series.items()):
        err = None if errors is None else errors.get(name)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, yerr=err, capsize=2, label=name,
               color=COLOURS.get(name))
    if hline is not None:
        ax.axhline(hline, color="k", lw=0.8, ls="--", label=hline_label)
    ax.set_xticks(x)
    ax.set_xticklabels(groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def curves(panels, xlabel, ylabel, title, xticks=None, sharey=True):
    """Line plots, one panel per key of ``panels``: ``{panel: {series: (x, y)}}``."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels) + 0.4, 2.8), squeeze=False, sharey=sharey)
    for ax, (name, series) in zip(axes[0], panels.items()):
        for label, (x, y) in series.items():
            ax.plot(x, y, marker="o", ms=3, lw=1.4, label=label, color=COLOURS.get(label))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
        if xticks is not None:
            ax.set_xticks(xticks)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(ylabel)
    names = [tuple(series) for series in panels.values()]
    for ax, labels in zip(axes[0], names):
        if ax is axes[0, -1] or labels != names[-1]:  # one legend per distinct set of series
            ax.legend(fontsize=7, frameon=False)
    _title(fig, title, 10)
    return fig
