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


def _centroid_loops(m):
    """Twin of heat_centroid: plain loops over pixels."""
    out = []
    for one in m:
        total = sx = sy = 0.0
        for y in range(one.shape[0]):
            for x in range(one.shape[1]):
                total, sx, sy = total + one[y, x], sx + one[y, x] * x, sy + one[y, x] * y
        out.append((sx / total, sy / total) if total > 0 else (np.nan, np.nan))
    return np.array(out)


def test_heat_centroid_equals_loops_on_random_maps():
    rng = np.random.default_rng(3)
    maps = rng.random((6, 5, 7)) * (rng.random((6, 5, 7)) < 0.3)
    maps[2] = 0.0
    got = M.heat_centroid(maps)
    np.testing.assert_allclose(got, _centroid_loops(maps), rtol=1e-12)
    assert np.isnan(got[2]).all() and np.isfinite(np.delete(got, 2, axis=0)).all()
    np.testing.assert_allclose(M.heat_centroid(maps, (10, 14)), _centroid_loops(M.resize(maps, (10, 14))))


def test_heat_centroid_known_answer_and_errors():
    one = np.zeros((1, 4, 6))
    one[0, 1, 4], one[0, 3, 0] = 3.0, 1.0                           # (x, y) = (4, 1) weight 3, (0, 3) weight 1
    np.testing.assert_allclose(M.heat_centroid(one), [[3.0, 1.5]])
    with pytest.raises(InputError, match=r"\(N, h, w\)"):
        M.heat_centroid(np.zeros((2, 3)))
    with pytest.raises(InputError, match="non-negative"):
        M.heat_centroid(-one)


def _dilate_loops(masks, radius):
    out = np.zeros_like(masks)
    for n, y, x in np.argwhere(masks):
        for yy in range(masks.shape[1]):
            for xx in range(masks.shape[2]):
                if (yy - y) ** 2 + (xx - x) ** 2 <= radius**2:
                    out[n, yy, xx] = True
    return out


@pytest.mark.parametrize("radius", [0, 1, 1.5, 2, 3.2])
def test_dilate_equals_distance_loops(radius):
    rng = np.random.default_rng(int(radius * 10))
    masks = rng.random((3, 9, 11)) < 0.08
    np.testing.assert_array_equal(M.dilate(masks, radius), _dilate_loops(masks, radius))


def test_pointing_tolerance_counts_near_misses():
    mask = np.zeros((1, 8, 8), bool)
    mask[0, 2:4, 2:4] = True
    near, far = np.zeros((1, 8, 8)), np.zeros((1, 8, 8))
    near[0, 5, 3], far[0, 7, 7] = 1.0, 1.0                          # 2 px below the mask; 3*sqrt(2)+ away
    assert M.pointing_game(near, mask).tolist() == [False]
    assert M.pointing_game(near, mask, tolerance=2).tolist() == [True]
    assert M.pointing_game(far, mask, tolerance=2).tolist() == [False]
    assert M.pointing_game(np.zeros((1, 8, 8)), mask, tolerance=5).tolist() == [False]
    with pytest.raises(InputError, match="tolerance"):
        M.pointing_game(near, mask, tolerance=-1)
