"""Format-2 pieces of the mapping, checked without running a graph.

The Conv and Dense Processes that ``lava_port.graph`` builds for a
connection are replayed with Lava's own fixed-point arithmetic
(``lava.proc.conv.utils.conv`` and the 24-bit wrap of ``PyConvModelFixed``;
the weight clipping and truncation of ``PyDenseModelBitAcc``), reading their
parameters from the Processes' Vars as Lava's int8/int32 Var types store
them, and compared with :func:`eventsim.reference.synaptic_input`.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from lava.proc.conv import utils as lava_conv
from lava.proc.conv.process import Conv
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.utils.weightutils import clip_weights, truncate_weights
from strategies import build_model, model_specs

import lava_port
from eventsim import ModelBuilder
from eventsim import fixed_point as fp
from eventsim import reference as ref
from eventsim.topology import Pool, connections
from lava_port import graph
from lava_port.layout import aggregation_stages, fanout, lava_shape, plan_layers, pool_adjoint, to_lava

pytestmark = pytest.mark.lava

#: Keep the replayed convolutions quick: channel pairs times input area per connection.
REPLAY_BUDGET = 2_000_000


def _built_processes(conn, input_max):
    """The pooling Convs and the synapse that ``graph`` builds for ``conn``, in signal order."""
    made = []

    def spy(cls):
        def make(**kwargs):
            made.append(cls(**kwargs))
            return made[-1]
        return make

    shape = lava_shape(conn.source_shape)
    source = RingBuffer(data=np.zeros(shape + (1,), np.int32))
    plan = plan_layers([conn], (), False)[0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(graph, "Conv", spy(Conv))
        mp.setattr(graph, "Dense", spy(Dense))
        port, shape, graded = graph._wire_layer(plan, source.s_out, shape, input_max, conn.source == "input")
        graph._synapse(conn, port, shape, graded)
    return made


def _var(proc, name, dtype):
    """A Var's initial value as the ProcessModel's LavaPyType stores it."""
    return np.asarray(getattr(proc, name).init).astype(dtype)


def _replay(procs, x):
    """What the Lava models of ``procs`` compute from the source values ``x`` (C, H, W), in Lava order."""
    value = to_lava(x).astype(np.int32)
    for proc in procs:
        binary = int(_var(proc, "num_message_bits", np.int8)[()]) == 0
        if binary:
            value = value.astype(bool)
        if isinstance(proc, Conv):
            out = lava_conv.conv(value, _var(proc, "weight", np.int32), _var(proc, "kernel_size", np.int8),
                                 _var(proc, "stride", np.int8), _var(proc, "padding", np.int8),
                                 _var(proc, "dilation", np.int8), int(_var(proc, "groups", np.int8).reshape(-1)[0]))
            value = lava_conv.signed_clamp(out, bits=24)
        else:
            params = proc.proc_params
            weights = clip_weights(_var(proc, "weights", np.int32), params["sign_mode"], num_bits=8)
            weights = truncate_weights(weights, params["sign_mode"], params["num_weight_bits"])
            flat = value.reshape(-1)
            value = weights[:, flat].sum(axis=1) if binary else weights.dot(flat)
    return value


def _source_values(rng, conn, input_max):
    if conn.source == "input":
        return rng.integers(-input_max, input_max, conn.source_shape)
    return rng.integers(0, 2, conn.source_shape)


def _replay_work(conn):
    _, h, w = conn.source_shape
    c_in = conn.source_shape[0]
    c_out = conn.target.out_shape[0] if conn.target.kind == "conv" else 0
    return (len(conn.pools) + 2) * c_in * h * w + c_in * c_out * conn.pooled_shape[1] * conn.pooled_shape[2]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=model_specs(max_timesteps=2, general=True))
def test_built_synapse_chain_computes_the_reference_input_and_fanout(spec):
    """Strided/padded/non-square convs, general pool chains, gap and flatten, counts input up to |x| = 128."""
    model = build_model(spec)
    rng = np.random.default_rng(spec["seed"])
    try:
        graph.check_supported(connections(model), model.input_max)
    except lava_port.UnsupportedModelError:
        event("refused by check_supported")
        return
    for conn in connections(model):
        x = _source_values(rng, conn, model.input_max)
        expected, synops = ref.synaptic_input(conn, x[None].astype(np.int64))
        np.testing.assert_array_equal((np.abs(x) * fanout(conn)).sum(), synops[0], err_msg=conn.target.name)
        if _replay_work(conn) > REPLAY_BUDGET:
            event("replay skipped: too much work")
            continue
        got = _replay(_built_processes(conn, model.input_max), x)
        want = to_lava(expected[0]) if conn.target.kind == "conv" else expected[0].reshape(-1)
        np.testing.assert_array_equal(got, want, err_msg=conn.target.name)


@pytest.mark.parametrize("kernel,stride,padding", [((2, 2), (1, 1), (0, 0)), ((4, 3), (2, 1), (1, 2)),
                                                   ((1, 5), (3, 2), (0, 4)), ((5, 5), (2, 2), (1, 1)),
                                                   ((3, 2), (3, 3), (2, 0))])
def test_strided_padded_conv_is_the_reference_conv2d(kernel, stride, padding):
    rng = np.random.default_rng(sum(kernel + stride + padding))
    w = rng.integers(-128, 128, (4, 3) + kernel)
    x = rng.integers(-128, 128, (3, 11, 9))
    got = lava_conv.conv(to_lava(x).astype(np.int32), graph.conv_weight(w), graph.lava_pair(kernel),
                         graph.lava_pair(stride), graph.lava_pair(padding), (1, 1), 1)
    np.testing.assert_array_equal(got, to_lava(ref.conv2d(x[None], w, stride, padding)[0]))


@pytest.mark.parametrize("pool", [Pool((3, 3), (2, 2), (1, 1)), Pool((2, 3), (1, 3), (1, 0)),
                                  Pool((1, 2), (3, 1), (0, 1)), Pool((3, 1), (1, 1), (0, 0))])
def test_pooling_conv_is_the_reference_pool_sum(pool):
    x = np.random.default_rng(7).integers(-128, 128, (5, 10, 7))
    weight, groups = graph.pool_weight(5, graph.lava_pair(pool.kernel))
    got = lava_conv.conv(to_lava(x).astype(np.int32), weight, graph.lava_pair(pool.kernel),
                         graph.lava_pair(pool.stride), graph.lava_pair(pool.padding), (1, 1), groups)
    np.testing.assert_array_equal(got, to_lava(ref.pool_sum(x, pool)))


@pytest.mark.parametrize("pool", [Pool((3, 3), (2, 2), (1, 1)), Pool((2, 3), (3, 1), (1, 1)),
                                  Pool((2, 2), (2, 2), (0, 0))])
def test_pool_adjoint_is_the_transpose_of_pool_sum(pool):
    rng = np.random.default_rng(1)
    x = rng.integers(-5, 6, (9, 8))
    g = rng.integers(-5, 6, pool.out_size(9, 8))
    assert (ref.pool_sum(x, pool) * g).sum() == (x * pool_adjoint(g, pool, (9, 8))).sum()


def _general_model():
    b = ModelBuilder((2, 13, 12), default_timesteps=3, input_encoding="counts")
    b.sumpool("p0", kernel=3, stride=2, padding=1).avgpool("p1", kernel=(2, 1), stride=1)
    b.conv("c1", np.ones((3, 2, 2, 3)), stride=(2, 1), padding=(1, 0))
    b.avgpool("p2").sumpool("p3", kernel=2, stride=1, padding=1).gap("g")
    return b.dense("d1", np.ones((4, 3))).output("out", np.ones((2, 4))).build()


def test_each_pooling_stage_adds_a_step_of_delay():
    model = _general_model()
    plans = plan_layers(connections(model), (), record_spikes=False)
    # c1 <- p0, p1, Conv; d1 <- p2 and p3 (not composable: p3 pads), gap, Dense; out <- Dense
    assert [len(p.stages) for p in plans] == [2, 3, 0]
    assert [p.offset for p in plans] == [3, 7, 8]
    assert plans[1].stages[-1] == Pool((3, 3), (3, 3), (0, 0))  # the global pool of p3's 3x3 map


def test_spiking_output_always_records_its_spikes():
    b = ModelBuilder((1, 4, 4)).flatten("f")
    model = b.output("out", np.ones((3, 16)), readout="spikes", threshold=1.0).build()
    for record in (False, True):
        names = [s.name for s in plan_layers(connections(model), (), record)[-1].segments]
        assert names == (["counts", "spikes", "voltage"] if record else ["counts", "spikes"])


def test_counts_input_is_proven_against_the_24_bit_wrap():
    """sum |W| = 127 * 576 = 73152: fine for spikes (x1), refused for int8 counts (x128 >= 2^23)."""
    weight = np.ones((1, 64, 3, 3))
    for encoding, refused in (("signed-poisson", False), ("counts", True)):
        b = ModelBuilder((64, 6, 6), default_timesteps=2, input_encoding=encoding)
        model = b.conv("big", weight).gap("g").output("out", np.ones((2, 1))).build()
        if not refused:
            graph.check_supported(connections(model), model.input_max)
            continue
        with pytest.raises(lava_port.UnsupportedModelError, match="layer 'big'.*synaptic input.*24-bit wrap"):
            graph.check_supported(connections(model), model.input_max)
        with pytest.raises(lava_port.UnsupportedModelError, match="layer 'big'"):
            lava_port.run(model, np.zeros((1, 2, 64, 6, 6), np.int8))


def test_pooled_counts_that_could_wrap_are_refused():
    """128 * (100 * 100) * (3 * 3) >= 2^23 after the second pooling Conv."""
    b = ModelBuilder((1, 102, 102), default_timesteps=2, input_encoding="counts")
    model = b.sumpool("p1", kernel=100, stride=1).sumpool("p2", kernel=3).flatten("f") \
        .output("out", np.ones((2, 1))).build()
    with pytest.raises(lava_port.UnsupportedModelError, match="layer 'out'.*pooling Conv 2.*24-bit wrap"):
        graph.check_supported(connections(model), model.input_max)


def test_conv_parameters_beyond_lava_int8_vars_are_refused():
    b = ModelBuilder((1, 4, 300), default_timesteps=2)
    model = b.conv("wide", np.ones((2, 1, 1, 1)), stride=(1, 128)).flatten("f").output("out", np.ones((2, 24))) \
        .build()
    with pytest.raises(lava_port.UnsupportedModelError, match=r"layer 'wide'.*stride \(1, 128\).*int8"):
        graph.check_supported(connections(model))
    b = ModelBuilder((1, 4, 260), default_timesteps=2)
    model = b.sumpool("p", kernel=(1, 2)).gap("g").output("out", np.ones((2, 1))).build()
    assert aggregation_stages(connections(model)[0])[-1].kernel == (4, 130)
    with pytest.raises(lava_port.UnsupportedModelError, match=r"layer 'out'.*pooling Conv 2.*kernel \(4, 130\)"):
        graph.check_supported(connections(model))


def test_message_bits_carry_the_largest_count():
    assert graph.message_bits(fp.INPUT_COUNT_MAX, True) == 9
    assert graph.message_bits(1, False) == 0
