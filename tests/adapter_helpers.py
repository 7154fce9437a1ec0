"""A third-party adapter made on the fly: a package on sys.path that declares an ``slt.hosts.Adapter`` and is
registered through the ``slt.adapters`` entry-point group, as an installed adapter would be."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from slt import hosts

MARKERS = ("fake/core.py", "tools/train.py")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


def host_tree(root: Path) -> Path:
    """A tree of kind ``fakehost``: its marker files, each holding three lines."""
    for marker in MARKERS:
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).write_text("line 1\nline 2\nline 3\n")
    return root


def _patch_set(workdir: Path) -> str:
    """A diff that edits ``tools/train.py`` and adds ``extra/pkg/__init__.py`` and ``extra/pkg/shim.py``."""
    edited = host_tree(workdir)
    _git(edited, "init", "-q")
    _git(edited, "add", ".")
    (edited / "tools/train.py").write_text("line 1\nimport plugin\nline 2\nline 3\n")
    (edited / "extra/pkg").mkdir(parents=True)
    (edited / "extra/pkg/__init__.py").write_text("")
    (edited / "extra/pkg/shim.py").write_text("from plugin import run\n")
    _git(edited, "add", "-N", ".")
    return _git(edited, "diff")


def fake_adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Write package ``fake_adapter`` (host kind ``fakehost`` with one patch in ``fake_adapter/patches/``, VOT
    tracker kind ``fake`` whose factory returns a ``FakeTracker``), put it on sys.path and add its entry point to
    the registry; yields the package folder (for a fixture). The registry is reloaded with and without it."""
    package = tmp_path / "site" / "fake_adapter"
    (package / "patches").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "patches" / "10-hook.patch").write_text(_patch_set(tmp_path / "edited"))
    (package / "host.py").write_text(textwrap.dedent('''\
        from slt.hosts import Adapter, HostKind, VotKind

        ADAPTER = Adapter(
            name="fake",
            hosts=(HostKind("fakehost", ("fake/core.py", "tools/train.py"), "someone/fakehost", "0123abc",
                            "fake_adapter:patches"),),
            vot_trackers=(VotKind("fake", "fake_adapter.vot:FakeTracker", host="fakehost", takes_config=True),),
        )
        '''))
    (package / "vot.py").write_text(textwrap.dedent('''\
        class FakeTracker:
            def __init__(self, spec):
                self.spec = spec
        '''))
    monkeypatch.syspath_prepend(str(package.parent))
    installed = hosts._entry_points
    extra = metadata.EntryPoint("fake", "fake_adapter.host:ADAPTER", hosts.ENTRY_POINT_GROUP)
    monkeypatch.setattr(hosts, "_entry_points", lambda: [*installed(), extra])
    hosts.reload()
    yield package
    monkeypatch.undo()
    sys.modules.pop("fake_adapter.host", None)
    sys.modules.pop("fake_adapter.vot", None)
    sys.modules.pop("fake_adapter", None)
    hosts.reload()
