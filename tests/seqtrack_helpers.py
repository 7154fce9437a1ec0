"""Helpers of the SeqTrack host tests: synthetic clips, the stock tracker, a patched copy of the tree, configs."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from ostrack_helpers import git_apply
from ltr_helpers import copy_tree

PATCHES = Path(__file__).resolve().parent.parent / "slt_ostrack" / "patches" / "seqtrack"


def stock_tracker(net: torch.nn.Module, cfg, tmp_path: Path, dataset_name: str = "got10k_val"):
    """The host ``SEQTRACK`` tracker with ``net``'s weights; TrackerParams built here (the host's parameter file
    reads the module-global config and local.py)."""
    from lib.test.tracker.seqtrack import SEQTRACK
    from lib.test.utils import TrackerParams

    checkpoint = tmp_path / "net.pth"
    torch.save({"net": net.state_dict()}, checkpoint)
    params = TrackerParams()
    params.cfg = cfg
    params.template_factor, params.template_size = cfg.TEST.TEMPLATE_FACTOR, cfg.TEST.TEMPLATE_SIZE
    params.search_factor, params.search_size = cfg.TEST.SEARCH_FACTOR, cfg.TEST.SEARCH_SIZE
    params.checkpoint = str(checkpoint)
    params.debug = 0
    params.save_all_boxes = False
    return SEQTRACK(params, dataset_name)


def patched_copy(source: Path, target: Path) -> Path:
    """A copy of the SeqTrack tree with every ``slt_ostrack/patches/seqtrack/*.patch`` applied in name order."""
    copy_tree(source, target)
    for patch in sorted(PATCHES.glob("*.patch")):
        git_apply(target, patch)
    return target


def write_slt_config(path: Path, epochs: int, **slt: object) -> Path:
    """A smoke-test SLT-SeqTrack config: synthetic GOT-10k (no split), N = 2 clips of T = 3 frames per step."""
    config = {"BASE": "seqtrack_b256", "INIT_CHECKPOINT": "", "DATASETS": [{"NAME": "got10k", "WEIGHT": 1}],
              "SLT": {"EPOCHS": epochs, "SAMPLES_PER_EPOCH": 2, "NUM_SEQ": 2, "NUM_FRAMES": 3, "CHUNK_SIZE": 0,
                      "NUM_WORKERS": 0, "MAX_GAP": 5, "LR": 1e-4, **slt}}
    path.write_text(yaml.safe_dump(config))
    return path


def write_test_yaml(root: Path, base: Path, name: str, epoch: int) -> None:
    """``experiments/seqtrack/<name>.yaml``: the host config ``base`` evaluating the SLT checkpoint of ``epoch``,
    encoder built from scratch (the weights come from the checkpoint; 'mae' would download)."""
    config = yaml.safe_load(base.read_text())
    config["TEST"]["EPOCH"] = epoch
    config["MODEL"]["ENCODER"]["PRETRAIN_TYPE"] = "scratch"
    (root / "experiments" / "seqtrack" / f"{name}.yaml").write_text(yaml.safe_dump(config))
