"""Atomic file output: write to a temporary file beside the target, then rename."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import InputError


def check_output_path(path) -> Path:
    """Resolve ``path`` and check that its directory exists and is writable.

    Raises
    ------
    InputError
        Naming the missing or read-only directory.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output directory does not exist: {parent} (for {path}); create it first")
    if not os.access(parent, os.W_OK):
        raise InputError(f"output directory is not writable: {parent}")
    if path.is_dir():
        raise InputError(f"output path is a directory: {path}; give a file name")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path, suffix=".tmp"):
    """Yield a temporary path in the target's directory; rename it on success.

    On any exception the temporary file is removed and the target is left
    untouched, so a failed run never leaves a partial or clobbered file.
    """
    path = check_output_path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_npy(path, array) -> Path:
    """Write ``array`` as ``.npy`` (no pickle) atomically; returns the path."""
    with atomic_output(path, suffix=".npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
    return Path(path)
