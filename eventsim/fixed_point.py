"""The integer rules of eventsim: the only place they live.

Every backend (the dense NumPy reference, the Numba engine and the Lava
ProcessModels) computes with the functions in this module.  The functions are
written with plain operators and ``np.abs``/``np.minimum``-style calls and are
marked with Numba's ``register_jitable``: the same source runs as ordinary
Python on NumPy arrays (reference, Lava) and compiles into the Numba kernels
that call it on scalars.

Number formats
--------------
=================  ==========================  =====================================
quantity           storage                     range / meaning
=================  ==========================  =====================================
weight ``W``       int8                        [-128, 127], per-output-channel scale
synaptic sum ``I`` int32 accumulator           exact sum of weights (never wraps)
gain ``G[t, c]``   int16 mantissa              [-32768, 32767], with layer shift ``S``
bias ``B[t, c]``   int32, 24-bit               [-(2^23-1), 2^23-1], voltage units
threshold          int32, 24-bit               [1, 2^23-1], voltage units
voltage ``v``      int32, 24-bit, saturating   [-(2^23-1), 2^23-1]
leak ``lam12``     int32, Q12                  [0, 4096]; 4096 means no leak
shift ``S``        int                         [0, 47]
SAM trace ``x``    int64, Q24 (1.0 = 2^24)     >= 0
=================  ==========================  =====================================

Neuron step (DESIGN section 2, paper Eq. 2-4)
---------------------------------------------
For neuron ``n`` of a spiking layer at step ``t`` with ``v[-1] = 0``:

.. math::

    s[t] &= [v[t-1] > \\theta]                                      \\\\
    u[t] &= \\mathrm{leak}(v[t-1]) + \\mathrm{gain}_t(I[t]) - \\theta s[t] \\\\
    v[t] &= \\mathrm{sat}_{24}(u[t])

with the subtractive ("soft") reset; the reset to zero (``reset = "zero"``,
NIR's and snnTorch's default) replaces the leaked voltage by 0 on a spike:

.. math:: u[t] = (1 - s[t]) \\, \\mathrm{leak}(v[t-1]) + \\mathrm{gain}_t(I[t])

``theta`` may differ per channel.  An accumulating output layer uses the
same step with ``lam12 = 4096`` and ``theta = OUTPUT_THETA`` (larger than any
saturated voltage, so it never spikes and never resets); a spiking output
layer is an ordinary spiking layer whose logits are its spike counts.

Inputs are signed integers: ``{-1, 0, 1}`` from the Poisson encoder, or
counts in the int8 range (``INPUT_COUNT_MAX``) for event data; a count
``x`` adds ``x`` times the weight.
"""
from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

WEIGHT_BITS = 8
WEIGHT_MIN = -(1 << (WEIGHT_BITS - 1))
WEIGHT_MAX = (1 << (WEIGHT_BITS - 1)) - 1

GAIN_BITS = 16
GAIN_MIN = -(1 << (GAIN_BITS - 1))
GAIN_MAX = (1 << (GAIN_BITS - 1)) - 1

VOLTAGE_BITS = 24
V_MAX = (1 << (VOLTAGE_BITS - 1)) - 1
V_MIN = -V_MAX

SHIFT_MAX = 47

LEAK_FRAC_BITS = 12
LEAK_ONE = 1 << LEAK_FRAC_BITS

#: Threshold used by the accumulating output layer: no saturated voltage exceeds it.
OUTPUT_THETA = V_MAX + 1

#: Reset modes: subtract ``theta`` (soft reset) or set the voltage to zero.
RESET_MODES = ("subtract", "zero")

#: Largest ``|x|`` of one input value: Poisson spikes are in {-1, 0, 1}; event counts are int8.
POISSON_MAX = 1
INPUT_COUNT_MAX = 128

SAM_FRAC_BITS = 24
SAM_ONE = 1 << SAM_FRAC_BITS

#: Largest number of time steps any backend accepts.  It keeps the Q24 trace
#: product ``x * L[d] <= T * 2^24 * 2^24`` inside int64 with margin.
MAX_TIMESTEPS = 16384


@register_jitable
def round_shift(a, shift):
    """Arithmetic right shift with round-half-up: the one rounding rule.

    .. math:: \\mathrm{rs}(a, S) = \\lfloor (a + \\lfloor 2^{S-1} \\rfloor) / 2^S \\rfloor

    Parameters
    ----------
    a : int64 scalar or ndarray
        Value to scale down.  Must not overflow when ``2^(S-1)`` is added.
    shift : int
        ``S`` in [0, SHIFT_MAX]; ``S = 0`` returns ``a`` unchanged.

    Returns
    -------
    int64 scalar or ndarray
        ``a / 2^S`` rounded to nearest, ties towards +inf (floor of two's
        complement shift), e.g. ``rs(5, 1) = 3``, ``rs(-5, 1) = -2``.
    """
    return (a + ((1 << shift) >> 1)) >> shift


@register_jitable
def leak(v, lam12):
    """Multiplicative leak in Q12, rounding the magnitude towards zero.

    .. math:: \\mathrm{leak}(v) = \\mathrm{sign}(v) \\lfloor |v| \\lambda_{12} / 2^{12} \\rfloor

    This matches Lava's bit-accurate LIF decay convention.

    Parameters
    ----------
    v : int64 scalar or ndarray
        Voltage, 24-bit range.
    lam12 : int
        ``round(4096 * lambda)`` in [0, 4096].

    Returns
    -------
    int64 scalar or ndarray
        Leaked voltage; ``lam12 = 4096`` is the identity.
    """
    return np.sign(v) * ((np.abs(v) * lam12) >> LEAK_FRAC_BITS)


@register_jitable
def synaptic_gain(current, gain, bias, shift):
    """Per-step, per-channel affine map of the synaptic sum (folded BNTT).

    .. math:: \\mathrm{gain}_t(I) = \\mathrm{rs}(G[t, c] \\cdot I, S) + B[t, c]

    Parameters
    ----------
    current : int64 scalar or ndarray
        Synaptic sum ``I`` (exact int32 accumulator value).
    gain : int64 scalar or ndarray
        Mantissa ``G[t, c]`` (int16 range).
    bias : int64 scalar or ndarray
        ``B[t, c]`` in voltage units (24-bit).
    shift : int
        Layer shift ``S``.

    Returns
    -------
    int64 scalar or ndarray
        Input current in voltage units.
    """
    return round_shift(gain * current, shift) + bias


@register_jitable
def saturate(u):
    """Clamp to the 24-bit voltage range ``[V_MIN, V_MAX]``.

    Parameters
    ----------
    u : int64 scalar or ndarray

    Returns
    -------
    int64 scalar or ndarray
        ``min(max(u, V_MIN), V_MAX)``.  Callers count ``u != result`` as one
        saturation event per neuron and step.
    """
    return np.minimum(np.maximum(u, V_MIN), V_MAX)


@register_jitable
def neuron_step(v, current, gain, bias, shift, theta, lam12, reset_zero):
    """One neuron step with 24-bit saturation (DESIGN section 2).

    .. math::

        s &= [v > \\theta] \\\\
        u &= \\mathrm{leak}(v) + \\mathrm{gain}_t(I) - \\theta s
            \\quad \\text{(subtract)}, \\qquad
        u = (1 - s) \\, \\mathrm{leak}(v) + \\mathrm{gain}_t(I) \\quad \\text{(zero)} \\\\
        v' &= \\mathrm{sat}_{24}(u)

    Parameters
    ----------
    v : int64 scalar or ndarray
        Voltage after the previous step, ``v[t-1]``.
    current : int64 scalar or ndarray
        Synaptic sum ``I[t]``.
    gain, bias : int64 scalar or ndarray
        ``G[t, c]`` and ``B[t, c]``.
    shift : int
        Layer shift ``S``.
    theta : int64 scalar or ndarray
        Threshold of the neuron's channel.
    lam12 : int
        Leak, Q12.
    reset_zero : bool
        Reset to zero instead of subtracting ``theta``.

    Returns
    -------
    v_new : int64
        ``v[t]``.
    spike : bool
        ``s[t]``, the spike emitted at step ``t`` (decided from ``v[t-1]``).
    saturated : bool
        Whether the clamp changed ``u``.
    """
    spike = v > theta
    kept = leak(v, lam12)
    lost = kept if reset_zero else theta
    u = kept + synaptic_gain(current, gain, bias, shift) - lost * spike
    v_new = saturate(u)
    return v_new, spike, v_new != u


def sam_decay_table(gamma: float, timesteps: int) -> np.ndarray:
    """Decay factors of the on-line SAM trace, Q24.

    .. math:: L[d] = \\mathrm{round}(2^{24} e^{-\\gamma d}), \\quad d = 0 .. T

    (paper Eq. 12, the TSCS kernel, evaluated at integer distances).

    Parameters
    ----------
    gamma : float
        Kernel steepness, >= 0.
    timesteps : int
        ``T``; the table has ``T + 1`` entries.

    Returns
    -------
    ndarray of int64, shape (T + 1,)
    """
    d = np.arange(timesteps + 1, dtype=np.float64)
    return np.rint(SAM_ONE * np.exp(-gamma * d)).astype(np.int64)


@register_jitable
def sam_decay(trace, factor):
    """Decay a Q24 trace by a Q24 factor, rounding half up.

    .. math:: x' = \\mathrm{rs}(x \\cdot L[d], 24)

    Parameters
    ----------
    trace : int64 scalar or ndarray
        ``x >= 0`` in Q24.
    factor : int64 scalar or ndarray
        ``L[d]`` from :func:`sam_decay_table`.

    Returns
    -------
    int64 scalar or ndarray
    """
    return round_shift(trace * factor, SAM_FRAC_BITS)


@register_jitable
def sam_spike(trace, t_last, earlier, t, table, reference):
    """The on-line SAM update of one spike at step ``t`` (DESIGN section 4, paper Eq. 12-14).

    .. math::

        d &= \\mathrm{rs}(x \\, L[t - t_{last}], 24) \\\\
        \\mathrm{NCS} &= d \\quad \\text{("paper": earlier spikes only, Eq. 13)} \\\\
        \\mathrm{NCS} &= d + 2^{24} + (t - n_{earlier}) L[t] \\quad \\text{("reference")} \\\\
        x' &= d + 2^{24}

    ``"reference"`` reproduces the authors' released loop: it counts the
    current spike and adds ``e^{-gamma t}`` for each earlier step without a
    spike.  Every backend applies this function (the engine per spike, the
    reference and Lava on arrays with ``np.where``).

    Parameters
    ----------
    trace : int64 scalar or ndarray
        ``x``: Q24 trace after the neuron's last spike.
    t_last : int scalar or ndarray
        Step of that spike (0 before the first: the trace is then 0).
    earlier : int scalar or ndarray
        Number of the neuron's earlier spikes (``"reference"`` only).
    t : int
        Step of this spike.
    table : ndarray of int64, shape (T + 1,)
        :func:`sam_decay_table`.
    reference : bool
        ``"reference"`` convention instead of ``"paper"``.

    Returns
    -------
    ncs : int64 scalar or ndarray
        This spike's contribution to ``M_t``, Q24.
    trace : int64 scalar or ndarray
        ``x'``, the trace to store with ``t_last = t``.
    """
    decayed = sam_decay(trace, table[t - t_last])
    if reference:
        return decayed + SAM_ONE + (t - earlier) * table[t], decayed + SAM_ONE
    return decayed, decayed + SAM_ONE


def sam_to_real(q24: np.ndarray) -> np.ndarray:
    """Q24 SAM maps to float32 real values: one rounding, the same on every backend.

    Parameters
    ----------
    q24 : ndarray of int64

    Returns
    -------
    ndarray of float32
        ``float32(q24 / 2^24)``.
    """
    return (q24 / float(SAM_ONE)).astype(np.float32)


def quantize_leak(lam: float) -> int:
    """``lam12 = round(4096 * lambda)``, for ``lambda`` in [0, 1]."""
    return int(np.rint(LEAK_ONE * lam))


def quantize_weights(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 quantization.

    .. math:: s_c = \\max|W_c| / 127, \\quad W^q_c = \\mathrm{rint}(W_c / s_c)

    Parameters
    ----------
    weight : ndarray of float, shape (C_out, ...)

    Returns
    -------
    mantissa : ndarray of int8, same shape
    scale : ndarray of float64, shape (C_out,)
        ``W ~= mantissa * scale[c]``; all-zero channels get scale 1.
    """
    w = np.asarray(weight, dtype=np.float64)
    peak = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    scale = np.where(peak > 0, peak / WEIGHT_MAX, 1.0)
    bshape = (-1,) + (1,) * (w.ndim - 1)
    mant = np.clip(np.rint(w / scale.reshape(bshape)), WEIGHT_MIN, WEIGHT_MAX)
    return mant.astype(np.int8), scale


def quantize_gain(gain: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer mantissas and one right shift for a real gain table.

    Picks the largest ``S <= SHIFT_MAX`` with ``max |rint(g 2^S)| <= GAIN_MAX``
    so that ``g ~= G / 2^S`` with about 15 significant bits at the peak.

    Parameters
    ----------
    gain : ndarray of float, shape (T_g, C)
        Real multiplier from synaptic-sum units to voltage units.

    Returns
    -------
    mantissa : ndarray of int16, shape (T_g, C)
    shift : int
    """
    g = np.asarray(gain, dtype=np.float64)
    peak = float(np.abs(g).max()) if g.size else 0.0
    if peak == 0.0:
        return np.zeros(g.shape, np.int16), 0
    shift = int(math.floor(math.log2(GAIN_MAX / peak)))
    shift = max(0, min(SHIFT_MAX, shift))
    while shift > 0 and np.abs(np.rint(g * 2.0**shift)).max() > GAIN_MAX:
        shift -= 1
    mant = np.rint(g * 2.0**shift)
    if np.abs(mant).max() > GAIN_MAX:
        raise ValueError(
            f"gain peak {peak:.3g} does not fit a {GAIN_BITS}-bit mantissa even with shift 0; "
            "lower the voltage scale (raise the threshold's integer value)"
        )
    return mant.astype(np.int16), shift


def quantize_voltage(value, voltage_scale: float) -> np.ndarray:
    """Real voltage-unit quantities to saturated 24-bit integers.

    .. math:: q = \\mathrm{sat}_{24}(\\mathrm{rint}(x / s_v))

    Parameters
    ----------
    value : float or ndarray of float
    voltage_scale : float
        Real value of one integer voltage unit, ``s_v > 0``.

    Returns
    -------
    ndarray of int32
    """
    q = np.rint(np.asarray(value, dtype=np.float64) / voltage_scale)
    return np.clip(q, V_MIN, V_MAX).astype(np.int32)
