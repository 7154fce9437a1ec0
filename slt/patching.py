"""``slt patch-host``: apply, check and revert the few lines a host tree needs, idempotently.

Host kinds come from the adapter registry (:mod:`slt.hosts`): each has marker files that identify such a tree and a
patch set of unified diffs (``*.patch``, applied in name order; new files are diffs from ``/dev/null``) that ships
as package data inside its adapter package, so a wheel install patches a tree as well as a source checkout does.
Diffs are applied with ``git apply`` (exact context, no fuzz): a tree that does not match is refused before
anything changes, and a revert restores it byte for byte, file modes included (``git apply`` outside a repository
writes the modes of the diff's header, so the modes the touched files had are put back after every apply and
revert).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from slt import hosts
from slt.hosts import HostKind

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

logger = logging.getLogger(__name__)


class PatchError(RuntimeError):
    """The tree is not a recognised host tree, or a patch does not apply (message says which)."""


def __getattr__(name: str) -> dict[str, HostKind]:
    """``HOSTS``: the registered host kinds by name (:func:`slt.hosts.host_kinds`), read when first asked for."""
    if name == "HOSTS":
        return hosts.host_kinds()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _git_apply(root: Path, patch: Traversable, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(root.resolve().parent)}
    with resources.as_file(patch) as path:  # a real file for git, also when the package is not a folder on disk
        return subprocess.run(["git", "apply", "--whitespace=nowarn", *flags, str(Path(path).resolve())], cwd=root,
                              env=env, capture_output=True, text=True)


_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/\S+$", re.MULTILINE)


def _touched_modes(root: Path, patches: list[Traversable]) -> dict[Path, int]:
    """Permission bits of the existing files ``patches`` change (their ``diff --git`` headers)."""
    modes = {}
    for patch in patches:
        for name in _DIFF_HEADER.findall(patch.read_text(encoding="utf-8")):
            path = root / name
            if path.is_file():
                modes[path] = path.stat().st_mode & 0o7777
    return modes


def _restore_modes(modes: dict[Path, int]) -> None:
    for path, mode in modes.items():
        if path.is_file() and path.stat().st_mode & 0o7777 != mode:
            path.chmod(mode)


def _host(kind: str) -> HostKind:
    try:
        return hosts.host_kind(kind)
    except hosts.RegistryError as error:
        raise PatchError(str(error)) from error


def _patches(host: HostKind) -> dict[str, Traversable]:
    try:
        return {patch.name: patch for patch in host.patch_files()}
    except hosts.RegistryError as error:
        raise PatchError(str(error)) from error


def _recognise(kind: str, root: Path) -> HostKind:
    host = _host(kind)
    if not root.is_dir():
        raise PatchError(f"{root} is not a folder")
    missing = [m for m in host.markers if not (root / m).is_file()]
    if missing:
        raise PatchError(f"{root} does not look like a {host.description} checkout: missing {', '.join(missing)}; "
                         f"nothing was changed")
    return host


def detect(root: str | os.PathLike[str], kinds: tuple[str, ...] | None = None) -> str:
    """The first of ``kinds`` (default: every registered kind) whose marker files all exist in ``root``;
    :class:`PatchError` when none fits."""
    root = Path(root)
    candidates = [_host(kind) for kind in kinds] if kinds is not None else list(hosts.host_kinds().values())
    for host in candidates:
        if all((root / marker).is_file() for marker in host.markers):
            return host.name
    names = ", ".join(host.description for host in candidates)
    raise PatchError(f"{root} is not a checkout of {names}")


def require_applied(root: str | os.PathLike[str], kinds: tuple[str, ...] | None = None) -> str:
    """Check that ``root`` (a tree of one of ``kinds``, default any registered kind) carries every SLT patch;
    returns its kind.

    Raises :class:`PatchError` naming the ``slt patch-host`` command that fixes the tree when it does not.
    """
    kind = detect(root, kinds)
    missing = {name: state for name, state in status(kind, root).items() if state != "applied"}
    if missing:
        listed = ", ".join(f"{name} ({state})" for name, state in missing.items())
        raise PatchError(f"the host tree {root} is not patched for SLT: {listed}; run: slt patch-host {kind} {root}")
    return kind


def status(kind: str, root: str | os.PathLike[str]) -> dict[str, str]:
    """Per patch: ``"applied"``, ``"not applied"`` or ``"conflict"`` (neither applies nor reverts cleanly)."""
    root = Path(root)
    host = _recognise(kind, root)
    result = {}
    for patch in _patches(host).values():
        if _git_apply(root, patch, "--check", "--reverse").returncode == 0:
            result[patch.name] = "applied"
        elif _git_apply(root, patch, "--check").returncode == 0:
            result[patch.name] = "not applied"
        else:
            result[patch.name] = "conflict"
    return result


def apply(kind: str, root: str | os.PathLike[str]) -> list[str]:
    """Apply every patch not yet applied; returns the names applied now. All-or-nothing: if one patch does not
    apply, nothing is changed and :class:`PatchError` names it with git's reason."""
    root = Path(root)
    host = _recognise(kind, root)
    patches = _patches(host)
    todo = []
    for name, state in status(kind, root).items():
        patch = patches[name]
        if state == "conflict":
            reason = _git_apply(root, patch, "--check").stderr.strip()
            raise PatchError(f"{name} ({host.patches}) does not apply to {root} (is this {host.description} at "
                             f"commit {host.commit}?): {reason}; nothing was changed")
        if state == "not applied":
            todo.append(patch)
    modes = _touched_modes(root, todo)
    for done, patch in enumerate(todo):
        run = _git_apply(root, patch)
        if run.returncode != 0:
            for earlier in reversed(todo[:done]):
                _git_apply(root, earlier, "--reverse")
            _restore_modes(modes)
            raise PatchError(f"applying {patch.name} to {root} failed: {run.stderr.strip()}; earlier patches "
                             f"reverted")
        logger.info("applied %s to %s", patch.name, root)
    _restore_modes(modes)
    return [p.name for p in todo]


def revert(kind: str, root: str | os.PathLike[str]) -> list[str]:
    """Revert every applied patch (in reverse order); returns the names reverted."""
    root = Path(root)
    host = _recognise(kind, root)
    states = status(kind, root)
    conflicts = [n for n, s in states.items() if s == "conflict"]
    if conflicts:
        raise PatchError(f"{', '.join(conflicts)} neither apply nor revert cleanly in {root} (edited by hand?); "
                         f"nothing was changed")
    patches = _patches(host)
    applied = [patches[n] for n, s in states.items() if s == "applied"]
    modes = _touched_modes(root, applied)
    try:
        for patch in reversed(applied):
            run = _git_apply(root, patch, "--reverse")
            if run.returncode != 0:
                raise PatchError(f"reverting {patch.name} in {root} failed: {run.stderr.strip()}")
            logger.info("reverted %s in %s", patch.name, root)
    finally:
        _restore_modes(modes)
    return [p.name for p in reversed(applied)]
