"""The adapter registry (slt.hosts): the built-in adapters' declarations, their packaged patch sets, and a
third-party adapter registered through the same entry-point group driving patch-host, VOT trackers and workspaces.
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import importlib
import subprocess
import sys
import tomllib
from importlib import resources
from importlib import metadata
from pathlib import Path

import pytest

from adapter_helpers import fake_adapter
from slt import hosts
from slt.vot.trackers import SetupError, TrackerSpec, build_tracker, kinds
from slt.vot.workspace import parse_host_root, write_workspace

REPO = Path(__file__).resolve().parent.parent
HOST_MODULES = {"pysot", "ltr", "pytracking", "lib", "torch"}


@pytest.fixture
def adapter(tmp_path, monkeypatch):
    yield from fake_adapter(tmp_path, monkeypatch)


def test_builtin_adapters_declare_seven_host_kinds_and_five_tracker_kinds():
    assert {name: (h.description, h.patches) for name, h in hosts.host_kinds().items()} == {
        "ostrack": ("botaoye/OSTrack", "slt_ostrack:patches"),
        "artrack": ("MIV-XJTU/ARTrack", "slt_ostrack:patches/artrack"),
        "pysot": ("STVIR/pysot", "slt_pysot:patches"),
        "seqtrack": ("microsoft/VideoX SeqTrack/", "slt_ostrack:patches/seqtrack"),
        "transt": ("chenxin-dlut/TransT", "slt_pytracking:patches/transt"),
        "trdimp": ("594422814/TransformerTrack", "slt_pytracking:patches/trdimp"),
        "siamattn": ("msight-tech/research-siamattn", "slt_pysot:patches/siamattn")}
    assert {name: (k.host, k.takes_config, k.factory) for name, k in hosts.vot_kinds().items()} == {
        "ostrack": ("ostrack", True, "slt_ostrack.vot_tracker:OSTrackTracker"),
        "pysot": ("pysot", True, "slt_pysot.vot_tracker:PysotTracker"),
        "seqtrack": ("seqtrack", True, "slt_ostrack.seqtrack.vot_tracker:SeqTrackTracker"),
        "transt": ("transt", False, "slt_pytracking.vot_tracker:TranstTracker"),
        "artrack": ("artrack", True, "slt_ostrack.artrack.vot_tracker:ArtrackTracker")}
    assert kinds() == ("reference", "static", "ostrack", "seqtrack", "artrack", "pysot", "transt")


def test_pyproject_entry_points_are_what_the_registry_reads():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["entry-points"][hosts.ENTRY_POINT_GROUP]
    assert declared == {"pysot": "slt_pysot.host:ADAPTER", "pytracking": "slt_pytracking.host:ADAPTER",
                        "ostrack": "slt_ostrack.host:ADAPTER"}
    loaded = {name: importlib.import_module(value.partition(":")[0]).ADAPTER for name, value in declared.items()}
    assert sorted(loaded.values(), key=lambda a: a.name) == sorted(hosts.adapters(), key=lambda a: a.name)


@pytest.mark.parametrize("kind, names", [("pysot", ["10-train-slt-hook.patch", "20-test-cpu.patch"]),
                                         ("transt", ["10-compat.patch", "20-slt-shims.patch"]),
                                         ("trdimp", ["10-compat.patch", "20-slt-shims.patch"]),
                                         ("ostrack", ["10-train-slt-hook.patch", "20-test-cpu.patch"]),
                                         ("seqtrack", ["10-train-slt-hook.patch", "20-test-cpu.patch"]),
                                         ("artrack", ["10-train-slt-hook.patch", "20-test-cpu.patch"])])
def test_patch_sets_are_package_data_inside_the_adapter_package(kind, names):
    """The patches resolve inside the imported adapter package (not a source checkout's top-level folder), and
    pyproject's package-data globs cover each of them, so a wheel carries them."""
    host = hosts.host_kind(kind)
    package = host.patches.partition(":")[0]
    package_dir = Path(importlib.import_module(package).__file__).parent
    files = host.patch_files()
    assert [f.name for f in files] == names
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for patch in files:
        with resources.as_file(patch) as path:
            relative = Path(path).resolve().relative_to(package_dir.resolve())  # raises if outside the package
            assert Path(path).read_text().startswith(("diff --git", "From ", "---"))
        assert any(fnmatch.fnmatch(relative.as_posix(), glob) for glob in package_data[package]), relative


def test_reading_the_registry_imports_no_host_and_no_torch():
    script = ("import sys; from slt import hosts; hosts.adapters(); import slt.patching, slt.vot.trackers; "
              "print(sorted({m.split('.')[0] for m in sys.modules}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(done.stdout))
    assert {"slt_pysot", "slt_pytracking"} <= loaded  # their host.py modules were read
    assert not loaded & HOST_MODULES


def test_unknown_kinds_name_the_registered_ones():
    with pytest.raises(hosts.RegistryError, match=r"unknown host kind 'mixformer' \(registered: ostrack, seqtrack, artrack, "
                                                  r"pysot, siamattn, transt, trdimp\)"):
        hosts.host_kind("mixformer")
    with pytest.raises(SetupError, match="unknown tracker kind 'siamfc' .expected one of reference, static, ostrack, "
                                         "seqtrack, artrack, pysot, transt"):
        TrackerSpec("siamfc", Path("/w.pth"))
    with pytest.raises(ValueError, match="unknown host kind 'mixformer'.*ostrack, seqtrack, artrack, pysot, siamattn, transt, trdimp"):
        parse_host_root("mixformer=/somewhere")
    with pytest.raises(ValueError, match="expected KIND=PATH"):
        parse_host_root("pysot")
    assert parse_host_root("pysot=~/pysot") == ("pysot", Path("~/pysot").expanduser())


def test_a_third_party_tracker_kind_is_built_through_its_factory(adapter, tmp_path):
    weights, config = tmp_path / "w.pth", tmp_path / "c.yaml"
    weights.write_bytes(b"w")
    config.write_text("{}\n")
    assert "fake" in kinds()
    with pytest.raises(SetupError, match="a fake tracker takes a config file"):
        TrackerSpec("fake", weights)
    spec = TrackerSpec("fake", weights, config)
    assert spec.host_kind() == "fakehost" and TrackerSpec("reference", weights).host_kind() is None
    tracker = build_tracker(spec)
    assert type(tracker).__module__ == "fake_adapter.vot" and tracker.spec == spec


def test_workspace_puts_the_kind_s_host_root_on_the_tracker_path(adapter, tmp_path):
    from slt.data.synthetic import SyntheticConfig, write_dataset

    sequences = write_dataset(tmp_path / "vot", "vot", num_videos=1, num_frames=10, seed=0, progress=False,
                              config=SyntheticConfig(height=48, width=48, num_frames=10))
    weights, config = tmp_path / "w.pth", tmp_path / "c.yaml"
    weights.write_bytes(b"w")
    config.write_text("{}\n")
    (tmp_path / "fakeroot").mkdir()
    trackers = {"mine": TrackerSpec("fake", weights, config), "box": TrackerSpec("static")}
    with pytest.raises(ValueError, match="tracker mine: a fake tracker needs its fakehost checkout: --host-root "
                                         "fakehost=PATH"):
        write_workspace(tmp_path / "ws", sequences, trackers)
    with pytest.raises(ValueError, match="unknown host kind 'fake' .registered: fakehost, ostrack, seqtrack, artrack, pysot, siamattn, transt, trdimp"):
        write_workspace(tmp_path / "ws", sequences, trackers, host_roots={"fake": tmp_path / "fakeroot"})
    out = write_workspace(tmp_path / "ws", sequences, trackers, host_roots={"fakehost": tmp_path / "fakeroot"})
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(out / "trackers.ini")
    assert ini["mine"]["paths"] == str((tmp_path / "fakeroot").resolve()) and "paths" not in ini["box"]
    assert ini["mine"]["env_SLT_TRACKER"] == "fake" and ini["mine"]["env_SLT_CONFIG"] == str(config)


def test_an_entry_point_that_is_not_an_adapter_is_refused_naming_it(monkeypatch):

    bogus = metadata.EntryPoint("bogus", "slt.hosts:ENTRY_POINT_GROUP", hosts.ENTRY_POINT_GROUP)
    monkeypatch.setattr(hosts, "_entry_points", lambda: [bogus])
    hosts.reload()
    try:
        with pytest.raises(hosts.RegistryError, match="bogus = slt.hosts:ENTRY_POINT_GROUP .* is a str, not an"):
            hosts.adapters()
    finally:
        monkeypatch.undo()
        hosts.reload()


def test_a_source_checkout_s_pyproject_replaces_stale_installed_entries_of_this_project(monkeypatch):
    """Installed metadata of slt-track older than the checkout (an entry renamed since) gives way to the
    checkout's pyproject.toml; another distribution's entry points are kept."""
    from types import SimpleNamespace

    if hosts._checkout_entry_points() is None:
        pytest.skip("slt is imported from an installed wheel here, not from a source checkout")

    def entry(name, value, dist):
        return SimpleNamespace(name=name, value=value, dist=SimpleNamespace(metadata={"Name": dist}))

    stale = entry("pysot", "slt_pysot.old_host:ADAPTER", "slt_track")
    other = entry("thirdparty", "slt_thirdparty.host:ADAPTER", "slt-thirdparty")
    monkeypatch.setattr(hosts.metadata, "entry_points", lambda group: [stale, other])
    found = {ep.name: ep.value for ep in hosts._entry_points()}
    assert found == {"thirdparty": "slt_thirdparty.host:ADAPTER", "ostrack": "slt_ostrack.host:ADAPTER",
                     "pysot": "slt_pysot.host:ADAPTER",
                     "pytracking": "slt_pytracking.host:ADAPTER"}


def test_an_adapter_that_cannot_be_imported_is_left_out_with_a_warning(monkeypatch, caplog):
    """A stale install may declare an adapter whose package it does not ship: the others keep working."""
    broken = metadata.EntryPoint("missing", "slt_missing_adapter.host:ADAPTER", hosts.ENTRY_POINT_GROUP)
    real = hosts._entry_points()
    monkeypatch.setattr(hosts, "_entry_points", lambda: [*real, broken])
    hosts.reload()
    try:
        with caplog.at_level("WARNING", logger="slt.hosts"):
            kinds = set(hosts.host_kinds())
        assert {"pysot", "transt", "trdimp"} <= kinds
        assert "adapter missing = slt_missing_adapter.host:ADAPTER" in caplog.text
        assert "No module named 'slt_missing_adapter'" in caplog.text
    finally:
        monkeypatch.undo()
        hosts.reload()
