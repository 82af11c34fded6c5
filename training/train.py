r"""Training loop: BPTT for spiking VGGs with BNTT (paper Section 4.1, 5.1), plain SGD for ANNs.

The recipe follows Section 5.1: SGD with momentum 0.9, weight decay
``5e-4``, base learning rate 0.1 (0.01 for ANNs, which have no batch norm),
divided by 10 at 50 %, 70 % and 90 % of the run.  The schedule counts
iterations, so a short run still gets all three decays.  The SNN loss is
Eq. 5, cross entropy of the accumulated output voltage, taken as
``v_out[T-1] / T`` (Eq. 7 gives its gradient); BPTT sums the gradients over
all steps (Eq. 6).

Each epoch writes a checkpoint atomically (state dicts, optimizer,
scheduler and the batch generator's state), so ``resume`` continues a
killed run exactly where its last epoch ended.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .checkpoint import load_state, read_checkpoint, save_checkpoint
from .data import SynthShapes, channel_stats
from .errors import CheckpointError, ConfigError
from .evaluate import evaluate_ann, evaluate_snn
from .models import NetConfig, build_network
from .sparsity import forward_with_spikes, sparsity_penalty

MILESTONES = (0.5, 0.7, 0.9)
#: Training data sets; the second one needs ``input_encoding="counts"``.
DATASETS = ("synthshapes", "synthshapes-dvs")


@dataclass(frozen=True)
class TrainOptions:
    """Options of one training run (stored in the checkpoint).

    Attributes
    ----------
    epochs : int
    batch_size : int
    lr : float
        Base learning rate.
    momentum, weight_decay : float
    train_size, val_size : int
        Items of the SynthShapes ``train`` and ``val`` splits used.
    data_seed : int
        SynthShapes seed.
    dataset : {"synthshapes", "synthshapes-dvs"}
        Images (Poisson-encoded) or SynthShapes-DVS event counts
        (:mod:`training.dvs`, ``T`` bins = the network's timesteps; the
        network must take ``input_encoding="counts"``).
    seed : int
        Initialisation, batch order and Poisson draws.
    threads : int
        ``torch.set_num_threads``.
    synops_weight : float
        Weight of the estimated synops fraction in the loss (SNN; 0 = off,
        :mod:`training.sparsity`).
    rate_weight, rate_target : float
        Weight of the per-layer penalty ``max(0, rate - rate_target)^2`` (SNN; 0 = off).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    train_size: int = 20000
    val_size: int = 1000
    data_seed: int = 0
    seed: int = 0
    threads: int = 2
    synops_weight: float = 0.0
    rate_weight: float = 0.0
    rate_target: float = 0.0
    dataset: str = "synthshapes"

    def __post_init__(self):
        for name in ("epochs", "batch_size", "train_size", "val_size", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        for name in ("synops_weight", "rate_weight"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if not 0 <= self.rate_target <= 1:
            raise ConfigError(f"rate_target must be a spike rate in [0, 1], got {self.rate_target}")

    @property
    def regularized(self) -> bool:
        """Whether the sparsity regularizer is on."""
        return self.synops_weight > 0 or self.rate_weight > 0


def lr_factor(iteration: int, total: int) -> float:
    """``0.1 ** k`` where ``k`` counts the milestones (50/70/90 % of ``total``) passed."""
    return 0.1 ** sum(iteration >= int(m * total) for m in MILESTONES)


def load_split(split, n, size, seed, progress=True):
    """SynthShapes images (N, 3, H, W) float32 and labels (N,) int64."""
    images, labels, _, _ = SynthShapes(split, size=size, seed=seed, length=n).arrays(0, n, progress=progress)
    return images, labels


def data_stats(opts: TrainOptions, size: int) -> tuple[tuple, tuple]:
    """Per-channel mean and std from the first 1000 training items (the model's normalisation)."""
    images, _ = load_split("train", min(1000, opts.train_size), size, opts.data_seed, progress=False)
    return channel_stats(images)


class Trainer:
    """Trains one network; owns its optimizer, schedule, generator and history.

    Parameters
    ----------
    kind : {"snn", "ann"}
    cfg : NetConfig
    opts : TrainOptions
    log : callable
        Receives one line of text per epoch.
    """

    def __init__(self, kind, cfg: NetConfig, opts: TrainOptions, log=print):
        self.kind, self.cfg, self.opts, self.log = kind, cfg, opts, log
        torch.manual_seed(opts.seed)
        self.net = build_network(kind, cfg)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=opts.lr, momentum=opts.momentum,
                                         weight_decay=opts.weight_decay)
        self.iters_per_epoch = -(-opts.train_size // opts.batch_size)
        total = opts.epochs * self.iters_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda it: lr_factor(it, total))
        self.generator = torch.Generator().manual_seed(opts.seed)
        self.epoch, self.history = 0, []
        self.batch_synops = self.epoch_synops = None

    @classmethod
    def resume(cls, path, log=print):
        """Continue the run saved in checkpoint ``path``."""
        ckpt = read_checkpoint(path)
        missing = [k for k in ("optimizer", "scheduler", "generator", "train") if k not in ckpt]
        if missing:
            raise CheckpointError(f"{path}: cannot resume, the checkpoint lacks {', '.join(missing)}")
        try:
            cfg, opts = NetConfig.from_dict(dict(ckpt["net"])), TrainOptions(**ckpt["train"])
        except (ConfigError, TypeError) as exc:
            raise CheckpointError(f"{path}: cannot rebuild the run: {exc}") from None
        self = cls(ckpt["kind"], cfg, opts, log)
        load_state(self.net, ckpt["state_dict"], str(path))
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.generator.set_state(ckpt["generator"])
        self.epoch, self.history = int(ckpt["epoch"]), list(ckpt["history"])
        return self

    def loss(self, images, labels):
        """Cross entropy (Eq. 5), plus the sparsity regularizer when on, and the correct predictions.

        With the regularizer on, :attr:`batch_synops` holds the batch's
        estimated synops per image (:mod:`training.sparsity`).
        """
        if self.kind == "snn" and self.opts.regularized:
            spikes = self.net.encode(images, self.generator)
            logits, rec = forward_with_spikes(self.net, spikes)
            penalty, self.batch_synops = sparsity_penalty(self.net, spikes, rec, self.opts.synops_weight,
                                                          self.opts.rate_weight, self.opts.rate_target)
            return F.cross_entropy(logits, labels) + penalty, int((logits.argmax(1) == labels).sum())
        if self.kind == "snn":
            logits = self.net(self.net.encode(images, self.generator))
        else:
            logits = self.net(self.net.normalize(images))
        return F.cross_entropy(logits, labels), int((logits.argmax(1) == labels).sum())

    def train_epoch(self, images, labels, progress=True):
        """One pass over ``images`` (N, C, H, W) float32 in a generator-drawn order."""
        self.net.train()
        order = torch.randperm(len(images), generator=self.generator)
        bar = range(self.iters_per_epoch)
        if progress:
            from tqdm import tqdm

            bar = tqdm(bar, desc=f"epoch {self.epoch + 1}/{self.opts.epochs}", unit="batch", leave=False)
        total_loss, correct, seen, synops = 0.0, 0, 0, 0.0
        for i in bar:
            idx = order[i * self.opts.batch_size:(i + 1) * self.opts.batch_size]
            x, y = torch.from_numpy(images[idx.numpy()]), torch.from_numpy(labels[idx.numpy()])
            loss, hits = self.loss(x, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {self.epoch + 1}, batch {i}; "
                                         "lower the learning rate")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total_loss += loss.item() * len(y)
            synops += (self.batch_synops or 0.0) * len(y)
            correct, seen = correct + hits, seen + len(y)
            if progress:
                bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        self.epoch_synops = synops / seen if self.opts.regularized and self.kind == "snn" else None
        return total_loss / seen, correct / seen

    def validate(self, images, labels, seed=1) -> float:
        """Float accuracy on held-out images (eventsim's Poisson stream for SNNs) or event counts."""
        if self.kind == "snn":
            return evaluate_snn(self.net, images, seed=seed, encoding=self.cfg.input_encoding).accuracy(labels)
        return evaluate_ann(self.net, images).accuracy(labels)

    def fit(self, out_path, train_data, val_data, progress=True, extra=None):
        """Train until ``opts.epochs``, checkpointing to ``out_path`` after every epoch.

        Returns
        -------
        list of dict
            The history: ``epoch``, ``loss``, ``train_acc``, ``val_acc``, ``lr``, ``seconds``.
        """
        torch.set_num_threads(self.opts.threads)
        while self.epoch < self.opts.epochs:
            t0 = time.perf_counter()
            loss, acc = self.train_epoch(*train_data, progress=progress)
            val = self.validate(*val_data)
            self.epoch += 1
            rec = {"epoch": self.epoch, "loss": loss, "train_acc": acc, "val_acc": val,
                   "lr": self.optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
            synops = ""
            if self.epoch_synops is not None:
                rec["train_synops_per_image"] = self.epoch_synops
                synops = f", synops/image {self.epoch_synops:.4g}"
            self.history.append(rec)
            self.log(f"epoch {self.epoch}/{self.opts.epochs}: loss {loss:.4f}, train acc {acc:.4f}, "
                     f"val acc {val:.4f}{synops}, {rec['seconds']:.0f} s")
            self.save(out_path, extra)
        return self.history

    def save(self, path, extra=None):
        return save_checkpoint(path, self.kind, self.net, self.epoch, asdict(self.opts), self.optimizer,
                               self.scheduler, self.generator, self.history, extra)


def train_run(kind, cfg: NetConfig, opts: TrainOptions, out_path, resume=None, progress=True, log=print,
              extra=None, cache_dir=None):
    """Load data, train (or resume) and checkpoint; returns the :class:`Trainer`.

    Parameters
    ----------
    kind : {"snn", "ann"}
    cfg : NetConfig
        Ignored when resuming (the checkpoint's is used).
    opts : TrainOptions
        Ignored when resuming.
    out_path : str or Path
        Checkpoint written after every epoch.
    resume : str or Path, optional
        Checkpoint to continue.
    progress : bool
        tqdm bars.
    log : callable
    extra : dict, optional
        Stored in the checkpoint (e.g. the command line).
    cache_dir : str or Path, optional
        SynthShapes-DVS only: where the synthesized streams are cached
        (:func:`training.dvs.dvs_frames`).

    Raises
    ------
    ConfigError
        A data set that does not match the network's input encoding.
    """
    trainer = Trainer.resume(resume, log) if resume else Trainer(kind, cfg, opts, log)
    size = trainer.cfg.input_shape[1:]
    o = trainer.opts
    counts = trainer.cfg.input_encoding == "counts"
    if counts != (o.dataset == "synthshapes-dvs") or (counts and kind != "snn"):
        raise ConfigError(f"data set {o.dataset!r} cannot train a {kind} with input_encoding "
                          f"{trainer.cfg.input_encoding!r}; SynthShapes-DVS needs an SNN taking 'counts'")
    if counts:
        from .dvs import dvs_frames

        log(f"SynthShapes-DVS {size[0]}x{size[1]}, {trainer.cfg.timesteps} bins: {o.train_size} train, "
            f"{o.val_size} val (seed {o.data_seed})")
        train_data = dvs_frames("train", o.train_size, size[0], o.data_seed, trainer.cfg.timesteps, cache_dir, progress)
        val_data = dvs_frames("val", o.val_size, size[0], o.data_seed, trainer.cfg.timesteps, cache_dir, progress)
    else:
        log(f"generating SynthShapes {size[0]}x{size[1]}: {o.train_size} train, {o.val_size} val "
            f"(seed {o.data_seed})")
        train_data = load_split("train", o.train_size, size, o.data_seed, progress)
        val_data = load_split("val", o.val_size, size, o.data_seed, progress)
    trainer.fit(out_path, train_data, val_data, progress, extra)
    return trainer
