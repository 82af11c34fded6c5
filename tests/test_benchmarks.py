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
