"""Safe file output: checked paths, and atomic writes (temp file beside the target, then rename).

``check_output_path`` refuses anything but a new or regular file in a
writable directory, and paths that are inputs of the same command.
``atomic_output`` writes to a temporary file and renames it; on any error,
and on SIGINT or SIGTERM during the write, the temporary file is removed and
the target is left untouched (see ``docs/security.md``).
"""
from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
from pathlib import Path

import numpy as np

from .errors import EventsimError, InputError, OutputPathError, WriteError


def _same_file(a: Path, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError, TypeError):
        return os.path.abspath(a) == os.path.abspath(os.fspath(b)) if b is not None else False


def check_output_path(path, inputs=(), label="output") -> Path:
    """Check that ``path`` can be written as a new or replaced regular file.

    Parameters
    ----------
    path : str or Path
    inputs : iterable of str or Path
        Input (and other output) paths of the same command; ``path`` may not
        name any of them (``None`` entries are skipped).
    label : str
        Argument name for messages (``"--out"``).

    Returns
    -------
    Path

    Raises
    ------
    OutputPathError
        For a name ending in ``/``, a directory, FIFO, device or other
        non-regular file, a missing or read-only directory, or an input.
    """
    text = os.fspath(path)
    if isinstance(text, bytes) or not text:
        raise OutputPathError(f"{label}: expected a file name, got {path!r}")
    if text.endswith(("/", os.sep)):
        raise OutputPathError(f"{label}: {text} ends with '/', so it names a directory; give a file name")
    path = Path(text)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputPathError(f"{label}: output directory does not exist: {parent} (for {path}); create it first")
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"{label}: output directory is not writable: {parent}")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutputPathError(f"{label}: cannot inspect {path} ({exc.strerror})") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputPathError(f"{label}: output path is a directory: {path}; give a file name")
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputPathError(f"{label}: {path} exists and is not a regular file (a FIFO, device or socket); "
                              "refusing to replace it")
    for other in inputs:
        if other is not None and _same_file(path, other):
            raise OutputPathError(f"{label}: {path} is also an input or output of this command ({other}); "
                                  "refusing to overwrite it")
    return path


def check_output_paths(outputs: dict, inputs=()) -> None:
    """Check every ``{label: path}`` output before anything is computed; outputs must differ."""
    named = [(label, p) for label, p in outputs.items() if p is not None]
    for i, (label, p) in enumerate(named):
        check_output_path(p, list(inputs) + [q for _, q in named[:i]], label)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def deferred_signals():
    """Record SIGINT/SIGTERM while the block runs (main thread only); yields the list of received signals."""
    got = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) not in (signal.SIG_IGN, None):  # None: a handler set outside Python
            old[sig] = signal.signal(sig, lambda signum, frame: got.append(signum))
    try:
        yield got
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def atomic_output(path, suffix=".tmp"):
    """Yield a temporary path in the target's directory; rename it on success.

    On any exception the temporary file is removed and the target is left
    untouched, so a failed run never leaves a partial or clobbered file.
    SIGINT or SIGTERM received during the write abort it the same way and are
    then re-raised (``KeyboardInterrupt``, or termination by SIGTERM); an
    ``OSError`` or HDF5 ``RuntimeError`` while writing (a full disk) becomes
    :class:`~eventsim.errors.WriteError`.
    """
    path = check_output_path(path)
    with deferred_signals() as received:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        os.close(fd)
        try:
            yield Path(tmp)
            if not received:
                os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
                os.replace(tmp, path)
        except EventsimError:
            _remove(tmp)
            raise
        except (OSError, RuntimeError) as exc:
            _remove(tmp)
            raise WriteError(f"{path}: writing failed, nothing was written ({exc}); is the disk full?") from None
        except BaseException:
            _remove(tmp)
            raise
        if received:
            _remove(tmp)
    if received:
        signal.raise_signal(received[0])
        raise KeyboardInterrupt  # a handler that returned: still abort the caller


def _remove(tmp):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


@contextlib.contextmanager
def h5_image(path):
    """Yield a new in-memory HDF5 file; on success write its image to ``path`` with plain Python I/O.

    HDF5's own file drivers can crash the process when a write fails (a full
    disk) and the file is then closed; building the file in memory makes such
    a failure an ordinary ``OSError`` from ``write``.
    """
    import h5py

    with h5py.File(f"{path}.mem", "w", driver="core", backing_store=False) as f:
        yield f
        f.flush()
        image = f.id.get_file_image()
    with open(path, "wb") as out:
        out.write(image)


def load_array(path, label) -> np.ndarray:
    """``np.load`` without pickle, with errors that name the file; FIFOs and devices are refused.

    Parameters
    ----------
    path : str or Path
    label : str
        What the file holds, for error messages (``"images"``).
    """
    from ._h5safe import check_regular_file

    path = check_regular_file(path, label, InputError)
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise EventsimError(f"{path}: not a plain .npy array ({exc}); object/pickled arrays are refused") from None
    except OSError as exc:
        raise EventsimError(f"{path}: cannot read {label} ({exc})") from None


def save_npy(path, array) -> Path:
    """Write ``array`` as ``.npy`` (no pickle) atomically; returns the path."""
    with atomic_output(path, suffix=".npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
    return Path(path)
