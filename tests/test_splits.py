"""Official splits of LaSOT, GOT-10k and TrackingNet; training samplers refuse evaluation sequences."""

import os
from pathlib import Path

import pytest
import yaml

from slt.data import Got10k, Lasot, TrackingNet
from slt.data.splits import LASOT_TEST_IDS, check_training_split, lasot_split_names, sequence_split, split_counts
from slt.sampling import SequenceSampler

REPO = Path(__file__).resolve().parent.parent


def test_lasot_official_lists():
    train, test = lasot_split_names("train"), lasot_split_names("test")
    assert (len(train), len(test), len(LASOT_TEST_IDS)) == (1120, 280, 70)
    assert not set(train) & set(test)
    assert test[:4] == ["airplane-1", "airplane-9", "airplane-13", "airplane-15"]
    assert "airplane-10" in train and "rubicCube-1" in test and "volleyball-19" in test
    with pytest.raises(ValueError, match="not 'val'"):
        lasot_split_names("val")


def test_lasot_train_list_equals_pytracking_split_file():
    root = os.environ.get("PYTRACKING_ROOT") or os.environ.get("TRANST_ROOT")
    if not root:
        pytest.skip("PYTRACKING_ROOT / TRANST_ROOT not set: point one at a PyTracking-family checkout to compare "
                    "with its ltr/data_specs/lasot_train_split.txt")
    names = (Path(root) / "ltr" / "data_specs" / "lasot_train_split.txt").read_text().split()
    assert sorted(names) == sorted(lasot_split_names("train"))


@pytest.mark.parametrize("dataset, sequence, split", [
    ("lasot", "airplane-1", "test"), ("lasot", "airplane-2", "train"), ("lasot", "airplane-21", "unknown"),
    ("lasot", "stripes-1", "unknown"), ("got10k", "GOT-10k_Train_000001", "train"),
    ("got10k", "GOT-10k_Val_000180", "val"), ("got10k", "GOT-10k_Test_000001", "test"), ("got10k", "seq", "unknown"),
    ("trackingnet", (6, "a"), "train"), ("trackingnet", ("TEST", "a"), "test"), ("trackingnet", (12, "a"), "unknown"),
    ("vot", "ball", "unknown"),
])
def test_sequence_split(dataset, sequence, split):
    assert sequence_split(dataset, sequence) == split


def lasot_tree(root: Path, names: list[str]) -> Path:
    for name in names:
        (root / name.rsplit("-", 1)[0] / name / "img").mkdir(parents=True)
    return root


def test_lasot_reader_reads_the_official_training_split(tmp_path):
    root = lasot_tree(tmp_path, lasot_split_names("train") + ["airplane-1", "cat-3"])
    assert Lasot(root).get_num_sequences() == 1122  # no split: every sequence found, test videos included
    train = Lasot(root, split="train")
    assert train.get_num_sequences() == 1120 and split_counts(train) == {"train": 1120}
    with pytest.raises(ValueError, match="LaSOT split test: 278 sequences not found"):
        Lasot(root, split="test")


def test_sampler_refuses_lasot_test_videos_naming_dataset_split_and_key(tmp_path):
    root = lasot_tree(tmp_path, ["airplane-1", "airplane-2", "cat-3"])
    with pytest.raises(ValueError, match=r"'lasot' holds 2 of its official test split") as error:
        SequenceSampler([Lasot(root)], num_frames=3)
    assert "allow_eval_splits=['lasot']" in str(error.value) and "'airplane-1'" in str(error.value)
    allowed = SequenceSampler([Lasot(root)], num_frames=3, allow_eval_splits=["lasot"])
    assert len(allowed.datasets[0]) == 3
    assert len(SequenceSampler([Lasot(root, vid_ids=[2])], num_frames=3).datasets[0]) == 1  # airplane-2: train


def got10k_tree(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True)
    for name in names:
        (root / name).mkdir()
    (root / "list.txt").write_text("".join(f"{n}\n" for n in names))
    return root


def test_sampler_refuses_got10k_val_and_test_folders(tmp_path):
    val = got10k_tree(tmp_path / "val", ["GOT-10k_Val_000001", "GOT-10k_Val_000002"])
    with pytest.raises(ValueError, match="'got10k' holds 2 of its official val split"):
        SequenceSampler([Got10k(val)], num_frames=3)
    test = got10k_tree(tmp_path / "test", ["GOT-10k_Test_000001"])
    with pytest.raises(ValueError, match="official test split"):
        check_training_split(Got10k(test))
    train = got10k_tree(tmp_path / "train", ["GOT-10k_Train_000001"])
    check_training_split(Got10k(train))


def test_trackingnet_chunks_and_test_refusal(tmp_path):
    for chunk in ("TRAIN_6", "TRAIN_7", "TEST"):
        (tmp_path / chunk / "anno").mkdir(parents=True)
        (tmp_path / chunk / "anno" / "vid.txt").write_text("1,1,5,5\n")
    assert TrackingNet(tmp_path).sequence_list == [(6, "vid"), (7, "vid")]  # default: TRAIN_<i> chunks only
    with_test = TrackingNet(tmp_path, set_ids=[6, "TEST"])
    assert with_test.frame_dir(1) == tmp_path / "TEST" / "frames" / "vid"
    with pytest.raises(ValueError, match="'trackingnet' holds 1 of its official test split"):
        SequenceSampler([with_test], num_frames=3)
    with pytest.raises(ValueError, match="unknown chunk 12"):
        TrackingNet(tmp_path, set_ids=[12])


def test_shipped_paper_config_is_the_official_data_recipe():
    data = yaml.safe_load((REPO / "experiments" / "slt_siamrpnpp" / "config.yaml").read_text())["SLT"]["DATASET"]
    assert data["MIX"] == "videos" and data["NAMES"] == ["GOT10K", "TRACKINGNET", "LASOT"]
    assert data["LASOT"]["SPLIT"] == "train" and data["TRACKINGNET"]["SETS"] == [6, 7, 8, 9, 10, 11]
    assert data["GOT10K"]["ROOT"].endswith("got10k/train")
    assert not any("PROB" in node for node in data.values() if isinstance(node, dict))  # ignored under MIX 'videos'
