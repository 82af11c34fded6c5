"""Shared fixtures of the Lava tests (run in .venv-lava: ``make test-lava``)."""
from __future__ import annotations

import pytest

pytest.importorskip("lava", reason="lava-nc is not installed; run the Lava tests with 'make test-lava'")

from eventsim.random_models import random_model  # noqa: E402
from lava_helpers import signed_spikes  # noqa: E402

#: conv + pool + dense + output, as the acceptance criteria ask.
VGG_ARCH = (("conv", 6), ("pool", 0), ("conv", 8), ("pool", 0), ("conv", 8), ("gap", 0), ("dense", 12))


@pytest.fixture(scope="session")
def vgg_model():
    """Small VGG-like model with per-step gains whose thresholds make some voltages saturate."""
    return random_model(seed=1, input_shape=(2, 12, 12), arch=VGG_ARCH, num_classes=5, timesteps=20, firing=5.0)


@pytest.fixture(scope="session")
def vgg_spikes():
    return signed_spikes(0, (3, 20, 2, 12, 12))
