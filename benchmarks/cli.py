"""``eventsim bench``: run the benchmark cases and write JSON, Markdown and PNG.

Each case writes ``DIR/<case>.json`` and its plots; the runner writes
``DIR/summary.json`` (a top-level ``summary`` object with the headline
ratios, plus every case's full numbers) and ``DIR/summary.md``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import time
from pathlib import Path

from eventsim.errors import EventsimError

from .common import Bench, bench_model, machine_info, markdown_table, write_json

CASES = {
    "events": "benchmarks.case_events",
    "sam": "benchmarks.case_sam",
    "torch": "benchmarks.case_torch",
    "ceiling": "benchmarks.case_ceiling",
    "lava": "benchmarks.case_lava",
    "scaling": "benchmarks.case_scaling",
}

#: summary key -> (case, key in that case's result)
SUMMARY_KEYS = {
    "speedup_vs_torch_eager": ("torch", "speedup_vs_torch_eager"),
    "speedup_vs_torch_tuned": ("torch", "speedup_vs_torch_tuned"),
    "speedup_vs_torch_compile": ("torch", "speedup_vs_torch_compile"),
    "sam_overhead": ("sam", "sam_overhead"),
    "engine_fraction_of_add_ceiling": ("ceiling", "engine_fraction_of_add_ceiling"),
    "lava_slowdown": ("lava", "lava_slowdown"),
    "synops_per_image": ("events", "synops_per_image"),
    "dense_macs_per_image": ("events", "dense_macs_per_image"),
}

GOALS = {"speedup_vs_torch_tuned": (">=", 2.5), "speedup_vs_torch_compile": (">=", 1.5),
         "sam_overhead": ("<=", 0.03)}


def summarize(results: dict) -> dict:
    """The headline numbers, derived from the case results."""
    summary = {}
    for key, (case, field) in SUMMARY_KEYS.items():
        if case in results and field in results[case]:
            summary[key] = results[case][field]
    sam = results.get("sam", {}).get("online_vs_offline", [])
    for row in sam:
        if row["T"] in (30, 300):
            summary[f"online_vs_offline_sam_speedup_T{row['T']}"] = row["speedup"]
    return summary


def _markdown(summary, results, elapsed, quick, load_before) -> str:
    lines = [f"# eventsim benchmarks{' (quick)' if quick else ''}", "",
             f"Total time {elapsed:.0f} s. Ratios are measured side by side in one run. "
             f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}; load average before the run "
             f"{load_before:.2f} on {os.cpu_count()} cores.", "",
             "| metric | value | goal |", "|---|---:|---|"]
    for key, value in summary.items():
        op, target = GOALS.get(key, ("", None))
        met = target is not None and (value >= target if op == ">=" else value <= target)
        goal = "" if target is None else f"{op} {target} ({'met' if met else 'missed'})"
        lines.append(f"| {key} | {value:.4g} | {goal} |")
    if "events" in results:
        lines += ["", "## Events per layer", "", markdown_table(
            results["events"]["layers"],
            ["layer", "neurons", "spike_rate", "synops_per_image", "synops_independent", "dense_macs_per_image",
             "synops_per_dense_mac"],
            {"spike_rate": "{:.4f}", "synops_per_image": "{:.3g}", "synops_independent": "{:.3g}",
             "dense_macs_per_image": "{:.3g}", "synops_per_dense_mac": "{:.3f}"})]
        e = results["events"]["energy"]
        lines += ["", f"Energy per image (arithmetic only, Horowitz ISSCC 2014, 45 nm): fp32 SNN "
                  f"{e['fp32']['snn_uJ']:.2f} uJ vs dense {e['fp32']['dense_uJ']:.2f} uJ; int32 SNN "
                  f"{e['int32']['snn_uJ']:.3f} uJ vs dense {e['int32']['dense_uJ']:.2f} uJ."]
    if "torch" in results:
        lines += ["", "## Speed vs dense PyTorch, each side at its best thread count", "", markdown_table(
            results["torch"]["best_of_threads"],
            ["rate", "hidden_rate", "batch", "eventsim_threads", "speedup_vs_torch_eager", "torch_eager_threads",
             "speedup_vs_torch_tuned", "torch_tuned_threads", "speedup_vs_torch_compile", "torch_compile_threads"],
            {"hidden_rate": "{:.3f}", "speedup_vs_torch_eager": "{:.2f}", "speedup_vs_torch_tuned": "{:.2f}",
             "speedup_vs_torch_compile": "{:.2f}"})]
        lines += ["", "### Every configuration (same threads on both sides)", "", markdown_table(
            results["torch"]["rows"],
            ["rate", "hidden_rate", "batch", "threads", "speedup_vs_torch_eager", "speedup_vs_torch_tuned",
             "speedup_vs_torch_compile"],
            {"hidden_rate": "{:.3f}", "speedup_vs_torch_eager": "{:.2f}", "speedup_vs_torch_tuned": "{:.2f}",
             "speedup_vs_torch_compile": "{:.2f}"})]
    if "sam" in results:
        lines += ["", "## On-line vs off-line SAM", "", markdown_table(
            results["sam"]["online_vs_offline"],
            ["T", "online_s", "offline_s", "speedup", "online_peak_mb", "offline_peak_mb"],
            {"online_s": "{:.3f}", "offline_s": "{:.3f}", "speedup": "{:.1f}", "online_peak_mb": "{:.0f}",
             "offline_peak_mb": "{:.0f}"})]
    return "\n".join(lines) + "\n"


def main(argv, prog="eventsim bench") -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (under 3 minutes)")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    p.add_argument("--out", default="benchmarks/results", help="output folder (default benchmarks/results)")
    p.add_argument("--model", help="model file to benchmark (default: the shipped default model)")
    p.add_argument("--omp-wait", choices=("active", "passive"), default=None,
                   help="OpenMP wait policy for Numba and PyTorch threads: 'active' (spin; fastest on an idle "
                        "machine) or 'passive' (sleep; use it when other processes share the cores). "
                        "Default: $OMP_WAIT_POLICY if set, else active")
    args = p.parse_args(argv)
    # Read by the OpenMP runtime when it loads, so it must be set before torch or a parallel kernel is.
    if args.omp_wait is not None:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait.upper()
    os.environ.setdefault("OMP_WAIT_POLICY", "ACTIVE")
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise EventsimError(f"--cases: unknown {unknown}; choose from {list(CASES)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, label = bench_model(args.model, args.quick)
    ctx = Bench(quick=args.quick, out_dir=out, model=model, label=label, path=args.model)
    print(f"benchmarking {label} ({model.name}, input {model.input_shape}, T={model.default_timesteps})")
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"note: load average {load_before:.2f}: other processes are using the CPU, so timings are noisy; "
              "if they keep running, '--omp-wait passive' stops the threads spinning against them", flush=True)
    results, failures, start = {}, {}, time.perf_counter()
    for i, name in enumerate(cases, 1):
        t0 = time.perf_counter()
        print(f"[{i}/{len(cases)}] {name} ...", flush=True)
        try:
            results[name] = importlib.import_module(CASES[name]).run(ctx)
        except (FileNotFoundError, RuntimeError) as exc:
            failures[name] = str(exc)
            print(f"    skipped: {exc}", flush=True)
            continue
        write_json(out / f"{name}.json", results[name])
        print(f"    done in {time.perf_counter() - t0:.0f} s", flush=True)
    elapsed = time.perf_counter() - start
    summary = summarize(results)
    write_json(out / "summary.json", {"summary": summary, "quick": args.quick, "seconds": elapsed,
                                      "machine": machine_info(), "failures": failures, "cases": results})
    md = _markdown(summary, results, elapsed, args.quick, load_before)
    (out / "summary.md").write_text(md)
    print(md)
    print(f"wrote {out / 'summary.json'} and {out / 'summary.md'}")
    return 1 if failures else 0
