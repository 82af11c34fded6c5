"""Exceptions raised at eventsim's public boundary, phrased in the user's terms.

Every class subclasses :class:`EventsimError` (the CLI turns it into a one-line
``error: ...`` and exit status 2) and, where natural, a built-in exception, so
``except ValueError`` keeps working.
"""
from __future__ import annotations


class EventsimError(Exception):
    """Base class of every error eventsim raises on purpose."""


class ModelFormatError(EventsimError, ValueError):
    """A model file (or in-memory model description) breaks the format contract.

    The message names the HDF5 path (``file.h5:/layers/conv1/weight``) and what
    was expected there.
    """


class InputError(EventsimError, ValueError):
    """Images, spikes or run options that the simulator cannot accept.

    The message names the argument and what was expected.
    """


class ResultFormatError(EventsimError, ValueError):
    """A result file that is not a readable eventsim result."""


class UnsafeFileError(EventsimError, ValueError):
    """A file refused because reading it could touch other files, block or exhaust memory.

    External or soft links, virtual datasets, external raw storage, unknown
    filters, and paths that are not regular files (FIFOs, devices,
    directories); see ``docs/security.md``.
    """


class UnsafeModelFileError(UnsafeFileError, ModelFormatError):
    """A model file refused for safety (see :class:`UnsafeFileError`)."""


class UnsafeResultFileError(UnsafeFileError, ResultFormatError):
    """A result file refused for safety (see :class:`UnsafeFileError`)."""


class IntegrityError(EventsimError, ValueError):
    """A file whose stored content checksum does not match its content."""


class ModelIntegrityError(IntegrityError, ModelFormatError):
    """A model file whose content checksum does not match (modified or corrupted)."""


class ResultIntegrityError(IntegrityError, ResultFormatError):
    """A result file whose content checksum does not match (modified or corrupted)."""


class OutputPathError(InputError):
    """An output path that cannot be written safely.

    A directory, FIFO, device or other non-regular file, a name ending in
    ``/``, a missing or read-only directory, or a path that is also an input
    (or another output) of the same command.
    """


class ArgumentTypeError(InputError, TypeError):
    """An API argument of the wrong type (``seed=1.5``, ``sam_layers=5``, ``Simulator(None)``)."""


class DatasetError(InputError):
    """A data set name, folder, file or request that cannot be loaded as asked."""


class WriteError(EventsimError, OSError):
    """Writing an output failed (disk full, file too large, I/O error); nothing was written."""


class EventsError(InputError):
    """An event stream (or event file) that breaks the event-array contract.

    Events outside the sensor, timestamps that go backwards, missing fields or
    non-integer dtypes, an empty stream, a malformed event file, or frame
    counts that do not fit int8; see ``docs/events.md``.
    """


class UnsafeEventsFileError(UnsafeFileError, EventsError):
    """An HDF5 event file refused for safety (see :class:`UnsafeFileError`)."""


class MissingExtraError(EventsimError, ImportError):
    """An optional extra that the requested feature needs is not installed (the message names the pip extra)."""


class NIRImportError(ModelFormatError):
    """A NIR graph that eventsim cannot run as it stands (``eventsim.nir_io.read_nir``).

    The message names the graph node and what eventsim expected there: a
    chain from ``Input`` to ``Output`` without branches or recurrent edges,
    supported node types, one value per channel, a reset rule and time step
    where NIR leaves them open; see ``docs/nir.md``.
    """


class UnsafeNIRFileError(UnsafeFileError, NIRImportError):
    """A NIR graph file refused for safety (see :class:`UnsafeFileError`)."""


class NIRExportError(EventsimError, ValueError):
    """A model that NIR cannot represent (per-step BNTT gains, unless the lossy ``mean_gain`` is asked for)."""
