"""SLT-ARTrack pieces that need no ARTrack tree: the config reader, the entry-point hook and the host kind."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from slt import hosts
from slt_ostrack import host
from slt_ostrack.artrack import train as artrack_train


def test_config_is_completed_by_the_shipped_recipe(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"SLT": {"OBJECTIVE": "rollout", "NUM_FRAMES": 3}}))
    config = artrack_train.SCRIPT.read_config(path)
    assert config["BASE"] == "artrack_seq_256_full" and config["INIT_CHECKPOINT"] == ""
    assert config["SLT"]["OBJECTIVE"] == "rollout" and config["SLT"]["NUM_FRAMES"] == 3
    assert config["SLT"]["LR"] == pytest.approx(4e-6) and config["SLT"]["NUM_SEQ"] == 8
    assert artrack_train.SCRIPT.find_config(tmp_path, str(path)) == path
    assert artrack_train.SCRIPT.find_config(tmp_path, "slt_artrack_seq_256_full") == artrack_train.DEFAULTS


def test_unknown_keys_and_configs_are_named(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump({"SLT": {"OBJECTIV": "scst"}}))
    with pytest.raises(ValueError, match=r"typo.yaml: unknown SLT keys \['OBJECTIV'\]"):
        artrack_train.SCRIPT.read_config(path)
    with pytest.raises(FileNotFoundError, match="no SLT-ARTrack config 'nothing'"):
        artrack_train.SCRIPT.find_config(tmp_path, "nothing")


def test_hook_returns_to_the_host_for_other_scripts() -> None:
    assert artrack_train.hand_over(["--script", "artrack_seq", "--config", "x"]) is None


def test_host_kind_is_registered_with_its_packaged_patches() -> None:
    kind = hosts.host_kinds()["artrack"]
    assert kind is host.ARTRACK and "lib/models/artrack_seq/artrack_seq.py" in kind.markers
    assert [p.name for p in kind.patch_files()] == ["10-train-slt-hook.patch", "20-test-cpu.patch"]
