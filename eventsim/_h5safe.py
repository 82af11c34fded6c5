"""Open HDF5 files from strangers without reading anything the user did not name.

:func:`open_checked` refuses a path that is not a regular file (a FIFO would
block forever), then walks every link and object of the file with h5py's
low-level API *before* any data is read, and refuses

* soft, external and user-defined links (never followed: an external link
  reads another file, a soft link can alias or loop);
* virtual datasets and datasets with external raw storage (both read other
  files);
* filters other than deflate, shuffle and fletcher32 (HDF5 would look for a
  plugin library), chunks larger than :data:`MAX_CHUNK_BYTES`;
* datasets that are not plain numbers, attributes larger than
  :data:`MAX_ATTR_BYTES`, named datatypes, and more than :data:`MAX_OBJECTS`
  objects.

Byte sizes use Python integers (no int64 wrap-around).  :class:`Budget`
charges the declared size ``prod(shape) * itemsize`` (the size *after*
decompression) of each dataset before it is read.  See ``docs/security.md``.
"""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import h5py
import numpy as np

#: Refuse files with more links than this (bounds the time of the walk).
MAX_OBJECTS = 100_000
#: Largest attribute (stored bytes) a file may hold.
MAX_ATTR_BYTES = 1 << 20
#: Largest chunk (bytes after decompression) a chunked dataset may declare.
MAX_CHUNK_BYTES = 1 << 26
ALLOWED_FILTERS = {h5py.h5z.FILTER_DEFLATE: "deflate", h5py.h5z.FILTER_SHUFFLE: "shuffle",
                   h5py.h5z.FILTER_FLETCHER32: "fletcher32"}
_LINK_KINDS = {h5py.h5l.TYPE_SOFT: "soft link", h5py.h5l.TYPE_EXTERNAL: "external link"}


def check_regular_file(path, label, error) -> Path:
    """``path`` as a Path if it names an existing regular file (symlinks followed).

    Raises
    ------
    FileNotFoundError
        If nothing exists at ``path``.
    error
        If ``path`` is a directory, FIFO, device, socket or otherwise not a
        regular file (opening a FIFO would block).
    """
    path = Path(os.fspath(path))
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{label} file not found: {path}") from None
    except OSError as exc:
        raise error(f"{path}: cannot access {label} file ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise error(f"{path}: {label} must be a regular file, but it is {_kind(mode)}")
    return path


def _kind(mode) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def nbytes(shape, dtype) -> int:
    """Bytes of an array of ``shape`` and ``dtype``, as an exact Python int."""
    return math.prod(int(s) for s in shape) * int(np.dtype(dtype).itemsize)


def open_checked(path, label, error, unsafe_error, virtual_sources=False, strings=False) -> h5py.File:
    """Open ``path`` read-only after checking it is a regular file; walk and vet every object.

    Parameters
    ----------
    path : str or Path
    label : str
        What the file is (``"model"``, ``"result"``), for messages.
    error : type
        Exception class for unreadable files.
    unsafe_error : type
        Exception class for files refused for safety.
    virtual_sources : bool
        Accept virtual datasets whose every source is a relative path (from
        ``path``'s folder) to a regular HDF5 file that itself passes these
        checks with no virtual datasets and carries the same ``run_id`` root
        attribute as ``path``: the shards that ``eventsim merge`` joins.  A
        virtual dataset reading any other file stays refused.
    strings : bool
        Also accept string datasets (fixed or variable length), which NIR
        graph files use for node types and edges.

    Returns
    -------
    h5py.File
        Open for reading; the caller closes it.
    """
    path = check_regular_file(path, label, unsafe_error)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise error(f"{path}: not a readable HDF5 file (corrupt or truncated?): {_short(exc)}") from None
    try:
        sources = _SourceCheck(path, f, label, error, unsafe_error) if virtual_sources else None
        _walk(f, f"{path}", unsafe_error, sources, strings)
    except BaseException:
        f.close()
        raise
    return f


def _short(exc) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


class _SourceCheck:
    """Vets the source files of virtual datasets once each (see :func:`open_checked`)."""

    def __init__(self, path, f, label, error, unsafe_error):
        self.folder = Path(path).resolve().parent
        self.label, self.error, self.unsafe_error = label, error, unsafe_error
        self.run_id = _run_id(f)
        self.seen = set()

    def __call__(self, ds, where):
        for source in ds.virtual_sources():
            name = source.file_name
            if name in self.seen:
                continue
            if Path(name).is_absolute() or name in (".", ""):
                raise self.unsafe_error(f"{where}: virtual dataset reads {name!r}; only relative paths to "
                                        "merged shard files are allowed")
            with open_checked(self.folder / name, f"{self.label} shard", self.error, self.unsafe_error) as shard:
                if self.run_id is None or _run_id(shard) != self.run_id:
                    raise self.unsafe_error(f"{where}: virtual dataset reads {name!r}, which is not a shard of "
                                            "this merged run (run_id differs or is missing); refused")
            self.seen.add(name)


def _run_id(f):
    value = f.attrs.get("run_id")
    return value if isinstance(value, str) and value else None


def _walk(f, label, unsafe_error, sources=None, strings=False):
    links = []

    def visit(name, info):
        links.append((name, info.type))
        if len(links) > MAX_OBJECTS:
            return 1  # stop: refused below
        return None

    try:
        f.id.links.visit(visit, info=True)
        if len(links) > MAX_OBJECTS:
            raise unsafe_error(f"{label}: more than {MAX_OBJECTS} objects; refusing to walk it")
        _check_attrs(f, label, "/", unsafe_error)
        for name, kind in links:
            where = "/" + name.decode("utf-8", "backslashreplace")
            if kind != h5py.h5l.TYPE_HARD:
                what = _LINK_KINDS.get(kind, "user-defined link")
                raise unsafe_error(f"{label}:{where}: {what}; eventsim never follows links "
                                   "(they can read other files)")
            info = h5py.h5o.get_info(f.id, name)
            if info.type == h5py.h5o.TYPE_DATASET:
                _check_dataset(f[name], label + ":" + where, unsafe_error, sources, strings)
            elif info.type != h5py.h5o.TYPE_GROUP:
                raise unsafe_error(f"{label}:{where}: named datatypes and other objects are not allowed")
            _check_attrs(f[name], label, where, unsafe_error)
    except (KeyError, RuntimeError, OSError, ValueError) as exc:
        if isinstance(exc, unsafe_error):
            raise
        raise unsafe_error(f"{label}: corrupt HDF5 structure: {_short(exc)}") from None


def _check_dataset(ds, where, unsafe_error, sources=None, strings=False):
    dcpl = ds.id.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5py.h5d.VIRTUAL and sources is None:
        raise unsafe_error(f"{where}: is a virtual dataset (reads other files); refused")
    if layout == h5py.h5d.VIRTUAL:
        sources(ds, where)
    elif dcpl.get_external_count() > 0:
        raise unsafe_error(f"{where}: keeps its data in external files; refused")
    elif layout not in (h5py.h5d.COMPACT, h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED):
        raise unsafe_error(f"{where}: unknown storage layout {layout}; refused")
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in ALLOWED_FILTERS:
            raise unsafe_error(f"{where}: uses HDF5 filter {code}; only {', '.join(ALLOWED_FILTERS.values())} "
                               "are allowed")
    dtype = ds.dtype
    text = strings and h5py.check_string_dtype(dtype) is not None
    if not text and (dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None
                     or h5py.check_dtype(vlen=dtype) is not None or h5py.check_dtype(ref=dtype) is not None):
        kind = "a plain numeric or string type" if strings else "a plain numeric type"
        raise unsafe_error(f"{where}: dtype {dtype} is not {kind}")
    if layout == h5py.h5d.CHUNKED and nbytes(ds.chunks, dtype) > MAX_CHUNK_BYTES:
        raise unsafe_error(f"{where}: chunks of {nbytes(ds.chunks, dtype)} bytes exceed {MAX_CHUNK_BYTES}")


def _check_attrs(obj, label, where, unsafe_error):
    attrs = obj.attrs
    for name in attrs:
        size = attrs.get_id(name).get_storage_size()
        if size > MAX_ATTR_BYTES:
            raise unsafe_error(f"{label}:{where}: attribute {name!r} has {size} bytes (limit {MAX_ATTR_BYTES})")


class Budget:
    """Bytes a reader may still allocate; charged before each dataset is read."""

    def __init__(self, limit, label, error):
        self.limit, self.left, self.label, self.error = int(limit), int(limit), label, error

    def charge(self, ds, where):
        """Refuse (``error``) unless ``ds``'s declared size fits what is left."""
        size = nbytes(ds.shape, ds.dtype)
        if size > self.left:
            raise self.error(f"{self.label}:{where}: reading {size} bytes would exceed the budget of "
                             f"{self.limit} bytes per file; refusing to allocate")
        self.left -= size
