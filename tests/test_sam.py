"""On-line fixed-point SAM against the float64 paper equations (Eq. 12-14)."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from eventsim import Simulator
from eventsim import fixed_point as fp
from eventsim import reference as ref
from strategies import build_model, input_spikes, model_specs


def sam_tolerance(ref_map, channels, steps):
    """Documented bound (docs/sam.md): 1e-3 relative, plus C (T + 1) Q24 units absolute.

    Each trace update rounds once (<= 1/2 unit) and uses a table entry rounded
    once (<= 1/2 unit per unit of trace), so a trace is off by at most about
    T + 1 units of 2^-24 and a map value, a sum over C channels, by C (T + 1).
    """
    return 1e-3 * np.abs(ref_map) + channels * (steps + 1) * 2.0**-24


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=model_specs())
def test_online_sam_matches_float_equations(spec):
    model = build_model(spec)
    sim = Simulator(model, sam_gamma=spec["gamma"], sam_layers=model.spiking_layers,
                    sam_convention=spec["convention"])
    result = sim.run(spikes=input_spikes(spec, batch=2), record_spikes=True)
    for name, maps in result.sam.items():
        spikes = result.spikes[name]
        exact = ref.sam_float(spikes, spec["gamma"], spec["convention"])
        err = np.abs(maps.astype(np.float64) - exact)
        assert np.all(err <= sam_tolerance(exact, spikes.shape[2], spikes.shape[1])), name


def test_paper_convention_worked_example():
    # One neuron spiking at t = 1, 2, 5 with gamma = 0.5.  Eq. 13 counts earlier
    # spikes only: N_1 = 0, N_2 = e^{-0.5}, N_5 = e^{-2} + e^{-1.5}; M is N where it spikes.
    spikes = np.zeros((1, 7, 1, 1, 1), np.uint8)
    spikes[0, [1, 2, 5]] = 1
    want = np.zeros(7)
    want[2] = math.exp(-0.5)
    want[5] = math.exp(-2.0) + math.exp(-1.5)
    np.testing.assert_allclose(ref.sam_float(spikes, 0.5)[0, :, 0, 0], want, rtol=1e-15)


def test_reference_convention_worked_example():
    # Released loop: t' runs over 0..t and a step without a spike reads as spike time 0,
    # adding e^{-gamma t}.  Spikes at t = 1, 3, gamma = 1:
    #   M_1 = [t'=0: e^{-1}] + [t'=1: 1]                            = 1 + e^{-1}
    #   M_3 = [t'=0,2: 2 e^{-3}] + [t'=1: e^{-2}] + [t'=3: 1]       = 1 + e^{-2} + 2 e^{-3}
    spikes = np.zeros((1, 4, 1, 1, 1), np.uint8)
    spikes[0, [1, 3]] = 1
    got = ref.sam_float(spikes, 1.0, "reference")[0, :, 0, 0]
    np.testing.assert_allclose(got, [0, 1 + math.exp(-1), 0, 1 + math.exp(-2) + 2 * math.exp(-3)], rtol=1e-15)


def test_gamma_zero_counts_earlier_spikes():
    rng = np.random.default_rng(0)
    spikes = (rng.random((2, 30, 3, 4, 4)) < 0.4).astype(np.uint8)
    earlier = np.cumsum(spikes, axis=1) - spikes
    want = (earlier * spikes).sum(axis=2)
    np.testing.assert_array_equal(ref.sam_float(spikes, 0.0), want)


@pytest.mark.parametrize("convention", ["paper", "reference"])
def test_sam_maps_are_raw_float32_of_q24(convention):
    spec = {"input_shape": (2, 10, 10), "layers": [("conv", 8, 3), ("gap",), ("output", 3)], "timesteps": 20,
            "per_step_gain": False, "leak": 0.95, "saturating": False, "seed": 3, "gamma": 0.5,
            "convention": convention}
    model = build_model(spec)
    result = Simulator(model, sam_convention=convention).run(spikes=input_spikes(spec, 1))
    maps = result.sam["conv0"]
    assert maps.dtype == np.float32 and maps.shape == (1, 20, 10, 10)
    assert maps.max() > 1.0  # unnormalized: several recent spikes over 8 channels
    q = maps.astype(np.float64) * fp.SAM_ONE
    np.testing.assert_allclose(q, np.rint(q), atol=q.max() * 2.0**-23)
