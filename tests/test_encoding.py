"""Signed-Poisson encoding: the rule, determinism per (seed, image), bad inputs."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventsim import InputError, encode_poisson


def test_rule_matches_naive_twin():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (3, 2, 5, 4))
    mean, std = np.array([0.4, 0.6]), np.array([0.2, 0.3])
    got = encode_poisson(images, 7, seed=42, mean=mean, std=std)
    for i in range(3):
        u = np.random.default_rng([42, i]).random((7, 2, 5, 4))
        for t in range(7):
            for c in range(2):
                p = (images[i, c] - mean[c]) / std[c]
                want = np.where(u[t, c] * 2 <= np.abs(p), np.sign(p), 0)
                np.testing.assert_array_equal(got[i, t, c], want)
    assert got.dtype == np.int8 and set(np.unique(got)) <= {-1, 0, 1}


@given(st.integers(0, 2**31 - 1), st.integers(1, 6), st.integers(0, 5))
def test_same_spikes_whatever_the_batch(seed, n, start):
    images = np.random.default_rng(seed).uniform(0, 1, (n + start, 1, 4, 4))
    full = encode_poisson(images, 5, seed)
    part = encode_poisson(images[start:], 5, seed, start_index=start)
    np.testing.assert_array_equal(full[start:], part)
    one = encode_poisson(images[start : start + 1], 5, seed, start_index=start)
    np.testing.assert_array_equal(full[start], one[0])


def test_rate_follows_pixel_magnitude():
    # P(spike) = min(|p| / 2, 1): p = 1 fires half the time, p = 2 always, p = 0 never.
    images = np.array([0.5, 1.0, 0.0]).reshape(1, 3, 1, 1) * np.ones((1, 3, 50, 50))
    spikes = encode_poisson(images, 40, seed=1, mean=np.zeros(3), std=np.array([0.5, 0.5, 1.0]))
    rates = np.abs(spikes).mean(axis=(0, 1, 3, 4))
    assert abs(rates[0] - 0.5) < 0.01 and rates[1] == 1.0 and rates[2] == 0.0


def test_negative_pixels_give_negative_spikes():
    # p = (0 - 0.5) / 1 = -0.5: a -1 spike with probability 1/4, never +1.
    spikes = encode_poisson(np.zeros((1, 1, 20, 20)), 50, seed=0, mean=[0.5], std=[1.0])
    assert spikes.min() == -1 and spikes.max() == 0
    assert abs((spikes == -1).mean() - 0.25) < 0.01


@pytest.mark.parametrize("images, match", [
    (np.zeros((2, 3, 4)), r"expected shape .*add a batch axis"),
    (np.full((1, 1, 2, 2), np.nan), "NaN or inf"),
    (np.full((1, 1, 2, 2), np.inf), "NaN or inf"),
    (np.full((1, 1, 2, 2), 1.5), r"\[0, 1\]"),
    (np.full((1, 1, 2, 2), -0.1), r"\[0, 1\]"),
    (np.array([["a"]]), "float array"),
    (np.zeros((0, 1, 2, 2)), "empty"),
])
def test_bad_images(images, match):
    with pytest.raises(InputError, match=match):
        encode_poisson(images, 3)


@pytest.mark.parametrize("steps", [0, -1, 2.5, True, 10**9])
def test_bad_timesteps(steps):
    with pytest.raises(InputError, match="timesteps"):
        encode_poisson(np.zeros((1, 1, 2, 2)), steps)
