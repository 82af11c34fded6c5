"""Read the viewer's embedded data back, following the format in docs/view.md (not eventsim's code)."""
import base64
import json
import re

import numpy as np

_SCRIPT = re.compile(r'<script type="application/json" id="eventsim-data">(.*?)</script>', re.S)


def read_payload(path) -> dict:
    """The JSON object embedded in a page written by ``eventsim.view.write_html``."""
    found = _SCRIPT.findall(open(path, encoding="utf-8").read())
    assert len(found) == 1, "expected exactly one embedded data block"
    return json.loads(found[0])


def decode_layer(payload, name):
    """``(q, lo, scale, values)`` of one layer: q uint8 (N, T, h, w); lo, scale (N, T); values float64."""
    entry = next(e for e in payload["layers"] if e["name"] == name)
    n, t = len(payload["indices"]), len(payload["steps"])
    q = np.frombuffer(base64.b64decode(entry["maps"]), np.uint8).reshape(n, t, entry["h"], entry["w"])
    lo = np.array(entry["lo"], np.float64).reshape(n, t)
    scale = np.array(entry["scale"], np.float64).reshape(n, t)
    return q, lo, scale, lo[:, :, None, None] + q * scale[:, :, None, None]


def colour_range(lo, scale, img, t, norm):
    """Raw SAM values ``(a, b)`` mapped to the ends of the colormap (docs/view.md, normalization)."""
    hi = lo + 255 * scale
    if norm == "frame":
        return lo[img, t], hi[img, t]
    rows = slice(None) if norm == "global" else slice(img, img + 1)
    return lo[rows].min(), hi[rows].max()


def lut_index(values, a, b):
    """Colormap entry of raw values: ``min(255, floor(256 * (v - a) / (b - a)))``, 0 when ``b <= a``."""
    if not b > a:
        return np.zeros(np.shape(values), np.int64)
    return np.clip(np.floor((values - a) / (b - a) * 256), 0, 255).astype(np.int64)
