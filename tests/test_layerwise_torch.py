"""The layer-wise multi-step baseline simulates the same network as the step-by-step one.

``benchmarks.layerwise_torch.LayerwiseTorchSNN`` reorders the work (each
layer over all T steps before the next layer) but not the arithmetic of
DESIGN section 2, so on the same input spikes it must give the step-by-step
``DenseTorchSNN``'s predictions and, in float32, its spike counts.  The
operations are the same float32 ops in the same order per neuron, so counts
are compared exactly; a disagreement would show a semantic slip (spike
decided from the wrong voltage, pooling, flatten order, per-step gain row).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks.common import input_spikes  # noqa: E402
from benchmarks.common import test_images as bench_images  # noqa: E402
from benchmarks.dense_torch import DenseTorchSNN  # noqa: E402
from benchmarks.layerwise_torch import LayerwiseTorchSNN  # noqa: E402
from eventsim import default_model, load_model  # noqa: E402
from eventsim.errors import InputError  # noqa: E402
from eventsim.random_models import random_model  # noqa: E402

pytestmark = pytest.mark.torch

#: Odd map sizes (18 -> pool 9 -> conv -> pool 4, floor-cropped), flatten into a dense hidden layer,
#: constant gains, and T shorter than the default so torch.compile stays quick.
ODD_ARCH = (("conv", 8), ("pool", 0), ("conv", 8), ("pool", 0), ("flatten", 0), ("dense", 16))


@pytest.fixture(scope="module")
def default():
    model = load_model(default_model())
    spikes = input_spikes(model, bench_images(model, 8))
    return model, spikes, DenseTorchSNN(model, "tuned").run(spikes, record=True)


@pytest.fixture(scope="module")
def odd():
    model = random_model(seed=3, input_shape=(2, 18, 18), arch=ODD_ARCH, timesteps=6, per_step_gain=False)
    spikes = input_spikes(model, np.random.default_rng(3).uniform(0, 1, (8, 2, 18, 18)))
    return model, spikes, DenseTorchSNN(model, "tuned").run(spikes, record=True)


def _check_equal(case, compile):
    model, spikes, (ref_logits, ref_counts, _) = case
    logits, counts = LayerwiseTorchSNN(model, compile=compile).run(spikes, record=True)
    assert sorted(counts) == sorted(ref_counts) == sorted(model.spiking_layers)
    for name in ref_counts:
        assert ref_counts[name].sum() > 0, f"{name} never fires: the comparison would be vacuous"
        np.testing.assert_array_equal(counts[name], ref_counts[name], err_msg=name)
    np.testing.assert_array_equal(logits.argmax(1), ref_logits.argmax(1))
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compile"])
def test_default_model_matches_the_step_by_step_baseline(default, compile):
    _check_equal(default, compile)


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compile"])
def test_random_model_with_cropping_pools_and_dense_layer_matches(odd, compile):
    _check_equal(odd, compile)


def test_global_pool_into_a_dense_hidden_layer_matches():
    """The small random VGG: per-step gains, conv -> gap -> dense (spiking) -> output."""
    model = random_model(seed=5, input_shape=(3, 16, 16), timesteps=8)
    spikes = input_spikes(model, bench_images(model, 4))
    ref_logits, ref_counts, _ = DenseTorchSNN(model, "tuned").run(spikes, record=True)
    logits, counts = LayerwiseTorchSNN(model).run(spikes, record=True)
    for name in ref_counts:
        np.testing.assert_array_equal(counts[name], ref_counts[name], err_msg=name)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-5, atol=1e-5)


def test_bfloat16_convolutions_stay_close(odd):
    """bfloat16 rounds the weights to 8 significant bits, so spikes move a little, not a lot."""
    model, spikes, (_, ref_counts, _) = odd
    _, counts = LayerwiseTorchSNN(model, dtype=torch.bfloat16).run(spikes, record=True)
    for name in ref_counts:
        total, ref = counts[name].sum(), ref_counts[name].sum()
        assert abs(total - ref) <= 0.05 * ref, (name, total, ref)


def test_bad_input_is_a_clear_error(odd):
    model, spikes, _ = odd
    sim = LayerwiseTorchSNN(model)
    with pytest.raises(InputError, match=r"spikes: expected shape \(N, T\) \+ \(2, 18, 18\)"):
        sim.run(spikes[:, :, :1])
    with pytest.raises(InputError, match="spikes: expected dtype int8"):
        sim.run(spikes.astype(np.float32))
    with pytest.raises(InputError, match="dtype: expected torch.float32 or torch.bfloat16"):
        LayerwiseTorchSNN(model, dtype=torch.float16)
