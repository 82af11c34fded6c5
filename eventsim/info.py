"""Human-readable and JSON descriptions of a model (``eventsim info``)."""
from __future__ import annotations

from . import fixed_point as fp
from .model import Model


def describe(model: Model, as_dict: bool = False):
    """Describe layers, shapes, neurons, synapses, bit widths and quantization error.

    Parameters
    ----------
    model : Model
    as_dict : bool
        Return a JSON-serializable dict instead of text.

    Returns
    -------
    str or dict
    """
    rows = model.summary_rows()
    info = {
        "name": model.name,
        "sha256": model.sha256,
        "format_version": model.format_version,
        "input_shape": list(model.input_shape),
        "input_encoding": model.input_encoding,
        "num_classes": model.num_classes,
        "default_timesteps": model.default_timesteps,
        "gain_steps": model.gain_steps,
        "bits": {"weight": fp.WEIGHT_BITS, "gain": fp.GAIN_BITS, "voltage": fp.VOLTAGE_BITS,
                 "leak_frac": fp.LEAK_FRAC_BITS, "sam_trace_frac": fp.SAM_FRAC_BITS},
        "layers": rows,
        "neurons": sum(r.get("neurons", 0) for r in rows),
        "synapses": sum(r.get("synapses", 0) for r in rows),
        "provenance": model.provenance,
    }
    if as_dict:
        return info
    lines = [
        f"model {model.name!r}  sha256 {model.sha256[:16]}",
        f"format v{model.format_version}  input {model.input_shape} ({model.input_encoding})  "
        f"classes {model.num_classes}  default T {model.default_timesteps}"
        f"  per-step gain rows {model.gain_steps}",
        f"bits: weight {fp.WEIGHT_BITS}, gain mantissa {fp.GAIN_BITS}, voltage {fp.VOLTAGE_BITS} (saturating), "
        f"leak Q{fp.LEAK_FRAC_BITS}, SAM trace Q{fp.SAM_FRAC_BITS}",
        "",
        f"{'layer':<12} {'kind':<8} {'shape':<16} {'neurons':>10} {'synapses':>12} {'theta':>8} "
        f"{'leak':>7} {'shift':>5} {'w err':>7} {'g err':>8}  window/reset",
    ]
    for r in rows:
        shape = "x".join(str(v) for v in r["out_shape"])
        if "neurons" not in r:
            lines.append(f"{r['name']:<12} {r['kind']:<8} {shape:<16}" + (
                f"{'':>82}  {_window(r)}" if "kernel" in r else ""))
            continue
        q = r["quant_error"]
        theta = "-" if r["theta"] is None else str(r["theta"])
        lines.append(
            f"{r['name']:<12} {r['kind']:<8} {shape:<16} {r['neurons']:>10,} {r['synapses']:>12,} {theta:>8} "
            f"{r['leak']:>7.4f} {r['shift']:>5} {q.get('weight_rel_l2', float('nan')):>7.2%} "
            f"{q.get('gain_rel_max', float('nan')):>8.1e}  {_window(r)}"
        )
    lines.append("")
    lines.append(f"total neurons {info['neurons']:,}   total synapses {info['synapses']:,}")
    lines.append("w err: relative L2 error of the int8 weights; g err: max relative error of the gain mantissas")
    if model.provenance:
        keys = ", ".join(sorted(model.provenance))
        lines.append(f"provenance: {keys}  (eventsim info --json shows all)")
    return "\n".join(lines)


def _window(row: dict) -> str:
    """``k5x5 s2x2 p1x1``-style window of a conv or pool row, and a non-default reset or readout."""
    parts = []
    if "kernel" in row:
        parts += ["k{}x{} s{}x{} p{}x{}".format(*row["kernel"], *row["stride"], *row["padding"])]
    if row.get("reset") == "zero":
        parts.append("reset=zero")
    if row.get("readout") == "spikes":
        parts.append("readout=spikes")
    return " ".join(parts)
