"""Files that ship inside the package."""
from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_MODEL = DATA_DIR / "default_model.h5"


def default_model() -> Path:
    """Path of the trained model file that ships with eventsim.

    Returns
    -------
    Path

    Raises
    ------
    FileNotFoundError
        If the package was installed without it (``make default-model``
        rebuilds it).
    """
    if not DEFAULT_MODEL.is_file():
        raise FileNotFoundError(f"the default model is missing: {DEFAULT_MODEL} (run 'make default-model')")
    return DEFAULT_MODEL
