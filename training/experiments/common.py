"""What every experiment shares: the two scales, the run context, data, outputs and claims.

An experiment is a module with ``NAME``, ``TITLE`` and ``run(ctx) -> (results, body, claims)``
where ``results`` is a JSON-able dict, ``body`` the Markdown report body and
``claims`` a list of :func:`claim` dicts.
:func:`write_outputs` adds the runtime and the claims table and writes
``results.json`` and ``report.md`` atomically beside the figures.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eventsim.io import atomic_output

from ..data import SynthShapes
from .zoo import ModelZoo


@dataclass(frozen=True)
class Scale:
    """Sizes of one experiment mode.

    Attributes
    ----------
    name : {"quick", "full"}
    size : int
        Image side of the SynthShapes images (pixels).
    arch : str
        Architecture of every network (must end in global pooling ``G``).
    layers : tuple of str
        The three depths analysed (paper: layers 4, 6 and 8 of VGG11).
    timesteps : int
        ``T`` of the surrogate-gradient SNNs (paper: 30).
    conv_timesteps : int
        ``T`` of the converted SNN (paper: 500).
    conv_scale : float
        Threshold scale of the conversion (1 = plain Algorithm 1).
    snn_epochs, snn_train : int
        Epochs and training images of the main surrogate-gradient SNN.
    leak_epochs : int
        Epochs of each SNN of the leak ablation (all four leaks share it).
        In full mode it equals ``snn_epochs``, so lambda = 0.99 is the main
        SNN and the leaks are compared at the same, converged budget.
    ann_epochs, ann_train : int
        The same for the ReLU VGG.
    ann_lr : float
    dropout : float
    val_size : int
        Validation images checked after each epoch.
    calibration : int
        Training images of the threshold balancing.
    eval_n : int
        Test images for accuracies.
    map_n : int
        Test images for heatmap metrics.
    show : int
        Images drawn in the figures.
    composites : int
        Two-object composites (multi-object).
    gamma : float
        SAM kernel steepness of every experiment but ``gamma`` (eventsim's default).
    """

    name: str
    size: int
    arch: str
    layers: tuple
    timesteps: int
    conv_timesteps: int
    conv_scale: float
    snn_epochs: int
    snn_train: int
    leak_epochs: int
    ann_epochs: int
    ann_train: int
    ann_lr: float
    dropout: float
    val_size: int
    calibration: int
    eval_n: int
    map_n: int
    show: int
    composites: int
    gamma: float = 0.5

    def snn_recipe(self, leak: float = 0.99, ablation: bool = False) -> dict:
        """Recipe of a surrogate-gradient SNN (BNTT, paper Section 4.1) at leak ``lambda``.

        ``ablation=True`` gives the leak ablation's budget (``leak_epochs``).
        """
        epochs = self.leak_epochs if ablation else self.snn_epochs
        return dict(kind="snn", arch=self.arch, size=self.size, timesteps=self.timesteps, leak=float(leak),
                    epochs=epochs, train_size=self.snn_train, val_size=self.val_size, lr=0.1,
                    batch_size=32, dropout=self.dropout, seed=0, data_seed=0)

    def ann_recipe(self) -> dict:
        """Recipe of the ReLU VGG (Grad-CAM reference, conversion source)."""
        return dict(kind="ann", arch=self.arch, size=self.size, timesteps=1, leak=1.0, epochs=self.ann_epochs,
                    train_size=self.ann_train, val_size=self.val_size, lr=self.ann_lr, batch_size=32,
                    dropout=self.dropout, seed=0, data_seed=0)


QUICK = Scale(name="quick", size=32, arch="P,8,P,12,P,16,G", layers=("conv1", "conv2", "conv3"), timesteps=8,
              conv_timesteps=16, conv_scale=0.6, snn_epochs=1, snn_train=160, leak_epochs=1, ann_epochs=3,
              ann_train=320, ann_lr=0.05, dropout=0.0, val_size=32, calibration=32, eval_n=32, map_n=6, show=2,
              composites=6)

FULL = Scale(name="full", size=64, arch="P,16,P,32,P,64,P,64,G", layers=("conv2", "conv3", "conv4"), timesteps=20,
             conv_timesteps=100, conv_scale=0.6, snn_epochs=10, snn_train=5000, leak_epochs=10, ann_epochs=20,
             ann_train=10000, ann_lr=0.05, dropout=0.0, val_size=250, calibration=256, eval_n=1000, map_n=100,
             show=3, composites=100)

LEAKS = (0.7, 0.8, 0.9, 0.99)
#: The two training methods compared (paper Section 5.3): surrogate gradient and ANN-to-SNN conversion.
METHODS = ("surrogate", "conversion")


class Context:
    """One experiment run: its scale, output folder, model cache, data and figures.

    Parameters
    ----------
    scale : Scale
    out : Path
        Output folder (created).
    zoo : ModelZoo
    progress : bool
    log : callable
    layers : tuple of str, optional
        Conv layers to analyse (default ``scale.layers``).
    epsilons : tuple of float, optional
        FGSM strengths in pixel units (default: the fgsm experiment's).
    data_cache : dict, optional
        Generated data sets by ``(split, size)``; pass one dict to several
        contexts (``experiment all``) to generate each item once.
    """

    def __init__(self, scale: Scale, out: Path, zoo: ModelZoo, progress=True, log=print, layers=None,
                 epsilons=None, data_cache=None):
        self.scale, self.out, self.zoo, self.progress, self.log = scale, Path(out), zoo, progress, log
        self.layers = tuple(scale.layers if layers is None else layers)
        self.epsilons = epsilons
        self.figures: list[str] = []
        self._data: dict = {} if data_cache is None else data_cache
        zoo.data = self.data

    def data(self, split: str, n: int, size: int | None = None):
        """SynthShapes ``(images, labels)`` items ``0..n-1`` of a split (memoised)."""
        return self.items(split, n, size)[:2]

    def items(self, split: str, n: int, size: int | None = None):
        """``(images, labels, masks, boxes)`` items ``0..n-1`` of a split, memoised per split and size.

        An item depends only on its index, so a larger request generates just
        the items not yet held.
        """
        size = self.scale.size if size is None else size
        key = (split, size)
        have = self._data.get(key)
        count = 0 if have is None else len(have[0])
        if count < n:
            new = SynthShapes(split, size=size, seed=0, length=n).arrays(count, n, progress=self.progress)
            have = new if have is None else tuple(np.concatenate(pair) for pair in zip(have, new))
            self._data[key] = have
        return tuple(a[:n] for a in have)

    def map_set(self):
        """The heatmap test set and its reference: ``(images, labels, masks, ann_gradcam)``.

        Items ``0..scale.map_n-1`` of the test split, and the ANN Grad-CAM of
        each analysed layer on them (``{layer: (N, h, w) float}``, checked
        finite), with the ground-truth labels as in the paper.
        """
        from .heatmaps import ann_gradcam

        images, labels, masks, _ = self.items("test", self.scale.map_n)
        ann, _ = self.ann()
        return images, labels, masks, ann_gradcam(ann, images, labels, self.layers, progress=self.progress)

    def method_network(self, method: str):
        """The float SNN, its cache meta and its eventsim model of a training method in :data:`METHODS`."""
        net, meta = self.snn() if method == "surrogate" else self.converted()
        return net, meta, self.zoo.model(net, meta)

    def snn(self, leak: float = 0.99, ablation: bool = False):
        """The surrogate-gradient SNN at ``leak`` (the leak ablation's budget if ``ablation``) and its cache meta."""
        return self.zoo.trained(self.scale.snn_recipe(leak, ablation))

    def ann(self):
        """The ReLU VGG and its cache meta."""
        return self.zoo.trained(self.scale.ann_recipe())

    def converted(self):
        """The ReLU VGG converted to an SNN (Algorithm 1) and its cache meta."""
        s = self.scale
        return self.zoo.converted(s.ann_recipe(), s.conv_timesteps, s.conv_scale, s.calibration)

    def save_figure(self, fig, name: str) -> str:
        """Save ``fig`` as ``<out>/<name>.png`` atomically; returns the file name."""
        from eventsim.plots import save_figure

        save_figure(fig, self.out / f"{name}.png", dpi=120)
        self.figures.append(f"{name}.png")
        return f"{name}.png"


VERDICTS = {True: "reproduced", "partly": "partly reproduced", False: "not reproduced", None: "not testable here"}


def claim(text: str, paper: str, ours: str, reproduced) -> dict:
    """One claim of the paper, what it reported, what we measured, and whether it held here.

    ``reproduced`` is True, ``"partly"``, False or None (not testable at this scale).
    """
    if reproduced not in VERDICTS:
        reproduced = bool(reproduced)
    return {"claim": text, "paper": paper, "ours": ours, "reproduced": reproduced}


def share_verdict(hits: int, total: int):
    """True if every case holds, ``"partly"`` if some do, False if none."""
    return True if hits == total else ("partly" if hits else False)


def verdict(c: dict) -> str:
    return VERDICTS[c["reproduced"]]


def claims_table(claims) -> str:
    rows = ["| claim | paper | here | verdict |", "|---|---|---|---|"]
    for c in claims:
        rows.append(f"| {c['claim']} | {c['paper']} | {c['ours']} | **{verdict(c)}** |")
    return "\n".join(rows)


def table(header, rows) -> str:
    """A Markdown table; floats are printed with three decimals."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3f}" if math.isfinite(v) else "-"
        return str(v)
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def jsonable(obj):
    """Plain JSON types from NumPy scalars/arrays, tuples and NaN (which becomes null)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    return obj


def write_outputs(ctx: Context, module, results: dict, body: str, claims, started: float, command: str) -> dict:
    """Write ``results.json`` and ``report.md`` for one experiment; returns the results dict written."""
    runtime = time.perf_counter() - started
    full = {"experiment": module.NAME, "scale": asdict(ctx.scale), "command": command,
            "runtime_seconds": runtime, "training_seconds_this_run": ctx.zoo.trained_seconds,
            "cache_dir": str(ctx.zoo.root), "figures": list(ctx.figures), "claims": list(claims), **results}
    full = jsonable(full)
    with atomic_output(ctx.out / "results.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(full, indent=1))
    lines = [f"# {module.TITLE}", "",
             f"`{command}` - {ctx.scale.name} mode, {runtime:.0f} s "
             f"({ctx.zoo.trained_seconds:.0f} s of it training models not yet cached).", "",
             "## Claims", "", claims_table(claims), ""]
    lines += [f"- {verdict(c).capitalize()} at this scale: {c['claim']}." for c in claims]
    lines += ["", body.strip(), "", "## Figures", ""]
    lines += [f"![{f}]({f})" for f in ctx.figures]
    with atomic_output(ctx.out / "report.md", suffix=".md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return full
