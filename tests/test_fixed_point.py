"""The integer rules against naive twins written with Python's exact integers."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventsim import fixed_point as fp

voltages = st.integers(fp.V_MIN, fp.V_MAX)


def naive_round_shift(a: int, s: int) -> int:
    """floor(a / 2^s + 1/2) in exact integer arithmetic: nearest, ties to +inf."""
    return (2 * a + 2**s) // 2 ** (s + 1) if s else a


def naive_leak(v: int, lam12: int) -> int:
    mag = (abs(v) * lam12) // 4096
    return -mag if v < 0 else mag


@given(st.integers(-(2**50), 2**50), st.integers(0, fp.SHIFT_MAX))
def test_round_shift_matches_exact_rounding(a, s):
    assert fp.round_shift(np.int64(a), s) == naive_round_shift(a, s)
    arr = fp.round_shift(np.array([a, -a], np.int64), s)
    assert arr.tolist() == [naive_round_shift(a, s), naive_round_shift(-a, s)]


def test_round_shift_documented_examples():
    # rs(5, 1) = 2.5 -> 3 and rs(-5, 1) = -2.5 -> -2: ties go towards +inf.
    assert fp.round_shift(5, 1) == 3
    assert fp.round_shift(-5, 1) == -2
    assert fp.round_shift(7, 0) == 7


@given(voltages, st.integers(0, fp.LEAK_ONE))
def test_leak_rounds_magnitude_towards_zero(v, lam12):
    assert fp.leak(np.int64(v), lam12) == naive_leak(v, lam12)
    assert fp.leak(np.array([v], np.int64), lam12)[0] == naive_leak(v, lam12)


@given(voltages)
def test_leak_one_is_identity(v):
    assert fp.leak(np.int64(v), fp.LEAK_ONE) == v


@given(st.integers(-(2**40), 2**40))
def test_saturate_clamps_to_24_bits(u):
    assert fp.saturate(np.int64(u)) == min(max(u, -(2**23 - 1)), 2**23 - 1)


@given(voltages, st.integers(-(2**20), 2**20), st.integers(fp.GAIN_MIN, fp.GAIN_MAX),
       st.integers(fp.V_MIN, fp.V_MAX), st.integers(0, 30), st.integers(1, fp.V_MAX), st.integers(0, 4096),
       st.booleans())
def test_neuron_step_matches_naive(v, current, gain, bias, shift, theta, lam12, reset_zero):
    spike = v > theta
    kept = naive_leak(v, lam12)
    if reset_zero:
        u = (0 if spike else kept) + naive_round_shift(gain * current, shift) + bias
    else:
        u = kept + naive_round_shift(gain * current, shift) + bias - theta * spike
    want = min(max(u, fp.V_MIN), fp.V_MAX)
    got, s, sat = fp.neuron_step(np.int64(v), np.int64(current), np.int64(gain), np.int64(bias), shift, theta, lam12,
                                 reset_zero)
    assert (int(got), bool(s), bool(sat)) == (want, spike, want != u)


def test_output_theta_never_spikes():
    v, s, _ = fp.neuron_step(np.int64(fp.V_MAX), np.int64(10**6), np.int64(fp.GAIN_MAX), np.int64(0), 0,
                             fp.OUTPUT_THETA, fp.LEAK_ONE, False)
    assert not s and v == fp.V_MAX


@given(st.floats(0, 5), st.integers(1, 300))
def test_sam_decay_table(gamma, steps):
    table = fp.sam_decay_table(gamma, steps)
    assert table.shape == (steps + 1,) and table.dtype == np.int64
    assert table[0] == 2**24
    exact = [round(2**24 * math.exp(-gamma * d)) for d in range(steps + 1)]
    assert np.all(np.abs(table - np.array(exact)) <= 1)  # rint vs round-half-even on exact ties only
    assert np.all(np.diff(table) <= 0)


@given(st.integers(0, 40 * 2**24), st.integers(0, 2**24))
def test_sam_decay_matches_naive(trace, factor):
    assert fp.sam_decay(np.int64(trace), np.int64(factor)) == naive_round_shift(trace * factor, 24)


def test_quantize_weights_per_channel():
    w = np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [2.0, 1.0, -2.0]])
    q, scale = fp.quantize_weights(w)
    assert q.dtype == np.int8
    np.testing.assert_array_equal(q[0], [64, -127, 32])  # 0.5/(1/127) = 63.5 -> rint 64 (half to even)
    np.testing.assert_array_equal(q[1], [0, 0, 0])
    assert scale[1] == 1.0
    np.testing.assert_array_equal(q[2], [127, 64, -127])  # 1.0/(2/127) = 63.5 -> 64


@given(st.floats(1e-6, 1e4))
def test_quantize_gain_uses_full_mantissa(peak):
    g = np.array([[peak, -peak / 3]])
    mant, shift = fp.quantize_gain(g)
    assert np.abs(mant).max() <= fp.GAIN_MAX
    if shift < fp.SHIFT_MAX and shift > 0:
        assert np.abs(mant).max() > fp.GAIN_MAX // 2  # one more bit would overflow
    np.testing.assert_allclose(mant / 2.0**shift, g, rtol=2.0 ** -14, atol=2.0 ** -(shift + 1))


def test_quantize_gain_rejects_unrepresentable():
    with pytest.raises(ValueError, match="16-bit"):
        fp.quantize_gain(np.array([[1e6]]))


def test_quantize_leak_and_voltage():
    assert fp.quantize_leak(1.0) == 4096 and fp.quantize_leak(0.99) == 4055
    np.testing.assert_array_equal(fp.quantize_voltage([1.0, -2.5, 1e12], 0.5), [2, -5, fp.V_MAX])
