"""The pieces every backend shares (issue 11): counters, the SAM rule, the run contract,
the layer-chain walk and the command registry, each defined once and checked against its users."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import itertools

import numpy as np
import pytest

from eventsim import Simulator, fixed_point as fp
from eventsim.contract import input_spikes, result_attrs, run_options, run_seed
from eventsim.errors import ArgumentTypeError, InputError
from eventsim.extensions import COMMAND_GROUP, Extension, _command_entry_points, extensions
from eventsim.kernels import interface
from eventsim.model import synapse_count
from eventsim.random_models import random_model
from eventsim.result import ATTRS, COUNTER_NAMES, SAM_CONVENTIONS
from eventsim.model import ShapeLayer
from eventsim.topology import Fold, Pool, connections, conv_taps, walk
from lava_port.layout import COUNTERS


def test_every_backend_takes_its_counter_order_from_result():
    assert [COUNTER_NAMES.index(n) for n in ("spikes", "synops", "sam_updates", "saturations")] == [
        interface.CNT_SPIKES, interface.CNT_SYNOPS, interface.CNT_SAM, interface.CNT_SAT]
    assert COUNTERS == ("spikes", "synops_next", "sam_updates", "saturations")


def _sam_grid(steps=6):
    """Every (trace, t_last, earlier, t) a neuron can reach in ``steps`` steps, traces from real runs."""
    for t in range(steps):
        for t_last in range(t):
            for earlier in range(t_last + 1):
                for trace in (0, 1, fp.SAM_ONE - 1, fp.SAM_ONE, 3 * fp.SAM_ONE + 12345, steps * fp.SAM_ONE):
                    yield trace, t_last, earlier, t
        yield 0, 0, 0, t                         # the first spike


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("reference", [False, True])
def test_the_sam_rule_copies_agree(gamma, reference):
    """fp.sam_spike (reference, Lava and the engine's sam_pass) on scalars and on arrays, against
    DESIGN section 4's formula written out here, exhaustively over small runs."""
    steps = 6
    table = fp.sam_decay_table(gamma, steps)
    grid = np.array(list(_sam_grid(steps)), np.int64)
    trace, t_last, earlier, t = grid.T
    for t_now in range(steps):
        sel = t == t_now
        ncs_arr, after_arr = fp.sam_spike(trace[sel], t_last[sel], earlier[sel], t_now, table, reference)
        for k, (x, tl, e) in enumerate(zip(trace[sel], t_last[sel], earlier[sel])):
            ncs, after = fp.sam_spike(int(x), int(tl), int(e), t_now, table, reference)
            assert (ncs, after) == (ncs_arr[k], after_arr[k])
            decayed = fp.sam_decay(int(x), int(table[t_now - tl]))
            assert after == decayed + fp.SAM_ONE
            spec = decayed + fp.SAM_ONE + (t_now - int(e)) * int(table[t_now]) if reference else decayed
            assert ncs == spec


def test_run_contract_checks_and_attrs():
    model = random_model(1, (2, 8, 8), (("conv", 3), ("pool", 0), ("flatten", 0)), num_classes=3, timesteps=4)
    opts = run_options(model, 0.25, "conv1", "reference")
    assert opts == (model, 0.25, ("conv1",), "reference") and opts.reference
    assert run_options(model).sam_layers == tuple(model.conv_layers)
    for bad, err in (({"sam_gamma": -1}, InputError), ({"sam_layers": 5}, ArgumentTypeError),
                     ({"sam_layers": ["out"]}, InputError), ({"sam_convention": "Paper"}, InputError)):
        with pytest.raises(err, match=next(iter(bad))):
            run_options(model, **bad)
    with pytest.raises(ArgumentTypeError, match="model"):
        run_options(None)
    x = input_spikes(model, images=np.full((2, 2, 8, 8), 0.5), seed=3)
    assert x.shape == (2, 4, 2, 8, 8) and x.dtype == np.int8
    np.testing.assert_array_equal(Simulator(model).input_spikes(images=np.full((2, 2, 8, 8), 0.5), seed=3), x)
    assert (run_seed(x, 3), run_seed(None, 3)) == (-1, 3)
    attrs = result_attrs(opts, 4, 3, "lava")
    assert set(attrs) == set(ATTRS) | {"neurons"}
    assert attrs["neurons"] == {"input": 128, "conv1": 192, "out": 3}
    assert Simulator(model, 0.25, "conv1", "reference").result_attrs(4, 3, "lava") == attrs
    assert SAM_CONVENTIONS == ("paper", "reference")


def _taps_naive(h, w, k):
    taps = np.zeros((h, w), np.int64)
    for y, x, dy, dx in itertools.product(range(h), range(w), range(k), range(k)):
        taps[y, x] += 0 <= y + dy - k // 2 < h and 0 <= x + dx - k // 2 < w
    return taps


@pytest.mark.parametrize("h, w, k", [(1, 1, 3), (2, 5, 3), (6, 4, 5), (7, 7, 1), (3, 9, 7)])
def test_conv_taps_and_synapse_count_against_a_naive_count(h, w, k):
    np.testing.assert_array_equal(conv_taps(h, w, k), _taps_naive(h, w, k))
    model = random_model(0, (2, h, w), (("conv", 3), ("flatten", 0)), num_classes=2, timesteps=2, kernel_size=k)
    assert synapse_count(model.layer("conv1")) == _taps_naive(h, w, k).sum() * 2 * 3


def test_the_walk_folds_pools_and_global_pooling():
    arch = (("conv", 4), ("pool", 0), ("pool", 0), ("conv", 5), ("gap", 0), ("dense", 6))
    model = random_model(2, (1, 20, 12), arch, num_classes=3, timesteps=3)
    seen = [(layer.name, fold) for layer, fold in walk(model.layers, model.input_shape)]
    assert [n for n, _ in seen] == model.layer_names
    folds = dict(seen)
    p2 = Pool((2, 2), (2, 2), (0, 0))
    assert folds["conv2"] == Fold("conv1", (4, 20, 12), (p2, p2), (4, 5, 3), 0, 1 / 16)
    assert folds["fc1"] == Fold("conv2", (5, 5, 3), (), (5, 5, 3), 15, 1 / 15)
    assert folds["out"] == Fold.start("fc1", (6, 1, 1))
    assert folds["conv2"].pool == 4 and folds["fc1"].pool == 1
    assert [c.source for c in connections(model)] == ["input", "conv1", "conv2", "fc1"]
    assert folds["fc1"].max_input_count() == 15 and folds["conv2"].max_input_count() == 16
    assert folds["conv2"].max_input_count(128) == 16 * 128
    # the averaging folded into the next gain: the builder's former running division, bit for bit
    for pools, area in itertools.product(range(4), (0, 1, 3, 49, 63)):
        avg = 1.0
        fold = Fold.start("x", (1, 2**pools, 2**pools))
        for i in range(pools):
            avg /= 4.0
            side = 2 ** (pools - i)
            fold = fold.then(ShapeLayer(f"p{i}", "avgpool", (1, side, side), (1, side // 2, side // 2)))
        if area:
            avg /= area
            fold = fold.then(ShapeLayer("g", "gap", (1, area, 1), (1, 1, 1)))
        assert fold.average == avg


def _ep(name, value):
    return importlib.metadata.EntryPoint(name, value, COMMAND_GROUP)


def test_extension_commands_come_from_entry_points(capsys):
    found = extensions([_ep("zz", "training.commands:train"), _ep("bad", "eventsim.result:ATTRS"),
                        _ep("gone", "no_such_module_here:x")])
    assert found == {"zz": Extension("training.cli_train", found["zz"].help, "train")}
    err = capsys.readouterr().err
    assert "'bad'" in err and "not an eventsim.extensions.Extension" in err and "'gone'" in err
    if not _command_entry_points() and importlib.util.find_spec("tomllib") is None:
        pytest.skip("installed metadata predates the eventsim.commands group and Python < 3.11 cannot read "
                    "pyproject.toml: reinstall (make venv) to register the commands")
    registered = extensions()
    assert sorted(registered) == ["bench", "convert", "dataset", "evaluate", "experiment", "export", "train"]
    assert all(importlib.util.find_spec(ext.module) is not None for ext in registered.values())
    assert {ep.name for ep in _command_entry_points()} == set(registered)
