"""Progress reports for long runs: a dependency-free stderr line, or a tqdm bar when tqdm is installed."""
from __future__ import annotations

import sys
import time


class Progress:
    """Print ``label: done/total (rate, eta)`` on one stderr line.

    Parameters
    ----------
    total : int
        Units of work.
    label : str
    enabled : bool or None
        ``None`` shows it only when stderr is a terminal.
    """

    def __init__(self, total: int, label: str = "", enabled=None):
        self.total, self.label, self.done = total, label, 0
        self.enabled = sys.stderr.isatty() if enabled is None else bool(enabled)
        self.start = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        sys.stderr.write(f"\r{self.label}: {self.done}/{self.total} ({rate:.1f}/s, eta {eta:.0f} s)   ")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def progress_bar(iterable, enabled, desc, unit="batch"):
    """``iterable`` wrapped in a transient tqdm bar when ``enabled`` and tqdm is installed, else unchanged.

    Parameters
    ----------
    iterable : iterable
    enabled : bool
    desc : str
        Label of the bar.
    unit : str
        What one item is (``"img"``, ``"batch"``).
    """
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ModuleNotFoundError:
        return iterable
    return tqdm(iterable, desc=desc, unit=unit, leave=False)
