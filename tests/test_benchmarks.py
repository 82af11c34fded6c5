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
    assert "| metric | value | goal |" in (out / "summary.md").read_text()
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


def test_best_of_threads_takes_each_contender_at_its_own_fastest_thread_count():
    from benchmarks.case_torch import best_of_threads

    def row(threads, ev, eager, tuned, compiled, batch=16, rate="natural"):
        return {"rate": rate, "hidden_rate": 0.1, "batch": batch, "threads": threads, "eventsim_s": ev,
                "torch_eager_s": eager, "torch_tuned_s": tuned, "torch_compile_s": compiled}

    rows = [row(2, 1.0, 4.0, 3.0, 2.0), row(1, 2.0, 3.0, 6.0, 5.0), row(1, 0.1, 0.1, 0.1, 0.1, batch=1),
            row(2, 0.5, 2.0, 2.5, 1.0, rate="0.05")]
    best = best_of_threads(rows, 16)
    assert [b["rate"] for b in best] == ["natural", "0.05"]
    head = best[0]
    assert (head["eventsim_s"], head["eventsim_threads"]) == (1.0, 2)
    assert (head["torch_eager_s"], head["torch_eager_threads"]) == (3.0, 1)
    assert (head["torch_tuned_s"], head["torch_tuned_threads"]) == (3.0, 2)
    assert head["speedup_vs_torch_eager"] == 3.0 and head["speedup_vs_torch_compile"] == 2.0
    assert best[1]["speedup_vs_torch_tuned"] == 5.0
