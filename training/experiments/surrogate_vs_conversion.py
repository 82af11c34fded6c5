"""``surrogate-vs-conversion``: SAM of a surrogate-gradient SNN vs a converted SNN (paper Fig. 5c-d, Fig. 6).

Localization error of SAM against the ReLU VGG's Grad-CAM per layer for both
training methods (Fig. 6a), and the number of spikes per time step,
normalised by its maximum (Fig. 6b).  The temporal profile is summarised by
the coefficient of variation of the per-step spike counts over the steps
after the layer's structural delay (layer ``d`` cannot spike before step
``d``), and by the relative time of the peak.
"""
from __future__ import annotations

import numpy as np

from .. import metrics
from . import figures
from .common import METHODS, claim, share_verdict, table
from .heatmaps import (eventsim_accuracy, ground_truth, localization, mean_sem, shuffled, simulate, spikes_per_step,
                       time_sum)

NAME = "surrogate-vs-conversion"
TITLE = "Surrogate-gradient training vs ANN-SNN conversion (paper Fig. 5c-d, Fig. 6)"


def temporal_profile(per_step: np.ndarray, delay: int) -> dict:
    """Coefficient of variation, relative peak time and last-step level of a normalised spike-count curve (T,)."""
    live = per_step[delay:]
    cv = float(live.std() / live.mean()) if live.mean() > 0 else 0.0
    return {"cv": cv, "peak_time": float(np.argmax(per_step) / max(len(per_step) - 1, 1)),
            "end_level": float(per_step[-1])}


def run(ctx):
    s, layers = ctx.scale, ctx.layers
    images, _, masks, ref = ctx.map_set()
    size = images.shape[-2:]
    eval_images, eval_labels, _, _ = ctx.items("test", s.eval_n)
    res = {"layers": list(layers), "n_images": len(images), "gamma": s.gamma, "methods": {}}
    sam_show, spikes = {}, {}
    for method in METHODS:
        net, _, model = ctx.method_network(method)
        result = simulate(model, images, layers, s.gamma, seed=0, progress=ctx.progress)
        sam = result.sam
        sam_show[method] = sam
        all_spiking = model.spiking_layers
        spikes[method] = spikes_per_step(result, all_spiking)
        res["methods"][method] = {
            "timesteps": int(net.cfg.timesteps),
            "accuracy": eventsim_accuracy(model, eval_images, eval_labels, seed=0, progress=ctx.progress),
            "localization": localization(sam, ref, layers, size),
            "shuffled_localization": localization(shuffled(sam), ref, layers, size),
            "variance": {k: mean_sem(metrics.pixel_variance(sam[k], size)) for k in layers},
            "ground_truth": {k: ground_truth(time_sum(sam[k]), masks) for k in layers},
            "spikes_per_step": spikes[method],
            "temporal": {k: temporal_profile(spikes[method][k], all_spiking.index(k)) for k in all_spiking},
        }
    m = res["methods"]
    loc_hits = [m["surrogate"]["localization"][k]["mean"] < m["conversion"]["localization"][k]["mean"] for k in layers]
    iou_hits = [m["surrogate"]["ground_truth"][k]["iou"] > m["conversion"]["ground_truth"][k]["iou"] for k in layers]
    cv_hits = [m["surrogate"]["temporal"][k]["cv"] > m["conversion"]["temporal"][k]["cv"] for k in layers]
    quiet_end = [m["surrogate"]["temporal"][k]["end_level"] < 0.5 for k in layers]
    claims = [
        claim("Surrogate-gradient SAM has a lower localization error than conversion SAM at every layer (Fig. 6a)",
              "lower at every layer",
              "; ".join(f"{k}: {m['surrogate']['localization'][k]['mean']:.3f} vs "
                        f"{m['conversion']['localization'][k]['mean']:.3f}" for k in layers),
              share_verdict(sum(loc_hits), len(layers))),
        claim("Surrogate-gradient SAM covers the object better than conversion SAM at every layer (the object-mask "
              "version of Fig. 6a)", "surrogate more interpretable at every layer",
              "IoU@0.5 of SAM summed over steps: " + "; ".join(
                  f"{k}: {m['surrogate']['ground_truth'][k]['iou']:.2f} vs "
                  f"{m['conversion']['ground_truth'][k]['iou']:.2f}"
                  for k in layers), share_verdict(sum(iou_hits), len(layers))),
        claim("Surrogate-gradient spiking varies more over time than conversion's steady rate (Fig. 6b)",
              "qualitative (Fig. 6b)",
              "coefficient of variation of spikes per step, surrogate vs conversion: " + "; ".join(
                  f"{k}: {m['surrogate']['temporal'][k]['cv']:.2f} vs {m['conversion']['temporal'][k]['cv']:.2f}"
                  for k in layers), share_verdict(sum(cv_hits), len(layers))),
        claim("Surrogate-gradient activity fades towards the last steps (Fig. 5c, 6b)",
              "near-zero activity at the end", "last-step spikes / peak step: " + "; ".join(
                  f"{k}: {m['surrogate']['temporal'][k]['end_level']:.2f}" for k in layers),
              share_verdict(sum(quiet_end), len(layers))),
    ]
    _figures(ctx, images, ref, sam_show, spikes, res)
    rows = [[meth, k, m[meth]["localization"][k]["mean"], m[meth]["localization"][k]["sem"],
             m[meth]["shuffled_localization"][k]["mean"], m[meth]["temporal"][k]["cv"],
             m[meth]["temporal"][k]["peak_time"], m[meth]["temporal"][k]["end_level"],
             m[meth]["ground_truth"][k]["pointing"], m[meth]["ground_truth"][k]["energy"],
             m[meth]["ground_truth"][k]["iou"]] for meth in METHODS for k in layers]
    body = "\n".join([
        "## Scores", "",
        f"Accuracy in eventsim on {s.eval_n} test images: surrogate {m['surrogate']['accuracy']:.3f} "
        f"(T={m['surrogate']['timesteps']}), conversion {m['conversion']['accuracy']:.3f} "
        f"(T={m['conversion']['timesteps']}). Localization error on {len(images)} images (SAM gamma = {s.gamma}); "
        "'shuffled' pairs each image's SAM with another image's Grad-CAM (no image-specific information). "
        "Spike-count CV is over the steps after each layer's structural delay; peak time is relative (0 = first "
        "step, 1 = last); 'last step / peak' is the last step's spike count over the peak step's. Ground-truth "
        "scores use SAM summed over steps against the SynthShapes object masks (docs/metrics.md).", "",
        table(["method", "layer", "loc. error", "sem", "shuffled", "spike CV", "peak time", "last step / peak",
               "pointing", "energy in mask", "IoU@0.5"], rows)])
    return res, body, claims


def _figures(ctx, images, ref, sam, spikes, res):
    s, layers = ctx.scale, ctx.layers
    ctx.save_figure(figures.grouped_bars(
        list(layers), {meth: [res["methods"][meth]["localization"][k]["mean"] for k in layers] for meth in METHODS},
        "localization error (lower is better)", "Fig. 6a: SAM localization error vs ANN Grad-CAM",
        errors={meth: [res["methods"][meth]["localization"][k]["sem"] for k in layers] for meth in METHODS}),
        "fig6a_localization")
    panels = {}
    for k in spikes["surrogate"]:
        panels[k] = {meth: (np.linspace(0, 1, len(spikes[meth][k])), spikes[meth][k]) for meth in METHODS}
    ctx.save_figure(figures.curves(panels, "relative time t / (T-1)", "spikes / max",
                                   "Fig. 6b: normalized spikes per time step"), "fig6b_spikes")
    for i in range(min(s.show, len(images))):
        rows = []
        for k in layers:
            rows += [(f"{k} ANN Grad-CAM", images[i], ref[k][i]),
                     (f"{k} surrogate", images[i], sam["surrogate"][k][i]),
                     (f"{k} conversion", images[i], sam["conversion"][k][i])]
        ctx.save_figure(figures.heat_grid(rows, title=f"Fig. 5c-d: SAM over time, test image #{i}"),
                        f"fig5cd_image{i}")
