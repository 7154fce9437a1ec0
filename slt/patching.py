"""``slt patch-host``: apply, check and revert the few lines a host tree needs, idempotently.

Each host kind has a folder ``patches/<kind>/`` of unified diffs (``*.patch``, applied in name order; new files
are diffs from ``/dev/null``) and a list of marker files that identify such a tree. Diffs are applied with
``git apply`` (exact context, no fuzz): a tree that does not match is refused before anything changes, and a
revert restores it byte for byte. The patches live in the source checkout of this project (editable install).
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PATCH_ROOT = Path(__file__).resolve().parent.parent / "patches"


class PatchError(RuntimeError):
    """The tree is not a recognised host tree, or a patch does not apply (message says which)."""


@dataclass(frozen=True)
class HostKind:
    """A host tree kind: files that must exist in it, and its patch folder under ``patches/``."""

    name: str
    markers: tuple[str, ...]
    description: str

    @property
    def folder(self) -> Path:
        return PATCH_ROOT / self.name

    def patches(self) -> list[Path]:
        found = sorted(self.folder.glob("*.patch")) if self.folder.is_dir() else []
        if not found:
            raise PatchError(f"no patches for {self.name!r} in {self.folder} (slt patch-host needs the source "
                             f"checkout of this project, installed with 'pip install -e')")
        return found


HOSTS: dict[str, HostKind] = {
    "pysot": HostKind("pysot", ("pysot/core/config.py", "pysot/models/model_builder.py", "tools/train.py"),
                      "STVIR/pysot"),
    "transt": HostKind("transt", ("ltr/run_training.py", "ltr/models/tracking/transt.py",
                                  "pytracking/tracker/transt/transt.py"), "chenxin-dlut/TransT"),
    "trdimp": HostKind("trdimp", ("ltr/run_training.py", "ltr/models/tracking/dimpnet.py",
                                  "pytracking/tracker/trdimp/trdimp.py"), "594422814/TransformerTrack"),
}


def _git_apply(root: Path, patch: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(root.resolve().parent)}
    return subprocess.run(["git", "apply", "--whitespace=nowarn", *flags, str(patch.resolve())], cwd=root,
                          env=env, capture_output=True, text=True)


def _recognise(kind: str, root: Path) -> HostKind:
    if kind not in HOSTS:
        raise PatchError(f"unknown host kind {kind!r}; expected one of {sorted(HOSTS)}")
    host = HOSTS[kind]
    if not root.is_dir():
        raise PatchError(f"{root} is not a folder")
    missing = [m for m in host.markers if not (root / m).is_file()]
    if missing:
        raise PatchError(f"{root} does not look like a {host.description} checkout: missing {', '.join(missing)}; "
                         f"nothing was changed")
    return host


def detect(root: str | os.PathLike[str], kinds: tuple[str, ...] = tuple(HOSTS)) -> str:
    """The first of ``kinds`` whose marker files all exist in ``root``; :class:`PatchError` when none fits."""
    root = Path(root)
    for kind in kinds:
        if all((root / marker).is_file() for marker in HOSTS[kind].markers):
            return kind
    names = ", ".join(HOSTS[k].description for k in kinds)
    raise PatchError(f"{root} is not a checkout of {names}")


def require_applied(root: str | os.PathLike[str], kinds: tuple[str, ...] = tuple(HOSTS)) -> str:
    """Check that ``root`` (a tree of one of ``kinds``) carries every SLT patch; returns its kind.

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
    for patch in host.patches():
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
    todo = []
    for name, state in status(kind, root).items():
        patch = host.folder / name
        if state == "conflict":
            reason = _git_apply(root, patch, "--check").stderr.strip()
            raise PatchError(f"{patch} does not apply to {root} (is this {host.description} at a supported "
                             f"commit?): {reason}; nothing was changed")
        if state == "not applied":
            todo.append(patch)
    for done, patch in enumerate(todo):
        run = _git_apply(root, patch)
        if run.returncode != 0:
            for earlier in reversed(todo[:done]):
                _git_apply(root, earlier, "--reverse")
            raise PatchError(f"applying {patch} to {root} failed: {run.stderr.strip()}; earlier patches reverted")
        logger.info("applied %s to %s", patch.name, root)
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
    applied = [host.folder / n for n, s in states.items() if s == "applied"]
    for patch in reversed(applied):
        run = _git_apply(root, patch, "--reverse")
        if run.returncode != 0:
            raise PatchError(f"reverting {patch} in {root} failed: {run.stderr.strip()}")
        logger.info("reverted %s in %s", patch.name, root)
    return [p.name for p in reversed(applied)]
