"""The structure of a NIR graph as eventsim reads it: one chain of nodes, split into layers.

It works on the node objects of the ``nir`` package without importing it
(it dispatches on the class name), so ``nir`` stays an optional extra.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from .errors import NIRImportError
from .fixed_point import MAX_TIMESTEPS, VOLTAGE_BITS
from .model import INPUT_ENCODINGS

LINEAR = ("Conv2d", "Affine", "Linear")
NEURONS = ("IF", "LIF", "Threshold", "I", "LI")
SPIKING = ("IF", "LIF", "Threshold")
SHAPES = ("SumPool2d", "AvgPool2d", "Flatten")
#: Node types eventsim cannot represent, with the reason given in the error.
REFUSED = {
    "CubaLIF": "current-based LIF has a synaptic current state with its own time constant; eventsim neurons "
               "integrate their input directly",
    "CubaLI": "current-based LI has a synaptic current state; eventsim's output integrates its input directly",
    "Delay": "eventsim has no synaptic delays (every layer adds exactly one step)",
    "Conv1d": "eventsim runs 2-D (C, H, W) maps; use Conv2d with a height of 1",
    "NIRGraph": "a nested subgraph (snnTorch writes recurrent layers as subgraphs); eventsim runs feed-forward "
                "chains only",
}
#: ``eventsim`` graph metadata format written by :mod:`eventsim.nir_export`.
META_KEY = "eventsim"
META_FORMAT = "eventsim-nir"


def parse_metadata(graph, label) -> dict:
    """The ``eventsim`` entry of the graph metadata as a dict (empty when absent)."""
    metadata = getattr(graph, "metadata", None)
    raw = metadata.get(META_KEY) if isinstance(metadata, dict) else None
    if raw is None:
        return {}
    try:
        meta = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise NIRImportError(f"{label}: graph metadata {META_KEY!r} is not valid JSON ({exc})") from None
    layers = meta.get("layers") if isinstance(meta, dict) else None
    if meta.get("format") != META_FORMAT or not isinstance(layers, dict) \
            or not all(isinstance(v, dict) for v in layers.values()):
        raise NIRImportError(f"{label}: graph metadata {META_KEY!r} is not eventsim-nir metadata (expected a JSON "
                             f"object with format {META_FORMAT!r} and a 'layers' object of objects)")
    for key, (ok, expected) in _META_FIELDS.items():
        if key in meta and not ok(meta[key]):
            raise NIRImportError(f"{label}: graph metadata {META_KEY!r}: {key} must be {expected}, "
                                 f"got {meta[key]!r}")
    return meta


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _count(lo, hi):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


#: Checks of the metadata fields the import reads (the layer entries are checked where they are used).
_META_FIELDS = {
    "name": (lambda v: isinstance(v, str), "a string"),
    "dt": (lambda v: _number(v) and v > 0, "a positive number"),
    "default_timesteps": (_count(1, MAX_TIMESTEPS), f"an int in [1, {MAX_TIMESTEPS}]"),
    "theta_bits": (_count(8, VOLTAGE_BITS - 1), f"an int in [8, {VOLTAGE_BITS - 1}]"),
    "input_encoding": (lambda v: v in INPUT_ENCODINGS, f"one of {INPUT_ENCODINGS}"),
    "input_mean": (lambda v: isinstance(v, list) and all(_number(x) for x in v), "a list of numbers"),
    "input_std": (lambda v: isinstance(v, list) and all(_number(x) and x > 0 for x in v),
                  "a list of positive numbers"),
}


def chain(graph, label) -> list:
    """``[(name, node), ...]`` from the ``Input`` node to the ``Output`` node.

    Raises
    ------
    NIRImportError
        For edges to missing nodes, cycles (recurrent edges), branches,
        merges, nodes off the path, or not exactly one Input and one Output.
    """
    nodes, edges = dict(graph.nodes), [(str(a), str(b)) for a, b in graph.edges]
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise NIRImportError(f"{label}: edge ({a!r}, {b!r}) names node {end!r}, which the graph lacks")
    succ = {n: [] for n in nodes}
    pred = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    _refuse_cycles(succ, label)
    for name in nodes:
        if len(succ[name]) > 1:
            raise NIRImportError(f"{label}: node {name!r} ({kind_of(nodes[name])}) feeds {succ[name]}: branches are "
                                 "not supported; eventsim runs one chain of layers from Input to Output")
        if len(pred[name]) > 1:
            raise NIRImportError(f"{label}: node {name!r} ({kind_of(nodes[name])}) merges {pred[name]}: merges are "
                                 "not supported; eventsim runs one chain of layers from Input to Output")
    for kind in ("Input", "Output"):
        found = [n for n, node in nodes.items() if kind_of(node) == kind]
        if len(found) != 1:
            raise NIRImportError(f"{label}: expected exactly one {kind} node, found {len(found)} {found}")
    path = [next(n for n, node in nodes.items() if kind_of(node) == "Input")]
    while succ[path[-1]]:
        path.append(succ[path[-1]][0])
    if kind_of(nodes[path[-1]]) != "Output":
        raise NIRImportError(f"{label}: the chain from the Input ends at node {path[-1]!r} "
                             f"({kind_of(nodes[path[-1]])}), not at the Output node")
    off = sorted(set(nodes) - set(path))
    if off:
        raise NIRImportError(f"{label}: node(s) {off} are not on the path from Input to Output")
    return [(n, nodes[n]) for n in path]


def _refuse_cycles(succ, label):
    """Depth-first search; an edge back to a node on the current path closes a cycle."""
    color = {}
    for root in succ:
        if root in color:
            continue
        color[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = 2
                stack.pop()
            elif color.get(nxt) == 1:
                raise NIRImportError(f"{label}: edge ({node!r}, {nxt!r}) closes a cycle: recurrent connections "
                                     "are not supported; eventsim runs feed-forward chains")
            elif nxt not in color:
                color[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))


def kind_of(node) -> str:
    return type(node).__name__


@dataclass
class Group:
    """One linear node with the Scale nodes around it and its neuron node: one eventsim neuron layer.

    Attributes
    ----------
    name : str
        The linear node's name: the eventsim layer name.
    node : nir.Conv2d, nir.Affine or nir.Linear
    pre, post : list of (str, nir.Scale)
        Scale nodes right before and right after the linear node.
    neuron : (str, node) or None
        The IF, LIF, Threshold, I or LI node after them; None when the chain
        goes straight on (an accumulating output then integrates the currents).
    """

    name: str
    node: object
    pre: list
    post: list
    neuron: tuple = None


def parse(path_nodes, label) -> list:
    """Split the chain (without Input/Output) into shape nodes and :class:`Group` s."""
    items, ops, i = path_nodes[1:-1], [], 0
    pre = []
    while i < len(items):
        name, node = items[i]
        kind = kind_of(node)
        if kind in REFUSED:
            raise NIRImportError(f"{label}: node {name!r} ({kind}) is not supported: {REFUSED[kind]}")
        if kind == "Scale":
            pre.append((name, node))
            i += 1
        elif kind in SHAPES:
            if pre:
                raise NIRImportError(f"{label}: Scale node {pre[-1][0]!r} is followed by {kind} node {name!r}; a "
                                     "Scale must sit right before or right after a Conv2d/Affine/Linear node")
            ops.append((name, node))
            i += 1
        elif kind in LINEAR:
            j, post = i + 1, []
            while j < len(items) and kind_of(items[j][1]) == "Scale":
                post.append(items[j])
                j += 1
            neuron = items[j] if j < len(items) and kind_of(items[j][1]) in NEURONS else None
            ops.append(Group(name, node, pre, post, neuron))
            pre, i = [], j + (neuron is not None)
        elif kind in NEURONS:
            raise NIRImportError(f"{label}: neuron node {name!r} ({kind}) has no Conv2d, Affine or Linear node "
                                 "before it; eventsim neurons receive weighted inputs")
        else:
            raise NIRImportError(f"{label}: node {name!r} has type {kind}, which eventsim does not know; "
                                 f"supported: {', '.join(LINEAR + NEURONS + SHAPES + ('Scale',))}")
    if pre:
        raise NIRImportError(f"{label}: Scale node {pre[-1][0]!r} ends the chain; eventsim's output is a layer")
    groups = [op for op in ops if isinstance(op, Group)]
    if not groups or ops[-1] is not groups[-1]:
        raise NIRImportError(f"{label}: the chain must end with an Affine or Linear node (with an optional "
                             "neuron): eventsim's output is a dense layer")
    return ops
