"""The pieces of the mapping, checked without running a graph.

Lava's own fixed-point arithmetic (``lava.proc.conv.utils.conv``, the body of
``PyConvModelFixed``) is compared with eventsim's reference functions.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from lava.magma.compiler.compiler_graphs import ProcGroupDiGraphs
from lava.proc.conv import utils as lava_conv

import lava_port
from eventsim import ModelBuilder
from eventsim import reference as ref
from eventsim.topology import Pool, connections
from lava_port import graph, models
from lava_port.layout import fanout, from_lava, plan_layers, to_lava
from lava_port.processes import RecordSink, SamNeuron

pytestmark = pytest.mark.lava

PACKAGE = Path(lava_port.__file__).parent


@pytest.mark.parametrize("k", [1, 3, 5])
def test_flipped_kernel_makes_lava_conv_a_cross_correlation(k):
    rng = np.random.default_rng(k)
    w = rng.integers(-128, 128, (4, 3, k, k))
    x = rng.integers(-1, 2, (3, 7, 9))
    lava = lava_conv.conv(to_lava(x).astype(np.int32), graph.conv_weight(w), (k, k), (1, 1), (k // 2, k // 2),
                          (1, 1), 1)
    np.testing.assert_array_equal(lava, to_lava(ref.conv2d(x[None], w, (1, 1), (k // 2, k // 2))[0]))


@pytest.mark.parametrize("channels", [3, 130])
def test_grouped_ones_conv_is_the_sum_pool(channels):
    """Including more than 127 channels, where Lava's int8 ``groups`` Var forces a smaller group count."""
    x = np.random.default_rng(0).integers(-1, 2, (channels, 9, 7))
    weight, groups = graph.pool_weight(channels, (2, 2))
    assert groups <= 127 and channels % groups == 0
    lava = lava_conv.conv(to_lava(x).astype(np.int32), weight, (2, 2), (2, 2), (0, 0), (1, 1), groups)
    np.testing.assert_array_equal(lava, to_lava(ref.pool_sum(x, Pool((2, 2), (2, 2), (0, 0)))))


def test_dense_columns_follow_lava_flattening():
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (5, 4 * 3 * 2))
    x = rng.integers(0, 2, (4, 3, 2))
    lava = graph.dense_weight(w, (4, 3, 2)) @ to_lava(x).reshape(-1)
    np.testing.assert_array_equal(lava, w @ x.reshape(-1))
    np.testing.assert_array_equal(from_lava(to_lava(x).reshape(1, -1), x.shape)[0], x)


def test_fanout_reproduces_eventsim_synops(vgg_model):
    """Counting synops from per-neuron fan-outs equals the reference's count, pool cropping included."""
    model = ModelBuilder((2, 9, 11)).conv("c", np.ones((3, 2, 3, 3)), threshold=1.0).avgpool("p").flatten("f") \
        .output("out", np.ones((2, 3 * 4 * 5))).build()
    for conn in connections(vgg_model) + connections(model):
        x = np.random.default_rng(0).integers(0, 2, (2,) + conn.source_shape)
        _, expected = ref.synaptic_input(conn, x)
        np.testing.assert_array_equal((x * fanout(conn)).sum(axis=(1, 2, 3)), expected)


def test_layer_offsets_count_one_step_per_synapse_process(vgg_model):
    plans = plan_layers(connections(vgg_model), {"conv1"}, record_spikes=False)
    # conv1 <- Conv; conv2 <- pool Conv, Conv; conv3 <- pool Conv, Conv; fc1 <- gap Conv, Dense; out <- Dense
    assert [p.offset for p in plans] == [1, 3, 5, 7, 8]
    assert [p.sam for p in plans] == [True, False, False, False, False]
    assert [s.name for s in plans[-1].segments] == ["counts", "voltage"]


def test_conv_that_could_wrap_at_24_bits_is_refused():
    """sum |W| * 64 (three 2x2 pools) = 1035 * 127 * 64 >= 2^23: Lava's Conv could wrap."""
    b = ModelBuilder((115, 16, 16), default_timesteps=4).avgpool("p1").avgpool("p2").avgpool("p3")
    model = b.conv("big", np.ones((1, 115, 3, 3)), threshold=1.0).flatten("f").output("out", np.ones((2, 4))).build()
    with pytest.raises(lava_port.UnsupportedModelError, match="layer 'big'.*24-bit wrap"):
        graph.check_supported(connections(model))
    with pytest.raises(lava_port.UnsupportedModelError):
        lava_port.run(model, np.zeros((1, 4, 115, 16, 16), np.int8))


def _find_models(proc):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = ProcGroupDiGraphs._find_proc_models(proc)
    return found, [str(w.message) for w in caught if "Cannot import module" in str(w.message)]


def test_lava_discovers_the_models_without_import_failures(tmp_path):
    """Lava executes every file of the package while discovering; all of them must import cleanly."""
    neuron = SamNeuron(shape=(2,), gain=np.ones((1, 2)), bias=np.zeros((1, 2)), shift=0, theta=1, lam12=4096,
                       reset_zero=False, fanout=np.zeros(2), schedule=(1, 1, 1), decay=np.ones(2), sam=False,
                       reference=False, segments=(), run_dir=tmp_path, name="n")
    sink = RecordSink(size=1, segments=(), paths={}, schedule=(1, 1, 1), run_dir=tmp_path, name="s")
    for proc, model in ((neuron, models.PySamNeuronModel), (sink, models.PyRecordSinkModel)):
        found, failures = _find_models(proc)
        assert found == [model] and failures == []


def test_main_module_does_nothing_when_lava_executes_it():
    spec = importlib.util.spec_from_file_location("__main__", PACKAGE / "__main__.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # must neither parse argv nor exit


def test_lava_port_never_imports_torch():
    code = ("import sys, lava_port, lava_port.graph, lava_port.models, lava_port.cli; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
