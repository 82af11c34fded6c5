r"""``multi-object``: SAM on two-object composites, "sensory suppression" (paper Fig. 10, Section 5.8).

The surrogate-gradient SNN (global pooling, so the same weights run on a
``H x 2W`` input) sees SynthShapes composites: two objects of different
classes side by side.  At every layer and step, SAM's attention to each
object is its mean heat inside the object's mask, as shares
(:func:`training.metrics.attention_shares`); the *contrast*
``|s_left - s_right|`` is 0 when both objects get equal attention and 1
when one gets all of it.

* **Competition then focus**: contrast early (first third of the steps on
  which the layer is active) vs late (last third).
* **Final attention vs prediction**: the object with the larger share in
  SAM summed over the final quarter of the steps, compared with the object
  whose class the SNN predicts (composites whose prediction is neither
  object are left out); chance is 50 %, with a one-sided exact binomial test.
"""
from __future__ import annotations

import math

import numpy as np

from .. import metrics
from ..data import SynthShapes
from . import figures
from .common import claim, share_verdict, table
from .heatmaps import simulate

NAME = "multi-object"
TITLE = "Sensory suppression on two-object images (paper Fig. 10)"


def binomial_p(hits: int, n: int) -> float:
    """One-sided exact binomial p-value ``P(X >= hits)`` for ``X ~ Bin(n, 1/2)``."""
    return float(sum(math.comb(n, k) for k in range(hits, n + 1)) / 2.0**n) if n else 1.0


def composites(size: int, n: int):
    """``n`` composites: images (N, 3, H, 2W) float32, labels (N, 2), masks (N, 2, H, 2W)."""
    ds = SynthShapes("test", size=size, seed=0, length=2 * n)
    parts = [ds.composite(i) for i in range(n)]
    return (np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts]), np.stack([p[2] for p in parts]))


def active_window(sam: np.ndarray) -> np.ndarray:
    """Steps (indices) on which a layer's SAM is non-zero for some image."""
    return np.flatnonzero(sam.sum(axis=(0, 2, 3)) > 0)


def run(ctx):
    s, layers = ctx.scale, ctx.layers
    net, meta = ctx.snn()
    model = ctx.zoo.model(net, meta, input_shape=(3, s.size, 2 * s.size))
    images, labels, masks = composites(s.size, s.composites)
    result = simulate(model, images, layers, s.gamma, seed=0, progress=ctx.progress)
    sam = result.sam
    pred = result.predictions
    predicted_obj = np.where(pred == labels[:, 0], 0, np.where(pred == labels[:, 1], 1, -1))
    steps = sam[layers[0]].shape[1]
    tail = slice(steps - max(1, steps // 4), steps)
    per_layer = {}
    for k in layers:
        shares = metrics.attention_shares(sam[k], masks)                     # (N, T, 2)
        contrast = np.abs(shares[..., 0] - shares[..., 1])                   # (N, T)
        window = active_window(sam[k])
        third = max(1, len(window) // 3)
        final = metrics.attention_shares(sam[k][:, tail].sum(axis=1), masks)  # (N, 2)
        attended = np.where(final.sum(axis=1) > 0, final.argmax(axis=1), -1)
        valid = (predicted_obj >= 0) & (attended >= 0)
        hits = int(np.sum(attended[valid] == predicted_obj[valid]))
        per_layer[k] = {
            "contrast_per_step": contrast.mean(axis=0),
            "early_contrast": float(contrast[:, window[:third]].mean()) if len(window) else 0.0,
            "late_contrast": float(contrast[:, window[-third:]].mean()) if len(window) else 0.0,
            "agreement": hits / max(int(valid.sum()), 1), "agreement_n": int(valid.sum()),
            "agreement_p": binomial_p(hits, int(valid.sum())),
            "attended_left": float(np.mean(attended == 0)),
        }
    focus = [per_layer[k]["late_contrast"] > per_layer[k]["early_contrast"] for k in layers]
    agree = [per_layer[k]["agreement_p"] < 0.05 for k in layers]
    n_valid = per_layer[layers[0]]["agreement_n"]
    claims = [
        claim("Neurons first attend to both objects, then focus on one (attention contrast, early vs late steps)",
              "qualitative (Fig. 10)", "contrast early -> late: " + ", ".join(
                  f"{k} {per_layer[k]['early_contrast']:.2f} -> {per_layer[k]['late_contrast']:.2f}" for k in layers),
              share_verdict(sum(focus), len(layers))),
        claim("The object SAM attends at the end is the predicted one (better than chance, binomial p < 0.05)",
              "matches for every shown image", f"of {n_valid} composites: " + ", ".join(
                  f"{k} {100 * per_layer[k]['agreement']:.0f} % (p = {per_layer[k]['agreement_p']:.2g})"
                  for k in layers), None if n_valid < 5 else share_verdict(sum(agree), len(layers))),
    ]
    in_pair = float(np.mean(predicted_obj >= 0))
    body = "\n".join([
        "## Attention on composites", "",
        f"{len(images)} composites of {s.size}x{2 * s.size}; the SNN predicts one of the two objects for "
        f"{100 * in_pair:.0f} % of them (left {100 * np.mean(predicted_obj == 0):.0f} %, right "
        f"{100 * np.mean(predicted_obj == 1):.0f} %). Final attention: SAM summed over steps {tail.start}-{steps - 1}.",
        "", table(["layer", "early contrast", "late contrast", "attention = prediction", "n", "p (binomial)",
                   "attends left"],
                  [[k, v["early_contrast"], v["late_contrast"], v["agreement"], v["agreement_n"], v["agreement_p"],
                    v["attended_left"]] for k, v in per_layer.items()])])
    rows = []
    for i in range(min(s.show, len(images))):
        rows += [(f"#{i} {k}", images[i], sam[k][i]) for k in layers]
    names = SynthShapes.classes
    ctx.save_figure(figures.heat_grid(rows, title="Fig. 10: SAM on composites; " + "; ".join(
        f"#{i} {names[labels[i, 0]]}|{names[labels[i, 1]]} -> {names[pred[i]]}"
        for i in range(min(s.show, len(images))))), "fig10_composites")
    ctx.save_figure(figures.curves({"attention contrast": {
        k: (np.linspace(0, 1, steps), per_layer[k]["contrast_per_step"]) for k in layers}},
        "relative time t / (T-1)", "|share left - share right|", "Attention contrast over time"),
        "fig10_contrast")
    results = {"layers": list(layers), "n_composites": len(images), "predicts_one_object": in_pair,
               "final_steps": [tail.start, steps - 1], "per_layer": per_layer}
    return results, body, claims
