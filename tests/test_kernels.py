"""Each Numba kernel against its slow, obvious NumPy twin, exactly."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim import fixed_point as fp
from eventsim import reference as ref
from eventsim.kernels import plan as kp
from eventsim.kernels.neurons import emit_spikes, update_voltages
from eventsim.kernels.sam import flush_map
from eventsim.kernels.synapses import gather_input, gather_pooled_input, scatter, scatter_pooled
from eventsim.random_models import random_model
from eventsim.topology import connections
from strategies import build_model, model_specs


def to_channels_last(x):
    """(N, C, H, W) -> (N, H*W*C)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(x.shape[0], -1)


def event_list(x):
    """Non-zero entries of one (C, H, W) map as (3, n) rows y, x, c, in channels-last order."""
    c, y, xx = np.nonzero(x)
    order = np.lexsort((c, xx, y))
    return np.stack([y[order], xx[order], c[order]]).astype(np.int32)


@given(st.integers(0, 2**31 - 1), st.floats(0, 1))
def test_gather_input_twin(seed, density):
    rng = np.random.default_rng(seed)
    spikes = (rng.choice([-1, 1], (4, 5, 3)) * (rng.random((4, 5, 3)) < density)).astype(np.int8)
    events, signs = np.empty((3, 60), np.int32), np.empty(60, np.int8)
    n = gather_input(spikes, events, signs)
    want = event_list(spikes.transpose(2, 0, 1))
    np.testing.assert_array_equal(events[:, :n], want)
    np.testing.assert_array_equal(signs[:n], spikes[want[0], want[1], want[2]])


@settings(max_examples=40, deadline=None)
@given(spec=model_specs(max_timesteps=2), density=st.floats(0.01, 0.9))
def test_scatter_twin(spec, density):
    model = build_model(spec)
    plan = kp.build_plan(model, ())
    rng = np.random.default_rng(spec["seed"])
    for i, conn in enumerate(connections(model)):
        shape = (1,) + conn.source_shape
        x = (rng.random(shape) < density).astype(np.int64)
        signed = conn.source == "input"
        if signed:
            x *= rng.choice([-1, 1], shape)
        want, want_ops = ref.synaptic_input(conn, x)
        events = event_list(x[0])
        signs = x[0][events[2], events[0], events[1]].astype(np.int8) if signed else np.empty(0, np.int8)
        acc = np.zeros(plan.n_neurons, np.int32)
        ops = scatter(plan.meta[i], events, events.shape[1], signs, plan.weights, acc)
        lo = plan.meta[i, kp.V_OFF]
        got = acc[lo : lo + conn.target.num_neurons]
        np.testing.assert_array_equal(got, to_channels_last(want)[0], err_msg=conn.target.name)
        assert ops == want_ops[0]


@given(seed=st.integers(0, 2**31 - 1), t=st.integers(0, 29))
def test_update_and_emit_twin(seed, t):
    model = random_model(seed=seed % 50, input_shape=(2, 8, 8), timesteps=30)
    plan = kp.build_plan(model, ())
    rng = np.random.default_rng(seed)
    vol = rng.integers(fp.V_MIN, fp.V_MAX, plan.n_neurons, endpoint=True).astype(np.int64)
    vol[::3] = rng.integers(-3, 3, vol[::3].size) * 40000  # near the threshold too
    acc = rng.integers(-(2**19), 2**19, plan.n_neurons).astype(np.int32)
    v_in, a_in = vol.copy(), acc.copy()
    events = np.empty((3, plan.n_neurons), np.int32)
    for i, layer in enumerate(model.neuron_layers):
        m = plan.meta[i]
        lo, hi = m[kp.V_OFF], m[kp.V_OFF] + layer.num_neurons
        n_sat = update_voltages(m, t, vol, acc, plan.gains, plan.biases)
        row = t if layer.gain_steps > 1 else 0
        c = layer.out_shape[0]
        g = np.tile(layer.gain[row].astype(np.int64), layer.num_neurons // c)
        b = np.tile(layer.bias[row].astype(np.int64), layer.num_neurons // c)
        want, _, sat = fp.neuron_step(v_in[lo:hi], a_in[lo:hi].astype(np.int64), g, b, layer.shift, layer.theta,
                                      layer.lam12)
        np.testing.assert_array_equal(vol[lo:hi], want)
        assert not acc[lo:hi].any()
        assert n_sat == sat.sum()
        if layer.spiking:
            no_sam = (np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.int32),
                      np.zeros(31, np.int64), np.empty(0, np.int64), False)
            n_ev = emit_spikes(m, vol, events, no_sam, t + 1)
            _, h, w = layer.out_shape
            above = (want > layer.theta).reshape(h, w, c).transpose(2, 0, 1)
            np.testing.assert_array_equal(events[:, :n_ev], event_list(above))


@pytest.mark.parametrize("convention", ["paper", "reference"])
@given(seed=st.integers(0, 2**31 - 1), gamma=st.sampled_from([0.0, 0.1, 0.5, 1.0, 3.0]))
def test_emission_sam_update_twin(convention, seed, gamma):
    """The SAM trace update inside spike emission equals the dense twin, step by step."""
    rng = np.random.default_rng(seed)
    c, h, w, steps = 3, 4, 5, 25
    spikes = rng.random((1, steps, c, h, w)) < rng.uniform(0.05, 0.8)
    table = fp.sam_decay_table(gamma, steps)
    twin = ref._SamTrace((1, c, h, w), table, convention)
    m = np.zeros(kp.N_META, np.int64)
    m[kp.C], m[kp.H], m[kp.W], m[kp.THETA], m[kp.SAM_SLOT] = c, h, w, 10, 0
    size = c * h * w
    reference = convention == "reference"
    state = (np.zeros(size, np.int64), np.zeros(size, np.int32), np.zeros(size if reference else 0, np.int32))
    events = np.empty((3, size), np.int32)
    for t in range(steps):
        want = twin.update(spikes[:, t], t)[0]
        vol = np.where(to_channels_last(spikes[:, t])[0], 11, 10).astype(np.int64)
        step_map = np.zeros(h * w, np.int64)
        n = emit_spikes(m, vol, events, state + (table, step_map, reference), t)
        np.testing.assert_array_equal(events[:, :n], event_list(spikes[0, t]))
        np.testing.assert_array_equal(step_map.reshape(h, w), want)


def test_flush_map_rounds_like_sam_to_real():
    q = np.random.default_rng(0).integers(0, 2**40, 500)
    out = np.empty(500, np.float32)
    scratch = q.copy()
    flush_map(scratch, out)
    np.testing.assert_array_equal(out, fp.sam_to_real(q))
    assert not scratch.any()


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31 - 1), pools=st.integers(1, 2), head=st.sampled_from(["conv", "gap", "flatten"]),
       density=st.floats(0.0, 1.0), h=st.integers(4, 19), w=st.integers(4, 19))
def test_pooled_input_twin(seed, pools, head, density, h, w):
    """Pool-then-scatter of the signed input equals the reference's per-spike semantics."""
    from eventsim import ModelBuilder

    rng = np.random.default_rng(seed)
    b = ModelBuilder((3, h, w), default_timesteps=2)
    for i in range(pools):
        b.avgpool(f"p{i}")
    if head == "conv":
        b.conv("c", rng.normal(0, 0.5, (5, 3, 3, 3))).gap("g")
    elif head == "gap":
        b.gap("g")
    else:
        b.flatten("f")
    model = b.output("out", rng.normal(0, 0.5, (4, b.shape[0]))).build()
    plan = kp.build_plan(model, ())
    conn, m = connections(model)[0], plan.meta[0]
    x = ((rng.random((1, 3, h, w)) < density) * rng.choice([-1, 1], (1, 3, h, w))).astype(np.int64)
    want, want_ops = ref.synaptic_input(conn, x)
    counts = np.zeros((m[kp.PH], m[kp.PW], 3, 2), np.int32)
    events = np.empty((3, counts[..., 0].size), np.int32)
    values = np.empty((2, counts[..., 0].size), np.int32)
    n, total = gather_pooled_input(np.ascontiguousarray(x[0].transpose(1, 2, 0)).astype(np.int8), m[kp.POOL_SHIFT],
                                   counts, events, values)
    assert total == np.abs(x).sum()
    acc = np.zeros(plan.n_neurons, np.int32)
    ops = scatter_pooled(m, events, n, values, plan.weights, acc)
    got = acc[: conn.target.num_neurons]
    np.testing.assert_array_equal(got, to_channels_last(want)[0])
    assert ops == want_ops[0]
