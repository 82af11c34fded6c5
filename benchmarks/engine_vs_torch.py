"""eventsim vs a dense PyTorch float simulation at controlled spike rates (a quick script).

Same network (a random small VGG on 32x32 inputs, T=30), same input spikes,
batch 16, 2 threads for both; hidden spike rates of about 5, 10 and 20% by
scaling thresholds.  Prints the speed-up of eventsim over the step-by-step
eager and tuned baselines and the compiled layer-wise one, as a ratio of
medians of interleaved repeats.  ``eventsim bench`` runs the
full suite (benchmarks/cli.py); this script is the short version.

Run: ``.venv/bin/python benchmarks/engine_vs_torch.py [--quick] [--rates 0.05,0.1,0.2]``
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.case_torch import measure, same_threads  # noqa: E402
from benchmarks.common import constant_gain_model, input_spikes, model_at_rate, test_images  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats, batch 8")
    p.add_argument("--rates", default="0.05,0.10,0.20")
    args = p.parse_args(argv)
    batch, repeats = (8, 3) if args.quick else (16, 7)
    base = constant_gain_model((3, 32, 32))
    spikes = input_spikes(base, test_images(base, batch), timesteps=30)
    print(f"batch {batch}, T=30, 2 threads, small VGG 32x32 (conv32-pool-conv64-pool-conv64-gap-fc64-out10)")
    styles = ("eager", "tuned", "layerwise")
    print(f"{'target':>7} {'rate':>6} {'eventsim ms':>12}" + "".join(f" {'x ' + s:>11}" for s in styles))
    for target in [float(r) for r in args.rates.split(",")]:
        model, rate = model_at_rate(base, spikes[:4], target)
        t = same_threads(measure(model, spikes, repeats, threads=(2,), styles=styles))[0]
        print(f"{target:>7.2f} {rate:>6.3f} {1e3 * t['eventsim_s']:>12.1f}"
              + "".join(f" {t[f'speedup_vs_torch_{s}']:>11.2f}" for s in styles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
