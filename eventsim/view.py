"""``eventsim view``: one self-contained HTML file to explore SAM over time.

:func:`write_html` embeds a :class:`~eventsim.Result`'s SAM maps (and, when
given, the input images) into a single HTML page with inline JavaScript and
CSS: no network, no CDN, it works from ``file://``.  The page template is
``eventsim/data/view_template.html``; the data sits in one
``<script type="application/json" id="eventsim-data">`` element.

Embedded format (version 1; ``docs/view.md``)
--------------------------------------------
Every frame (one image, one step, one layer: an ``(h, w)`` map) is quantized
to ``uint8`` with its own offset and scale::

    lo = min(frame)          scale = (max(frame) - lo) / 255
    q = round((frame - lo) / scale)          value ~ lo + q * scale

so the decoded value differs from the Result's float32 map by at most
``scale / 2 = (max - min) / 510`` of that frame (hence also at most
``1/510`` of the layer's whole range).  A constant frame has ``scale = 0``
and decodes exactly.  ``q`` is stored per layer as base64 of a C-order
``(N, T, h, w)`` array; ``lo`` and ``scale`` as ``N * T`` JSON numbers.
"""
from __future__ import annotations

import base64
import json
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import InputError
from .io import atomic_output

FORMAT_VERSION = 1
#: Default cap on the size of the HTML file, in bytes.
DEFAULT_MAX_BYTES = 50_000_000
#: Where the JSON goes in the template.
PLACEHOLDER = "/*__EVENTSIM_DATA__*/"
#: Colormap anchors: evenly spaced RGB colours, linearly interpolated.  viridis
#: and inferno were sampled at 33 points from matplotlib's tables (the
#: interpolation stays within 5/255 of them); gray is black to white.
_ANCHORS = {
    "viridis": "440154 470d60 48186a 482374 472d7b 453781 424086 3e4989 3b528b 375b8d 33638d 2f6b8e 2c728e "
               "297a8e 26828e 23898e 21918c 1f988b 1fa088 22a785 28ae80 32b67a 3fbc73 4ec36b 5ec962 70cf57 "
               "84d44b 98d83e addc30 c2df23 d8e219 ece51b fde725",
    "inferno": "000004 040312 0b0724 150b37 210c4a 2f0a5b 3d0965 4a0c6b 57106e 64156e 71196e 7d1e6d 8a226a "
               "972766 a32c61 b0315b bc3754 c73e4c d24644 db503b e45a31 eb6628 f1731d f68013 f98e09 fb9d07 "
               "fcac11 fbbc21 f9cb35 f5db4c f2ea69 f3f68a fcffa4",
    "gray": "000000 ffffff",
}
#: jet as piecewise-linear channels (x, value), the classic MATLAB definition
#: that matplotlib and ``eventsim plot`` use.
_JET = (((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
        ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
        ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)))
COLORMAPS = ("jet", "viridis", "inferno", "gray")
#: Upper bounds on the JSON text per frame: an (offset, scale) pair of float64
#: reprs (at most 24 characters each, plus separators) and one spike count.
_JSON_PER_SCALE_PAIR = 50
_JSON_PER_COUNT = 21


def colormap_lut(name: str) -> np.ndarray:
    """The 256-entry lookup table the viewer uses for colormap ``name``.

    Entry ``i`` is the colour of the normalized value ``i / 255``; the page
    colours a normalized value ``v`` in [0, 1] with entry
    ``min(255, floor(256 * v))``.

    Returns
    -------
    ndarray of uint8, shape (256, 3)
    """
    x = np.arange(256) / 255.0
    if name == "jet":
        chans = [np.interp(x, [p for p, _ in seg], [v for _, v in seg]) * 255 for seg in _JET]
    elif name in _ANCHORS:
        rgb = np.array([[int(h[i:i + 2], 16) for i in (0, 2, 4)] for h in _ANCHORS[name].split()], np.float64)
        xs = np.linspace(0.0, 1.0, len(rgb))
        chans = [np.interp(x, xs, rgb[:, c]) for c in range(3)]
    else:
        raise InputError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    return np.clip(np.rint(np.stack(chans, axis=1)), 0, 255).astype(np.uint8)


def quantize_frames(maps: np.ndarray):
    """Quantize every ``(h, w)`` frame of ``maps`` to uint8 with its own offset and scale.

    Parameters
    ----------
    maps : ndarray of float, shape (F, h, w)

    Returns
    -------
    q : ndarray of uint8, shape (F, h, w)
    lo : ndarray of float64, shape (F,)
        Frame minimum.
    scale : ndarray of float64, shape (F,)
        ``(max - min) / 255``; ``lo + q * scale`` is within ``scale / 2`` of ``maps``.
    """
    flat = np.asarray(maps, np.float64).reshape(len(maps), -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    scale = (hi - lo) / 255.0
    step = np.where(scale > 0, scale, 1.0)[:, None]
    q = np.clip(np.rint((flat - lo[:, None]) / step), 0, 255).astype(np.uint8)
    return q.reshape(maps.shape), lo, scale


def _b64(array) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _b64_len(nbytes: int) -> int:
    return 4 * ((nbytes + 2) // 3)


def _select(name, chosen, available, what):
    if chosen is None:
        return list(available)
    chosen = list(chosen)
    if not chosen:
        raise InputError(f"{name}: the selection is empty")
    if len(set(chosen)) != len(chosen):
        raise InputError(f"{name}: repeated entries in {chosen}")
    missing = [c for c in chosen if c not in available]
    if missing:
        shown = ", ".join(str(a) for a in available) if len(available) <= 12 else \
            f"{available[0]} .. {available[-1]}"
        raise InputError(f"{name}: {', '.join(map(str, missing))} not among the result's {what} ({shown})")
    return chosen


def _check_images(images, n, maps):
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise InputError(f"images: expected float (N, C, H, W) with C = 1 or 3, got shape {images.shape}")
    if images.shape[0] != n:
        raise InputError(f"images: {images.shape[0]} image(s) but the result has {n}")
    if not np.issubdtype(images.dtype, np.floating) or not np.isfinite(images).all() \
            or images.min() < 0 or images.max() > 1:
        raise InputError("images: expected finite floats in [0, 1] (the images the result was computed on)")
    big_h, big_w = images.shape[2:]
    for name, m in maps.items():
        h, w = m.shape[2:]
        if h > big_h or w > big_w or abs(h * big_w / big_h - w) > 1:
            raise InputError(f"images: {big_h}x{big_w} pixels do not fit layer {name!r}'s {h}x{w} SAM map "
                             "(the map must be at most as large, with the same aspect ratio)")
    return images


def _human(nbytes) -> str:
    return f"{nbytes / 1e3:.1f} kB" if nbytes < 1e6 else f"{nbytes / 1e6:.1f} MB"


def _size_report(parts, max_bytes, template_len):
    total = template_len + sum(parts.values()) + 8192          # 8 kB: names, metadata, colormaps
    if total <= max_bytes:
        return total
    detail = ", ".join(f"{k} {_human(v)}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
    raise InputError(
        f"the viewer would be {_human(total)}, over the cap of {_human(max_bytes)} ({detail}). "
        "Reduce it with fewer images (--indices 0,1 / indices=[0, 1]), fewer layers (--layers / layers=) "
        "or fewer steps (--steps 0:10 / steps=range(0, 10)), or raise the cap (--max-mb / max_bytes=).")


def _spike_map(result, name, idx, steps):
    """Per-pixel count of channels that fired, (N, T, h, w), or None when spikes were not recorded."""
    spikes = (result.spikes or {}).get(name)
    if spikes is None:
        return None
    sel = np.asarray(spikes)[np.ix_(idx, steps)]
    dtype = np.uint8 if spikes.shape[2] <= 255 else np.dtype("<u2")
    return sel.sum(axis=2, dtype=np.int64).astype(dtype), spikes.shape[2]


def build_payload(result, images=None, *, layers=None, indices=None, steps=None,
                  max_bytes=DEFAULT_MAX_BYTES, title=None, template_len=0) -> dict:
    """The JSON object embedded in the page (see the module docstring); checks every input first.

    Raises
    ------
    InputError
        Unknown layer, image index or step; images that do not match the
        result; non-finite maps; a page larger than ``max_bytes``.
    """
    if not result.sam:
        raise InputError("the result holds no SAM maps (was it run with --sam-layers ''?)")
    n, t_all = result.logits.shape[0], result.timesteps
    names = _select("layers", layers, list(result.sam), "SAM layers")
    idx = _select("indices", None if indices is None else [int(i) for i in indices], list(range(n)), "image indices")
    steps = _select("steps", None if steps is None else [int(s) for s in steps], list(range(t_all)), "time steps")
    maps = {name: np.asarray(result.sam[name]) for name in names}
    for name, m in maps.items():
        if m.ndim != 4 or m.shape[:2] != (n, t_all):
            raise InputError(f"SAM map {name!r} has shape {m.shape}, expected ({n}, {t_all}, H, W)")
    if images is not None:
        images = _check_images(images, n, maps)
    parts = {f"{k} maps": _b64_len(len(idx) * len(steps) * m.shape[2] * m.shape[3]) for k, m in maps.items()}
    for name in names:
        if (result.spikes or {}).get(name) is not None:
            wide = result.spikes[name].shape[2] > 255
            parts[f"{name} spikes"] = parts[f"{name} maps"] * (2 if wide else 1)
    if images is not None:
        parts["images"] = _b64_len(len(idx) * images.shape[1] * images.shape[2] * images.shape[3])
    chart = [k for k, c in result.counts.items()
             if "spikes" in c and (k in names or np.asarray(c["spikes"]).any())]
    frames = len(idx) * len(steps)
    parts["frame scales"] = frames * len(names) * _JSON_PER_SCALE_PAIR
    parts["spike counts"] = frames * len(chart) * _JSON_PER_COUNT
    size = _size_report(parts, max_bytes, template_len)

    out_layers = []
    for name, m in maps.items():
        sel = m[np.ix_(idx, steps)]
        if not np.isfinite(sel).all():
            raise InputError(f"SAM map {name!r} holds non-finite values")
        q, lo, scale = quantize_frames(sel.reshape(-1, *sel.shape[2:]))
        entry = {"name": name, "h": int(m.shape[2]), "w": int(m.shape[3]), "maps": _b64(q),
                 "lo": lo.tolist(), "scale": scale.tolist(), "bound": float(scale.max() / 2)}
        spk = _spike_map(result, name, idx, steps)
        if spk is not None:
            entry.update(spikes=_b64(spk[0]), spikes_dtype=spk[0].dtype.name, channels=int(spk[1]))
        out_layers.append(entry)
    neurons = result.attrs.get("neurons", {})
    payload = {
        "version": FORMAT_VERSION,
        "meta": {"title": title or "eventsim view: SAM over time", "timesteps": t_all,
                 **{k: result.attrs.get(k) for k in ("gamma", "sam_convention", "backend", "model_sha256")},
                 "size_bytes": size},
        "indices": idx, "steps": steps,
        "predictions": result.predictions[idx].tolist(),
        "layers": out_layers,
        "counts": {k: np.asarray(result.counts[k]["spikes"])[np.ix_(idx, steps)].tolist() for k in chart},
        "neurons": {k: int(neurons[k]) for k in chart if neurons.get(k)},
        "colormaps": {name: _b64(colormap_lut(name)) for name in COLORMAPS},
        "input": None,
    }
    if images is not None:
        pix = np.rint(images[idx] * 255).astype(np.uint8).transpose(0, 2, 3, 1)   # (N, H, W, C)
        payload["input"] = {"h": int(pix.shape[1]), "w": int(pix.shape[2]), "c": int(pix.shape[3]),
                            "pixels": _b64(pix)}
    return payload


def _template() -> str:
    return resources.files("eventsim").joinpath("data/view_template.html").read_text(encoding="utf-8")


def render_html(payload: dict, template: str | None = None) -> str:
    """Put ``payload`` into the page template (``<`` escaped so the JSON cannot close its script tag)."""
    template = _template() if template is None else template
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    return template.replace(PLACEHOLDER, data, 1)


def write_html(result, images, path, *, layers=None, indices=None, steps=None,
               max_bytes=DEFAULT_MAX_BYTES, title=None) -> Path:
    """Write the interactive SAM viewer for ``result`` to ``path`` (atomically).

    Parameters
    ----------
    result : Result
        Its ``sam`` maps, float32 (N, T, h, w) per layer, are embedded; its
        ``counts[layer]['spikes']`` (N, T) feed the chart; recorded
        ``spikes`` (N, T, C, h, w) give a per-pixel spike count readout.
    images : ndarray of float, shape (N, C, H, W), or None
        The inputs the result was computed on, in [0, 1], C = 1 or 3; shown
        beside and under the maps.
    path : str or Path
        Output ``.html``; nothing is written when any check fails.
    layers, indices, steps : sequence, optional
        Subsets of SAM layers, image indices and time steps to embed.
    max_bytes : int
        Refuse to write a page larger than this (default 50 MB).
    title : str, optional

    Returns
    -------
    Path
    """
    template = _template()
    payload = build_payload(result, images, layers=layers, indices=indices, steps=steps,
                            max_bytes=max_bytes, title=title, template_len=len(template))
    page = render_html(payload, template)
    with atomic_output(path, suffix=".html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)


def parse_steps(text: str, timesteps: int) -> list:
    """``"A:B"`` or ``"A:B:S"`` (Python slice syntax) or ``"3,5,9"`` to a list of step indices."""
    try:
        if ":" in text:
            parts = [int(p) if p.strip() else None for p in text.split(":")]
            if len(parts) > 3:
                raise ValueError
            return list(range(timesteps))[slice(*parts)]
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise InputError(f"--steps: expected A:B, A:B:S or a comma-separated list, got {text!r}") from None


def view_command(args) -> int:
    """``eventsim view RESULT.h5 [--images X.npy] --out view.html [--layers --indices --steps --max-mb]``."""
    from .io import check_output_path, load_array
    from .result import Result

    check_output_path(args.out)
    if args.max_mb is not None and not args.max_mb > 0:
        raise InputError(f"--max-mb must be positive, got {args.max_mb}")
    result = Result.load(args.result)
    images = load_array(args.images, "images") if args.images else None
    def split(text):
        return [p.strip() for p in text.split(",") if p.strip()]

    try:
        indices = None if args.indices is None else [int(i) for i in split(args.indices)]
    except ValueError:
        raise InputError(f"--indices: expected comma-separated integers, got {args.indices!r}") from None
    path = write_html(result, images, args.out,
                      layers=None if args.layers is None else split(args.layers), indices=indices,
                      steps=None if args.steps is None else parse_steps(args.steps, result.timesteps),
                      max_bytes=DEFAULT_MAX_BYTES if args.max_mb is None else int(args.max_mb * 1e6))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); open it in a browser")
    return 0
