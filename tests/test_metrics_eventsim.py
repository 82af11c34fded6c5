"""eventsim.metrics: known answers, and equality with training.metrics (the definitions of docs/metrics.md)."""
from __future__ import annotations

import numpy as np
import pytest

from eventsim import metrics as M
from eventsim.errors import InputError


def test_known_answers():
    mask = np.zeros((1, 8, 8), bool)
    mask[0, 2:6, 2:6] = True                                          # 16 of 64 pixels
    inside, outside = np.zeros((1, 8, 8)), np.zeros((1, 8, 8))
    inside[0, 3, 3], outside[0, 0, 7] = 1.0, 1.0
    assert M.pointing_game(inside, mask).tolist() == [True]
    assert M.pointing_game(outside, mask).tolist() == [False]
    assert M.pointing_game(np.zeros((1, 8, 8)), mask).tolist() == [False]   # an empty map is a miss
    assert M.mask_energy(np.ones((1, 8, 8)), mask).tolist() == [16 / 64]    # uniform: the area fraction
    assert M.mask_energy(mask.astype(float), mask).tolist() == [1.0]
    assert M.mask_energy(np.zeros((1, 8, 8)), mask).tolist() == [0.0]


def test_steps_are_summed_and_maps_resized():
    mask = np.zeros((1, 8, 8), bool)
    mask[0, 4:, 4:] = True
    steps = np.zeros((1, 3, 4, 4))
    steps[0, 0, 3, 3] = 1.0                                          # bottom-right cell of a 4x4 map
    steps[0, 2, 3, 3] = 2.0
    assert M.pointing_game(steps, mask).tolist() == [True]
    np.testing.assert_array_equal(M.mask_energy(steps, mask), M.mask_energy(steps.sum(axis=1), mask))
    up = M.resize(np.arange(4.0).reshape(1, 2, 2), (4, 4))
    # half-pixel centres: output 0 and 1 sample input x = max(0, -0.25) = 0 and 0.25
    np.testing.assert_allclose(up[0, 0], [0.0, 0.25, 0.75, 1.0])


def test_equal_to_training_metrics():
    tm = pytest.importorskip("training.metrics")
    rng = np.random.default_rng(4)
    maps = rng.random((6, 5, 8, 8)) ** 4
    maps[1] = 0.0
    masks = rng.random((6, 32, 32)) < 0.3
    summed = maps.sum(axis=1)
    np.testing.assert_array_equal(M.pointing_game(maps, masks), tm.pointing_game(summed, masks))
    np.testing.assert_allclose(M.mask_energy(maps, masks), tm.mask_energy(summed, masks), rtol=1e-12)
    np.testing.assert_allclose(M.resize(summed, (32, 32)), tm.resize(summed, (32, 32)), rtol=1e-12)


def test_one_map_scores_the_same_in_any_batch():
    rng = np.random.default_rng(5)
    maps, masks = rng.random((7, 4, 8, 8)), rng.random((7, 16, 16)) < 0.5
    whole = M.mask_energy(maps, masks)
    for i in range(7):
        assert M.mask_energy(maps[i:i + 1], masks[i:i + 1])[0] == whole[i]


def test_bad_maps():
    with pytest.raises(InputError, match="agree in N"):
        M.mask_energy(np.ones((2, 4, 4)), np.ones((3, 4, 4), bool))
    with pytest.raises(InputError, match="non-negative"):
        M.pointing_game(-np.ones((1, 4, 4)), np.ones((1, 4, 4), bool))
