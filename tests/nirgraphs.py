"""NIR graphs built with the ``nir`` API for tests/test_nir*.py (import only after ``pytest.importorskip("nir")``)."""
from __future__ import annotations

import nir
import numpy as np


def if_node(shape, theta):
    return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, theta), v_reset=np.zeros(shape))


def nmnist_graph(seed):
    """Input (2, 34, 34) -> Conv 5x5/2 pad 1 -> IF -> SumPool 2 -> Conv 3x3 pad 1 -> IF -> SumPool 2 -> Flatten
    -> Affine 64 -> IF -> Affine 10 -> IF (spiking output); seeded random weights, thresholds 1."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 1.2 / np.sqrt(2 * 25), (8, 2, 5, 5))
    w2 = rng.normal(0, 1.2 / np.sqrt(8 * 9), (16, 8, 3, 3))
    a1, a2 = rng.normal(0, 1.5 / 16, (64, 256)), rng.normal(0, 1.5 / 8, (10, 64))
    nodes = {
        "input": nir.Input(input_type=np.array([2, 34, 34])),
        "conv1": nir.Conv2d(input_shape=(34, 34), weight=w1, stride=2, padding=1, dilation=1, groups=1,
                            bias=rng.normal(0, 0.05, 8)),
        "iaf1": if_node((8, 16, 16), 1.0),
        "pool1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "conv2": nir.Conv2d(input_shape=(8, 8), weight=w2, stride=1, padding=1, dilation=1, groups=1,
                            bias=rng.normal(0, 0.05, 16)),
        "iaf2": if_node((16, 8, 8), 1.0),
        "pool2": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        # Sinabs writes torch's nn.Flatten dims, which count the batch dim (start_dim 1).
        "flat": nir.Flatten(input_type={"input": np.array([16, 4, 4])}, start_dim=1, end_dim=-1),
        "fc1": nir.Affine(weight=a1, bias=rng.normal(0, 0.05, 64)),
        "iaf3": if_node((64,), 1.0),
        "fc2": nir.Affine(weight=a2, bias=rng.normal(0, 0.05, 10)),
        "iaf4": if_node((10,), 1.0),
        "output": nir.Output(output_type=np.array([10])),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)


def chain_graph(*pairs, metadata=None):
    nodes = dict(pairs)
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=metadata or {},
                        type_check=False)


def dense_graph(neuron=None, last=None, first_scale=None, post_scale=None):
    rng = np.random.default_rng(5)
    pairs = [("input", nir.Input(input_type=np.array([6])))]
    if first_scale is not None:
        pairs.append(("pre", nir.Scale(scale=first_scale)))
    pairs.append(("fc", nir.Affine(weight=rng.normal(0, 0.5, (4, 6)), bias=rng.normal(0, 0.1, 4))))
    if post_scale is not None:
        pairs.append(("post", nir.Scale(scale=post_scale)))
    pairs.append(("fc.n", neuron if neuron is not None else if_node((4,), 1.0)))
    pairs.append(("out", nir.Linear(weight=rng.normal(0, 0.5, (3, 4)))))
    if last is not None:
        pairs.append(("out.n", last))
    pairs.append(("output", nir.Output(output_type=np.array([3]))))
    return chain_graph(*pairs)
