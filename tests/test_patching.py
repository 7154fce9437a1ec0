"""slt patch-host: recognise, apply, check and revert idempotently, byte for byte, all or nothing."""

import hashlib
import subprocess

import pytest

from slt import patching
from slt.cli import main


def snapshot(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def fake_host(tmp_path, monkeypatch):
    """A 'pysot'-kind tree with the marker files and a patch set that edits one file and adds two."""
    root = tmp_path / "host"
    for marker in patching.HOSTS["pysot"].markers:
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).write_text("line 1\nline 2\nline 3\n")
    edited = tmp_path / "edited"
    subprocess.run(["cp", "-r", str(root), str(edited)], check=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], cwd=edited, check=True)
    subprocess.run(git + ["add", "."], cwd=edited, check=True)
    (edited / "tools/train.py").write_text("line 1\nimport plugin\nline 2\nline 3\n")
    (edited / "extra/pkg").mkdir(parents=True)
    (edited / "extra/pkg/__init__.py").write_text("")
    (edited / "extra/pkg/shim.py").write_text("from plugin import run\n")
    subprocess.run(git + ["add", "-N", "."], cwd=edited, check=True)
    diff = subprocess.run(git + ["diff"], cwd=edited, capture_output=True, text=True, check=True).stdout
    patches = tmp_path / "patches"
    (patches / "pysot").mkdir(parents=True)
    (patches / "pysot" / "10-hook.patch").write_text(diff)
    monkeypatch.setattr(patching, "PATCH_ROOT", patches)
    return root


def test_apply_check_revert_round_trip(fake_host, capsys):
    before = snapshot(fake_host)
    assert main(["patch-host", "pysot", str(fake_host), "--check"]) == 1
    assert main(["patch-host", "pysot", str(fake_host)]) == 0
    assert (fake_host / "extra/pkg/shim.py").read_text() == "from plugin import run\n"
    assert "import plugin" in (fake_host / "tools/train.py").read_text()
    patched = snapshot(fake_host)
    assert main(["patch-host", "pysot", str(fake_host)]) == 0  # idempotent
    assert snapshot(fake_host) == patched and "already patched" in capsys.readouterr().out
    assert main(["patch-host", "pysot", str(fake_host), "--check"]) == 0
    assert main(["patch-host", "pysot", str(fake_host), "--revert"]) == 0
    assert snapshot(fake_host) == before
    assert not (fake_host / "extra").exists()
    assert main(["patch-host", "pysot", str(fake_host), "--revert"]) == 0  # idempotent too
    assert snapshot(fake_host) == before


def test_unrecognised_tree_is_refused_and_unchanged(tmp_path, caplog):
    (tmp_path / "somewhere").mkdir()
    (tmp_path / "somewhere" / "README").write_text("hello")
    before = snapshot(tmp_path / "somewhere")
    assert main(["patch-host", "pysot", str(tmp_path / "somewhere")]) == 1
    assert "does not look like a STVIR/pysot checkout" in caplog.text and "tools/train.py" in caplog.text
    assert snapshot(tmp_path / "somewhere") == before


def test_tree_at_another_version_is_refused_and_unchanged(fake_host, caplog):
    (fake_host / "tools/train.py").write_text("something else entirely\n")
    before = snapshot(fake_host)
    assert main(["patch-host", "pysot", str(fake_host)]) == 1
    assert "does not apply" in caplog.text and "10-hook.patch" in caplog.text
    assert snapshot(fake_host) == before


def test_require_applied_names_the_command_until_the_tree_is_patched(fake_host):
    with pytest.raises(patching.PatchError, match=f"run: slt patch-host pysot {fake_host}"):
        patching.require_applied(fake_host)
    patching.apply("pysot", fake_host)
    assert patching.require_applied(fake_host) == "pysot"
    with pytest.raises(patching.PatchError, match="is not a checkout of"):
        patching.require_applied(fake_host.parent, ("transt",))
