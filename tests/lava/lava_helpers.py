"""Helpers of the Lava tests: seeded signed spikes and bit-exact Result comparison."""
from __future__ import annotations

import numpy as np


def signed_spikes(seed, shape, rate=0.3):
    """Seeded input spikes in {-1, 0, 1}, int8, with ``P(x != 0) = rate``."""
    rng = np.random.default_rng(seed)
    on = rng.random(shape) < rate
    return (on * rng.choice(np.array([-1, 1], np.int8), shape)).astype(np.int8)


def assert_same_result(expected, got, *, check_record=True):
    """Bit-for-bit equality of two Results: logits, SAM, counters, spikes, voltages."""
    np.testing.assert_array_equal(got.logits, expected.logits)
    assert sorted(got.sam) == sorted(expected.sam)
    for name in expected.sam:
        assert got.sam[name].dtype == np.float32
        np.testing.assert_array_equal(got.sam[name], expected.sam[name], err_msg=f"sam[{name}]")
    assert sorted(got.counts) == sorted(expected.counts)
    for layer, per in expected.counts.items():
        assert sorted(got.counts[layer]) == sorted(per)
        for key, arr in per.items():
            np.testing.assert_array_equal(got.counts[layer][key], arr, err_msg=f"counts[{layer}][{key}]")
    if check_record:
        assert sorted(got.spikes) == sorted(expected.spikes)
        for name, arr in expected.spikes.items():
            assert got.spikes[name].dtype == np.uint8
            np.testing.assert_array_equal(got.spikes[name], arr, err_msg=f"spikes[{name}]")
        assert sorted(got.voltages) == sorted(expected.voltages)
        for name, arr in expected.voltages.items():
            np.testing.assert_array_equal(got.voltages[name], arr, err_msg=f"voltages[{name}]")
