"""slt patch-host: recognise, apply, check and revert idempotently, byte for byte, all or nothing; host kinds and
patch sets come from the adapter registry (here a third-party adapter registered through its entry point)."""

import hashlib

import pytest

from adapter_helpers import MARKERS, fake_adapter, host_tree
from slt import hosts, patching
from slt.cli import main


def snapshot(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def adapter(tmp_path, monkeypatch):
    yield from fake_adapter(tmp_path, monkeypatch)


@pytest.fixture
def fake_host(adapter, tmp_path):
    """A 'fakehost'-kind tree with the marker files; its adapter's patch edits one file and adds two."""
    return host_tree(tmp_path / "host")


def test_apply_check_revert_round_trip(fake_host, capsys):
    before = snapshot(fake_host)
    assert main(["patch-host", "fakehost", str(fake_host), "--check"]) == 1
    assert main(["patch-host", "fakehost", str(fake_host)]) == 0
    assert (fake_host / "extra/pkg/shim.py").read_text() == "from plugin import run\n"
    assert "import plugin" in (fake_host / "tools/train.py").read_text()
    patched = snapshot(fake_host)
    assert main(["patch-host", "fakehost", str(fake_host)]) == 0  # idempotent
    assert snapshot(fake_host) == patched and "already patched" in capsys.readouterr().out
    assert main(["patch-host", "fakehost", str(fake_host), "--check"]) == 0
    assert main(["patch-host", "fakehost", str(fake_host), "--revert"]) == 0
    assert snapshot(fake_host) == before
    assert not (fake_host / "extra").exists()
    assert main(["patch-host", "fakehost", str(fake_host), "--revert"]) == 0  # idempotent too
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
    assert main(["patch-host", "fakehost", str(fake_host)]) == 1
    assert "does not apply" in caplog.text and "10-hook.patch" in caplog.text and "0123abc" in caplog.text
    assert snapshot(fake_host) == before


def test_require_applied_names_the_command_until_the_tree_is_patched(fake_host):
    with pytest.raises(patching.PatchError, match=f"run: slt patch-host fakehost {fake_host}"):
        patching.require_applied(fake_host)
    patching.apply("fakehost", fake_host)
    assert patching.require_applied(fake_host) == "fakehost"
    with pytest.raises(patching.PatchError, match="is not a checkout of chenxin-dlut/TransT"):
        patching.require_applied(fake_host.parent, ("transt",))


def test_patch_host_accepts_exactly_the_registered_kinds(adapter, capsys):
    kinds = set(hosts.host_kinds())
    assert kinds == {"artrack", "fakehost", "ostrack", "pysot", "seqtrack", "siamattn", "transt", "trdimp"}
    with pytest.raises(SystemExit) as exit_:
        main(["patch-host", "mixformer", "."])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'mixformer'" in error and all(f"'{kind}'" in error for kind in kinds)
    with pytest.raises(SystemExit):
        main(["patch-host", "--help"])
    usage = " ".join(capsys.readouterr().out.split())
    assert "fakehost (someone/fakehost 0123abc)" in usage and "pysot (STVIR/pysot d04028f)" in usage


def test_unknown_kind_through_the_api_names_the_registered_ones(tmp_path):
    with pytest.raises(patching.PatchError,
                       match=r"unknown host kind 'mixformer' \(registered: ostrack, seqtrack, artrack, pysot, siamattn, transt, trdimp\)"):
        patching.status("mixformer", tmp_path)


def test_markers_of_the_fake_kind_come_from_its_adapter(adapter):
    assert patching.HOSTS["fakehost"].markers == MARKERS


def test_apply_and_revert_keep_the_file_modes(fake_host):
    """git apply writes the diff header's mode (0644); an executable entry point stays executable."""
    script = fake_host / "tools/train.py"
    script.chmod(0o755)
    assert main(["patch-host", "fakehost", str(fake_host)]) == 0
    assert script.stat().st_mode & 0o777 == 0o755
    assert main(["patch-host", "fakehost", str(fake_host), "--revert"]) == 0
    assert script.stat().st_mode & 0o777 == 0o755
