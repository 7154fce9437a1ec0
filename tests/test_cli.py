"""The ``slt`` command line: version, make-data, and clear errors for bad input (host kinds included)."""

import logging
import subprocess
import sys

import pytest

import slt
from slt.cli import main
from slt.data import Got10k, Lasot, VOTSequences


def test_version_is_printed_by_the_console_script():
    out = subprocess.run([sys.executable, "-m", "slt.cli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"slt {slt.__version__}"


@pytest.mark.parametrize("layout,reader", [("got10k", Got10k), ("lasot", Lasot), ("vot", VOTSequences)])
def test_make_data_writes_a_layout_its_reader_loads(tmp_path, capsys, layout, reader):
    status = main(["make-data", "--layout", layout, "--out", str(tmp_path / "d"), "--videos", "3", "--frames", "12",
                   "--size", "64", "--seed", "4", "--no-progress"])
    assert status == 0
    root = capsys.readouterr().out.strip()
    dataset = reader(root)
    assert dataset.get_num_sequences() == 3
    frames, annos, _ = dataset.get_frames(0, [0, 11])
    assert frames[0].shape == (64, 64, 3) and len(annos["bbox"]) == 2


def test_unwritable_out_fails_with_a_message_naming_it(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.ERROR):
        status = main(["demo", "--quick", "--out", str(blocker / "out"), "--no-progress"])
    assert status == 1
    assert str(blocker / "out") in caplog.text and "not writable" in caplog.text


def test_training_on_an_empty_dataset_folder_fails_naming_it(tmp_path, caplog):
    (tmp_path / "empty").mkdir()
    with caplog.at_level(logging.ERROR):
        status = main(["train", "--stage", "flt", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert status == 1 and str(tmp_path / "empty") in caplog.text


def test_resuming_a_run_longer_than_asked_keeps_it_and_says_so(tmp_path, caplog):
    assert main(["make-data", "--layout", "got10k", "--out", str(tmp_path / "d"), "--videos", "2", "--frames", "12",
                 "--size", "64", "--seed", "1", "--no-progress"]) == 0
    train = ["train", "--stage", "flt", "--data", str(tmp_path / "d" / "train"), "--out", str(tmp_path / "run"),
             "--batch-size", "2", "--checkpoint-every", "1", "--no-progress", "--no-tensorboard"]
    assert main([*train, "--steps", "2"]) == 0
    with caplog.at_level(logging.WARNING, logger="slt.runner"):
        assert main([*train, "--steps", "1"]) == 0
    assert "at step 2, past the 1 steps asked for" in caplog.text


@pytest.mark.parametrize("roots, message", [
    (["mixformer=/somewhere"], "unknown host kind 'mixformer' (registered: ostrack, seqtrack, artrack, pysot, siamattn, transt, trdimp)"),
    (["pysot"], "--host-root 'pysot': expected KIND=PATH"),
    (["pysot=/a", "pysot=/b"], "--host-root: the same KIND is given twice"),
])
def test_vot_workspace_host_roots_are_checked_against_the_registry(tmp_path, caplog, roots, message):
    options = [item for root in roots for item in ("--host-root", root)]
    with caplog.at_level(logging.ERROR):
        status = main(["vot-workspace", "--out", str(tmp_path / "ws"), "--sequences", str(tmp_path),
                       "--tracker", "s=static", *options])
    assert status == 1 and message in caplog.text
    assert not (tmp_path / "ws").exists()


def test_a_host_tracker_without_its_host_root_names_the_option(tmp_path, caplog):
    weights, config = tmp_path / "w.pth", tmp_path / "c.yaml"
    weights.write_bytes(b"w")
    config.write_text("{}\n")
    with caplog.at_level(logging.ERROR):
        status = main(["vot-workspace", "--out", str(tmp_path / "ws"), "--sequences", str(tmp_path),
                       "--tracker", f"p=pysot:{weights}:{config}"])
    assert status == 1 and "tracker p: a pysot tracker needs its pysot checkout: --host-root pysot=PATH" in caplog.text


def test_every_subcommand_is_in_the_readme_table_and_its_help_opens_with_a_sentence():
    from pathlib import Path

    from slt.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    table = [line for line in (Path(__file__).parents[1] / "README.md").read_text().splitlines()
             if line.startswith("| `slt ")]
    for name, command in commands.items():
        assert any(line.startswith(f"| `slt {name}") for line in table), f"slt {name} is not in the README table"
        assert command.description and command.description.rstrip().endswith("."), name
        for action in command._actions:
            assert action.help, f"slt {name} {action.option_strings or action.dest} has no help"
