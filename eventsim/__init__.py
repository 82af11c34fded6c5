"""eventsim: fixed-point, event-driven SNN simulation with on-line Spike Activation Maps.

Public API (DESIGN section 7)::

    load_model, save_model, default_model, ModelBuilder, Model
    Simulator, Result, encode_poisson
    ModelFormatError, InputError
"""
from .assets import default_model
from .builder import ModelBuilder
from .encoding import encode_poisson
from .errors import EventsimError, InputError, ModelFormatError, ResultFormatError
from .model import Model
from .model_io import load_model, save_model
from .result import Result
from .simulator import Simulator

__version__ = "0.1.0"

__all__ = [
    "EventsimError", "InputError", "Model", "ModelBuilder", "ModelFormatError", "ResultFormatError",
    "Result", "Simulator", "default_model", "encode_poisson", "load_model", "save_model",
]
