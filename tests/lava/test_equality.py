"""Lava equals the eventsim reference and the eventsim engine bit for bit (issue 4 acceptance)."""
from __future__ import annotations

import pytest
from lava_helpers import assert_same_result, signed_spikes

import lava_port
from eventsim import Result, Simulator
from eventsim.random_models import random_model

pytestmark = pytest.mark.lava


def _all_backends(model, spikes, **opts):
    sim_opts = {k: opts[k] for k in ("sam_gamma", "sam_layers", "sam_convention") if k in opts}
    record = opts.get("record_spikes", False)
    sim = Simulator(model, **sim_opts)
    ref = sim.run(spikes=spikes, record_spikes=record, backend="reference")
    eng = sim.run(spikes=spikes, record_spikes=record, backend="eventsim")
    lava = lava_port.run(model, spikes, **opts)
    return ref, eng, lava


@pytest.mark.parametrize("convention", ["paper", "reference"])
def test_vgg_three_samples_both_conventions(vgg_model, vgg_spikes, convention):
    ref, eng, lava = _all_backends(vgg_model, vgg_spikes, sam_gamma=0.5, sam_convention=convention,
                                   sam_layers=vgg_model.spiking_layers, record_spikes=True)
    assert lava.attrs["backend"] == "lava" and lava.attrs["sam_convention"] == convention
    assert_same_result(ref, lava)
    assert_same_result(eng, lava)
    # the case is not vacuous: every layer spikes, some voltages saturate, SAM maps are non-zero
    assert all(s.any() for s in lava.spikes.values())
    assert sum(int(c["saturations"].sum()) for c in lava.counts.values()) > 0
    assert all(m.any() for m in lava.sam.values())
    assert lava.logits.shape == (3, 5)


def test_pool_first_flatten_dense_constant_gain():
    """Pooling of signed input spikes, flatten (not gap) into two dense layers, no per-step gain."""
    arch = (("pool", 0), ("conv", 5), ("pool", 0), ("flatten", 0), ("dense", 7), ("dense", 6))
    model = random_model(seed=2, input_shape=(2, 11, 13), arch=arch, num_classes=4, timesteps=24,
                         per_step_gain=False, firing=2.0, leak=0.9)
    spikes = signed_spikes(1, (4, 24, 2, 11, 13), rate=0.5)
    ref, eng, lava = _all_backends(model, spikes, sam_gamma=0.0, sam_convention="reference",
                                   sam_layers=["conv1", "fc2"], record_spikes=True)
    assert_same_result(ref, lava)
    assert_same_result(eng, lava)
    assert lava.spikes["fc2"].any()


def test_global_pool_of_signed_input_into_dense_layers():
    """The first synapse process sums signed input spikes over the whole map (graded messages)."""
    arch = (("gap", 0), ("dense", 8), ("dense", 5))
    model = random_model(seed=3, input_shape=(3, 6, 5), arch=arch, num_classes=3, timesteps=20, firing=2.0)
    spikes = signed_spikes(2, (3, 20, 3, 6, 5), rate=0.6)
    ref, eng, lava = _all_backends(model, spikes, sam_layers=["fc1"], record_spikes=True)
    assert_same_result(ref, lava)
    assert_same_result(eng, lava)
    assert lava.spikes["fc1"].any() and lava.spikes["fc2"].any()


def test_unrecorded_run_and_result_file(vgg_model, vgg_spikes, tmp_path):
    """Without recording, the Result file has eventsim's layout and the same contents."""
    eng = Simulator(vgg_model, sam_gamma=1.0).run(spikes=vgg_spikes)
    lava = lava_port.run(vgg_model, vgg_spikes, sam_gamma=1.0)
    assert lava.spikes is None and lava.voltages is None
    assert_same_result(eng, lava, check_record=False)
    loaded = Result.load(lava.save(tmp_path / "lava.h5"))
    reference = Result.load(eng.save(tmp_path / "eventsim.h5"))
    assert loaded.attrs == {**reference.attrs, "backend": "lava"}
    assert_same_result(reference, loaded, check_record=False)
