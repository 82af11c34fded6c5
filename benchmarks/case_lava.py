"""Case 5: time per sample of the Lava port vs eventsim.

Lava needs Python 3.10 (``.venv-lava``), so this case runs
``benchmarks/lava_vs_eventsim.py`` there as a subprocess and reads its JSON.
That script picks its own model (a small random VGG with ``--quick``, else the
default model) unless ``--model`` was given to ``eventsim bench``.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from .common import Bench

ROOT = Path(__file__).resolve().parent.parent
LAVA_PYTHON = ROOT / ".venv-lava" / "bin" / "python"
SCRIPT = ROOT / "benchmarks" / "lava_vs_eventsim.py"


def run(ctx: Bench) -> dict:
    if not LAVA_PYTHON.is_file():
        raise FileNotFoundError(f"{LAVA_PYTHON} is missing; run 'make lava-venv' first")
    if not SCRIPT.is_file():
        raise FileNotFoundError(f"{SCRIPT} is missing (it ships with lava_port)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lava.json"
        cmd = [str(LAVA_PYTHON), str(SCRIPT), "--json", str(out)] + (["--quick"] if ctx.quick else [])
        if ctx.path:
            cmd += ["--model", str(ctx.path)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"the Lava benchmark failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        data = json.loads(out.read_text())
    data["lava_slowdown"] = data["lava_s_per_sample"] / data["eventsim_s_per_sample"]
    return data
