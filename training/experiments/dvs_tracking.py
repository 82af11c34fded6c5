r"""``dvs-tracking``: does SAM follow a moving object?  The DVS model on SynthShapes-DVS, next to the image model.

Not one of the paper's experiments: the paper explains SNNs on static
images; an event camera is where a label-free, on-line heatmap has to keep
up with motion.  The packaged DVS model (``eventsim.default_model("dvs")``)
runs on SynthShapes-DVS test streams (``docs/events.md``), with SAM at every
spiking layer, and each per-step map ``M_t`` is scored against the object's
mask *at that step's time bin* (the mask moves with the saccades):

* **pointing game** (strict, and with Zhang et al.'s tolerance of 15/224 of
  the side, 2.1 px here) and **energy in the mask** per time bin and layer
  (:mod:`eventsim.metrics`, the map resized to the 32x32 sensor), next to
  two controls: the mask of the object *at rest* (where it would be without
  motion) and the moving mask of *another stream* (chance for the layout);
* **tracking**: per stream, the heat-weighted centre of ``M_t``
  (:func:`eventsim.metrics.heat_centroid`) minus its mean over the stream's
  active bins, against the object's known displacement ``d(t - L)`` (the
  saccade offset at the centre of bin ``t - L``, minus its mean over the same
  bins), pooled over streams, bins and both axes.  The slope
  ``b_L = sum(c . d) / sum(d . d)`` is 1 for a map that moves exactly with the
  object ``L`` bins earlier and 0 for one that stays put; its 95 % interval
  comes from a bootstrap over streams.  Lags ``L = 0 .. 7`` are tried,
  because layer ``k`` (0-based) sees the input ``k`` steps late.
* **the image model**: the packaged default model (64x64 RGB images, signed
  Poisson input) on the *same* SynthShapes items, standing still, scored per
  step against their (static) masks.

Layers analysed: every spiking layer of the DVS model (``--layers`` is not used);
``--images N`` sets the number of streams (default 1000, ``--quick`` 12).
"""
from __future__ import annotations

import numpy as np

from eventsim import Simulator, default_model, load_model
from eventsim import metrics
from eventsim.event_plots import stream_picture
from eventsim.synthshapes import SynthShapes
from eventsim.synthshapes_dvs import DEFAULT_DURATION_US, SynthShapesDVS

from . import figures
from .common import FULL, QUICK, claim, share_verdict, table

NAME = "dvs-tracking"
TITLE = "SAM on moving objects: the DVS model on SynthShapes-DVS, next to the image model"
#: Test streams per scale.
STREAMS = {"quick": 12, "full": 1000}
LAGS = tuple(range(8))
BOOTSTRAP = 400


def simulate(model, spikes, gamma, progress=False) -> tuple:
    """SAM at every spiking layer: ``({layer: float32 (N, T, h, w)}, predictions (N,))``."""
    r = Simulator(model, sam_gamma=gamma, sam_layers=model.spiking_layers).run(spikes=spikes, progress=progress)
    return r.sam, r.predictions


def per_step(sam: np.ndarray, masks: np.ndarray, tolerance: float = 0.0) -> dict:
    """Pointing (strict and within ``tolerance`` pixels), energy in mask and the share of all-zero maps per step.

    ``sam`` is (N, T, h, w); ``masks`` (N, T, H, W) (one per step) or (N, H, W);
    ``tolerance`` is in pixels of the masks (:func:`eventsim.metrics.pointing_game`).
    Returns ``{"pointing", "pointing_tol", "energy", "empty"}``, each float (T,)
    (means over N), and ``"pointing_n"`` / ``"pointing_tol_n"``: the per-map
    values, (N, T).
    """
    n, steps = sam.shape[:2]
    point, near, energy = np.zeros((n, steps)), np.zeros((n, steps)), np.zeros((n, steps))
    for t in range(steps):
        m = masks[:, t] if masks.ndim == 4 else masks
        point[:, t] = metrics.pointing_game(sam[:, t], m)
        near[:, t] = metrics.pointing_game(sam[:, t], m, tolerance)
        energy[:, t] = metrics.mask_energy(sam[:, t], m)
    empty = ~np.any(sam > 0, axis=(2, 3))
    return {"pointing": point.mean(0), "pointing_tol": near.mean(0), "energy": energy.mean(0),
            "empty": empty.mean(0), "pointing_n": point, "pointing_tol_n": near}


def tracking(sam: np.ndarray, offsets: np.ndarray, size, lag: int, rng) -> dict:
    """Slope of the SAM centre's displacement on the object's displacement ``lag`` bins earlier.

    Parameters
    ----------
    sam : ndarray of float, shape (N, T, h, w)
    offsets : ndarray of float, shape (N, T, 2)
        Object offset ``(dx, dy)`` per bin (pixels at ``size``).
    size : tuple of int
        Sensor ``(H, W)``; the centres are taken at this resolution.
    lag : int
    rng : numpy.random.Generator
        For the bootstrap over streams.

    Returns
    -------
    dict
        ``slope``, ``low``, ``high`` (95 % bootstrap interval), ``r``
        (pooled correlation) and ``n_maps`` (non-empty maps used).
    """
    n, steps = sam.shape[:2]
    sxy, sxx, syy, used = np.zeros(n), np.zeros(n), np.zeros(n), 0
    for i in range(n):
        centre = metrics.heat_centroid(sam[i, lag:], size)               # (T - lag, 2)
        ok = np.isfinite(centre[:, 0])
        if ok.sum() < 2:
            continue
        c = centre[ok] - centre[ok].mean(0)
        d = offsets[i, :steps - lag][ok]
        d = d - d.mean(0)
        sxy[i], sxx[i], syy[i], used = (c * d).sum(), (d * d).sum(), (c * c).sum(), used + int(ok.sum())
    slope = sxy.sum() / max(sxx.sum(), 1e-12)
    picks = rng.integers(0, n, size=(BOOTSTRAP, n))
    boot = sxy[picks].sum(1) / np.maximum(sxx[picks].sum(1), 1e-12)
    r = sxy.sum() / max(np.sqrt(sxx.sum() * syy.sum()), 1e-12)
    return {"slope": float(slope), "low": float(np.quantile(boot, 0.025)), "high": float(np.quantile(boot, 0.975)),
            "r": float(r), "n_maps": used}


def active(values: np.ndarray, empty: np.ndarray) -> float:
    """Mean of a per-step curve over the layer's active steps: those on which most maps are not all zero.

    ``empty`` is the share of all-zero maps per step; all steps count if none is active.
    """
    on = empty < 0.5
    return float(np.mean(values[on] if on.any() else values))


#: Per-step scores reported, and their names in the report.
METRICS = {"pointing_tol": "pointing game (tolerance 15/224 of the side)", "pointing": "pointing game (strict)",
           "energy": "energy in mask"}
#: Masks each map is scored against, and their names in the report.
TARGETS = {"moving": "moving mask", "rest": "mask at rest", "other": "other stream's mask",
           "image": "image model (still)"}


def run(ctx):
    s = ctx.scale
    default = QUICK if s.name == "quick" else FULL
    n = STREAMS[s.name] if s.map_n == default.map_n else s.map_n      # --images N overrides
    dvs_model = load_model(default_model("dvs"))
    image_model = load_model(default_model())
    layers = list(dvs_model.spiking_layers)
    steps = dvs_model.default_timesteps
    data = SynthShapesDVS("test", length=n).binned(0, n, steps, progress=ctx.progress)
    size = data["masks"].shape[-2:]
    sam, pred = simulate(dvs_model, data["frames"], s.gamma, progress=ctx.progress)
    side = image_model.input_shape[-1]
    images, labels, masks, _ = SynthShapes("test", size=side, seed=0, length=n).arrays(0, n)
    spikes = Simulator(image_model).input_spikes(images=images, seed=0)
    image_sam, image_pred = simulate(image_model, spikes, s.gamma, progress=ctx.progress)
    tol, image_tol = metrics.POINTING_TOLERANCE * size[0], metrics.POINTING_TOLERANCE * side
    other = np.roll(np.arange(n), 1)
    rng = np.random.default_rng(0)
    per_layer = {}
    for depth, k in enumerate(layers):
        scores = {"moving": per_step(sam[k], data["masks"], tol), "rest": per_step(sam[k], data["rest"], tol),
                  "other": per_step(sam[k], data["masks"][other], tol)}
        if k in image_sam:
            scores["image"] = per_step(image_sam[k], masks, image_tol)
        lags = {lag: tracking(sam[k], data["offsets"], size, lag, rng) for lag in LAGS}
        per_layer[k] = {
            "depth": depth,
            "curves": {name: {m: v[m] for m in (*METRICS, "empty")} for name, v in scores.items()},
            "summary": {name: {m: active(v[m], v["empty"]) for m in METRICS} for name, v in scores.items()},
            "sem": {m: float(scores["moving"][f"{m}_n"][:, scores["moving"]["empty"] < 0.5].mean(1).std(ddof=1)
                             / np.sqrt(n)) for m in ("pointing", "pointing_tol")},
            "tracking": lags, "best_lag": max(lags, key=lambda lag: lags[lag]["slope"]),
        }
    results = {"layers": layers, "n_streams": n, "timesteps": steps, "bin_ms": DEFAULT_DURATION_US / steps / 1000,
               "tolerance_px": tol,
               "accuracy": float(np.mean(pred == data["labels"])), "image_accuracy": float(np.mean(image_pred == labels)),
               "events_per_bin": np.abs(data["frames"].astype(np.int64)).sum(axis=(2, 3, 4)).mean(0),
               "per_layer": per_layer}
    body, claims = _report(ctx, results)
    _figures(ctx, results, data, sam)
    return results, body, claims


def _report(ctx, r) -> tuple:
    layers, per_layer = r["layers"], r["per_layer"]
    summ = {k: per_layer[k]["summary"] for k in layers}
    best = {k: per_layer[k]["tracking"][per_layer[k]["best_lag"]] for k in layers}
    shared = [k for k in layers if "image" in summ[k]]
    localizes = [summ[k]["moving"]["pointing_tol"] > summ[k]["other"]["pointing_tol"]
                 + 2 * per_layer[k]["sem"]["pointing_tol"] for k in layers]
    on_par = [summ[k]["moving"]["pointing_tol"] >= summ[k]["image"]["pointing_tol"] for k in shared]
    beyond = "- (beyond the paper: event input)"
    claims = [
        claim("SAM localizes the moving object at every layer (pointing game with tolerance, active steps, "
              "above another stream's mask by 2 SE)", beyond,
              ", ".join(f"{k} {summ[k]['moving']['pointing_tol']:.2f} vs {summ[k]['other']['pointing_tol']:.2f}"
                        for k in layers), share_verdict(sum(localizes), len(layers))),
        claim("SAM follows the motion: its centre moves with the object (bootstrap 95 % interval of the slope "
              "above 0 at the best lag)", beyond,
              ", ".join(f"{k} b={best[k]['slope']:.2f} (lag {per_layer[k]['best_lag']})" for k in layers),
              share_verdict(sum(best[k]["low"] > 0 for k in layers), len(layers))),
        claim("On events SAM points at the object as often as the image model's SAM on the still image", beyond,
              ", ".join(f"{k} {summ[k]['moving']['pointing_tol']:.2f} vs {summ[k]['image']['pointing_tol']:.2f}"
                        for k in shared), share_verdict(sum(on_par), len(shared)) if shared else None),
    ]
    lines = ["## Setup", "",
             f"{r['n_streams']} SynthShapes-DVS test streams (32x32x2, {r['timesteps']} bins of {r['bin_ms']:.2f} ms, "
             f"saccade triangle of side 3 px) through the packaged DVS model (accuracy on them {r['accuracy']:.3f}); the packaged image "
             f"model on the same items as still 64x64 images (accuracy {r['image_accuracy']:.3f}). SAM gamma "
             f"{ctx.scale.gamma}. Events per bin (mean over streams): "
             + ", ".join(f"{v:.0f}" for v in r["events_per_bin"]) + ".", "",
             "## Localization per layer", "",
             "Means over each layer's active steps (those on which most maps are not all zero; layer k, "
             "0-based, is silent before step k at least). "
             "Columns: the object's mask at the step's bin ('moving'), its mask without motion ('at rest'), another "
             "stream's moving mask (chance for the layout), and the image model on the still image. The tolerant "
             f"pointing game counts a maximum within {r['tolerance_px']:.2f} px of the mask (15/224 of the side, "
             "Zhang et al. 2018; twice that at the image model's 64 px).", ""]
    for metric, title in METRICS.items():
        lines += [f"**{title}**", "", table(["layer", "depth"] + [TARGETS[t] for t in TARGETS], [
            [k, per_layer[k]["depth"]] + [summ[k][t][metric] if t in summ[k] else float("nan") for t in TARGETS]
            for k in layers]), ""]
    lines += ["## Tracking: slope of the SAM centre's displacement on the object's displacement", "",
              f"Slope [95 % bootstrap interval] at each lag (bins of {r['bin_ms']:.2f} ms); 1 = moves with the object, "
              "0 = stays put.", "",
              table(["layer"] + [f"lag {lag}" for lag in LAGS],
                    [[k] + [f"{v['slope']:.2f} [{v['low']:.2f}, {v['high']:.2f}]"
                            for v in per_layer[k]["tracking"].values()] for k in layers])]
    return "\n".join(lines), claims


def _figures(ctx, r, data, sam):
    layers, per_layer = r["layers"], r["per_layer"]
    for metric, title in METRICS.items():
        panels = {k: {TARGETS[t]: (np.arange(len(v[metric])), v[metric]) for t, v in per_layer[k]["curves"].items()}
                  for k in layers}
        ctx.save_figure(figures.curves(panels, "time step t", metric, f"SAM {title} per step: DVS model on moving "
                                       "objects, image model on still ones"), f"dvs_tracking_{metric}")
    ctx.save_figure(figures.curves({"tracking slope": {k: (np.array(LAGS), np.array(
        [per_layer[k]["tracking"][lag]["slope"] for lag in LAGS])) for k in layers}}, "lag L (bins)",
        "slope b_L", "SAM centre displacement vs object displacement L bins earlier"), "dvs_tracking_lag")
    rows = []
    for i in range(min(ctx.scale.show, r["n_streams"])):
        rows += [(f"#{i} {k}", stream_picture(data["frames"][i]), sam[k][i]) for k in layers]
    ctx.save_figure(figures.heat_grid(rows, steps=8, title="SAM on SynthShapes-DVS streams (input: all events, "
                                      "ON red, OFF blue)"), "dvs_tracking_examples")
