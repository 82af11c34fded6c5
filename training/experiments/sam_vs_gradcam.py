"""``sam-vs-gradcam``: SAM vs SNN-crafted Grad-CAM vs ANN Grad-CAM at three depths (paper Fig. 2, 3, 5).

For the surrogate-gradient SNN and the converted SNN, on ``map_n`` test
images: SAM from eventsim (no label), SNN-crafted Grad-CAM (Eq. 9-10, true
label) on the same input spikes, and the ReLU VGG's Grad-CAM (true label).
Measures the heatmap pixel variance (Fig. 3), the localization error
against the ANN Grad-CAM (Section 5.1) and the ground-truth scores from the
SynthShapes masks, with label-free baselines: a centred Gaussian prior and
SAM of another image ("shuffled").
"""
from __future__ import annotations

import numpy as np

from .. import metrics
from ..data import CLASSES
from . import figures
from .common import METHODS, claim, share_verdict, table
from .heatmaps import center_prior, ground_truth, localization, mean_sem, shuffled, simulate, snn_gradcam, time_sum

NAME = "sam-vs-gradcam"
TITLE = "SAM vs SNN-crafted Grad-CAM vs ANN Grad-CAM (paper Fig. 2, 3, 5)"
#: Clamps of the localization error's cross entropy reported as a sensitivity check (0.01 is the definition).
EPS_SENSITIVITY = (0.1, 0.01, 1e-3, 1e-6)


def compute(ctx):
    """Every heatmap and score; shared with the figures."""
    s, layers = ctx.scale, ctx.layers
    images, labels, masks, ref = ctx.map_set()
    size = images.shape[-2:]
    prior = center_prior(len(images), size)
    out = {"images": images, "labels": labels, "masks": masks, "ref": ref, "maps": {}, "scores": {}}
    scores = out["scores"]
    other = np.roll(masks, 1, axis=0)                 # another image's object mask
    scores["ANN Grad-CAM"] = {
        "variance": {k: mean_sem(metrics.pixel_variance(ref[k], size)) for k in layers},
        "ground_truth": {k: ground_truth(ref[k], masks) for k in layers},
        "ground_truth_other_mask": {k: ground_truth(ref[k], other) for k in layers}}
    scores["ANN Grad-CAM"]["localization_floor"] = {
        k: mean_sem(metrics.localization_error(ref[k], ref[k], size)[0]) for k in layers}
    scores["center prior"] = {
        "localization": {k: mean_sem(metrics.localization_error(prior, ref[k], size)[0]) for k in layers},
        "ground_truth": {k: ground_truth(prior, masks) for k in layers}}
    scores["uniform map"] = {"energy": float(np.mean(masks.mean(axis=(1, 2))))}
    for method in METHODS:
        net, _, model = ctx.method_network(method)
        sam = simulate(model, images, layers, s.gamma, seed=0, progress=ctx.progress).sam
        sgc = snn_gradcam(net, images, labels, layers, seed=0, progress=ctx.progress)
        out["maps"][method] = {"SAM": sam, "SNN Grad-CAM": sgc}
        for kind, maps in (("SAM", sam), ("SNN Grad-CAM", sgc)):
            scores[f"{kind} ({method})"] = {
                "variance": {k: mean_sem(metrics.pixel_variance(maps[k], size)) for k in layers},
                "variance_minmax": {k: mean_sem(metrics.pixel_variance(maps[k], size, "minmax")) for k in layers},
                "localization": localization(maps, ref, layers, size),
                "localization_eps": {str(eps): {k: float(np.mean(metrics.localization_error(
                    maps[k], ref[k], size, eps)[0])) for k in layers} for eps in EPS_SENSITIVITY},
                "ground_truth": {k: ground_truth(time_sum(maps[k]), masks) for k in layers},
                "ground_truth_other_mask": {k: ground_truth(time_sum(maps[k]), other) for k in layers}}
        scores[f"shuffled SAM ({method})"] = {"localization": localization(shuffled(sam), ref, layers, size)}
    return out


def _claims(sc, layers):
    cells = [(m, k) for m in METHODS for k in layers]
    var_hits = [sc[f"SAM ({m})"]["variance"][k]["mean"] > sc[f"SNN Grad-CAM ({m})"]["variance"][k]["mean"]
                for m, k in cells]
    loc_hits = [sc[f"SAM ({m})"]["localization"][k]["mean"] < sc[f"SNN Grad-CAM ({m})"]["localization"][k]["mean"]
                for m, k in cells]
    iou_hits = [sc[f"SAM ({m})"]["ground_truth"][k]["iou"] > sc[f"SNN Grad-CAM ({m})"]["ground_truth"][k]["iou"]
                for m, k in cells]
    sam_gt = sc["SAM (surrogate)"]
    gt_hits = [sam_gt["ground_truth"][k]["energy"]
               > max(sam_gt["ground_truth_other_mask"][k]["energy"], sc["uniform map"]["energy"]) for k in layers]
    errs = [sc[f"SAM ({m})"]["localization"][k]["mean"] for m, k in cells]
    in_range = sum(0.6 <= e <= 0.98 for e in errs)

    def pairs(key, stat):
        return "; ".join(f"{m[:4]}. {k}: {sc[f'SAM ({m})'][key][k][stat]:.3f} vs "
                         f"{sc[f'SNN Grad-CAM ({m})'][key][k][stat]:.3f}" for m, k in cells)
    return [
        claim("SAM has a higher heatmap pixel variance than SNN-crafted Grad-CAM (heatmap smoothing), for both "
              "training methods at every layer (Fig. 3)", "higher in every scenario",
              f"higher in {sum(var_hits)}/{len(cells)} (SAM vs SNN Grad-CAM, {pairs('variance', 'mean')})",
              share_verdict(sum(var_hits), len(cells))),
        claim("SAM localizes better than SNN-crafted Grad-CAM (Fig. 2), judged against the ANN's Grad-CAM",
              "qualitative (Fig. 2)",
              f"lower localization error in {sum(loc_hits)}/{len(cells)} ({pairs('localization', 'mean')})",
              share_verdict(sum(loc_hits), len(cells))),
        claim("SAM localizes better than SNN-crafted Grad-CAM (Fig. 2), judged against the object mask",
              "qualitative (Fig. 2)",
              f"higher IoU@0.5 in {sum(iou_hits)}/{len(cells)} (" + "; ".join(
                  f"{m[:4]}. {k}: {sc[f'SAM ({m})']['ground_truth'][k]['iou']:.2f} vs "
                  f"{sc[f'SNN Grad-CAM ({m})']['ground_truth'][k]['iou']:.2f}" for m, k in cells) + ")",
              share_verdict(sum(iou_hits), len(cells))),
        claim("SAM highlights the object without any label (Section 5.2, Fig. 5): more of the surrogate SNN's SAM "
              "falls inside the object's mask than inside another image's mask or under a uniform map",
              "qualitative (Fig. 5)",
              "energy in own mask vs another image's mask: " + ", ".join(
                  f"{k}: {sam_gt['ground_truth'][k]['energy']:.2f} vs "
                  f"{sam_gt['ground_truth_other_mask'][k]['energy']:.2f}"
                  for k in layers) + f"; uniform {sc['uniform map']['energy']:.2f}, centre prior "
              f"{sc['center prior']['ground_truth'][layers[0]]['energy']:.2f}",
              share_verdict(sum(gt_hits), len(layers))),
        claim("Localization errors of SAM lie in the paper's range", "0.61-0.98 (Table 1)",
              f"{min(errs):.2f}-{max(errs):.2f}; {in_range}/{len(errs)} inside "
              "(the reference's own floor: " + ", ".join(
                  f"{k} {sc['ANN Grad-CAM']['localization_floor'][k]['mean']:.2f}" for k in layers) + ")",
              share_verdict(in_range, len(errs))),
    ]


def _figures(ctx, data):
    s, layers = ctx.scale, ctx.layers
    images, ref, maps = data["images"], data["ref"], data["maps"]
    mid = layers[len(layers) // 2]
    rows = []
    for i in range(min(s.show, len(images))):
        rows += [(f"#{i} SNN Grad-CAM", images[i], maps["surrogate"]["SNN Grad-CAM"][mid][i]),
                 (f"#{i} SAM", images[i], maps["surrogate"]["SAM"][mid][i])]
    ctx.save_figure(figures.heat_grid(rows, title=f"Fig. 2: SNN-crafted Grad-CAM vs SAM at {mid} (surrogate SNN)"),
                    "fig2_sgc_vs_sam")
    for i in range(min(s.show, len(images))):
        rows = []
        for k in layers:
            rows += [(f"{k} ANN Grad-CAM", images[i], ref[k][i]),
                     (f"{k} SAM surrogate", images[i], maps["surrogate"]["SAM"][k][i]),
                     (f"{k} SAM conversion", images[i], maps["conversion"]["SAM"][k][i])]
        ctx.save_figure(figures.heat_grid(rows, title=f"Fig. 5: test image #{i}, a {CLASSES[data['labels'][i]]} "
                                          "(Grad-CAM uses the label, SAM does not)"),
                        f"fig5_image{i}")
    sc = data["scores"]
    names = [f"{kind} ({m})" for m in METHODS for kind in ("SAM", "SNN Grad-CAM")]
    ctx.save_figure(figures.grouped_bars(
        list(layers), {n: [sc[n]["variance"][k]["mean"] for k in layers] for n in names},
        "pixel variance (max over steps)", "Fig. 3: heatmap pixel variance",
        errors={n: [sc[n]["variance"][k]["sem"] for k in layers] for n in names}), "fig3_variance")
    loc = [f"{kind} ({m})" for m in METHODS for kind in ("SAM", "SNN Grad-CAM", "shuffled SAM")]
    ctx.save_figure(figures.grouped_bars(
        list(layers), {n: [sc[n]["localization"][k]["mean"] for k in layers] for n in loc},
        "localization error (lower is better)", "Localization error vs ANN Grad-CAM",
        hline=float(np.mean([sc["center prior"]["localization"][k]["mean"] for k in layers])),
        hline_label="centre prior (mean)"), "localization_error")


def run(ctx):
    data = compute(ctx)
    layers, sc = ctx.layers, data["scores"]
    claims = _claims(sc, layers)
    _figures(ctx, data)
    rows = []
    for name in [f"{kind} ({m})" for m in METHODS for kind in ("SAM", "SNN Grad-CAM")] + ["ANN Grad-CAM"]:
        for k in layers:
            gt = sc[name]["ground_truth"][k]
            loc = sc[name].get("localization", sc[name].get("localization_floor", {})).get(k, {}).get("mean")
            rows.append([name, k, sc[name]["variance"][k]["mean"], loc, gt["pointing"], gt["energy"], gt["iou"]])
    for name in ("shuffled SAM (surrogate)", "shuffled SAM (conversion)", "center prior"):
        for k in layers:
            gt = sc[name].get("ground_truth", {}).get(k, {})
            rows.append([name, k, "-", sc[name]["localization"][k]["mean"], gt.get("pointing", "-"),
                         gt.get("energy", "-"), gt.get("iou", "-")])
    body = "\n".join([
        "## Scores", "",
        f"{len(data['images'])} test images, SAM gamma = {ctx.scale.gamma}. Variance: max over steps of the "
        "peak-scaled maps (Fig. 3). Localization error: BCE against the ANN Grad-CAM at the same layer, min over "
        "steps (Section 5.1); for the ANN Grad-CAM row it is the floor, the reference scored against itself. "
        "Ground truth (SNN maps summed over steps): pointing game, share of heat inside the "
        f"object mask (a uniform map scores {sc['uniform map']['energy']:.3f}), IoU at 0.5. "
        "Definitions: docs/metrics.md.", "",
        table(["heatmap", "layer", "variance", "loc. error", "pointing", "energy in mask", "IoU@0.5"], rows), "",
        "## Sensitivity of the definitions", "",
        "Pixel variance with each step min-max normalised on its own instead of peak-scaled over all steps "
        "(stretches near-flat maps), and the localization error with other clamps eps of the cross entropy "
        "(0.01 is the definition):", "",
        table(["heatmap", "layer", "variance (min-max)"] + [f"loc. error eps={e:g}" for e in EPS_SENSITIVITY],
              [[name, k, sc[name]["variance_minmax"][k]["mean"]]
               + [sc[name]["localization_eps"][str(e)][k] for e in EPS_SENSITIVITY]
               for name in [f"{kind} ({m})" for m in METHODS for kind in ("SAM", "SNN Grad-CAM")] for k in layers]), "",
        "Ground-truth scores against another image's mask (no image-specific localization scores about the same "
        "as here):", "",
        table(["heatmap", "layer", "pointing", "energy", "IoU@0.5"],
              [[name, k] + [sc[name]["ground_truth_other_mask"][k][key] for key in ("pointing", "energy", "iou")]
               for name in ["SAM (surrogate)", "SAM (conversion)", "ANN Grad-CAM"] for k in layers])])
    results = {"layers": list(layers), "n_images": len(data["images"]), "gamma": ctx.scale.gamma,
               "scores": sc}
    return results, body, claims
