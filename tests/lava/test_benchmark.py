"""benchmarks/lava_vs_eventsim.py keeps working (a tiny case; the timings themselves are not checked)."""
from __future__ import annotations

import pytest
from lava_helpers import signed_spikes

from benchmarks.lava_vs_eventsim import QUICK_ARCH, measure
from eventsim.random_models import random_model

pytestmark = pytest.mark.lava


def test_measure_reports_a_ratio_and_checks_exactness():
    model = random_model(seed=0, input_shape=(2, 8, 8), arch=QUICK_ARCH, num_classes=3, timesteps=5)
    out = measure(model, signed_spikes(0, (2, 5, 2, 8, 8)), repeats=1)
    assert out["bit_exact"] and out["n_samples"] == 2 and out["timesteps"] == 5
    assert out["ratio"] == out["lava_s_per_sample"] / out["eventsim_s_per_sample"] > 0
