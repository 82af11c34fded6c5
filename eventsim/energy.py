"""Energy estimates and NeuroBench-style operation counts from a :class:`~eventsim.result.Result`.

Named constant sets (energies in picojoules per operation):

``horowitz45-int8``, ``horowitz45-int32``, ``horowitz45-fp32``
    M. Horowitz, "Computing's energy problem (and what we can do about it)",
    IEEE ISSCC 2014, Digest of Technical Papers, pp. 10-14, the 45 nm
    (0.9 V) energy table: integer add 0.03 pJ (8 bit) and 0.1 pJ (32 bit),
    integer multiply 0.2 pJ (8 bit) and 3.1 pJ (32 bit), float add 0.9 pJ and
    float multiply 3.7 pJ (32 bit).
``loihi1``
    M. Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip
    Learning", IEEE Micro 38(1), 2018, Table 1 (measured at 0.75 V): energy per
    synaptic spike operation 23.6 pJ (the table's minimum), per synaptic update
    120 pJ (learning; unused here), per neuron update 81 pJ active / 52 pJ
    inactive, within-tile spike energy 1.7 pJ, per tile hop 3.0 pJ (east-west) /
    4.0 pJ (north-south).

How the counters become joules (per image, the mean over the result's images):

* **Synaptic operations** (counter ``synops``: weights added, border-clipped)
  cost one add each on a Horowitz datapath (a spike selects the weight, no
  multiply) and one "synaptic spike op" on Loihi.
* **Neuron updates** are ``neurons x T`` per layer (every eventsim neuron leaks
  and integrates at every step, output layer included).  On a Horowitz
  datapath one update is eventsim's fixed-point rule: two multiplies (leak,
  gain) and two adds (leaked voltage + scaled input, + bias); the threshold
  compare and shifts are not counted.  On Loihi every update is charged the
  *active* energy (an upper bound: an update without input would cost the
  inactive 52 pJ).
* **Spikes** cost one add each on a Horowitz datapath (the soft-reset
  subtraction) and the within-tile spike energy on Loihi (a lower bound: each
  hop between tiles would add 3.0-4.0 pJ, and placement is not modelled).
  Input spikes come from the host and are not charged.

Arithmetic only: memory traffic (weight and state reads, SRAM/DRAM) is
excluded for the Horowitz sets; Loihi's per-operation energies are measured on
the chip and include its on-core memory access.  Static/leakage power is
excluded everywhere.

NeuroBench metric names (``neurobench`` workload metrics, see docs/energy.md)
are computed by :func:`neurobench_metrics`.
"""
from __future__ import annotations

from dataclasses import dataclass


from .errors import InputError
from .topology import connections, conv_reach


@dataclass(frozen=True)
class ConstantSet:
    """Energies of one technology, in picojoules.

    Attributes
    ----------
    name : str
    synop_pj : float
        One synaptic operation (one weight added).
    neuron_update_pj : float
        One neuron updated for one time step.
    spike_pj : float
        One spike emitted by a neuron layer.
    add_pj, mult_pj : float or None
        The add and multiply of the datapath (Horowitz sets), ``None`` for Loihi.
    source : str
        Bibliographic source of every number of the set.
    """

    name: str
    synop_pj: float
    neuron_update_pj: float
    spike_pj: float
    add_pj: float | None
    mult_pj: float | None
    source: str

    @property
    def mac_pj(self) -> float | None:
        """One multiply-accumulate of a dense accelerator, ``mult + add`` (Horowitz sets)."""
        return None if self.add_pj is None else round(self.mult_pj + self.add_pj, 9)


HOROWITZ = ('M. Horowitz, "Computing\'s energy problem (and what we can do about it)", '
            "IEEE ISSCC 2014, pp. 10-14, 45 nm energy table")
DAVIES = ('M. Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning", '
          "IEEE Micro 38(1), 2018, Table 1")


def _horowitz(name, add, mult, what):
    return ConstantSet(name, synop_pj=add, neuron_update_pj=2 * mult + 2 * add, spike_pj=add,
                       add_pj=add, mult_pj=mult, source=f"{HOROWITZ} ({what} add {add} pJ, mult {mult} pJ)")


#: Every named constant set.
CONSTANT_SETS = {s.name: s for s in (
    _horowitz("horowitz45-int8", 0.03, 0.2, "8-bit integer"),
    _horowitz("horowitz45-int32", 0.1, 3.1, "32-bit integer"),
    _horowitz("horowitz45-fp32", 0.9, 3.7, "32-bit float"),
    ConstantSet("loihi1", synop_pj=23.6, neuron_update_pj=81.0, spike_pj=1.7, add_pj=None, mult_pj=None,
                source=f"{DAVIES} (synaptic spike op 23.6 pJ min, neuron update 81 pJ active, "
                       "within-tile spike 1.7 pJ)"),
)}
DEFAULT_SET = "horowitz45-fp32"


def constant_set(name: str) -> ConstantSet:
    """The :class:`ConstantSet` called ``name``; :class:`InputError` naming the known sets otherwise."""
    try:
        return CONSTANT_SETS[name]
    except KeyError:
        raise InputError(f"--constants: unknown energy constant set {name!r}; "
                         f"expected one of {', '.join(CONSTANT_SETS)}") from None


def _layers(result) -> list[str]:
    """Neuron layers of ``result`` in network order (``input`` excluded)."""
    neurons = result.attrs.get("neurons")
    if not neurons:
        raise InputError("result: attrs['neurons'] is missing; energy needs the neuron count of every layer "
                         "(results written by eventsim >= the run contract carry it)")
    missing = [name for name in result.counts if name != "input" and name not in neurons]
    if missing:
        raise InputError(f"result: no neuron count for layer(s) {', '.join(missing)} in attrs['neurons']")
    return [name for name in neurons if name != "input" and name in result.counts]


def layer_counts(result) -> dict:
    """Per-image operation counts of every neuron layer.

    Returns
    -------
    dict of str to dict of str to float
        ``{layer: {"synops", "spikes", "neuron_updates"}}``, each the mean over
        the result's images (``neuron_updates = neurons x T``).
    """
    steps, neurons = result.timesteps, result.attrs["neurons"]
    out = {}
    for name in _layers(result):
        c = result.counts[name]
        out[name] = {"synops": float(c["synops"].sum(axis=1).mean()),
                     "spikes": float(c["spikes"].sum(axis=1).mean()),
                     "neuron_updates": float(int(neurons[name]) * steps)}
    return out


def estimate_energy(result, constants: str = DEFAULT_SET) -> dict:
    """Energy per image of every layer under one constant set.

    Parameters
    ----------
    result : Result
        Any backend's result; needs ``attrs["neurons"]``.
    constants : str
        A key of :data:`CONSTANT_SETS`.

    Returns
    -------
    dict
        ``constants``, ``source``, ``images``, ``layers`` (``{layer: {"synops",
        "spikes", "neuron_updates", "synops_j", "neuron_j", "spike_j",
        "total_j"}}``) and ``total_j``, all joules per image.
    """
    cs = constant_set(constants)
    layers = {}
    for name, c in layer_counts(result).items():
        row = dict(c, synops_j=c["synops"] * cs.synop_pj * 1e-12,
                   neuron_j=c["neuron_updates"] * cs.neuron_update_pj * 1e-12,
                   spike_j=c["spikes"] * cs.spike_pj * 1e-12)
        row["total_j"] = row["synops_j"] + row["neuron_j"] + row["spike_j"]
        layers[name] = row
    return {"constants": cs.name, "source": cs.source, "images": int(result.logits.shape[0]),
            "layers": layers, "total_j": sum(r["total_j"] for r in layers.values())}


def dense_synops(model) -> dict:
    """NeuroBench "Dense" synaptic operations per image step of each neuron layer.

    Every (zero or non-zero) input times every weight it reaches, border-clipped
    by the zero padding: ``sum(reach) * C_in * C_out`` on the pooled map of a
    conv layer (:func:`eventsim.topology.conv_reach`), ``F_in * F_out`` for a
    dense layer.
    """
    out = {}
    for conn in connections(model):
        layer = conn.target
        c_in, h, w = conn.pooled_shape
        if layer.kind == "conv":
            taps = int(conv_reach(h, w, layer).sum())
            out[layer.name] = taps * c_in * layer.out_shape[0]
        else:
            f_in = c_in if conn.gap else c_in * h * w
            out[layer.name] = f_in * layer.out_shape[0]
    return out


def neurobench_metrics(result, model=None) -> dict:
    """NeuroBench workload metrics by their names, per image.

    ``Effective_ACs``: the accumulations eventsim's event-driven execution
    performs, the sum of the ``synops`` counters (every synaptic input is a
    spike, the signed input spikes included, so ``Effective_MACs`` is 0).
    Two differences from NeuroBench, which hooks each layer's input tensor:
    after a sum pool a position holding ``n`` spikes costs ``n`` accumulations
    here, where NeuroBench would see one non-binary activation and count one
    MAC per weight; and weights that are exactly zero are counted here.
    ``Dense``: :func:`dense_synops` times ``T`` (needs ``model``; ``None``
    without it).  ``activation_sparsity``: the fraction of zero outputs over
    every spiking layer, neuron and step (the
    output layer, which accumulates without spiking, is left out: with ``model``
    by name, without it as the silent layer of ``K`` neurons).  ``membrane_updates``: ``neurons x T``
    over every neuron layer (an upper bound of NeuroBench's count of voltage
    changes: a neuron at rest without input is counted too).

    Returns
    -------
    dict of str to float
    """
    counts = layer_counts(result)
    spiking = [n for n in counts if not _is_output(result, model, n)]
    slots = sum(counts[n]["neuron_updates"] for n in spiking)
    fired = sum(counts[n]["spikes"] for n in spiking)
    dense = None
    if model is not None:
        dense = float(sum(dense_synops(model).values()) * result.timesteps)
    return {"Effective_ACs": sum(c["synops"] for c in counts.values()), "Effective_MACs": 0.0,
            "Dense": dense, "activation_sparsity": 1.0 - fired / slots if slots else float("nan"),
            "membrane_updates": sum(c["neuron_updates"] for c in counts.values())}


def _is_output(result, model, name) -> bool:
    if model is not None:
        return name == model.output_layer.name
    k = result.logits.shape[1]
    return int(result.attrs["neurons"][name]) == k and not result.counts[name]["spikes"].any()


def energy_report(result, constants: str = DEFAULT_SET, model=None) -> dict:
    """:func:`estimate_energy` with the :func:`neurobench_metrics` under ``"neurobench"``."""
    report = estimate_energy(result, constants)
    report["neurobench"] = neurobench_metrics(result, model)
    return report


def format_report(report: dict) -> str:
    """The table ``eventsim energy`` prints."""
    lines = [f"energy per image under {report['constants']} ({report['images']} image(s))",
             f"source: {report['source']}",
             f"{'layer':>12s} {'synops':>12s} {'spikes':>10s} {'updates':>10s} {'synops J':>10s} "
             f"{'neuron J':>10s} {'spike J':>10s} {'total J':>10s}"]
    for name, r in report["layers"].items():
        lines.append(f"{name:>12s} {r['synops']:12.1f} {r['spikes']:10.1f} {r['neuron_updates']:10.0f} "
                     f"{r['synops_j']:10.3e} {r['neuron_j']:10.3e} {r['spike_j']:10.3e} {r['total_j']:10.3e}")
    lines.append(f"{'total':>12s} {'':>12s} {'':>10s} {'':>10s} {'':>10s} {'':>10s} {'':>10s} "
                 f"{report['total_j']:10.3e}")
    lines.append("NeuroBench-style counts per image:")
    for key, value in report["neurobench"].items():
        lines.append(f"  {key}: {'n/a (pass --model)' if value is None else f'{value:.6g}'}")
    return "\n".join(lines)


def energy_command(args) -> int:
    """``eventsim energy RESULT.h5 [--constants NAME] [--model MODEL.h5] [--json]``."""
    import json

    from .result import Result

    constant_set(args.constants)
    result = Result.load(args.result, verify=args.verify)
    model = None
    if args.model:
        from .model_io import load_model

        model = load_model(args.model, verify=args.verify)
        known = {layer.name for layer in model.neuron_layers}
        stray = sorted(set(layer_counts(result)) - known)
        if stray:
            raise InputError(f"--model: {args.model} has no layer(s) {', '.join(stray)} of {args.result}")
    report = energy_report(result, args.constants, model)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
