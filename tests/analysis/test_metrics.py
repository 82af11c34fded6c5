"""Heatmap metrics on synthetic maps whose answers are known by construction."""
import math

import numpy as np
import pytest

from training import metrics as M
from training.errors import ConfigError


def half(h=8, w=8, left=True):
    m = np.zeros((h, w))
    if left:
        m[:, : w // 2] = 1.0
    else:
        m[:, w // 2:] = 1.0
    return m


@pytest.mark.torch
@pytest.mark.parametrize("src,dst", [((4, 4), (16, 16)), ((5, 3), (12, 7)), ((16, 16), (4, 4)), ((2, 8), (64, 128))])
def test_resize_is_torch_bilinear_without_aligned_corners(src, dst):
    import torch
    import torch.nn.functional as F

    m = np.random.default_rng(0).random((2, 3) + src)
    want = F.interpolate(torch.tensor(m), size=dst, mode="bilinear", align_corners=False).numpy()
    np.testing.assert_allclose(M.resize(m, dst), want, rtol=1e-12, atol=1e-12)


def test_resize_keeps_constants_and_identity():
    np.testing.assert_allclose(M.resize(np.full((1, 3, 3), 2.5), (9, 6)), 2.5)
    m = np.random.default_rng(1).random((2, 5, 5))
    np.testing.assert_array_equal(M.resize(m, (5, 5)), m)
    np.testing.assert_array_equal(M.resize(m, None), m)


def test_minmax_and_peak_scale():
    m = np.array([[[1.0, 3.0], [5.0, 3.0]], [[2.0, 2.0], [2.0, 2.0]]])
    np.testing.assert_allclose(M.minmax(m), [[[0, 0.5], [1, 0.5]], [[0, 0], [0, 0]]])
    stack = np.array([[[[0.0, 2.0]], [[4.0, 1.0]]]])                      # (1, T=2, 1, 2)
    np.testing.assert_allclose(M.peak_scale(stack), [[[[0, 0.5]], [[1, 0.25]]]])
    np.testing.assert_array_equal(M.peak_scale(np.zeros((2, 3, 4))), 0.0)


def test_binary_cross_entropy_known_values():
    g = np.full((3, 3), 0.5)
    assert M.binary_cross_entropy(g, g) == pytest.approx(math.log(2))
    target = half()
    # a perfect binary prediction costs only the clamp: -ln(1 - eps)
    assert M.binary_cross_entropy(target, target) == pytest.approx(-math.log(1 - M.BCE_EPS))
    # the exact opposite costs -ln(eps) on every pixel
    assert M.binary_cross_entropy(1 - target, target) == pytest.approx(-math.log(M.BCE_EPS))


def test_localization_error_takes_the_best_step():
    ref = np.random.default_rng(2).random((2, 4, 4))
    steps = np.stack([np.zeros((2, 4, 4)), 1 - ref, 3 * ref + 1, np.ones((2, 4, 4))], axis=1)   # (N, T=4, 4, 4)
    err, step = M.localization_error(steps, ref)
    np.testing.assert_array_equal(step, [2, 2])                           # min-max makes 3 ref + 1 equal ref
    g = M.minmax(ref)
    floor = M.binary_cross_entropy(g, g)
    np.testing.assert_allclose(err, floor)
    all_zero, _ = M.localization_error(np.zeros((2, 3, 4, 4)), ref)
    np.testing.assert_allclose(all_zero, -(g * math.log(M.BCE_EPS) + (1 - g) * math.log(1 - M.BCE_EPS)).mean((1, 2)))
    assert np.all(all_zero > err)


def test_localization_error_resizes_to_a_common_size():
    ref = np.kron(np.eye(2), np.ones((2, 2)))[None]                       # (1, 4, 4) block diagonal
    low = np.eye(2)[None, None]                                            # (1, 1, 2, 2) the same pattern coarser
    err_same, _ = M.localization_error(low, ref, size=(4, 4))
    err_other, _ = M.localization_error(1 - low, ref, size=(4, 4))
    assert err_same[0] < err_other[0]
    with pytest.raises(ConfigError, match="size"):
        M.localization_error(low, ref)


def test_pixel_variance_known_values():
    maps = np.stack([half(), np.full((8, 8), 3.0)])[:, None]             # two images, T = 1
    np.testing.assert_allclose(M.pixel_variance(maps), [0.25, 0.0])
    # scale invariant, maximum over steps, quiet steps stay quiet (peak scaling over all steps)
    stack = np.stack([0.1 * half(), 7 * half(left=False), np.zeros((8, 8))])[None]   # (1, 3, 8, 8)
    np.testing.assert_allclose(M.pixel_variance(stack), [0.25])
    np.testing.assert_allclose(M.pixel_variance(5 * stack), [0.25])
    only_quiet = np.stack([0.1 * half(), 7 * np.ones((8, 8))])[None]
    np.testing.assert_allclose(M.pixel_variance(only_quiet), [(0.1 / 7) ** 2 * 0.25])
    # per-step min-max stretches the quiet half map to [0, 1]; the flat map becomes zeros
    np.testing.assert_allclose(M.pixel_variance(only_quiet, normalize="minmax"), [0.25])
    with pytest.raises(ConfigError, match="normalize"):
        M.pixel_variance(only_quiet, normalize="max")


def test_normalized_l1_known_values():
    a = half()[None]
    np.testing.assert_allclose(M.normalized_l1(a, 4 * a), [0.0])
    np.testing.assert_allclose(M.normalized_l1(a, half(left=False)[None]), [1.0])
    quarter = np.zeros((8, 8))
    quarter[:4, :4] = 1.0
    np.testing.assert_allclose(M.normalized_l1(a, quarter[None]), [0.25])
    # SNN: maximum over steps of the per-step distance
    clean = np.stack([a[0], a[0]])[None]
    adv = np.stack([a[0], quarter])[None]
    np.testing.assert_allclose(M.normalized_l1(clean, adv), [0.25])
    with pytest.raises(ConfigError, match="one shape"):
        M.normalized_l1(clean, a)


def test_ground_truth_scores():
    mask = np.zeros((1, 8, 8), bool)
    mask[0, 2:6, 2:6] = True
    inside = np.zeros((1, 8, 8))
    inside[0, 3, 3] = 1.0
    outside = np.zeros((1, 8, 8))
    outside[0, 0, 7] = 1.0
    assert M.pointing_game(inside, mask).tolist() == [True]
    assert M.pointing_game(outside, mask).tolist() == [False]
    assert M.pointing_game(np.zeros((1, 8, 8)), mask).tolist() == [False]
    np.testing.assert_allclose(M.mask_energy(np.ones((1, 8, 8)), mask), [16 / 64])
    np.testing.assert_allclose(M.mask_energy(mask.astype(float), mask), [1.0])
    np.testing.assert_allclose(M.mask_energy(np.zeros((1, 8, 8)), mask), [0.0])
    np.testing.assert_allclose(M.iou_at_threshold(mask.astype(float), mask), [1.0])
    left = half()[None]                                                   # columns 0-3: overlap 8 of 16 + 32 - 8
    np.testing.assert_allclose(M.iou_at_threshold(left, mask), [8 / 40])
    np.testing.assert_allclose(M.iou_at_threshold(np.zeros((1, 8, 8)), mask), [0.0])
    # a coarse map is resized to the mask first: a 2x2 map with its peak in the top-left quadrant
    coarse = np.array([[[1.0, 0.0], [0.0, 0.0]]])
    assert M.pointing_game(coarse, mask).tolist() == [False]              # argmax (0, 0) is outside the mask
    with pytest.raises(ConfigError, match="threshold"):
        M.iou_at_threshold(left, mask, 0.0)


def test_attention_shares():
    masks = np.stack([half(), half(left=False)]).astype(bool)[None]      # (1, K=2, 8, 8)
    left = half()[None, None]                                            # (1, T=1, 8, 8)
    np.testing.assert_allclose(M.attention_shares(left, masks), [[[1.0, 0.0]]])
    np.testing.assert_allclose(M.attention_shares(np.ones((1, 1, 8, 8)), masks), [[[0.5, 0.5]]])
    np.testing.assert_allclose(M.attention_shares(np.zeros((1, 1, 8, 8)), masks), [[[0.0, 0.0]]])
    # mean heat, not total: a small object with the same heat density gets the same share
    small = np.zeros((1, 2, 8, 8), bool)
    small[0, 0, :2, :2] = True
    small[0, 1, :, 4:] = True
    np.testing.assert_allclose(M.attention_shares(np.ones((1, 8, 8)), small), [[0.5, 0.5]])


def test_bad_maps_are_refused():
    with pytest.raises(ConfigError, match="non-negative"):
        M.pixel_variance(-np.ones((1, 2, 4, 4)))
    with pytest.raises(ConfigError, match="non-negative"):
        M.localization_error(np.full((1, 2, 4, 4), np.nan), np.ones((1, 4, 4)))
    with pytest.raises(ConfigError, match="agree"):
        M.localization_error(np.ones((2, 2, 4, 4)), np.ones((3, 4, 4)))
    with pytest.raises(ConfigError, match="dimensions"):
        M.resize(np.ones(4), (2, 2))
