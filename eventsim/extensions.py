"""Subcommands that other packages add to the ``eventsim`` command, found through entry points.

A package registers each command in its ``pyproject.toml``::

    [project.entry-points."eventsim.commands"]
    train = "training.commands:train"

where ``training.commands.train`` is an :class:`Extension`: the module that
runs the command (imported only when it is called, so it may need an extra),
a help line and the pip extra.  The module exposes ``main(argv, prog) -> int``.
"""
from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import NamedTuple

#: Entry-point group of the subcommands other packages add.
COMMAND_GROUP = "eventsim.commands"


class Extension(NamedTuple):
    """A subcommand provided by another package (the object its entry point names).

    Attributes
    ----------
    module : str
        Module exposing ``main(argv, prog) -> int``, imported only when the
        command runs (it may need the extra).
    help : str
        One line for ``eventsim --help``.
    extra : str
        The pip extra that provides the module's dependencies.
    """

    module: str
    help: str
    extra: str


def extensions(entry_points=None) -> dict:
    """Every registered extension command: ``{name: Extension}``, sorted by name.

    Parameters
    ----------
    entry_points : iterable of importlib.metadata.EntryPoint, optional
        Default: the installed ``eventsim.commands`` entry points, or, when
        the installed metadata predates that group (an editable install made
        before it was added), the group as declared in the source tree's
        ``pyproject.toml``.

    An entry point that cannot be loaded, or names something else than an
    :class:`Extension`, is left out with a warning on stderr.
    """
    found = {}
    for ep in sorted(_command_entry_points() if entry_points is None else entry_points, key=lambda e: e.name):
        try:
            ext = ep.load()
        except (ImportError, AttributeError) as exc:
            print(f"warning: eventsim command {ep.name!r} ({ep.value}) cannot be loaded: {exc}", file=sys.stderr)
            continue
        if not isinstance(ext, Extension):
            print(f"warning: eventsim command {ep.name!r} ({ep.value}) is not an eventsim.extensions.Extension",
                  file=sys.stderr)
            continue
        found[ep.name] = ext
    return found


def _command_entry_points() -> list:
    installed = list(importlib.metadata.entry_points(group=COMMAND_GROUP))
    if installed:
        return installed
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: only installed metadata counts
        return []
    if not pyproject.is_file():
        return []
    table = tomllib.loads(pyproject.read_text()).get("project", {}).get("entry-points", {}).get(COMMAND_GROUP, {})
    return [importlib.metadata.EntryPoint(name, value, COMMAND_GROUP) for name, value in table.items()]
