"""The models that ship in eventsim/data: they load, run bit-exact with the reference, and keep their promises."""
import numpy as np
import pytest

from eventsim import Simulator, default_model, load_model
from eventsim.synthshapes import SynthShapes
from test_engine_vs_reference import assert_results_equal


@pytest.fixture(scope="module")
def images():
    data = SynthShapes("test", size=64)
    return data.arrays(0, 4)[0].astype(np.float32)


@pytest.mark.parametrize("name", ["default", "sparse"])
def test_packaged_model_runs_exactly(name, images):
    model = load_model(default_model(name))
    sim = Simulator(model)
    fast = sim.run(images=images, seed=3, record_spikes=True)
    slow = sim.run(images=images, seed=3, record_spikes=True, backend="reference")
    assert_results_equal(fast, slow)


def test_sparse_model_spikes_less(images):
    """The sparse model's hidden layers spike less, so each image costs fewer synaptic operations."""
    runs = {name: Simulator(load_model(default_model(name)), sam_layers=[]).run(images=images, seed=1)
            for name in ("default", "sparse")}
    hidden = {name: sum(int(r.counts[k]["synops"].sum()) for k in ("conv2", "conv3", "conv4", "out"))
              for name, r in runs.items()}
    assert hidden["sparse"] < 0.5 * hidden["default"]


def test_unknown_packaged_model_is_named():
    with pytest.raises(ValueError, match="packaged models are"):
        default_model("dvs2")
