"""The bad-input catalogue: every class of bad input gives a clear error naming the file/key/frame, or a
logged, counted skip; none loses a checkpoint. (Checkpoint loading, TraX regions and host configs have more
cases in test_checkpoint.py, test_vot.py and test_pysot_*.py; this file covers each class once, end to end.)"""

import ast
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from slt.checkpoint import CheckpointError, CheckpointManager, load_checkpoint, load_state_dict_checked
from slt.crop import FrameBatch, crop_batch
from slt.data import DataError, Got10k
from slt.data.synthetic import SyntheticConfig, write_dataset
from slt.reference.model import ReferenceSiamRPN
from slt.reference.tracker import ReferenceTracker
from slt.reference.train import RunOptions, SLTRecipe, build_model, run_slt
from slt.rollout import explore
from slt.runner import NonFiniteError
from slt.sampling import ClipError, SequenceSampler

PACKAGES = ("slt", "slt_pysot", "slt_pytracking")
CONFIG = SyntheticConfig(height=64, width=64, num_frames=24, out_of_view_prob=0.0)


@pytest.fixture
def dataset(tmp_path):
    return write_dataset(tmp_path / "d", "got10k", num_videos=3, num_frames=24, seed=1, config=CONFIG,
                         progress=False)


def sampler(root, **kwargs):
    return SequenceSampler([Got10k(root)], num_frames=4, min_visible=5, seed=0, **kwargs)


def test_corrupt_jpeg_is_named_and_the_clip_redrawn(dataset, caplog):
    frames = sorted((dataset / "GOT-10k_Train_000001").glob("*.jpg"))
    for frame in frames:
        frame.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(DataError, match=str(frames[0])):
        Got10k(dataset).get_frames(0, [0])
    clips = sampler(dataset)
    with caplog.at_level(logging.WARNING, logger="slt.sampling"):
        samples = [clips[i] for i in range(6)]
    assert all(s["sequence"] != "GOT-10k_Train_000001" for s in samples)
    assert clips.faults > 0 and "GOT-10k_Train_000001" in caplog.text


def test_missing_frame_is_named_and_the_video_skipped(dataset, caplog):
    reader = Got10k(dataset)
    info = reader.get_sequence_info(1)
    missing = dataset / "GOT-10k_Train_000002" / "00000005.jpg"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=str(missing)):
        reader.get_frames(1, [4], info)
    gt = dataset / "GOT-10k_Train_000002" / "groundtruth.txt"
    with pytest.raises(DataError, match=f"{gt}: 24 lines but the sequence has 23 frames"):
        Got10k(dataset).get_sequence_info(1)  # a fresh reader sees the gap when it counts the frames
    clips = sampler(dataset)
    with caplog.at_level(logging.WARNING, logger="slt.sampling"):
        samples = [clips[i] for i in range(10)]
    assert all(s["sequence"] != "GOT-10k_Train_000002" for s in samples)
    assert clips.faults > 0 and str(gt) in caplog.text


@pytest.mark.parametrize("box", ["0,0,0,0", "5,5,-3,4", "nan,nan,nan,nan", "1,2,10,0"])
def test_zero_negative_and_nan_boxes_make_the_frame_invisible(dataset, box):
    gt = dataset / "GOT-10k_Train_000001" / "groundtruth.txt"
    lines = gt.read_text().splitlines()
    lines[3] = box
    gt.write_text("\n".join(lines) + "\n")
    info = Got10k(dataset).get_sequence_info(0)
    assert not info["valid"][3] and not info["visible"][3] and info["visible"][2]
    clip = sampler(dataset, frame_sample_mode="sequential", max_gap=-1)
    assert all(3 not in clip[i]["frame_ids"] or clip[i]["sequence"] != "GOT-10k_Train_000001" for i in range(20))


def test_all_invisible_video_is_never_sampled_and_alone_is_a_clear_error(dataset):
    for k in (1, 2, 3):
        (dataset / f"GOT-10k_Train_00000{k}" / "absence.label").write_text("1\n" * 24)
    with pytest.raises(ClipError, match="no sequence of dataset 'got10k'"):
        sampler(dataset, max_tries=10)[0]


def test_video_shorter_than_the_clip_is_skipped(dataset):
    with pytest.raises(ClipError, match="at least 31 frames"):
        SequenceSampler([Got10k(dataset)], num_frames=30, min_visible=1, max_tries=10)[0]


def test_ground_truth_with_fewer_lines_than_frames_names_file_and_counts(dataset):
    gt = dataset / "GOT-10k_Train_000003" / "groundtruth.txt"
    gt.write_text("".join(gt.read_text().splitlines(keepends=True)[:20]))
    with pytest.raises(DataError, match=rf"{gt}.*20.*24|{gt}.*24.*20"):
        Got10k(dataset).get_sequence_info(2)


def test_mixed_resolutions_in_one_batch_are_tracked():
    frames = [np.full((48, 64, 3), 90, np.uint8), np.full((80, 60, 3), 160, np.uint8)]
    crops = crop_batch(FrameBatch.from_numpy(frames), torch.tensor([[0.0, 0.0, 40.0, 40.0]] * 2), 8,
                       torch.zeros(2, 3))
    assert torch.allclose(crops[0], torch.full((3, 8, 8), 90.0)) and torch.allclose(crops[1], torch.full((3, 8, 8), 160.0))
    batch = {"template_images": frames, "template_annos": [np.array([10, 10, 20, 20], np.float32)] * 2,
             "search_images": [np.stack([f] * 3) for f in frames],
             "search_annos": [np.array([[10, 10, 20, 20]] * 3, np.float32)] * 2, "key": [0, 1]}
    rollout = explore(ReferenceTracker(ReferenceSiamRPN().eval()), batch)
    assert torch.isfinite(rollout.boxes).all() and rollout.boxes.shape == (2, 2, 2, 4)


def test_unknown_config_key_is_named_by_yacs(tmp_path):
    config = pytest.importorskip("yacs.config")
    from slt_pysot.config import register_slt_cfg

    cfg = config.CfgNode()
    cfg.TRAIN = config.CfgNode()
    register_slt_cfg(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text("SLT:\n  CHUNK_SIZ: 4\n")
    with pytest.raises(KeyError, match="SLT.CHUNK_SIZ"):
        cfg.merge_from_file(str(path))


def test_checkpoint_of_another_architecture_and_truncated_checkpoint_are_refused(tmp_path):
    model = ReferenceSiamRPN()
    other = tmp_path / "other.pth"
    torch.save({"model": torch.nn.Linear(2, 2).state_dict()}, other)
    with pytest.raises(CheckpointError, match="other.pth"):
        load_state_dict_checked(model, load_checkpoint(other)["model"], str(other))
    cut = tmp_path / "cut.pth"
    torch.save({"model": model.state_dict()}, cut)
    cut.write_bytes(cut.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="cut.pth"):
        load_checkpoint(cut)


def test_empty_dataset_folder_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=str(tmp_path / "empty")):
        Got10k(tmp_path / "empty")


def test_nan_losses_are_skipped_counted_and_stop_the_run_keeping_checkpoints(dataset, tmp_path, monkeypatch,
                                                                             caplog):
    opts = RunOptions(out_dir=tmp_path / "run", progress=False, tensorboard=False, checkpoint_every=1)
    recipe = SLTRecipe(steps=2, num_seq=2, num_frames=4)
    model = build_model()
    run_slt(model, [Got10k(dataset)], recipe, opts)
    manager = CheckpointManager(tmp_path / "run" / "slt" / "checkpoints", "slt")
    good = load_checkpoint(manager.latest())
    from slt.reference import actor as actor_module

    original = actor_module.ReferenceSLTActor.__call__

    def nan_loss(self, samples):
        loss, stats = original(self, samples)
        return loss * float("nan"), stats

    monkeypatch.setattr(actor_module.ReferenceSLTActor, "__call__", nan_loss)
    with caplog.at_level(logging.WARNING), pytest.raises(NonFiniteError, match="5 steps in a row"):
        run_slt(build_model(), [Got10k(dataset)], SLTRecipe(steps=20, num_seq=2, num_frames=4), opts)
    assert caplog.text.count("optimizer step skipped") == 5
    after = load_checkpoint(manager.latest())
    assert all(torch.equal(after["model"][k], v) for k, v in good["model"].items())  # no poisoned weights saved


def test_library_code_never_exits_zero_swallows_everything_or_prints():
    root = Path(__file__).resolve().parent.parent
    offences = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.ExceptHandler) and node.type is None:
                    offences.append(f"{where} bare except")
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                    offences.append(f"{where} print()")
                if (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "exit"
                        and (not node.args or (isinstance(node.args[0], ast.Constant) and node.args[0].value == 0))):
                    offences.append(f"{where} exit(0)")
    assert offences == []
