"""Each Numba kernel against its slow, obvious NumPy twin, exactly.

Specialised kernels are drawn from a menu of widths and kernel sizes that
covers the edges (1 channel, more than 64 channels so two bitmap words,
K = 1 and 5, pools 1 to 4, int16 and int32 accumulators) while keeping
the number of compilations small.
"""
import numpy as np
import numba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim import fixed_point as fp
from eventsim import reference as ref
from eventsim.builder import ModelBuilder
from eventsim.kernels import bits, dense, engine, neurons
from eventsim.kernels.interface import Neurons, Sam
from eventsim.kernels.jit import vectorizing
from eventsim.kernels.plan import build_plan, events_fit_int16, input_fits_int16
from eventsim.kernels.specialize import render, specialize
from eventsim.topology import connections

WIDTHS = (1, 5, 16, 70)


def pack(x):
    """Twin of the bitmap layout: binary (N, C, H, W) -> (N, H*W*NW) uint64 (bit c%64 of word pos*NW + c//64)."""
    n, c, h, w = x.shape
    nw = (c + 63) // 64
    padded = np.zeros((n, h, w, nw * 64), np.uint8)
    padded[..., :c] = x.transpose(0, 2, 3, 1)
    return np.packbits(padded, axis=-1, bitorder="little").view("<u8").reshape(n, -1).astype(np.uint64)


def interior(bordered, k):
    """The map inside a ``k // 2`` border: (H + k - 1, W + k - 1, C) -> (H, W, C)."""
    pad = k // 2
    return bordered[pad : bordered.shape[0] - pad, pad : bordered.shape[1] - pad]


def conv_model(c_in, c_out, k, pools, rng, scale=1.0, src_conv=True, side=4):
    """input -> [conv c_in] -> pools x avgpool -> conv c_out -> gap -> output; the second conv is under test."""
    h = side * 2**pools + 1
    b = ModelBuilder((2, h, h), default_timesteps=3)
    if src_conv:
        b.conv("src", rng.normal(0, 0.3, (c_in, 2, 3, 3)), threshold=0.5, leak=1.0)
    for i in range(pools):
        b.avgpool(f"pool{i}")
    w = rng.normal(0, scale, (c_out, c_in if src_conv else 2, k, k))
    b.conv("test", w, threshold=0.5, leak=0.9)
    b.gap("gap").output("out", rng.normal(0, 0.3, (3, c_out)))
    return b.build()


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), c_in=st.integers(1, 70), c_out=st.sampled_from(WIDTHS),
       k=st.sampled_from((1, 3, 5)), pools=st.integers(0, 2), density=st.floats(0.0, 1.0), big=st.booleans())
def test_scatter_cells_twin(seed, c_in, c_out, k, pools, density, big):
    rng = np.random.default_rng(seed)
    model = conv_model(c_in, c_out, k, pools, rng, scale=40.0 if big else 0.3)
    conn = connections(model)[1]
    plan = build_plan(model)[1]
    assert plan.kind == "conv_events" and plan.acc16 == events_fit_int16(conn.target.weight, conn.pool)
    x = (rng.random((1,) + conn.source_shape) < density).astype(np.int64)
    want, want_ops = ref.synaptic_input(conn, x)
    module = specialize("conv", COUT=c_out, K=k, ACC16=plan.acc16, IN_C=0, IN_P=0)
    _, h, w = conn.target.out_shape
    acc = np.zeros((h + k - 1, w + k - 1, c_out), np.int32)
    offsets = np.zeros(conn.pool**2 * c_in, np.int64)
    with vectorizing():
        ops = module.scatter_cells(pack(x)[0], plan.weights, acc.ravel(), plan.geometry, c_in, offsets)
    np.testing.assert_array_equal(interior(acc, k), want[0].transpose(1, 2, 0))
    assert ops == want_ops[0]
    module.clear_border(acc.ravel(), h, w)
    np.testing.assert_array_equal(interior(acc, k), want[0].transpose(1, 2, 0))
    assert np.abs(acc).sum() == np.abs(want).sum()


def bound_weights(c_out, extra=0):
    """Weights (c_out, 259, 3, 3) whose positive sum per output channel and tap is 258 * 127 + 1 + extra = 32767 + extra."""
    w = np.full((c_out, 259, 3, 3), 127, np.int64)
    w[:, 0] = 1 + extra
    return w.astype(np.int8)


def test_int16_bound_is_tight():
    """At the bound the plan keeps int16 registers; one unit more (either sign) and it switches to int32."""
    assert events_fit_int16(bound_weights(2), 1)
    assert not events_fit_int16(bound_weights(2, extra=1), 1)
    assert not events_fit_int16(bound_weights(2), 2)
    low = np.full((1, 256, 1, 1), -128, np.int8)  # 256 * -128 = -32768 still fits
    assert events_fit_int16(low, 1)
    assert not events_fit_int16(np.concatenate([low, np.full((1, 1, 1, 1), -1, np.int8)], axis=1), 1)
    assert input_fits_int16(np.full((1, 3, 3, 3), 127, np.int8), 2)
    assert not input_fits_int16(np.full((1, 3, 3, 3), 127, np.int8), 4)


def test_int16_kernel_exact_at_the_bound():
    rng = np.random.default_rng(0)
    model = conv_model(259, 16, 3, 0, rng)
    layer = model.layer("test")
    conn = connections(model)[1]
    conn = conn._replace(target=layer.__class__(**{**layer.__dict__, "weight": bound_weights(16)}))
    from eventsim.kernels.plan import layer_plan
    plan = layer_plan(conn, 0)
    assert plan.acc16
    x = np.ones((1,) + conn.source_shape, np.int64)
    want, _ = ref.synaptic_input(conn, x)
    module = specialize("conv", COUT=16, K=3, ACC16=True, IN_C=0, IN_P=0)
    _, h, w = layer.out_shape
    acc = np.zeros((h + 2, w + 2, 16), np.int32)
    with vectorizing():
        module.scatter_cells(pack(x)[0], plan.weights, acc.ravel(), plan.geometry, 259, np.zeros(259, np.int64))
    np.testing.assert_array_equal(interior(acc, 3), want[0].transpose(1, 2, 0))
    assert want.max() == 9 * 32767


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), c_out=st.sampled_from(WIDTHS), k=st.sampled_from((1, 3, 5)),
       pools=st.integers(0, 2), density=st.floats(0.0, 1.0), side=st.integers(1, 6))
def test_pool_input_twin(seed, c_out, k, pools, density, side):
    rng = np.random.default_rng(seed)
    model = conv_model(0, c_out, k, pools, rng, src_conv=False, side=side)
    conn = connections(model)[0]
    plan = build_plan(model)[0]
    assert plan.kind == "conv_input"
    shape = (1,) + conn.source_shape
    x = (rng.choice([-1, 1], shape) * (rng.random(shape) < density)).astype(np.int8)
    module = specialize("conv", COUT=c_out, K=k, ACC16=plan.acc16, IN_C=2, IN_P=conn.pool)
    _, h, w = conn.target.out_shape
    grid = np.full((h + k - 1) * (w + k - 1) * 2, 7, np.int16)
    n_in, ops = module.pool_input(x[0], grid, plan.geometry)
    pooled = ref.pool_chain(x[0].astype(np.int64), conn.pools)
    inner = grid.reshape(h + k - 1, w + k - 1, 2)[k // 2 : k // 2 + h, k // 2 : k // 2 + w]
    np.testing.assert_array_equal(inner, pooled.transpose(1, 2, 0))
    _, want_ops = ref.synaptic_input(conn, x.astype(np.int64))
    assert (n_in, ops) == (int(np.abs(x).sum()), int(want_ops[0]))


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31 - 1), c_out=st.integers(1, 130), positions=st.integers(1, 6),
       steps=st.integers(1, 4), leak=st.integers(0, 4096), shift=st.integers(0, 20))
def test_update_layer_twin(seed, c_out, positions, steps, leak, shift):
    rng = np.random.default_rng(seed)
    gain = rng.integers(-3000, 3000, (steps, c_out))
    bias = rng.integers(-2**23, 2**23, (steps, c_out)) // rng.integers(1, 2**12)
    params = Neurons(gain, bias, shift, int(rng.integers(1, 2**22)), leak)
    vol = rng.integers(-fp.V_MAX, fp.V_MAX, positions * c_out).astype(np.int32)
    cur = rng.integers(-2**20, 2**20, positions * c_out).astype(np.int32)
    t = steps - 1
    nw = (c_out + 63) // 64
    words = np.full(positions * nw, 99, np.uint64)
    v_want, _, sat = fp.neuron_step(vol.astype(np.int64), cur.astype(np.int64), np.tile(gain[t], positions),
                                    np.tile(bias[t], positions), shift, params.theta, leak, False)
    spikes = (v_want > params.theta).reshape(1, positions, c_out).transpose(0, 2, 1)[..., None]
    n_sat, n_spk = neurons.update_layer(t, vol, cur, params, words)
    np.testing.assert_array_equal(vol, v_want)
    np.testing.assert_array_equal(cur, 0)
    np.testing.assert_array_equal(words, pack(spikes.astype(np.uint8))[0])
    assert (n_sat, n_spk) == (int(sat.sum()), int(spikes.sum()))


@pytest.mark.parametrize("c_out", WIDTHS)
def test_update_position_twin(c_out):
    """The specialised fixed-width update equals the generic one (and so its twin above)."""
    rng = np.random.default_rng(c_out)
    module = specialize("conv", COUT=c_out, K=1, ACC16=True, IN_C=0, IN_P=0)
    gain, bias = rng.integers(-3000, 3000, (1, c_out)), rng.integers(-5000, 5000, (1, c_out))
    params = Neurons(gain, bias, 9, 3000, 3900)
    vol = rng.integers(-fp.V_MAX, fp.V_MAX, c_out).astype(np.int32)
    cur = rng.integers(-2**18, 2**18, c_out).astype(np.int32)
    vol2, cur2 = vol.copy(), cur.copy()
    w1, w2 = np.zeros((c_out + 63) // 64, np.uint64), np.zeros((c_out + 63) // 64, np.uint64)
    with vectorizing():
        sat = module.update_position(gain[0], bias[0], vol, cur, params, w1)
    want_sat, _ = neurons.update_layer(0, vol2, cur2, params, w2)
    np.testing.assert_array_equal(vol, vol2)
    np.testing.assert_array_equal(w1, w2)
    assert sat == want_sat and not cur.any()


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31 - 1), c_out=st.integers(1, 130), steps=st.integers(2, 12),
       gamma=st.sampled_from((0.0, 0.5, 3.0)), reference=st.booleans())
def test_sam_pass_twin(seed, c_out, steps, gamma, reference):
    rng = np.random.default_rng(seed)
    h, w = 3, 2
    fired = rng.random((1, steps, c_out, h, w)) < 0.4
    fired[:, 0] = False
    table = fp.sam_decay_table(gamma, steps)
    twin = ref._SamTrace((1, c_out, h, w), table, "reference" if reference else "paper")
    want = np.stack([twin.update(fired[:, t], t) for t in range(steps)], axis=1)
    n = c_out * h * w
    sam = Sam(table, reference, np.zeros((1, n), np.int64), np.zeros((1, n), np.int32),
              np.zeros((1, n if reference else 0), np.int32), np.zeros((1, steps, h * w), np.float32))
    for t in range(1, steps):
        neurons.sam_pass(pack(fired[:, t].astype(np.uint8))[0], c_out, t, sam, 0)
    np.testing.assert_array_equal(sam.maps.reshape(1, steps, h, w), fp.sam_to_real(want))


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), c_src=st.integers(1, 70), c_out=st.integers(1, 12),
       pools=st.integers(0, 2), gap=st.booleans(), density=st.floats(0, 1))
def test_dense_gathers_twin(seed, c_src, c_out, pools, gap, density):
    rng = np.random.default_rng(seed)
    h = 2**pools + int(rng.integers(0, 3))
    b = ModelBuilder((2, h, h), default_timesteps=2)
    b.conv("src", rng.normal(0, 0.3, (c_src, 2, 3, 3)), threshold=0.5)
    for i in range(pools):
        b.avgpool(f"pool{i}")
    (b.gap("gap") if gap else b.flatten("flat"))
    model = b.output("out", rng.normal(0, 1, (c_out, c_src if gap else c_src * (h >> pools) ** 2))).build()
    conn, plan = connections(model)[1], build_plan(model)[1]
    x = (rng.random((1, c_src, h, h)) < density).astype(np.int64)
    want, want_ops = ref.synaptic_input(conn, x)
    cur = np.zeros(c_out, np.int32)
    ops = dense.gather_bits(pack(x)[0], c_src, plan.weights, cur, plan.geometry)
    np.testing.assert_array_equal(cur, want.ravel())
    assert ops == want_ops[0]
    # the same layer fed by signed input spikes
    signed = (x * rng.choice([-1, 1], x.shape)).astype(np.int8)
    geometry = plan.geometry._replace(src_h=h, src_w=h)
    want, want_ops = ref.synaptic_input(conn, signed.astype(np.int64))
    cur[:] = 0
    n_in, ops = dense.gather_input(signed[0], plan.weights, cur, geometry)
    np.testing.assert_array_equal(cur, want.ravel())
    assert (n_in, ops) == (int(np.abs(signed).sum()), int(want_ops[0]))


@numba.njit
def _bit_helpers(word):
    if word == 0:
        return bits.popcount(word), -1, word
    return bits.popcount(word), bits.lowest_bit(word), bits.clear_lowest(word)


@given(st.integers(0, 2**64 - 1))
def test_bit_helpers(word):
    count, low, cleared = _bit_helpers(np.uint64(word))
    assert count == bin(word).count("1")
    assert low == ((word & -word).bit_length() - 1 if word else -1)
    assert int(cleared) == (word & (word - 1) if word else 0)


def test_unpack_bits_twin():
    rng = np.random.default_rng(1)
    x = (rng.random((2, 3, 70, 4, 5)) < 0.3).astype(np.uint8)
    words = np.stack([pack(x[:, t]) for t in range(3)], axis=1)
    np.testing.assert_array_equal(engine.unpack_bits(words, (70, 4, 5)), x)


def test_vectorizing_restores_numba_config():
    before = numba.config.SLP_VECTORIZE
    with vectorizing():
        assert numba.config.SLP_VECTORIZE == 1
        with vectorizing():
            pass
        assert numba.config.SLP_VECTORIZE == 1
    assert numba.config.SLP_VECTORIZE == before


def test_specialize_checks_constants_and_reuses_modules():
    with pytest.raises(KeyError, match="do not match"):
        render("conv", {"COUT": 4})
    a = specialize("conv", COUT=5, K=1, ACC16=True, IN_C=0, IN_P=0)
    assert specialize("conv", COUT=5, K=1, ACC16=True, IN_C=0, IN_P=0) is a
    assert a.COUT == 5 and a.RUN == 5 and a.NWO == 1
    assert "COUT = 5\n" in open(a.__file__).read()
