"""Template: conv layer kernels specialised to one layer shape.

:func:`eventsim.kernels.specialize.specialize` imports a copy of this module
with the constants below set to one layer's values, so every loop over
channels or kernel taps has a fixed trip count and unrolls into vector
registers.  What sizes a register block is always a constant (``COUT``,
``K``, the accumulator width); the input channels ``IN_C`` and pool factor
``IN_P`` are constants only for :func:`run_input` (a plan for
:func:`run_events` sets them to 0 and the kernel reads them at run time),
so fewer shapes need their own compilation.  The conv is
a zero-padded "same" cross-correlation (odd ``K``, stride 1) of the
``P x P`` sum-pooled source (floor-cropped).

Two kernels, chosen per layer by the plan (docs/engine.md):

* :func:`run_events` (the source is a spiking layer, read as bitmaps):
  **register blocking per pooled source cell**.  For a cell with spikes and
  a kernel row ``fy``, the flipped weight rows ``wf[c][fy]`` of all its
  events (all ``P x P`` sub-positions and channels) are summed in registers,
  ``r = sum_c wf[c][fy][0:K*COUT]``, then added once to the ``K`` output
  positions of row ``yo = py + fy - K//2``:

  .. math:: I[y_o, x_o, :] \\mathrel{+}= r[(x_o - p_x + K/2) C_{out} : \\ldots]

  ``r`` is int16 when the plan proved ``P^2 sum_c max(w, 0) <= 2^15 - 1``
  and ``P^2 sum_c min(w, 0) >= -2^15`` for every tap and output channel
  (``ACC16``), int32 otherwise: exact either way.
* :func:`run_input` (the source is the encoder, about 40 % of pixels fire):
  the signed input is sum-pooled into a zero-bordered int16 grid and
  convolved densely, ``COUT`` lanes at a time; synaptic operations are
  still counted per input event, as the energy model needs.

Both update the neurons and emit bitmaps in the same pass over positions
(fixed-width copy of :func:`eventsim.kernels.neurons.update_layer`) and run
:func:`eventsim.kernels.neurons.sam_pass` for SAM layers.  All steps of the
layer run before the next layer (layer-wise order, measured as fast as
step-wise in ``docs/engine.md``); the driver runs image ranges in threads.
"""
import numpy as np
from numba import carray

from eventsim import fixed_point as fp
from eventsim.kernels.bits import clear_lowest, lowest_bit, stack_array
from eventsim.kernels.jit import inlined, kernel
from eventsim.kernels.interface import CNT_SAT, CNT_SYNOPS
from eventsim.kernels.neurons import count_spikes, reset_image, sam_pass

# <constants>
COUT = 16
K = 3
ACC16 = True
IN_C = 3
IN_P = 2
# </constants>

PAD = K // 2
RUN = K * COUT
NWO = (COUT + 63) // 64
GROUP = 64 // COUT if COUT <= 32 else 1  # positions whose spike words share one 64-bit word in the SAM pass
ACC = np.int16 if ACC16 else np.int32
U1 = np.uint64(1)


@inlined
def update_position(g, b, vrow, cur, neurons, words):
    """:func:`eventsim.kernels.neurons.update_layer` for one position of ``COUT`` neurons.

    ``g``, ``b`` are this step's gain and bias rows.  Reads and clears
    ``cur`` (``COUT`` synaptic sums), writes ``NWO`` words.  Returns the
    number of clamped neurons.
    """
    shift, theta, lam12 = neurons.shift, neurons.theta, neurons.lam12
    n_sat = 0
    word = np.uint64(0)
    for j in range(COUT):
        v, _, sat = fp.neuron_step(np.int64(vrow[j]), np.int64(cur[j]), g[j], b[j], shift, theta, lam12, False)
        vrow[j] = v
        cur[j] = 0
        n_sat += sat
        word |= np.uint64(v > theta) << np.uint64(j & 63)
        if (j & 63) == 63 or j == COUT - 1:
            words[j >> 6] = word
            word = np.uint64(0)
    return n_sat


@kernel
def scatter_cells(src, wf, acc, geometry, c_in, offsets):
    """Register-blocked synaptic input of one step from a spiking source.

    Parameters
    ----------
    src : ndarray of uint64, shape (SH*SW*NWI,)
        Source spikes of this step (bitmaps, see :mod:`eventsim.kernels.neurons`),
        ``NWI = ceil(c_in / 64)``.
    wf : ndarray of ACC, shape (c_in*K*K*COUT,)
        Flipped weights ``[c][K-1-ky][K-1-kx][c_out]``.
    acc : ndarray of int32, shape ((H + K - 1) * (W + K - 1) * COUT,)
        Synaptic sums, channels-last, with a ``K // 2`` border that absorbs
        the taps falling outside the map (so every write-back is one full
        ``K * COUT`` run); added to.
    geometry : eventsim.kernels.interface.Geometry
        The output map ``H x W`` is the pooled source map.
    c_in : int
        Source channels.
    offsets : ndarray of int64, shape (P*P*c_in,)
        Scratch: the events of one cell.

    Returns
    -------
    int
        Synaptic operations: weights added by the events, border-clipped.
    """
    r = carray(stack_array(RUN, ACC), RUN)
    h, w, sw = geometry.h, geometry.w, geometry.src_w
    wp = w + 2 * PAD
    p = 1 << geometry.pool_shift
    nwi = (c_in + 63) >> 6
    synops = 0
    for py in range(h):
        for px in range(w):
            n = 0  # list the cell's events once, as weight offsets of kernel row 0
            for dy in range(p):
                row = ((py * p + dy) * sw + px * p) * nwi
                for q in range(p * nwi):
                    bits = src[row + q]
                    base = (q % nwi) * 64
                    while bits != 0:
                        offsets[n] = (base + lowest_bit(bits)) * K * RUN
                        n += 1
                        bits = clear_lowest(bits)
            if n == 0:
                continue
            cols = min(w - 1, px + PAD) - max(0, px - PAD) + 1
            rows = min(h - 1, py + PAD) - max(0, py - PAD) + 1
            synops += n * rows * cols
            for fy in range(K):
                for j in range(RUN):
                    r[j] = 0
                for e in range(n):
                    o = offsets[e] + fy * RUN
                    wrow = wf[o : o + RUN]  # slices, not offset indexing: j >= 0 is then known and
                    for j in range(RUN):  # the loop vectorizes (no negative-index wrap-around)
                        r[j] += wrow[j]
                a0 = ((py + fy) * wp + px) * COUT
                dst = acc[a0 : a0 + RUN]
                for j in range(RUN):
                    dst[j] += r[j]
    return synops * COUT


@kernel
def after_emit(words, sam, counters, t, i):
    """Fixed-width :func:`eventsim.kernels.neurons.after_emit`: :func:`sam_grouped` when ``COUT <= 32``."""
    count_spikes(words, sam, counters, t)
    if sam.maps.shape[1] > 0:
        if GROUP > 1:
            sam_grouped(words, t, sam, i)
        else:
            sam_pass(words, COUT, t, sam, i)


@kernel
def sam_grouped(words, t, sam, i):
    """:func:`eventsim.kernels.neurons.sam_pass` for ``COUT <= 32``: the words of ``GROUP``
    neighbouring positions are shifted into one, so one bit loop (and one mispredicted loop
    exit) serves several positions.  Same arithmetic per spike, same sums per position.
    """
    out = sam.maps[i, t]
    trace, t_last, count = sam.trace[i], sam.t_last[i], sam.count[i]
    totals = carray(stack_array(GROUP, np.int64), GROUP)
    n_pos = out.shape[0]
    for p0 in range(0, n_pos, GROUP):
        bits = np.uint64(0)
        for k in range(GROUP):
            totals[k] = 0
            if p0 + k < n_pos:
                bits |= words[p0 + k] << np.uint64(k * COUT)
        if bits == 0:
            continue
        while bits != 0:
            b = lowest_bit(bits)
            n = p0 * COUT + b
            earlier = count[n] if sam.reference else 0
            ncs, trace[n] = fp.sam_spike(trace[n], t_last[n], earlier, t, sam.table, sam.reference)
            t_last[n] = t
            if sam.reference:
                count[n] += 1
            totals[b // COUT] += ncs
            bits = clear_lowest(bits)
        for k in range(GROUP):
            if totals[k] != 0:
                out[p0 + k] = np.float32(totals[k] / float(fp.SAM_ONE))


@inlined
def step_rows(outs, neurons, i, t):
    """``(emit, words, gain, bias)`` of step ``t`` for image ``i``: whether step ``t + 1``
    exists, the bitmap its spikes go to, and this step's gain and bias rows."""
    emit = t + 1 < outs.counters.shape[2]
    row = t if neurons.gain.shape[0] > 1 else 0
    return emit, outs.bits[i, t + 1 if emit else 0], neurons.gain[row], neurons.bias[row]


@kernel
def clear_border(acc, h, w):
    """Zero the ``K // 2`` border of a bordered accumulator (the interior is cleared by the update)."""
    wp = w + 2 * PAD
    for y in range(h + 2 * PAD):
        inner = PAD <= y < h + PAD
        for x in range(wp):
            if not inner or x < PAD or x >= w + PAD:
                for j in range(COUT):
                    acc[(y * wp + x) * COUT + j] = 0


@kernel
def run_events(i, src, wf, neurons, sam, outs, geometry, acc, offsets):
    """All steps of one conv layer for image ``i`` from a spiking source.

    Parameters
    ----------
    i : int
        Image index into the batch arrays.
    src : ndarray of uint64, shape (N, T, SH*SW*NWI)
        Source bitmaps; ``wf.size // (K*K*COUT)`` source channels.
    wf : ndarray of ACC
        Flipped weights (:func:`scatter_cells`).
    neurons : eventsim.kernels.interface.Neurons
    sam : eventsim.kernels.interface.Sam
    outs : eventsim.kernels.interface.Outputs
        Bitmaps ``(N, T, H*W*NWO)``, voltages, counters.
    geometry : eventsim.kernels.interface.Geometry
    acc : ndarray of int32, shape (N, (H + K - 1) * (W + K - 1) * COUT)
        Scratch synaptic sums with a border (:func:`scatter_cells`), cleared here.
    offsets : ndarray of int64, shape (N, P*P*C_in)
        Scratch for :func:`scatter_cells`.
    """
    steps = src.shape[1]
    c_in = wf.shape[0] // (K * K * COUT)
    h, w = geometry.h, geometry.w
    vol, cur, counters = outs.vol[i], acc[i], outs.counters[i]
    reset_image(i, outs, sam)
    cur[:] = 0
    spare = carray(stack_array(NWO, np.uint64), NWO)
    for t in range(steps):
        counters[CNT_SYNOPS, t] = scatter_cells(src[i, t], wf, cur, geometry, c_in, offsets[i])
        emit, words, g, b = step_rows(outs, neurons, i, t)
        n_sat = 0
        for y in range(h):
            for x in range(w):
                pos = y * w + x
                a0 = ((y + PAD) * (w + 2 * PAD) + x + PAD) * COUT
                out = words[pos * NWO : (pos + 1) * NWO] if emit else spare
                n_sat += update_position(g, b, vol[pos * COUT : (pos + 1) * COUT], cur[a0 : a0 + COUT], neurons, out)
        clear_border(cur, h, w)
        counters[CNT_SAT, t] = n_sat
        if emit:
            after_emit(words, sam, counters, t + 1, i)


@kernel
def pool_input(spk, grid, geometry):
    """Sum-pool one step of signed input into the zero-bordered grid.

    Parameters
    ----------
    spk : ndarray of int8, shape (IN_C, SH, SW)
        Input of this step, values in {-1, 0, 1}.
    grid : ndarray of int16, shape ((H + K - 1) * (W + K - 1) * IN_C,)
        Pooled input, channels-last, with a ``K // 2`` zero border; the
        interior is overwritten.
    geometry : eventsim.kernels.interface.Geometry
        ``H x W``: the pooled map (floor-cropped).

    Returns
    -------
    n_in : int
        Non-zero inputs, cropped ones included.
    synops : int
        Weights the input events add (each: border-clipped taps x ``COUT``).
    """
    h, w, c_in, p = geometry.h, geometry.w, IN_C, IN_P
    gw = w + 2 * PAD
    n_in = syn = 0
    for py in range(h):
        cells = grid[((py + PAD) * gw + PAD) * c_in : ((py + PAD) * gw + PAD + w) * c_in]
        nz = 0
        for px in range(w):  # vectorizes: p and c_in are constants
            for c in range(c_in):
                total = 0
                for dy in range(p):
                    for dx in range(p):
                        v = spk[c, py * p + dy, px * p + dx]
                        total += v
                        nz += v != 0
                cells[px * c_in + c] = total
        taps = nz * K  # every cell's events reach K columns, except near the left and right edges
        for q in range(w):
            if q < PAD or q >= w - PAD:
                cols = min(w - 1, q + PAD) - max(0, q - PAD) + 1
                for c in range(c_in):
                    for dy in range(p):
                        for dx in range(p):
                            taps -= (K - cols) * (spk[c, py * p + dy, q * p + dx] != 0)
        n_in += nz
        syn += taps * (min(h - 1, py + PAD) - max(0, py - PAD) + 1)
    for c in range(c_in):
        plane = spk[c]
        for y in range(plane.shape[0]):
            for x in range(0 if y >= h * p else w * p, plane.shape[1]):
                n_in += plane[y, x] != 0
    return n_in, syn * COUT


@kernel
def run_input(i, spikes, w1, neurons, sam, outs, geometry, grid, in_spikes):
    """All steps of one conv layer for image ``i`` from the encoder: dense int16 conv of the pooled input.

    Parameters
    ----------
    i : int
    spikes : ndarray of int8, shape (N, T, IN_C, SH, SW)
        Input spikes (as given: no channels-last copy), pooled by ``IN_P``.
    w1 : ndarray of ACC, shape (K*K*IN_C*COUT,)
        Weights ``[ky][kx][c][c_out]``.
    neurons, sam, outs, geometry
        As in :func:`run_events`.
    grid : ndarray of int16, shape (N, (H + K - 1) * (W + K - 1) * IN_C)
        Scratch pooled input, cleared here (the border stays zero).
    in_spikes : ndarray of int64, shape (N, T)
        Output: input events per step.
    """
    steps, c_in = spikes.shape[1], IN_C
    h, w = geometry.h, geometry.w
    gw = w + 2 * PAD
    vol, counters, pooled = outs.vol[i], outs.counters[i], grid[i]
    reset_image(i, outs, sam)
    pooled[:] = 0
    a = carray(stack_array(COUT, ACC), COUT)
    spare = carray(stack_array(NWO, np.uint64), NWO)
    for t in range(steps):
        in_spikes[i, t], counters[CNT_SYNOPS, t] = pool_input(spikes[i, t], pooled, geometry)
        emit, words, g, b = step_rows(outs, neurons, i, t)
        n_sat = 0
        for yo in range(h):
            for xo in range(w):
                for j in range(COUT):
                    a[j] = 0
                for ky in range(K):
                    for kx in range(K):
                        base = ((yo + ky) * gw + xo + kx) * c_in
                        for c in range(c_in):
                            s = pooled[base + c]
                            wo = ((ky * K + kx) * c_in + c) * COUT
                            wrow = w1[wo : wo + COUT]
                            for j in range(COUT):
                                a[j] += s * wrow[j]
                pos = yo * w + xo
                out = words[pos * NWO : (pos + 1) * NWO] if emit else spare
                n_sat += update_position(g, b, vol[pos * COUT : (pos + 1) * COUT], a, neurons, out)
        counters[CNT_SAT, t] = n_sat
        if emit:
            after_emit(words, sam, counters, t + 1, i)


@kernel
def batch_events(lo, hi, src, wf, neurons, sam, outs, geometry, acc, offsets):
    """:func:`run_events` for images ``lo..hi-1`` (the driver gives each thread its own range)."""
    for i in range(lo, hi):
        run_events(i, src, wf, neurons, sam, outs, geometry, acc, offsets)


@kernel
def batch_input(lo, hi, spikes, w1, neurons, sam, outs, geometry, grid, in_spikes):
    """:func:`run_input` for images ``lo..hi-1``."""
    for i in range(lo, hi):
        run_input(i, spikes, w1, neurons, sam, outs, geometry, grid, in_spikes)
