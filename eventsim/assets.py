"""Files that ship inside the package."""
from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_MODEL = DATA_DIR / "default_model.h5"
#: The packaged models by name: file and the ``make`` target that rebuilds it.
MODELS = {
    "default": (DEFAULT_MODEL, "default-model"),
    "sparse": (DATA_DIR / "sparse_model.h5", "sparse-model"),
    "dvs": (DATA_DIR / "dvs_model.h5", "dvs-model"),
}


def default_model(name: str = "default") -> Path:
    """Path of a trained model file that ships with eventsim.

    Parameters
    ----------
    name : {"default", "sparse", "dvs"}
        ``"default"``: the spiking VGG of docs/training.md (hidden spike
        rates 11-16 %).  ``"sparse"``: the same recipe trained with the
        synaptic-operation regularizer (``--synops-weight 8``): as accurate,
        88 % fewer hidden-layer synaptic operations per image.  ``"dvs"``:
        a spiking VGG trained on SynthShapes-DVS event counts (input
        encoding ``"counts"``, sensor 32x32x2, 16 time bins).

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        An unknown name.
    FileNotFoundError
        If the package was installed without the file (its ``make`` target
        rebuilds it).
    """
    if name not in MODELS:
        raise ValueError(f"default_model: unknown name {name!r}; packaged models are {sorted(MODELS)}")
    path, target = MODELS[name]
    if not path.is_file():
        raise FileNotFoundError(f"the {name} model is missing: {path} (run 'make {target}')")
    return path


def model_argument(arg: str):
    """A command's model argument: a file path, or the name of a packaged model when no such file exists.

    ``eventsim run dvs --events ...`` runs :func:`default_model` ``("dvs")``;
    a file called ``dvs`` in the working folder takes precedence.

    Returns
    -------
    str or Path
    """
    return default_model(arg) if arg in MODELS and not Path(arg).exists() else arg
