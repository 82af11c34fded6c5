"""Spiking VGG with BNTT (paper Section 4.1) and the matching ReLU VGG (Section 4.2).

Tensors carry time as the second axis: spikes are ``(N, T, C, H, W)`` float
0/1 (signed -1/0/1 at the input).  Each spiking layer follows DESIGN section 2
and paper Eq. 2-4, with ``v[-1] = 0``:

.. math::

    s[t] &= [v[t-1] > \\theta]                                         \\\\
    v[t] &= \\lambda v[t-1] + \\mathrm{BN}_t(W * x[t]) - \\theta s[t]

where ``x[t]`` is the (average-pooled) spike map of the layer below *at the
same step*, so every layer adds one step of delay.  ``BN_t`` is BNTT: a
separate batch norm per time step with a learnable scale and no shift
(Eq. 4).  The output layer accumulates ``fc(x[t])`` without leak or spikes
and the logits are ``v_out[T-1] / T``, the input of the loss of Eq. 5.  The
spike's gradient is the surrogate of Eq. 8; the soft reset is detached, as in
the released BNTT code.

Because no layer feeds back, the network is computed layer by layer over all
steps at once (one convolution over the ``N*T`` maps, then the ``T``-step LIF
recurrence); this is the same arithmetic as stepping every layer in turn.

Architecture strings list layers separated by commas: an integer is a conv
layer of that width, ``P`` a 2x2 average pool, ``G`` global average pooling,
``F`` flatten and ``D<n>`` a spiking dense layer of ``n`` neurons; the
output layer is appended.  Layer names are ``conv1..``, ``pool1..``,
``gap``, ``flatten``, ``fc1..`` and ``out`` (they become the model file's
layer names).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .neurons import BNTT, lif, lif_stepwise, normalize, poisson_spikes

__all__ = ["ARCH_PRESETS", "INPUT_ENCODINGS", "AnnVGG", "BNTT", "NetConfig", "SpikingVGG", "build_network", "from_model_file",
           "lif", "lif_stepwise", "parse_arch", "poisson_spikes"]

#: What the first layer receives (:class:`NetConfig`).
INPUT_ENCODINGS = ("signed-poisson", "counts")

#: Named architectures.  ``vgg11`` is the paper's VGG11 (Section 5.1) feature stack.
ARCH_PRESETS = {
    "tiny": "8,P,16,G",
    "small": "16,P,32,P,64,P,64,G",
    "vgg11": "64,P,128,P,256,256,P,512,512,P,512,512,P,F,D4096",
}


def parse_arch(arch) -> tuple[str, ...]:
    """Validate an architecture string (or preset name, or token sequence).

    Parameters
    ----------
    arch : str or sequence of str
        ``"16,P,32,G"``, a name from :data:`ARCH_PRESETS`, or tokens.

    Returns
    -------
    tuple of str
        Normalised tokens (``"16"``, ``"P"``, ``"G"``, ``"F"``, ``"D64"``).

    Raises
    ------
    ConfigError
        For an unknown token, no conv layer, or spatial layers after
        ``G``/``F``.
    """
    if isinstance(arch, str):
        arch = ARCH_PRESETS.get(arch, arch).split(",")
    tokens = tuple(str(tok).strip().upper() for tok in arch if str(tok).strip())
    flat = False
    for tok in tokens:
        is_dense = tok.startswith("D") and tok[1:].isdigit() and int(tok[1:]) > 0
        if not (is_dense or tok in ("P", "G", "F") or (tok.isdigit() and int(tok) > 0)):
            raise ConfigError(f"architecture: unknown layer {tok!r}; use a conv width (e.g. 32), P (2x2 avg pool), "
                              f"G (global avg pool), F (flatten), D<n> (dense) or a preset {sorted(ARCH_PRESETS)}")
        if is_dense and not flat:
            raise ConfigError(f"architecture: dense layer {tok!r} needs G or F before it in {','.join(tokens)}")
        if not is_dense and flat:
            raise ConfigError(f"architecture: {tok!r} needs a spatial input but comes after G/F in {','.join(tokens)}")
        flat = flat or tok in ("G", "F")
    if not any(tok.isdigit() for tok in tokens):
        raise ConfigError(f"architecture: needs at least one conv layer, got {','.join(tokens) or 'nothing'}")
    return tokens


@dataclass(frozen=True)
class NetConfig:
    """Everything needed to rebuild a network from a state dict.

    Attributes
    ----------
    arch : tuple of str
        Tokens from :func:`parse_arch`.
    input_shape : tuple of int
        ``(C, H, W)``.
    num_classes : int
    timesteps : int
        ``T``; BNTT keeps one batch norm per step, so it is the longest run.
    leak : float
        ``lambda`` in (0, 1] of every spiking layer (Eq. 2).
    threshold : float
        Initial ``theta`` of every spiking layer (conversion overwrites it).
    norm : {"bntt", "none"}
        BNTT (surrogate training) or none (ANNs and converted SNNs).
    kernel_size : int
        Odd conv kernel size.
    mean, std : tuple of float
        Per-channel pixel normalization ``p = (image - mean) / std``.
    dropout : float
        Dropout probability of the ANN (ignored by SNNs).
    input_encoding : {"signed-poisson", "counts"}
        What the first layer receives: ``"signed-poisson"`` spikes drawn from
        images (:meth:`SpikingVGG.encode`), or ``"counts"``: integer event
        counts ``(N, T, C, H, W)`` (e.g. ``eventsim.events.to_frames``
        frames) fed as they are, each adding its weight times the count.
    """

    arch: tuple
    input_shape: tuple = (3, 64, 64)
    num_classes: int = 10
    timesteps: int = 25
    leak: float = 0.99
    threshold: float = 1.0
    norm: str = "bntt"
    kernel_size: int = 3
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.25, 0.25, 0.25)
    dropout: float = 0.2
    input_encoding: str = "signed-poisson"

    def __post_init__(self):
        object.__setattr__(self, "arch", parse_arch(self.arch))
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ConfigError(f"input_shape must be (C, H, W) positive, got {self.input_shape}")
        if len(self.mean) != self.input_shape[0] or len(self.std) != self.input_shape[0]:
            raise ConfigError(f"mean/std need {self.input_shape[0]} values, got {self.mean} / {self.std}")
        checks = (
            (self.num_classes >= 2, f"num_classes must be >= 2, got {self.num_classes}"),
            (1 <= self.timesteps <= 4096, f"timesteps must lie in [1, 4096], got {self.timesteps}"),
            (0.0 < self.leak <= 1.0, f"leak must lie in (0, 1], got {self.leak}"),
            (self.threshold > 0, f"threshold must be > 0, got {self.threshold}"),
            (self.norm in ("bntt", "none"), f"norm must be 'bntt' or 'none', got {self.norm!r}"),
            (self.kernel_size % 2 == 1 and self.kernel_size >= 1, f"kernel_size must be odd, got {self.kernel_size}"),
            (min(self.std) > 0, f"std must be > 0, got {self.std}"),
            (0.0 <= self.dropout < 1.0, f"dropout must lie in [0, 1), got {self.dropout}"),
            (self.input_encoding in INPUT_ENCODINGS,
             f"input_encoding must be one of {INPUT_ENCODINGS}, got {self.input_encoding!r}"),
        )
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)

    def to_dict(self) -> dict:
        """JSON- and ``weights_only``-safe dict (lists, numbers, strings)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown configuration keys {sorted(unknown)}")
        return cls(**d)


class SpikingConv(nn.Module):
    """Conv (stride 1, "same" zero padding, no bias) -> BNTT -> LIF."""

    def __init__(self, c_in, c_out, cfg: NetConfig):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, cfg.kernel_size, padding=cfg.kernel_size // 2, bias=False)
        self.norm = BNTT(c_out, cfg.timesteps) if cfg.norm == "bntt" else None
        self.leak = cfg.leak
        self.register_buffer("threshold", torch.tensor(float(cfg.threshold)))

    def current(self, x: torch.Tensor) -> torch.Tensor:
        """``BN_t(W * x[t])`` for spikes ``x`` (N, T, C_in, H, W) -> (N, T, C_out, H, W)."""
        n, t = x.shape[:2]
        a = self.conv(x.flatten(0, 1)).unflatten(0, (n, t))
        return a if self.norm is None else self.norm(a)

    def forward(self, x):
        return lif(self.current(x), float(self.threshold), self.leak)


class SpikingDense(nn.Module):
    """Linear (no bias) -> BNTT -> LIF on (N, T, F) spikes."""

    def __init__(self, f_in, f_out, cfg: NetConfig):
        super().__init__()
        self.fc = nn.Linear(f_in, f_out, bias=False)
        self.norm = BNTT(f_out, cfg.timesteps) if cfg.norm == "bntt" else None
        self.leak = cfg.leak
        self.register_buffer("threshold", torch.tensor(float(cfg.threshold)))

    def current(self, x):
        a = self.fc(x)
        return a if self.norm is None else self.norm(a)

    def forward(self, x):
        return lif(self.current(x), float(self.threshold), self.leak)


class Pool(nn.Module):
    """2x2 average pool, stride 2, floor cropping, applied at every step."""

    def forward(self, x):
        n, t = x.shape[:2]
        return F.avg_pool2d(x.flatten(0, 1), 2).unflatten(0, (n, t))


class GlobalPool(nn.Module):
    """Global average pool over (H, W) at every step: (N, T, C, H, W) -> (N, T, C)."""

    def forward(self, x):
        return x.mean(dim=(-2, -1))


class Flatten(nn.Module):
    """(N, T, C, H, W) -> (N, T, C*H*W) in C-major order."""

    def forward(self, x):
        return x.flatten(2)


class Output(nn.Module):
    """Accumulating output layer: ``logits = (1/T) sum_t fc(x[t])`` (no leak, no spikes)."""

    def __init__(self, f_in, num_classes):
        super().__init__()
        self.fc = nn.Linear(f_in, num_classes, bias=False)

    def forward(self, x):
        return self.fc(x).mean(dim=1)


def _feature_sizes(cfg: NetConfig):
    """Yield ``(token, name, c_in, c_out)`` for each layer."""
    c, h, w = cfg.input_shape
    counts = {"conv": 0, "pool": 0, "fc": 0}
    flat = None
    for tok in cfg.arch:
        if tok.isdigit():
            counts["conv"] += 1
            yield tok, f"conv{counts['conv']}", c, int(tok)
            c = int(tok)
        elif tok == "P":
            counts["pool"] += 1
            if h < 2 or w < 2:
                raise ConfigError(f"architecture: too many pools for a {cfg.input_shape} input")
            h, w = h // 2, w // 2
            yield tok, f"pool{counts['pool']}", c, c
        elif tok == "G":
            flat = c
            yield tok, "gap", c, c
        elif tok == "F":
            flat = c * h * w
            yield tok, "flatten", c, flat
        else:
            counts["fc"] += 1
            f_out = int(tok[1:])
            yield tok, f"fc{counts['fc']}", flat, f_out
            flat = f_out
    if flat is None:
        raise ConfigError("architecture: needs G (global pool) or F (flatten) before the output layer")
    yield "O", "out", flat, cfg.num_classes


class SpikingVGG(nn.Module):
    """VGG-style SNN: spiking conv/dense layers with BNTT, pools, accumulating output.

    Parameters
    ----------
    cfg : NetConfig
        ``norm="bntt"`` for surrogate-gradient training; ``norm="none"`` with
        ``leak=1`` for converted networks (Algorithm 1 sets the thresholds).

    Attributes
    ----------
    layers : nn.ModuleDict
        Blocks in order, keyed by the model-file layer names.
    """

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        blocks = {}
        for tok, name, c_in, c_out in _feature_sizes(cfg):
            if tok.isdigit():
                blocks[name] = SpikingConv(c_in, c_out, cfg)
            elif tok == "P":
                blocks[name] = Pool()
            elif tok == "G":
                blocks[name] = GlobalPool()
            elif tok == "F":
                blocks[name] = Flatten()
            elif tok == "O":
                blocks[name] = Output(c_in, c_out)
            else:
                blocks[name] = SpikingDense(c_in, c_out, cfg)
        self.layers = nn.ModuleDict(blocks)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight, gain=2.0)   # as the released BNTT code

    def encode(self, images, generator=None):
        """The input spikes ``(N, T, C, H, W)`` of a batch.

        ``"signed-poisson"``: Poisson spikes for images ``(N, C, H, W)`` in
        [0, 1].  ``"counts"``: ``images`` are already event counts
        ``(N, T, C, H, W)`` (any integer or float dtype); returned as float32.
        """
        if self.cfg.input_encoding == "counts":
            if images.dim() != 5 or tuple(images.shape[2:]) != self.cfg.input_shape:
                raise ConfigError(f"counts input: expected (N, T, {', '.join(map(str, self.cfg.input_shape))}), "
                                  f"got {tuple(images.shape)}")
            return images.to(torch.float32)
        return poisson_spikes(images, self.cfg.timesteps, self.cfg.mean, self.cfg.std, generator)

    def forward(self, spikes: torch.Tensor, record: bool = False):
        """Logits ``(N, K)`` from input spikes ``(N, T, C, H, W)``.

        With ``record=True`` also return ``{layer: spikes (N, T, ...)}`` of
        every spiking layer.
        """
        x, rec = spikes, {}
        for name, block in self.layers.items():
            x = block(x)
            if record and isinstance(block, (SpikingConv, SpikingDense)):
                rec[name] = x.detach()
        return (x, rec) if record else x


class AnnVGG(nn.Module):
    """The ReLU VGG matching :class:`SpikingVGG` (no BN, dropout), for Grad-CAM and conversion.

    Input is the normalised image ``p = (x - mean) / std`` (N, C, H, W).
    Layers have the same names and weight shapes as the SNN, so Algorithm 1
    copies them one to one.
    """

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        blocks = {}
        for tok, name, c_in, c_out in _feature_sizes(cfg):
            if tok.isdigit():
                blocks[name] = nn.Sequential(nn.Conv2d(c_in, c_out, cfg.kernel_size, padding=cfg.kernel_size // 2,
                                                       bias=False), nn.ReLU(), nn.Dropout(cfg.dropout))
            elif tok == "P":
                blocks[name] = nn.AvgPool2d(2)
            elif tok == "G":
                blocks[name] = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            elif tok == "F":
                blocks[name] = nn.Flatten()
            elif tok == "O":
                blocks[name] = nn.Linear(c_in, c_out, bias=False)
            else:
                blocks[name] = nn.Sequential(nn.Linear(c_in, c_out, bias=False), nn.ReLU(), nn.Dropout(cfg.dropout))
        self.layers = nn.ModuleDict(blocks)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def normalize(self, images):
        """Per-channel standardisation with the training set's statistics (``cfg.mean``, ``cfg.std``)."""
        return normalize(images, self.cfg.mean, self.cfg.std)

    def forward(self, x):
        for block in self.layers.values():
            x = block(x)
        return x


def build_network(kind: str, cfg: NetConfig) -> nn.Module:
    """``"snn"`` -> :class:`SpikingVGG`, ``"ann"`` -> :class:`AnnVGG`."""
    if kind == "snn":
        return SpikingVGG(cfg)
    if kind == "ann":
        return AnnVGG(cfg)
    raise ConfigError(f"network kind must be 'snn' or 'ann', got {kind!r}")


def from_model_file(path):
    """Rebuild the float SNN stored in an eventsim model file (see :mod:`training.folded`)."""
    from .folded import FoldedSNN

    return FoldedSNN.from_file(path)
