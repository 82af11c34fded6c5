"""``eventsim bench --quick`` runs end to end and its summary is complete, finite and positive.

Timings are never asserted: speed goals are benchmarks, not tests.
"""
import json
import math

import pytest

pytest.importorskip("torch")

from benchmarks.cli import SUMMARY_KEYS, main  # noqa: E402
from eventsim import save_model  # noqa: E402
from eventsim.random_models import random_model  # noqa: E402

REQUIRED = set(SUMMARY_KEYS) | {"online_vs_offline_sam_speedup_T30", "online_vs_offline_sam_speedup_T300"}


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    arch = (("conv", 8), ("pool", 0), ("conv", 8), ("gap", 0))
    model = random_model(seed=0, input_shape=(3, 16, 16), arch=arch, timesteps=12, name="tiny-bench")
    path = save_model(model, d / "tiny.h5")
    status = main(["--quick", "--model", str(path), "--out", str(d / "out")])
    return status, d / "out"


def test_quick_bench_completes(bench_run):
    status, out = bench_run
    data = json.loads((out / "summary.json").read_text())
    assert data["failures"] == {}, data["failures"]
    assert status == 0


def test_summary_schema_is_complete_finite_and_positive(bench_run):
    _, out = bench_run
    summary = json.loads((out / "summary.json").read_text())["summary"]
    assert REQUIRED <= set(summary), REQUIRED - set(summary)
    for key in REQUIRED - {"sam_overhead"}:
        assert math.isfinite(summary[key]) and summary[key] > 0, (key, summary[key])
    assert math.isfinite(summary["sam_overhead"])  # a ratio of two noisy timings: may come out just below 0


def test_every_case_writes_json_markdown_and_plots(bench_run):
    _, out = bench_run
    for case in ("events", "sam", "torch", "ceiling", "lava", "scaling"):
        assert json.loads((out / f"{case}.json").read_text())
    md = (out / "summary.md").read_text()
    assert "| metric | value | spread (min-max) | goal |" in md
    assert "## Speed vs dense PyTorch, batch 16" in md and "vs layerwise_bf16" in md
    pngs = {p.name for p in out.glob("*.png")}
    assert {"events_spike_rate_per_step.png", "sam_online_vs_offline.png", "torch_speedup_vs_rate.png",
            "scaling.png"} <= pngs


def test_synop_count_matches_the_independent_formula(bench_run):
    _, out = bench_run
    events = json.loads((out / "events.json").read_text())
    assert events["synops_crosscheck_equal"]
    for row in events["layers"]:
        assert row["synops_per_image"] == pytest.approx(row["synops_independent"], rel=1e-12)


def test_unknown_case_is_a_clear_error(tmp_path):
    from eventsim.errors import EventsimError

    with pytest.raises(EventsimError, match=r"--cases: unknown \['nope'\]"):
        main(["--cases", "nope", "--out", str(tmp_path)])


def test_headline_keys_of_issue_10_are_present_with_spreads(bench_run):
    _, out = bench_run
    data = json.loads((out / "summary.json").read_text())
    for key in ("speedup_vs_torch_tuned", "speedup_vs_torch_compile", "speedup_vs_torch_layerwise", "sam_overhead",
                "synops_rate_vs_add_ceiling", "thread_scaling_2"):
        assert key in data["summary"], key
        sp = data["spreads"][key]
        assert sp["min"] <= sp["median"] <= sp["max"], (key, sp)
    torch_case = data["cases"]["torch"]
    assert [c["batch"] for c in torch_case["configs"]] == [16], "quick measures the headline configuration"
    assert set(torch_case["load_average"]) == {"before", "after"}


def _rounds(**secs):
    """``{who: {threads: [s, ...]}}`` from keyword lists given as who_threads=[...]."""
    out = {}
    for key, values in secs.items():
        who, th = key.rsplit("_", 1)
        out.setdefault(who, {})[int(th)] = values
    return out


def test_best_of_threads_takes_each_contender_at_its_own_fastest_thread_count():
    from benchmarks.case_torch import best_of_threads

    rounds = _rounds(eventsim_1=[2.0, 2.2, 1.8], eventsim_2=[1.0, 1.2, 0.8],
                     torch_tuned_1=[3.0, 3.0, 3.0], torch_tuned_2=[4.0, 3.5, 5.0])
    best = best_of_threads(rounds)
    assert (best["eventsim_s"], best["eventsim_threads"]) == (1.0, 2)
    assert (best["torch_tuned_s"], best["torch_tuned_threads"]) == (3.0, 1)
    assert best["speedup_vs_torch_tuned"] == 3.0
    # per round: 3/1, 3/1.2, 3/0.8 -- each round's two timings were taken side by side
    assert best["speedup_vs_torch_tuned_spread"] == pytest.approx({"min": 2.5, "median": 3.0, "max": 3.75})


def test_same_threads_rows_and_thread_scaling():
    from benchmarks.case_torch import same_threads, thread_scaling

    rounds = _rounds(eventsim_1=[2.0, 4.0, 3.0], eventsim_2=[1.0, 1.0, 2.0],
                     torch_compile_1=[4.0, 4.0, 4.0], torch_compile_2=[2.0, 3.0, 2.0])
    rows = same_threads(rounds)
    assert [r["threads"] for r in rows] == [1, 2]
    assert rows[0]["speedup_vs_torch_compile"] == 4.0 / 3.0
    assert rows[1]["speedup_vs_torch_compile_spread"] == pytest.approx({"min": 1.0, "median": 2.0, "max": 3.0})
    scaling, spread = thread_scaling(rounds)
    assert scaling == 3.0
    assert spread == pytest.approx({"min": 1.5, "median": 2.0, "max": 4.0})
