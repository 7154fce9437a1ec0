"""The registry of host adapters: what each adapter package knows about its host trees, read without a host.

The core (``slt patch-host``, ``slt vot-workspace``, ``python -m slt.vot``) never imports an adapter's host code.
Each adapter package -- the built-in ``slt_pysot`` and ``slt_pytracking``, or a third-party one -- declares one
:class:`Adapter` in a small module that imports nothing but this one, and names it with a Python entry point in
the group :data:`ENTRY_POINT_GROUP`::

    [project.entry-points."slt.adapters"]
    pysot = "slt_pysot.host:ADAPTER"

An adapter declares:

* its host kinds (:class:`HostKind`): the name ``slt patch-host KIND`` takes, the marker files that identify such
  a tree, the upstream project and the commit SLT is tested against, and its patch set, a folder of package data
  inside the adapter package (found with :mod:`importlib.resources`, so a wheel install can patch a tree);
* its VOT tracker kinds (:class:`VotKind`): the name ``SLT_TRACKER`` takes, the host kind whose checkout the
  tracker process imports, whether it takes a config file, and a ``"module:function"`` factory that is imported
  only when a tracker of that kind is built.

Entry points come from the installed distributions' metadata. When ``slt`` itself is imported from a source
checkout (a ``pyproject.toml`` of ``slt-track`` next to the ``slt`` package, as with ``pip install -e .`` or
``PYTHONPATH=<checkout>``), that file's ``slt.adapters`` table replaces the installed ``slt-track`` entries, so a
checkout whose metadata is older than its ``pyproject.toml`` still sees its own adapters.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "slt.adapters"
"""Entry-point group of adapters; each entry point names an :class:`Adapter` object (``"module:ATTRIBUTE"``)."""
DISTRIBUTION = "slt-track"
"""This project's distribution, whose entry points a source checkout's ``pyproject.toml`` overrides."""


class RegistryError(ValueError):
    """An unknown host or tracker kind (the message lists the registered ones), or a broken adapter declaration."""


def _split_reference(reference: str, what: str) -> tuple[str, str]:
    module, sep, name = reference.partition(":")
    if not sep or not module or not name:
        raise RegistryError(f"{what}: expected 'module:name', got {reference!r}")
    return module, name


@dataclass(frozen=True)
class HostKind:
    """A host tree kind.

    ``name``: the ``slt patch-host`` kind; ``markers``: files (relative to the tree root) that all exist in such a
    tree; ``description``: the upstream project (``owner/name``); ``commit``: the upstream commit the patches and
    tests are made for; ``patches``: ``"package:folder"``, the adapter's package-data folder of ``*.patch`` files
    (unified diffs, applied in name order).
    """

    name: str
    markers: tuple[str, ...]
    description: str
    commit: str
    patches: str

    def patch_folder(self) -> Traversable:
        """The patch folder inside the installed adapter package (importing only that package's ``__init__``)."""
        package, folder = _split_reference(self.patches, f"host kind {self.name!r} patches")
        return resources.files(package).joinpath(folder)

    def patch_files(self) -> list[Traversable]:
        """The ``*.patch`` files of :meth:`patch_folder`, in name order; :class:`RegistryError` when there are none."""
        folder = self.patch_folder()
        found = [p for p in folder.iterdir() if p.name.endswith(".patch")] if folder.is_dir() else []
        if not found:
            raise RegistryError(f"host kind {self.name!r}: no *.patch files in {folder} (package data of "
                                f"{self.patches.partition(':')[0]} missing from the install?)")
        return sorted(found, key=lambda p: p.name)


@dataclass(frozen=True)
class VotKind:
    """A tracker kind ``python -m slt.vot`` serves from an adapter.

    ``factory``: ``"module:function"``, ``function(spec: slt.vot.trackers.TrackerSpec) -> Tracker`` (imported when
    a tracker is built, inside the tracker process); ``host``: the :class:`HostKind` whose checkout goes on the
    tracker process's path; ``takes_config``: whether the spec names a config file (it always names weights);
    ``description``: what WEIGHTS (and CONFIG) are, for ``slt vot-workspace --help``.
    """

    name: str
    factory: str
    host: str
    takes_config: bool = False
    description: str = ""

    def load(self) -> Callable[[Any], Any]:
        """Import and return the factory; errors of the import (a missing host tree) propagate unchanged."""
        module, name = _split_reference(self.factory, f"tracker kind {self.name!r} factory")
        return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Adapter:
    """What one adapter package declares: its name, its host kinds and its VOT tracker kinds."""

    name: str
    hosts: tuple[HostKind, ...] = ()
    vot_trackers: tuple[VotKind, ...] = ()


def _checkout_entry_points() -> list[metadata.EntryPoint] | None:
    """The ``slt.adapters`` entry points of the source checkout ``slt`` is imported from, or None when ``slt`` is
    not imported from one (a wheel install) or Python lacks :mod:`tomllib` (3.10: the metadata alone is read)."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        import tomllib
    except ModuleNotFoundError:
        return None
    project = tomllib.loads(pyproject.read_text()).get("project", {})
    if project.get("name") != DISTRIBUTION:
        return None
    table = project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    return [metadata.EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in table.items()]


def _is_this_distribution(entry_point: metadata.EntryPoint) -> bool:
    dist = entry_point.dist
    return dist is not None and dist.metadata["Name"].lower().replace("_", "-") == DISTRIBUTION


def _entry_points() -> list[metadata.EntryPoint]:
    installed = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    checkout = _checkout_entry_points()
    if checkout is None:
        return installed
    return [ep for ep in installed if not _is_this_distribution(ep)] + checkout


@functools.lru_cache(maxsize=1)
def adapters() -> tuple[Adapter, ...]:
    """Every registered adapter, loaded from its entry point (cached; :func:`reload` forgets them).

    Raises :class:`RegistryError` naming the entry point when it is not an :class:`Adapter`, and when two adapters
    declare the same host or tracker kind. An adapter whose module cannot be imported (an install older than the
    entry points it declares, say) is left out with a warning naming it and the error, so that the other
    adapters keep working.
    """
    found: list[Adapter] = []
    seen: dict[tuple[str, str], str] = {}
    for entry_point in sorted(_entry_points(), key=lambda ep: ep.name):
        try:
            adapter = entry_point.load()
        except ImportError as error:
            logger.warning("adapter %s = %s (group %s) cannot be imported, its host and tracker kinds are "
                           "unavailable: %s (reinstall this project: pip install -e .)", entry_point.name,
                           entry_point.value, ENTRY_POINT_GROUP, error)
            continue
        if not isinstance(adapter, Adapter):
            raise RegistryError(f"entry point {entry_point.name} = {entry_point.value} (group {ENTRY_POINT_GROUP}) "
                                f"is a {type(adapter).__name__}, not an slt.hosts.Adapter")
        declared = [("host", h.name) for h in adapter.hosts] + [("tracker", v.name) for v in adapter.vot_trackers]
        for what, name in declared:
            if (what, name) in seen:
                raise RegistryError(f"{what} kind {name!r} is declared by adapters {seen[what, name]!r} and "
                                    f"{adapter.name!r}")
            seen[what, name] = adapter.name
        found.append(adapter)
        logger.debug("adapter %s from %s", adapter.name, entry_point.value)
    return tuple(found)


def reload() -> None:
    """Forget the loaded adapters; the next call reads the entry points again."""
    adapters.cache_clear()


def host_kinds() -> dict[str, HostKind]:
    """Registered host kinds by name, in adapter order."""
    return {host.name: host for adapter in adapters() for host in adapter.hosts}


def host_kind(name: str) -> HostKind:
    """The registered host kind ``name``; :class:`RegistryError` listing the registered ones otherwise."""
    kinds = host_kinds()
    if name not in kinds:
        raise RegistryError(f"unknown host kind {name!r} (registered: {', '.join(kinds) or 'none'})")
    return kinds[name]


def vot_kinds() -> dict[str, VotKind]:
    """Registered adapter tracker kinds by name, in adapter order."""
    return {kind.name: kind for adapter in adapters() for kind in adapter.vot_trackers}
