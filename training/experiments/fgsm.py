"""``fgsm``: accuracy under FGSM and heatmap change under attack (paper Fig. 7, 9, Section 5.7).

* Accuracy vs ``epsilon`` for the ReLU VGG (FGSM) and the surrogate-gradient
  SNN (SNN-crafted FGSM through the surrogate gradient, :mod:`training.attacks`),
  the SNN evaluated in eventsim on Poisson draws the attacker never saw.
* Normalized L1 distance between heatmaps of clean and adversarial images
  at ``epsilon = 4/255``: ANN Grad-CAM (true label) vs SAM from eventsim
  (maximum over steps, as the paper).
"""
from __future__ import annotations

import numpy as np

from eventsim.progress import progress_bar

from .. import metrics
from ..attacks import ann_input_gradient, fgsm_step, snn_input_gradient
from . import figures
from .common import claim, share_verdict, table
from .heatmaps import ann_accuracy, ann_gradcam, eventsim_accuracy, mean_sem, simulate, time_sum

NAME = "fgsm"
TITLE = "Adversarial robustness of SAM (paper Fig. 7, 9)"
EPSILONS = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255)
L1_EPSILON = 4 / 255
ATTACK_SEED = 12345


def _batched(fn, images, labels, batch, progress):
    starts = progress_bar(range(0, len(images), batch), progress, "SNN-crafted FGSM")
    return np.concatenate([fn(images[a:a + batch], labels[a:a + batch], a) for a in starts])


def run(ctx):
    s, layers = ctx.scale, ctx.layers
    epsilons = tuple(sorted(set(ctx.epsilons or EPSILONS) | {0.0}))   # accuracy drops are relative to 0
    ann, _ = ctx.ann()
    snn, meta = ctx.snn()
    model = ctx.zoo.model(snn, meta)
    x, y, _, _ = ctx.items("test", s.eval_n)
    g_ann = ann_input_gradient(ann, x, y)
    g_snn = _batched(lambda xi, yi, a: snn_input_gradient(snn, xi, yi, seed=ATTACK_SEED, start_index=a), x, y, 50,
                     ctx.progress)
    acc = {"ANN": [], "SNN": []}
    for eps in epsilons:
        acc["ANN"].append(ann_accuracy(ann, fgsm_step(x, g_ann, eps), y))
        acc["SNN"].append(eventsim_accuracy(model, fgsm_step(x, g_snn, eps), y, seed=0, progress=ctx.progress))
        ctx.log(f"epsilon {eps * 255:.1f}/255: ANN {acc['ANN'][-1]:.3f}, SNN {acc['SNN'][-1]:.3f}")
    # Heatmap distances at 4/255 on the metric images.
    n = min(s.map_n, len(x))
    xm, ym = x[:n], y[:n]
    size = xm.shape[-2:]
    adv_ann = fgsm_step(xm, g_ann[:n], L1_EPSILON)
    adv_snn = fgsm_step(xm, g_snn[:n], L1_EPSILON)
    gc_clean = ann_gradcam(ann, xm, ym, layers)
    gc_adv = ann_gradcam(ann, adv_ann, ym, layers)
    sam_clean = simulate(model, xm, layers, s.gamma, seed=0).sam
    sam_adv = simulate(model, adv_snn, layers, s.gamma, seed=0).sam
    sam_reseed = simulate(model, xm, layers, s.gamma, seed=1).sam
    dist = {"ANN Grad-CAM": {k: mean_sem(metrics.normalized_l1(gc_clean[k], gc_adv[k], size)) for k in layers},
            "SAM": {k: mean_sem(metrics.normalized_l1(sam_clean[k], sam_adv[k], size)) for k in layers},
            "SAM, other Poisson draw (no attack)": {
                k: mean_sem(metrics.normalized_l1(sam_clean[k], sam_reseed[k], size)) for k in layers}}
    # accuracy kept under attack, relative to clean accuracy (the two networks differ in clean accuracy)
    kept = {net: [a / acc[net][0] if acc[net][0] > 0 else 0.0 for a in acc[net][1:]] for net in acc}
    robust = [k_snn > k_ann for k_snn, k_ann in zip(kept["SNN"], kept["ANN"])]
    l1_hits = [dist["SAM"][k]["mean"] < dist["ANN Grad-CAM"][k]["mean"] for k in layers]
    floor = dist["SAM, other Poisson draw (no attack)"]
    excess = {k: dist["SAM"][k]["mean"] - floor[k]["mean"] for k in layers}     # the ANN is deterministic: floor 0
    excess_hits = [excess[k] < dist["ANN Grad-CAM"][k]["mean"] for k in layers]
    claims = [
        claim("The SNN keeps more of its accuracy under FGSM than the ANN (Fig. 9)", "SNN more robust",
              "share of clean accuracy kept, ANN vs SNN, at " + "; ".join(
                  f"{255 * e:g}/255: {ka:.2f} vs {ks:.2f}"
                  for e, ka, ks in zip(epsilons[1:], kept["ANN"], kept["SNN"])),
              share_verdict(sum(robust), len(robust)) if robust else None),
        claim("SAM changes less than Grad-CAM under attack (normalized L1 at 4/255, Fig. 7, 9)",
              "smaller for SAM", "; ".join(f"{k}: SAM {dist['SAM'][k]['mean']:.3f} vs Grad-CAM "
                                           f"{dist['ANN Grad-CAM'][k]['mean']:.3f}" for k in layers),
              share_verdict(sum(l1_hits), len(layers))),
        claim("The attack itself changes SAM less than Grad-CAM: SAM's distance minus its no-attack Poisson noise "
              "floor (our control; the paper does not subtract it)", "smaller for SAM",
              "; ".join(f"{k}: SAM {excess[k]:.3f} vs Grad-CAM {dist['ANN Grad-CAM'][k]['mean']:.3f}" for k in layers),
              share_verdict(sum(excess_hits), len(layers))),
    ]
    rows = [[f"{255 * e:g}/255", acc["ANN"][i], acc["SNN"][i], ([1.0] + kept["ANN"])[i], ([1.0] + kept["SNN"])[i]]
            for i, e in enumerate(epsilons)]
    body = "\n".join([
        "## Accuracy vs epsilon", "",
        f"{len(x)} test images. ANN: FGSM on the exact input. SNN: SNN-crafted FGSM (surrogate BPTT gradient on the "
        f"attacker's own Poisson draw, seed {ATTACK_SEED}), evaluated in eventsim on seed 0.", "",
        table(["epsilon", "ANN accuracy", "SNN accuracy", "ANN kept", "SNN kept"], rows), "",
        "## Normalized L1 distance at epsilon = 4/255", "",
        f"{n} test images; maps peak-scaled, then mean absolute difference; SAM: maximum over steps, clean and "
        "adversarial runs on the same Poisson seed. The last column is SAM's distance between two Poisson draws of "
        "the clean image: the noise floor of the SNN's maps without any attack.", "",
        table(["layer", "ANN Grad-CAM", "SAM (SNN)", "SAM, other draw, no attack"],
              [[k] + [dist[m][k]["mean"] for m in dist] for k in layers])])
    ctx.save_figure(figures.curves({"accuracy": {net: ([255 * e for e in epsilons], acc[net]) for net in acc}},
                                   "epsilon (x 1/255)", "accuracy", "Fig. 9: accuracy under FGSM"), "fig9_accuracy")
    ctx.save_figure(figures.grouped_bars(
        list(layers), {m: [dist[m][k]["mean"] for k in layers] for m in dist}, "normalized L1 distance",
        "Fig. 9: heatmap change at epsilon = 4/255 (lower = more stable)",
        errors={m: [dist[m][k]["sem"] for k in layers] for m in dist}),
        "fig9_l1")
    mid = layers[len(layers) // 2]
    panels = [[(xm[i], None), (adv_ann[i], None), (xm[i], gc_clean[mid][i]), (adv_ann[i], gc_adv[mid][i]),
               (xm[i], time_sum(sam_clean[mid][i:i + 1])[0]), (adv_snn[i], time_sum(sam_adv[mid][i:i + 1])[0])]
              for i in range(min(s.show, n))]
    ctx.save_figure(figures.panel_row(panels, ["image", "adversarial (ANN)", "Grad-CAM clean",
                                                     "Grad-CAM adv.", "SAM clean (sum over t)", "SAM adv."],
                                      title=f"Fig. 7: heatmaps before and after FGSM, epsilon = 4/255, {mid}"),
                    "fig7_examples")
    results = {"layers": list(layers), "epsilons": list(epsilons), "accuracy": acc, "n_accuracy": len(x),
               "l1_epsilon": L1_EPSILON, "l1_distance": dist, "l1_excess_over_noise": excess, "n_l1": n,
               "attack_seed": ATTACK_SEED}
    return results, body, claims
