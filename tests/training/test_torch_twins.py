"""The two float PyTorch copies of a model file agree: ``training.folded.FoldedSNN`` (fidelity
tests, ``eventsim evaluate --backend torch``) and ``benchmarks.dense_torch.DenseTorchSNN`` (the
speed baselines), so the baselines the benchmarks time compute the right thing."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks.dense_torch import DenseTorchSNN  # noqa: E402
from eventsim import Simulator, default_model, load_model  # noqa: E402
from eventsim.random_models import random_model  # noqa: E402
from training.folded import FoldedSNN  # noqa: E402

POOL_FLATTEN_DENSE = (("conv", 6), ("pool", 0), ("conv", 8), ("pool", 0), ("flatten", 0), ("dense", 12))
GAP = (("conv", 6), ("pool", 0), ("conv", 8), ("gap", 0))


def _models():
    yield "default", load_model(default_model())
    yield "pool-flatten-dense", random_model(3, (2, 12, 12), POOL_FLATTEN_DENSE, num_classes=4, timesteps=10,
                                             firing=2.0)
    yield "gap", random_model(4, (3, 10, 10), GAP, num_classes=5, timesteps=10, per_step_gain=False, firing=2.0)


@pytest.mark.parametrize("style", ["eager", "tuned"])
@pytest.mark.parametrize("label, model", list(_models()), ids=[m[0] for m in _models()])
def test_dense_baseline_equals_the_folded_twin(label, model, style):
    x = Simulator(model).input_spikes(images=np.random.default_rng(7).random((3,) + model.input_shape), seed=2)
    steps = x.shape[1]
    logits_d, _, spikes_d = DenseTorchSNN(model, style=style).run(x, keep_spikes=True)
    with torch.no_grad():
        logits_f, spikes_f = FoldedSNN(model)(torch.from_numpy(x.astype(np.float32)), record=True)
    # Same float32 arithmetic per step, so the same spikes in every layer (not a vacuous case: all fire) ...
    assert list(spikes_f) == list(model.spiking_layers)
    for name in model.spiking_layers:
        a = spikes_d[name].numpy().astype(bool)
        b = spikes_f[name].numpy().astype(bool).reshape(a.shape)  # dense layers: (N, T, C) vs (N, T, C, 1, 1)
        assert a.any(), name
        np.testing.assert_array_equal(a, b, err_msg=name)
    # ... and the output differs only in how v_out is summed over T steps: a float32 rounding
    # of at most one unit (eps) of the running sum per step.
    logits_f = logits_f.numpy().astype(np.float64)
    bound = steps * np.finfo(np.float32).eps * max(1.0, float(np.abs(logits_f).max()))
    np.testing.assert_allclose(logits_d, logits_f, rtol=0, atol=bound)
    assert np.abs(logits_f).max() > 0
