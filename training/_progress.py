"""Optional tqdm progress bars for the training side (tqdm is in the ``train`` extra, not required)."""
from __future__ import annotations


def progress_bar(iterable, enabled, desc, unit="batch"):
    """``iterable`` wrapped in a transient tqdm bar when ``enabled`` and tqdm is installed, else unchanged."""
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ModuleNotFoundError:
        return iterable
    return tqdm(iterable, desc=desc, unit=unit, leave=False)
