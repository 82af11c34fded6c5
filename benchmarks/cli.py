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
    "layers": "benchmarks.case_layers",
}

#: summary key -> (case, key in that case's result)
SUMMARY_KEYS = {
    "speedup_vs_torch_tuned": ("torch", "speedup_vs_torch_tuned"),
    "speedup_vs_torch_compile": ("torch", "speedup_vs_torch_compile"),
    "speedup_vs_torch_layerwise": ("torch", "speedup_vs_torch_layerwise"),
    "speedup_vs_torch_layerwise_bf16": ("torch", "speedup_vs_torch_layerwise_bf16"),
    "speedup_vs_torch_layerwise_eager": ("torch", "speedup_vs_torch_layerwise_eager"),
    "speedup_vs_torch_eager": ("torch", "speedup_vs_torch_eager"),
    "sam_overhead": ("sam", "sam_overhead"),
    "synops_rate_vs_add_ceiling": ("ceiling", "synops_rate_vs_add_ceiling"),
    "thread_scaling_2": ("torch", "thread_scaling_2"),
    "lava_slowdown": ("lava", "lava_slowdown"),
    "synops_per_image": ("events", "synops_per_image"),
    "dense_macs_per_image": ("events", "dense_macs_per_image"),
}

#: Goals of issue 10 (the register-blocked engine), measured on an idle machine.
GOALS = {"speedup_vs_torch_tuned": (">=", 3.0), "speedup_vs_torch_compile": (">=", 3.0),
         "speedup_vs_torch_layerwise": (">=", 1.5), "sam_overhead": ("<=", 0.03),
         "synops_rate_vs_add_ceiling": (">=", 1.5), "thread_scaling_2": (">=", 1.8)}


def summarize(results: dict) -> tuple[dict, dict]:
    """The headline numbers, derived from the case results, and the spread of those that are ratios.

    Returns
    -------
    summary : dict
        ``{key: value}``.
    spreads : dict
        ``{key: {"min", "median", "max"}}`` over the interleaved rounds.
    """
    summary, spreads = {}, {}
    for key, (case, field) in SUMMARY_KEYS.items():
        if case in results and field in results[case]:
            summary[key] = results[case][field]
            if f"{field}_spread" in results[case]:
                spreads[key] = results[case][f"{field}_spread"]
    sam = results.get("sam", {}).get("online_vs_offline", [])
    for row in sam:
        if row["T"] in (30, 300):
            summary[f"online_vs_offline_sam_speedup_T{row['T']}"] = row["speedup"]
    return summary, spreads


def _ratio(row: dict, key: str) -> str:
    """``median [min-max]`` of a ratio in a case row, or the bare value without a spread."""
    if key not in row:
        return ""
    sp = row.get(f"{key}_spread")
    return f"{row[key]:.2f}" if sp is None else f"{row[key]:.2f} [{sp['min']:.2f}-{sp['max']:.2f}]"


def _torch_markdown(torch_case: dict) -> list:
    from .case_torch import STYLES

    load = torch_case["load_average"]
    cols = ["rate", "hidden_rate", "eventsim_threads"] + [f"vs {s}" for s in STYLES]
    best = [dict(r, **{f"vs {s}": f"{_ratio(r, f'speedup_vs_torch_{s}')} ({r[f'torch_{s}_threads']}t)"
                       for s in STYLES}) for r in torch_case["best_of_threads"]]
    same = [dict(r, **{f"vs {s}": _ratio(r, f"speedup_vs_torch_{s}") for s in STYLES}) for r in torch_case["rows"]]
    ms = [{"who": who, **{f"{th} thread(s)": f"{v:.3f}" for th, v in by.items()}}
          for who, by in torch_case["ms_per_image"].items()]
    return ["", "## Speed vs dense PyTorch, batch 16, each side at its best thread count", "",
            "Speed-up of eventsim: median [min-max over the interleaved rounds] (the baseline's thread count). "
            f"Load average (1, 5, 15 min) before this case {tuple(round(x, 2) for x in load['before'])}, "
            f"after {tuple(round(x, 2) for x in load['after'])}.", "",
            markdown_table(best, cols, {"hidden_rate": "{:.3f}"}), "",
            f"eventsim thread scaling, t(1 thread) / t(2 threads): {_ratio(torch_case, 'thread_scaling_2')}.", "",
            "### ms per image at the natural rate, batch 16 (context only: absolute times move with the load)", "",
            markdown_table(ms, list(ms[0])), "",
            "### Every configuration, same threads on both sides", "",
            markdown_table(same, ["rate", "hidden_rate", "batch", "threads"] + [f"vs {s}" for s in STYLES],
                           {"hidden_rate": "{:.3f}"})]


def _markdown(summary, spreads, results, elapsed, quick, load_before) -> str:
    lines = [f"# eventsim benchmarks{' (quick)' if quick else ''}", "",
             f"Total time {elapsed:.0f} s. Ratios are measured side by side in interleaved rounds; the spread is "
             f"min-max of the per-round ratios. OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}; "
             f"load average before the run {load_before:.2f}, after {os.getloadavg()[0]:.2f}, "
             f"on {os.cpu_count()} cores.", "",
             "| metric | value | spread (min-max) | goal |", "|---|---:|---:|---|"]
    for key, value in summary.items():
        op, target = GOALS.get(key, ("", None))
        met = target is not None and (value >= target if op == ">=" else value <= target)
        goal = "" if target is None else f"{op} {target} ({'met' if met else 'missed'})"
        sp = spreads.get(key)
        rng = "" if sp is None else f"{sp['min']:.3g}-{sp['max']:.3g}"
        lines.append(f"| {key} | {value:.4g} | {rng} | {goal} |")
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
        lines += _torch_markdown(results["torch"])
    if "ceiling" in results:
        c = results["ceiling"]
        lines += ["", "## Synaptic ops per second per core vs the int32 add ceiling", "", markdown_table(
            [dict(c[f"threads_{th}"], threads=th) for th in (1, 2) if f"threads_{th}" in c],
            ["threads", "engine_synops_per_s_per_core", "ceiling_adds_per_s_per_core", "synops_rate_vs_add_ceiling"],
            {"engine_synops_per_s_per_core": "{:.3g}", "ceiling_adds_per_s_per_core": "{:.3g}",
             "synops_rate_vs_add_ceiling": "{:.3f}"})]
    if "layers" in results:
        lay = results["layers"]
        lines += ["", "## Engine time per layer (1 thread, thread CPU time, fastest round)", "", markdown_table(
            lay["layers"], ["layer", "ms_with_sam", "ms_without_sam", "sam_share"],
            {"ms_with_sam": "{:.3f}", "ms_without_sam": "{:.3f}", "sam_share": "{:.3f}"}), "",
            f"Kernels in total: {lay['ms_per_image_with_sam']:.3f} ms per image with SAM, "
            f"{lay['ms_per_image_without_sam']:.3f} without (SAM {100 * lay['sam_share_of_kernels']:.1f} %)."]
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
    summary, spreads = summarize(results)
    write_json(out / "summary.json", {"summary": summary, "spreads": spreads, "quick": args.quick, "seconds": elapsed,
                                      "machine": machine_info(), "failures": failures, "cases": results})
    md = _markdown(summary, spreads, results, elapsed, args.quick, load_before)
    (out / "summary.md").write_text(md)
    print(md)
    print(f"wrote {out / 'summary.json'} and {out / 'summary.md'}")
    return 1 if failures else 0
