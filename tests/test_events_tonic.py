"""eventsim.events against tonic's own functions on random streams (optional: skipped without tonic).

tonic's dependencies (numpy<2, librosa, torch for some modules) do not fit
eventsim's environment, so it is installed with ``pip install --no-deps
tonic`` (see docs/events.md) and its package ``__init__`` (which imports all
data sets) is bypassed: only ``tonic/slicers.py``,
``tonic/functional/to_frame.py`` and ``tonic/functional/denoise.py`` are
and ``tonic/io.py`` are loaded, which need NumPy and typing_extensions.
"""
import importlib.util
import sys
import types

import numpy as np
import pytest

from eventsim import events as E
from eventsim.errors import EventsError

SPEC = importlib.util.find_spec("tonic")
if SPEC is None or not SPEC.submodule_search_locations:
    pytest.skip("tonic is not installed (optional oracle: pip install --no-deps tonic typing_extensions)",
                allow_module_level=True)


def _load_tonic_functions():
    """Import tonic's to_frame and denoise modules without running tonic/__init__.py."""
    saved = {name: sys.modules.get(name) for name in ("tonic", "tonic.functional")}
    root = list(SPEC.submodule_search_locations)
    package = types.ModuleType("tonic")
    package.__path__ = root
    functional = types.ModuleType("tonic.functional")
    functional.__path__ = [f"{p}/functional" for p in root]
    sys.modules.update({"tonic": package, "tonic.functional": functional})
    try:
        to_frame = importlib.import_module("tonic.functional.to_frame").to_frame_numpy
        denoise = importlib.import_module("tonic.functional.denoise").denoise_numpy
        read_mnist = importlib.import_module("tonic.io").read_mnist_file
    finally:
        for name in ("tonic", "tonic.functional", "tonic.slicers", "tonic.functional.to_frame",
                     "tonic.functional.denoise", "tonic.io"):
            sys.modules.pop(name, None)
        sys.modules.update({k: v for k, v in saved.items() if v is not None})
    return to_frame, denoise, read_mnist


try:
    tonic_to_frame, tonic_denoise, tonic_read_mnist = _load_tonic_functions()
except ImportError as exc:
    pytest.skip(f"tonic's to_frame/denoise do not import here ({exc})", allow_module_level=True)


def random_stream(rng, max_events=300):
    width, height, polarities = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 3))
    n = int(rng.integers(1, max_events))
    span = int(rng.choice([5, 100, 10**4, 10**7]))
    t = np.sort(rng.integers(0, span, n)) + int(rng.integers(0, 10**6))
    return (E.make_events(rng.integers(0, width, n), rng.integers(0, height, n), t,
                          rng.integers(0, polarities, n)), (width, height, polarities))


def check_same(ev, sensor, theirs, **kwargs):
    """Our frames equal tonic's, or, where tonic's (int16) counts exceed int8, ours raise."""
    if theirs.max() > 127:
        with pytest.raises(EventsError, match="outside int8"):
            E.to_frames(ev, sensor, **kwargs)
        return False
    np.testing.assert_array_equal(E.to_frames(ev, sensor, **kwargs), theirs)
    return True


@pytest.mark.parametrize("seed", range(40))
def test_to_frames_equals_tonic_to_frame(seed):
    rng = np.random.default_rng(seed)
    compared = 0
    for _ in range(10):
        ev, sensor = random_stream(rng)
        duration = int(ev["t"][-1] - ev["t"][0])
        n_bins = int(rng.integers(1, 12))
        if duration // n_bins:
            compared += check_same(ev, sensor, tonic_to_frame(ev.copy(), sensor, n_time_bins=n_bins),
                                   n_time_bins=n_bins)
        window = int(rng.integers(1, 2 * duration + 3))
        for incomplete in (False, True):
            theirs = tonic_to_frame(ev.copy(), sensor, time_window=window, include_incomplete=incomplete)
            same = check_same(ev, sensor, theirs, time_window=window, include_incomplete=incomplete)
            compared += same
            if same and sensor[2] == 2 and np.abs(theirs[:, 1] - theirs[:, 0]).max() <= 127:
                signed = E.to_frames(ev, sensor, time_window=window, include_incomplete=incomplete,
                                     polarity="signed")
                np.testing.assert_array_equal(signed[:, 0], theirs[:, 1] - theirs[:, 0])
    assert compared >= 10


@pytest.mark.parametrize("seed", range(40))
def test_denoise_equals_tonic_denoise_after_the_first_filter_time(seed):
    # tonic treats a pixel that never fired as having fired at t=0; from t >= filter_time on the rules agree.
    rng = np.random.default_rng(1000 + seed)
    for _ in range(10):
        ev, _ = random_stream(rng)
        filter_time = int(rng.integers(1, 3000))
        ev["t"] += filter_time
        np.testing.assert_array_equal(E.denoise(ev, filter_time), tonic_denoise(ev, filter_time))


@pytest.mark.parametrize("seed", range(20))
def test_nmnist_reader_equals_tonic_read_mnist_file(seed, tmp_path):
    """Random N-MNIST files (34x34, 23-bit timestamps, overflow records anywhere): our reader equals tonic's."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    t = np.sort(rng.integers(0, 2**23, n))
    x, y, p = rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n)
    y[rng.random(n) < 0.05] = 240                                        # timestamp-overflow records
    raw = np.stack([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], axis=1).astype(np.uint8)
    path = tmp_path / "sample.bin"
    path.write_bytes(raw.tobytes())
    theirs = tonic_read_mnist(str(path), dtype=np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64),
                                                           ("p", np.int8)]))
    if len(theirs) == 0:
        with pytest.raises(EventsError):
            E.read(path)
        return
    ours, size = E.read(path)
    assert size == (34, 34, 2)
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(ours[name].astype(np.int64), theirs[name].astype(np.int64), err_msg=name)
