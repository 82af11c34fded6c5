"""The dvs-tracking experiment's measures on maps whose answer is known by construction."""
from __future__ import annotations

import numpy as np
import pytest

from eventsim import metrics
from training.experiments.dvs_tracking import per_step, tracking


def blob_maps(centres, size=16, sigma=1.5):
    """Gaussian blobs at ``centres`` (N, T, 2) as (x, y): maps (N, T, size, size)."""
    yy, xx = np.mgrid[0:size, 0:size]
    c = np.asarray(centres, float)
    return np.exp(-((xx - c[..., 0, None, None]) ** 2 + (yy - c[..., 1, None, None]) ** 2) / (2 * sigma**2))


@pytest.fixture
def motion():
    rng = np.random.default_rng(0)
    n, steps = 30, 12
    offsets = rng.normal(0, 1.2, size=(n, steps, 2))
    base = rng.uniform(6, 10, size=(n, 1, 2))
    return offsets, base


def test_maps_that_move_with_the_object_have_slope_one_at_their_lag(motion):
    offsets, base = motion
    lagged = np.concatenate([offsets[:, :2], offsets[:, :-2]], axis=1)   # the map follows 2 bins late
    sam = blob_maps(base + lagged)
    slopes = {lag: tracking(sam, offsets, (16, 16), lag, np.random.default_rng(1)) for lag in range(4)}
    assert max(slopes, key=lambda lag: slopes[lag]["slope"]) == 2
    assert slopes[2]["slope"] == pytest.approx(1.0, abs=0.05) and slopes[2]["r"] > 0.97
    assert slopes[2]["low"] <= slopes[2]["slope"] <= slopes[2]["high"] and slopes[2]["low"] > 0.8
    assert abs(slopes[0]["slope"]) < 0.3


def test_maps_that_stay_put_have_slope_zero(motion):
    offsets, base = motion
    sam = blob_maps(np.repeat(base, offsets.shape[1], axis=1))
    got = tracking(sam, offsets, (16, 16), 0, np.random.default_rng(1))
    assert got["slope"] == pytest.approx(0.0, abs=1e-9) and got["low"] <= 0 <= got["high"] + 1e-9


def test_empty_maps_are_left_out_of_the_slope(motion):
    offsets, base = motion
    sam = blob_maps(base + offsets)
    sam[:, :3] = 0.0                                                    # a layer silent for three steps
    got = tracking(sam, offsets, (16, 16), 0, np.random.default_rng(1))
    assert got["n_maps"] == sam.shape[0] * (sam.shape[1] - 3)
    assert got["slope"] == pytest.approx(1.0, abs=0.05)


def test_per_step_scores_each_step_against_its_own_mask():
    rng = np.random.default_rng(2)
    sam = rng.random((5, 4, 8, 8)) * (rng.random((5, 4, 8, 8)) < 0.5)
    sam[1, 2] = 0.0
    masks = rng.random((5, 4, 8, 8)) < 0.4
    got = per_step(sam, masks)
    for t in range(4):
        assert got["pointing"][t] == np.mean(metrics.pointing_game(sam[:, t], masks[:, t]))
        assert got["energy"][t] == pytest.approx(np.mean(metrics.mask_energy(sam[:, t], masks[:, t])))
    assert got["empty"][2] == pytest.approx(0.2) and got["pointing_n"][1, 2] == 0
    still = per_step(sam, masks[:, 0])                                   # one mask for every step
    assert still["pointing"][3] == np.mean(metrics.pointing_game(sam[:, 3], masks[:, 0]))


def test_active_mean_skips_silent_steps():
    from training.experiments.dvs_tracking import active

    values, empty = np.array([0.0, 0.0, 0.6, 0.8]), np.array([1.0, 0.7, 0.2, 0.0])
    assert active(values, empty) == pytest.approx(0.7)
    assert active(values, np.ones(4)) == pytest.approx(0.35)          # never active: every step
