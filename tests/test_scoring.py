"""``slt evaluate``: host result folders scored against a dataset's ground truth with known numbers."""

import json
import subprocess
import sys

import numpy as np
import pytest

from slt.data import Got10k, write_jpeg
from slt.data.errors import DataError
from slt.scoring import read_result_boxes, result_file, score_folder

BOXES = np.array([[10.0, 12.0, 20.0, 16.0], [14.0, 12.0, 20.0, 16.0], [18.0, 14.0, 20.0, 16.0],
                  [22.0, 16.0, 20.0, 16.0]])


@pytest.fixture()
def got10k_root(tmp_path):
    """A GOT-10k root (``root/val/list.txt``), 2 videos of 4 frames 64 x 64, boxes well inside the image."""
    split = tmp_path / "got10k" / "val"
    names = ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]
    for k, name in enumerate(names):
        (split / name).mkdir(parents=True)
        for f in range(4):
            write_jpeg(split / name / f"{f + 1:08d}.jpg", np.full((64, 64, 3), 40 * f, dtype=np.uint8))
        np.savetxt(split / name / "groundtruth.txt", BOXES + k, delimiter=",", fmt="%.1f")
    (split / "list.txt").write_text("\n".join(names) + "\n")
    return tmp_path / "got10k"


def write_results(folder, got10k_layout, shift):
    """The ground truth shifted right by ``shift`` x its width, in PySOT/PyTracking's or GOT-10k's layout."""
    for k, name in enumerate(["GOT-10k_Val_000001", "GOT-10k_Val_000002"]):
        boxes = BOXES + k
        boxes[1:, 0] += shift * boxes[1:, 2]  # row 0 is the initial box
        path = folder / name / f"{name}_001.txt" if got10k_layout else folder / f"{name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savetxt(path, boxes, delimiter="," if got10k_layout else "\t", fmt="%.2f")


def test_perfect_and_shifted_results_give_the_known_scores(tmp_path, got10k_root):
    dataset = Got10k(got10k_root)  # the dataset root: its only split folder is read
    assert dataset.root == got10k_root / "val"
    write_results(tmp_path / "perfect", got10k_layout=False, shift=0.0)
    write_results(tmp_path / "shifted", got10k_layout=True, shift=0.5)  # IoU 1/3, centre error 10 px
    perfect = score_folder(tmp_path / "perfect", dataset, ["lasot", "got10k"])
    assert perfect["lasot"]["auc"] == pytest.approx(100 * 20 / 21)
    assert perfect["got10k"]["ao"] == pytest.approx(100.0) and perfect["got10k"]["sr75"] == pytest.approx(100.0)
    shifted = score_folder(tmp_path / "shifted", dataset, ["lasot", "got10k"])
    # lasot: frame 0 counts (IoU 1 above 20 of 21 thresholds), 3 frames of IoU 1/3 above 7 thresholds
    assert shifted["lasot"]["auc"] == pytest.approx(100 * (20 + 3 * 7) / (4 * 21))
    assert shifted["lasot"]["precision"] == pytest.approx(100.0)
    assert shifted["got10k"]["ao"] == pytest.approx(100 / 3) and shifted["got10k"]["sr50"] == 0.0
    assert shifted["got10k"]["num_frames"] == 6  # frame 0 excluded


def test_slt_evaluate_prints_one_row_per_folder_and_writes_json(tmp_path, got10k_root):
    write_results(tmp_path / "perfect", got10k_layout=False, shift=0.0)
    write_results(tmp_path / "shifted", got10k_layout=True, shift=0.5)
    out = subprocess.run([sys.executable, "-m", "slt.cli", "evaluate", "--data", str(got10k_root), "--layout",
                          "got10k", "--results", str(tmp_path / "perfect"), str(tmp_path / "shifted"),
                          "--json", str(tmp_path / "scores.json")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    header, perfect, shifted = out.stdout.splitlines()
    assert header.split()[:4] == ["results", "lasot", "auc", "lasot"]
    assert perfect.split()[1:] == ["95.24", "100.00", "100.00", "100.00", "100.00", "100.00", "2"]
    assert shifted.split()[1] == "48.81" and shifted.split()[4] == "33.33"
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved[str(tmp_path / "shifted")]["got10k"]["ao"] == pytest.approx(100 / 3)


def test_missing_or_bad_results_name_the_file(tmp_path, got10k_root):
    write_results(tmp_path / "r", got10k_layout=False, shift=0.0)
    (tmp_path / "r" / "GOT-10k_Val_000002.txt").unlink()
    with pytest.raises(DataError, match="no result for video 'GOT-10k_Val_000002'"):
        result_file(tmp_path / "r", "GOT-10k_Val_000002")
    out = subprocess.run([sys.executable, "-m", "slt.cli", "evaluate", "--data", str(got10k_root / "val"),
                          "--layout", "got10k", "--results", str(tmp_path / "r")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1 and "GOT-10k_Val_000002.txt" in out.stderr and "Traceback" not in out.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("1,2,3,4\n1,2,3\n")
    with pytest.raises(DataError, match=r"bad.txt:2: expected 4 numbers"):
        read_result_boxes(bad, 2)
    bad.write_text("1,2,3,4\n")
    with pytest.raises(DataError, match="1 boxes for a video of 2 frames"):
        read_result_boxes(bad, 2)


def test_a_got10k_root_with_several_splits_asks_for_one(tmp_path, got10k_root):
    (got10k_root / "train").mkdir()
    (got10k_root / "train" / "list.txt").write_text("x\n")
    with pytest.raises(DataError, match="splits train, val: give one of them"):
        Got10k(got10k_root)
