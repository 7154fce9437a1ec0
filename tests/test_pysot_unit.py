"""slt_pysot pieces that need no PySOT checkout: cfg keys, clip sampling from cfg, toolkit JSON conversion, the
LR schedule (the SiamRPN step itself is host-free in slt.siamrpn: tests/test_siamrpn.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

yacs_config = pytest.importorskip("yacs.config", reason="yacs is missing: pip install yacs")
CN = yacs_config.CfgNode

from slt.data.synthetic import SyntheticConfig, write_dataset  # noqa: E402
from slt.sampling import SequenceSampler  # noqa: E402
from slt_pysot import config as slt_config  # noqa: E402
from slt_pysot.dataset import build_datasets, build_sampler  # noqa: E402
from slt_pysot.schedule import relative_lrs, step_scheduler  # noqa: E402
from slt_pysot.testdata import toolkit_entries, write_toolkit_json  # noqa: E402

SMALL = SyntheticConfig(height=64, width=80)


def pysot_like_cfg() -> CN:
    """The top of PySOT's cfg that SLT extends: TRAIN, ADJUST, RPN, CUDA and a ``new_allowed`` DATASET."""
    cfg = CN()
    cfg.CUDA = True
    for name in ("TRAIN", "ADJUST", "RPN"):
        setattr(cfg, name, CN())
    cfg.DATASET = CN(new_allowed=True)
    return slt_config.register_slt_cfg(cfg)


def merge_yaml(cfg: CN, tmp_path: Path, text: str) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    cfg.merge_from_file(str(path))


def test_every_registered_key_has_its_default_and_a_documented_row():
    cfg = pysot_like_cfg()
    doc = slt_config.__doc__
    for dotted, default in slt_config.SLT_KEYS:
        node = cfg
        for name in dotted.split("."):
            node = node[name]
        assert node == default, dotted
        assert f"\n{dotted} " in doc, f"{dotted} is not in the config docstring table"


def test_registration_is_idempotent_and_keeps_merged_values(tmp_path):
    cfg = pysot_like_cfg()
    merge_yaml(cfg, tmp_path, "SLT:\n  CHUNK_SIZE: 8\n  DATASET:\n    NAMES: ['LASOT']\nTRAIN:\n  TEMP: 8.0\n")
    slt_config.register_slt_cfg(cfg)
    assert cfg.SLT.CHUNK_SIZE == 8 and list(cfg.SLT.DATASET.NAMES) == ["LASOT"] and cfg.TRAIN.TEMP == 8.0


@pytest.mark.parametrize("text, key", [
    ("SLT:\n  CHUNK_SIZ: 1\n", "SLT.CHUNK_SIZ"),
    ("SLT:\n  DATASET:\n    GOT10K:\n      ROOTS: x\n", "SLT.DATASET.GOT10K.ROOTS"),
    ("DATASET:\n  SEQUENCE:\n    SHIFT: 0.1\n", "DATASET.SEQUENCE.SHIFT"),  # SiamAttn-only key: not registered
])
def test_unknown_keys_fail_with_the_yacs_error_naming_them(tmp_path, text, key):
    with pytest.raises(KeyError, match=f"Non-existent config key: {key}"):
        merge_yaml(pysot_like_cfg(), tmp_path, text)


def test_a_frozen_cfg_is_refused():
    cfg = CN()
    cfg.TRAIN = CN()
    cfg.freeze()
    with pytest.raises(AttributeError):
        slt_config.register_slt_cfg(cfg)


def test_device_comes_from_the_override_then_slt_device_then_cuda():
    cfg = pysot_like_cfg()
    cfg.CUDA = False
    assert slt_config.resolve_device(cfg) == torch.device("cpu")
    cfg.SLT.DEVICE = "meta"
    assert slt_config.resolve_device(cfg) == torch.device("meta")
    assert slt_config.resolve_device(cfg, "cpu") == torch.device("cpu")


def slt_cfg(got10k: Path | str) -> CN:
    cfg = pysot_like_cfg()
    cfg.SLT.DATASET.NAMES = ["GOT10K"]
    cfg.SLT.DATASET.GOT10K.ROOT = str(got10k)
    cfg.TRAIN.NUM_FRAMES = 3
    cfg.TRAIN.TEMPLATE_GAP = -1
    cfg.DATASET.SEQUENCE.SAMPLE_MODE = "random_interval"
    cfg.DATASET.SEQUENCE.SAMPLE_PROB = 0.5
    cfg.DATASET.SEQUENCE.MAX_INTERVAL = 2
    return cfg


def test_missing_dataset_root_fails_naming_the_key_and_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="SLT.DATASET.GOT10K.ROOT") as error:
        build_datasets(slt_cfg(missing))
    assert str(missing) in str(error.value)
    with pytest.raises(ValueError, match="SLT.DATASET.GOT10K.ROOT is empty"):
        build_datasets(slt_cfg(""))
    cfg = slt_cfg(missing)
    cfg.SLT.DATASET.NAMES = ["VID"]
    with pytest.raises(ValueError, match="unknown dataset 'VID'"):
        build_datasets(cfg)


def test_sampler_follows_the_cfg_and_gives_bgr_clips(tmp_path):
    root = write_dataset(tmp_path / "got", "got10k", num_videos=2, num_frames=16, seed=0, config=SMALL,
                         progress=False)
    sampler = build_sampler(slt_cfg(root), samples=4, seed=7)
    assert (sampler.num_frames, sampler.max_interval, sampler.interval_prob, sampler.max_gap, len(sampler)) == (
        3, 2, 0.5, -1, 4)
    assert sampler.frame_sample_mode == "random_interval"
    assert sampler.template_mode == "first_frame"  # TEMPLATE_GAP -1: the video's first frame, as the official
    plain = SequenceSampler(sampler.datasets, p_datasets=[1.0], samples_per_epoch=4, num_frames=3, max_gap=-1,
                            frame_sample_mode="random_interval", max_interval=2, interval_prob=0.5, seed=7,
                            template_mode="first_frame")
    bgr, rgb = sampler[1], plain[1]
    assert bgr["search_images"].shape == (3, 64, 80, 3) and bgr["search_images"].flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(bgr["search_images"], rgb["search_images"][..., ::-1])
    np.testing.assert_array_equal(bgr["template_images"], rgb["template_images"][..., ::-1])
    np.testing.assert_array_equal(bgr["search_annos"], rgb["search_annos"])


def test_uniform_interval_mode_is_refused(tmp_path):
    root = write_dataset(tmp_path / "got", "got10k", num_videos=1, num_frames=12, seed=0, config=SMALL,
                         progress=False)
    cfg = slt_cfg(root)
    cfg.DATASET.SEQUENCE.SAMPLE_MODE = "uniform_interval"
    with pytest.raises(ValueError, match="SAMPLE_MODE"):
        build_sampler(cfg, samples=1, seed=0)


@pytest.mark.parametrize("layout, name", [("lasot", "LaSOT"), ("got10k", "GOT-10k")])
def test_toolkit_json_lists_absolute_frames_and_boxes_per_video(tmp_path, layout, name):
    root = write_dataset(tmp_path / "src", layout, num_videos=2, num_frames=10, seed=3, config=SMALL, progress=False)
    path = write_toolkit_json(root, layout, name, tmp_path / "testing_dataset" / name)
    assert path == tmp_path / "testing_dataset" / name / f"{name}.json"
    entries = json.loads(path.read_text())
    assert entries == toolkit_entries(root, layout) and len(entries) == 2
    for video, entry in entries.items():
        assert entry["video_dir"] == video and len(entry["img_names"]) == len(entry["gt_rect"]) == 10
        assert all(Path(p).is_absolute() and Path(p).is_file() for p in entry["img_names"])
        assert entry["init_rect"] == entry["gt_rect"][0] and len(entry["absent"]) == 10
        assert set(entry["absent"]) <= {0, 1}


def test_toolkit_json_refuses_other_dataset_names(tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        write_toolkit_json(tmp_path, "lasot", "OTB100", tmp_path / "out")


def test_host_free_modules_import_without_pysot():
    """What CI tests of slt_pysot must not pull in PySOT (it is not installable from a package index)."""
    code = ("import sys; import slt.siamrpn, slt_pysot.schedule, slt_pysot.config; "
            "print(any(name == 'pysot' or name.startswith('pysot.') for name in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_step_schedule_applies_each_epochs_multiplier_for_its_steps_and_the_last_one_after():
    multipliers = relative_lrs([0.005, 0.0025, 0.001], start_lr=0.005)
    np.testing.assert_allclose(multipliers, [1.0, 0.5, 0.2])
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([{"params": [param], "lr": 0.1}], lr=0.1)
    scheduler = step_scheduler(optimizer, multipliers, steps_per_epoch=2)
    seen = []
    for _ in range(8):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.02, 0.02, 0.02, 0.02])
    with pytest.raises(ValueError, match="steps_per_epoch"):
        step_scheduler(optimizer, multipliers, steps_per_epoch=0)


def test_samples_per_clip_is_a_registered_key_that_yaml_sets(tmp_path):
    cfg = pysot_like_cfg()
    assert cfg.SLT.SAMPLES == 1
    merge_yaml(cfg, tmp_path, "SLT:\n  SAMPLES: 3\n  BASELINE: mean_of_samples\n")
    assert (cfg.SLT.SAMPLES, cfg.SLT.BASELINE) == (3, "mean_of_samples")
