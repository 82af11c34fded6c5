"""``fixed_pt`` ProcessModels of :mod:`lava_port.processes`.

The neuron computes with :mod:`eventsim.fixed_point` (the same helpers as
the reference and the Numba engine), so Lava's arithmetic is eventsim's by
construction.  Both models follow one rule for failures: an exception inside
``run_spk`` would hang Lava's ``stop()`` (DESIGN section 3), so it is written
to ``<run_dir>/error-<name>.txt`` and the model keeps the graph flowing with
zeros; the host raises it after the run.
"""
from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np

from lava_port import _lava  # noqa: F401  (must run before the first Lava import)
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from eventsim import fixed_point as fp
from lava_port.layout import COUNTERS
from lava_port.processes import RecordSink, SamNeuron

ERROR_PREFIX = "error-"


class _Guarded(PyLoihiProcessModel):
    """Records the first exception of ``run_spk`` instead of raising it."""

    failed = False

    def _fail(self):
        self.failed = True
        path = Path(self.proc_params["run_dir"]) / f"{ERROR_PREFIX}{self.proc_params['name']}.txt"
        path.write_text(f"{type(self).__name__} of layer {self.proc_params['name']!r} failed at Lava step "
                        f"{self.time_step}:\n{traceback.format_exc()}")

    def _sample_step(self):
        """``(k, t)`` of the current Lava step, or ``None`` outside the samples."""
        offset, steps, samples = (int(v) for v in self.schedule)
        local = self.time_step - 1 - offset
        if not 0 <= local < steps * samples:
            return None
        return divmod(local, steps)


@implements(proc=SamNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySamNeuronModel(_Guarded):
    """Bit-exact eventsim neuron (DESIGN sections 2-4) on Lava's CPU backend."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    rec_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    gain: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    consts: np.ndarray = LavaPyType(np.ndarray, np.int64)
    theta: np.ndarray = LavaPyType(np.ndarray, np.int64)
    schedule: np.ndarray = LavaPyType(np.ndarray, np.int64)
    fanout: np.ndarray = LavaPyType(np.ndarray, np.int64)
    decay: np.ndarray = LavaPyType(np.ndarray, np.int64)
    sam_flags: np.ndarray = LavaPyType(np.ndarray, np.int64)
    sam_trace: np.ndarray = LavaPyType(np.ndarray, np.int64)
    sam_t_last: np.ndarray = LavaPyType(np.ndarray, np.int32)
    sam_count: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def run_spk(self):
        current = self.a_in.recv()
        spikes = np.zeros(self.s_out.shape, np.int32)
        record = np.zeros(self.rec_out.shape, np.int64)
        where = None if self.failed else self._sample_step()
        if where is not None:
            try:
                spikes = self._advance(current, where[1], record)
            except Exception:
                self._fail()
                spikes[...] = 0
                record[...] = 0
        self.s_out.send(spikes)
        self.rec_out.send(record)

    def _advance(self, current, t, record):
        """One eventsim step of the whole layer at sample step ``t``; fills ``record``.

        Parameters
        ----------
        current : ndarray of int32, Lava shape
            Synaptic sums ``I[t]`` from the Conv or Dense.
        t : int
            Step within the sample; ``t = 0`` starts a new sample (state reset).
        record : ndarray of int64, shape (R,)
            Zeroed record vector, laid out by ``proc_params["segments"]``.

        Returns
        -------
        ndarray of int32, Lava shape
            The spikes ``s[t] = [v[t-1] > theta]``.
        """
        if t == 0:
            for state in (self.v, self.sam_trace, self.sam_t_last, self.sam_count):
                state[...] = 0
        shift, lam12, reset_zero = (int(c) for c in self.consts)
        row = t if self.gain.shape[0] > 1 else 0
        v, fired, saturated = fp.neuron_step(self.v.astype(np.int64), current.astype(np.int64),
                                             self.gain[row].astype(np.int64), self.bias[row].astype(np.int64),
                                             shift, self.theta, lam12, bool(reset_zero))
        self.v[...] = v
        n_spikes = int(np.count_nonzero(fired))
        n_sam = 0
        for seg in self.proc_params["segments"]:
            dst = record[seg.start : seg.start + seg.size]
            if seg.name == "sam":
                n_sam = n_spikes
                self._sam_update(np.flatnonzero(fired), t, dst)
            elif seg.name == "spikes":
                dst[:] = fired.reshape(-1)
            elif seg.name == "voltage":
                dst[:] = v.reshape(-1)
        counters = dict(spikes=n_spikes, saturations=int(np.count_nonzero(saturated)), sam_updates=n_sam,
                        synops_next=int(self.fanout[fired].sum()))
        record[: len(COUNTERS)] = [counters[name] for name in COUNTERS]
        return fired.astype(np.int32)

    def _sam_update(self, idx, t, sam_map):
        """SAM trace update for the neurons ``idx`` that spike at ``t`` (Eq. 12-14).

        The rule is :func:`eventsim.fixed_point.sam_spike`, applied to arrays.

        Parameters
        ----------
        idx : ndarray of int64
            Flat (Lava-order) indices of the spiking neurons.
        t : int
            Step within the sample.
        sam_map : ndarray of int64, shape (W * H,)
            ``M_t`` in Q24, accumulated over channels.
        """
        if idx.size == 0:
            return
        trace = self.sam_trace.reshape(-1)
        t_last = self.sam_t_last.reshape(-1)
        count = self.sam_count.reshape(-1)
        ncs, after = fp.sam_spike(trace[idx], t_last[idx].astype(np.int64), count[idx].astype(np.int64), t,
                                  self.decay, bool(self.sam_flags[1]))
        channels = self.v.shape[-1] if self.v.ndim == 3 else self.v.size
        np.add.at(sam_map, idx // channels, ncs)
        trace[idx] = after
        t_last[idx] = t
        count[idx] += 1


@implements(proc=RecordSink, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRecordSinkModel(_Guarded):
    """Stores each active step's record into the host's memory-mapped files."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    schedule: np.ndarray = LavaPyType(np.ndarray, np.int64)

    files = None

    def run_spk(self):
        record = self.a_in.recv()
        where = None if self.failed else self._sample_step()
        if where is None:
            return
        try:
            self._store(record, *where)
        except Exception:
            self._fail()

    def _store(self, record, k, t):
        if self.files is None:
            paths = self.proc_params["paths"]
            self.files = {seg.name: np.load(paths[seg.name], mmap_mode="r+") for seg in self.proc_params["segments"]}
        steps = int(self.schedule[1])
        for seg in self.proc_params["segments"]:
            values = record[seg.start : seg.start + seg.size]
            if not seg.final:
                self.files[seg.name][k, t] = values
            elif t == steps - 1:
                self.files[seg.name][k] = values
        if t == steps - 1 and k == int(self.schedule[2]) - 1:
            for mm in self.files.values():
                mm.flush()
