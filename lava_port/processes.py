"""Lava Processes of lava_port: ports and Vars only (DESIGN section 8.4).

The behaviour lives in :mod:`lava_port.models` (``fixed_pt`` ProcessModels).
Synapses are Lava's own ``Conv`` and ``Dense``; see ``docs/lava.md``.

Lava imports every ``.py`` file of this directory while it looks for
ProcessModels, so every module of the package is import-safe and uses
absolute imports.
"""
from __future__ import annotations

import numpy as np

from lava_port import _lava  # noqa: F401  (must run before the first Lava import)
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


class SamNeuron(AbstractProcess):
    """A layer of fixed-point LIF/IF neurons with an on-line SAM trace.

    Per Lava step the neuron receives the synaptic sums ``I`` of its layer,
    and while the step belongs to a sample (see :mod:`lava_port.layout`)
    applies :func:`eventsim.fixed_point.neuron_step` (leak, per-step gain
    and bias, per-channel threshold, reset by subtraction or to zero,
    counted 24-bit saturation) and, for every neuron
    that spikes, the SAM trace update of DESIGN section 4 (paper Eq. 12-14).

    Parameters
    ----------
    shape : tuple of int
        Lava shape of the layer, ``(W, H, C)`` or ``(C,)``.
    gain, bias : ndarray of int, shape (T_g, C)
        ``G[t, c]`` (int16 range) and ``B[t, c]`` (24-bit, voltage units).
    shift, lam12 : int
        Layer shift ``S`` and Q12 leak.
    theta : int or ndarray of int64, shape (C,)
        Threshold per channel (an int applies to every channel).
    reset_zero : bool
        Reset the voltage to zero after a spike instead of subtracting ``theta``.
    fanout : ndarray of int64, shape ``shape``
        Synaptic operations one spike of each neuron causes in the next layer.
    schedule : tuple of int
        ``(offset, T, N)``: Lava-step delay ``d_l``, steps per sample, samples.
    decay : ndarray of int64, shape (T + 1,)
        ``L[d]`` from :func:`eventsim.fixed_point.sam_decay_table`.
    sam : bool
        Whether this layer computes a SAM map.
    reference : bool
        Use the ``"reference"`` SAM convention.
    segments : tuple of lava_port.layout.Segment
        Layout of the record vector sent on ``rec_out``.
    run_dir : str
        Folder where a failing ProcessModel writes its traceback.
    name : str
        Layer name.

    Ports
    -----
    a_in : InPort, shape ``shape``
        Synaptic sums (int32).
    s_out : OutPort, shape ``shape``
        Spikes in {0, 1} (int32).
    rec_out : OutPort, shape (R,)
        Per-step int64 record: counters, SAM map ``M_t`` (Q24, ``(W, H)``
        flattened), spikes, voltages (see :func:`lava_port.layout.record_segments`).

    Vars
    ----
    consts : int64, (3,)
        ``(S, lam12, reset_zero)``.
    theta : int64, (C,)
        Threshold per channel (the last Lava axis).
    v : int32, ``shape``
        Voltage, 24-bit.
    sam_trace : int64, ``shape``
        SAM trace ``x`` in Q24.
    sam_t_last, sam_count : int32, ``shape``
        Step of the last spike and number of spikes in the current sample.
    """

    def __init__(self, *, shape, gain, bias, shift, theta, lam12, reset_zero, fanout, schedule, decay,
                 sam, reference, segments, run_dir, name):
        record_size = sum(s.size for s in segments)
        super().__init__(shape=shape, segments=tuple(segments), run_dir=str(run_dir), name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.rec_out = OutPort(shape=(record_size,))
        self.v = Var(shape=shape, init=np.zeros(shape, np.int32))
        self.gain = Var(shape=np.shape(gain), init=np.asarray(gain, np.int32))
        self.bias = Var(shape=np.shape(bias), init=np.asarray(bias, np.int32))
        channels = shape[-1]
        self.consts = Var(shape=(3,), init=np.array([shift, lam12, bool(reset_zero)], np.int64))
        self.theta = Var(shape=(channels,), init=np.broadcast_to(np.asarray(theta, np.int64), (channels,)).copy())
        self.schedule = Var(shape=(3,), init=np.asarray(schedule, np.int64))
        self.fanout = Var(shape=shape, init=np.asarray(fanout, np.int64))
        self.decay = Var(shape=np.shape(decay), init=np.asarray(decay, np.int64))
        self.sam_flags = Var(shape=(2,), init=np.array([bool(sam), bool(reference)], np.int64))
        self.sam_trace = Var(shape=shape, init=np.zeros(shape, np.int64))
        self.sam_t_last = Var(shape=shape, init=np.zeros(shape, np.int32))
        self.sam_count = Var(shape=shape, init=np.zeros(shape, np.int32))


class RecordSink(AbstractProcess):
    """Writes the records of one neuron layer to ``.npy`` files as the run goes.

    Reading results with ``Var.get`` costs about 20 us per element in Lava
    0.10, so the sink stores each sample's records straight into
    memory-mapped files that the host created and reads after the run.

    Parameters
    ----------
    size : int
        Length ``R`` of the record vector.
    segments : tuple of lava_port.layout.Segment
    paths : dict of str to str
        ``.npy`` file of each segment: ``(N, T, size)`` per step or
        ``(N, size)`` for final values.
    schedule : tuple of int
        ``(offset, T, N)`` of the neuron layer it records.
    run_dir : str
    name : str

    Ports
    -----
    a_in : InPort, shape (R,)
    """

    def __init__(self, *, size, segments, paths, schedule, run_dir, name):
        super().__init__(segments=tuple(segments), paths=dict(paths), run_dir=str(run_dir), name=name)
        self.a_in = InPort(shape=(size,))
        self.schedule = Var(shape=(3,), init=np.asarray(schedule, np.int64))
