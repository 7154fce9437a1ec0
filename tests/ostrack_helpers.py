"""Helpers of the OSTrack host tests: a patched temporary copy of the tree, its local.py files, SLT configs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import yaml

from ltr_helpers import copy_tree

PATCHES = Path(__file__).resolve().parent.parent / "slt_ostrack" / "patches"


def clip_batch(clips: int, frames: int, seed: int, key_seed: int = 7) -> dict[str, list]:
    """N clips of T noisy 200 x 240 frames with a bright 40 x 30 box moving a few pixels per frame; boxes xywh in
    pixels, clip keys ``(key_seed, 0, i)``."""
    rng = np.random.default_rng(seed)
    batch: dict[str, list] = {"search_images": [], "search_annos": [], "template_images": [], "template_annos": [],
                              "key": []}
    for i in range(clips):
        images, boxes = [], []
        x, y = rng.uniform(40, 120), rng.uniform(40, 100)
        for _ in range(frames):
            image = rng.integers(0, 80, (200, 240, 3), dtype=np.uint8)
            image[int(y):int(y + 30), int(x):int(x + 40)] = (230, 200, 40)
            images.append(image)
            boxes.append(np.array([x, y, 40.0, 30.0]))
            x, y = x + rng.uniform(-6, 6), y + rng.uniform(-6, 6)
        batch["search_images"].append(images)
        batch["search_annos"].append(np.stack(boxes))
        batch["template_images"].append(images[0])
        batch["template_annos"].append(boxes[0])
        batch["key"].append((key_seed, 0, i))
    return batch


def git_apply(root: Path, patch: Path, *flags: str) -> None:
    """``git apply`` one patch of the SLT-OSTrack patch set in ``root`` (exact context), checked."""
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(root.resolve().parent)}
    subprocess.run(["git", "apply", "--whitespace=nowarn", *flags, str(patch)], cwd=root, env=env, check=True,
                   capture_output=True, text=True)


def patched_copy(source: Path, target: Path) -> Path:
    """A copy of the OSTrack tree with every ``slt_ostrack/patches/*.patch`` applied in name order."""
    copy_tree(source, target)
    for patch in sorted(PATCHES.glob("*.patch")):
        git_apply(target, patch)
    return target


def revert(root: Path) -> None:
    """Revert the patch set (reverse name order)."""
    for patch in sorted(PATCHES.glob("*.patch"), reverse=True):
        git_apply(root, patch, "--reverse")


def write_train_local(root: Path, workspace: Path, got10k_dir: Path) -> None:
    """``lib/train/admin/local.py``, the file OSTrack's README has every user create for training."""
    (root / "lib" / "train" / "admin" / "local.py").write_text(
        "class EnvironmentSettings:\n"
        "    def __init__(self):\n"
        f"        self.workspace_dir = {str(workspace)!r}\n"
        f"        self.tensorboard_dir = {str(workspace / 'tensorboard')!r}\n"
        f"        self.pretrained_networks = {str(workspace / 'pretrained_networks')!r}\n"
        f"        self.got10k_dir = {str(got10k_dir)!r}\n"
        "        self.lasot_dir = ''\n"
        "        self.trackingnet_dir = ''\n")


def write_slt_config(path: Path, epochs: int, **slt: object) -> Path:
    """A smoke-test SLT config: synthetic GOT-10k (no split), N = 2 clips of T = 3 frames per step."""
    config = {"BASE": "vitb_256_mae_ce_32x4_ep300", "INIT_CHECKPOINT": "",
              "DATASETS": [{"NAME": "got10k", "WEIGHT": 1}],
              "SLT": {"EPOCHS": epochs, "SAMPLES_PER_EPOCH": 2, "NUM_SEQ": 2, "NUM_FRAMES": 3, "CHUNK_SIZE": 0,
                      "NUM_WORKERS": 0, "MAX_GAP": 5, "LR": 1e-4, **slt}}
    path.write_text(yaml.safe_dump(config))
    return path


def write_test_local(root: Path, got10k_path: Path, save_dir: Path, results: Path) -> None:
    """``lib/test/evaluation/local.py``, the evaluation-side file OSTrack's README has every user create."""
    (root / "lib" / "test" / "evaluation" / "local.py").write_text(
        "from lib.test.evaluation.environment import EnvSettings\n\n\n"
        "def local_env_settings():\n"
        "    settings = EnvSettings()\n"
        f"    settings.prj_dir = {str(root)!r}\n"
        f"    settings.save_dir = {str(save_dir)!r}\n"
        f"    settings.got10k_path = {str(got10k_path)!r}\n"
        f"    settings.results_path = {str(results)!r}\n"
        "    return settings\n")


def write_test_yaml(root: Path, base: Path, name: str, epoch: int) -> None:
    """``experiments/ostrack/<name>.yaml``: the host config ``base`` evaluating the SLT checkpoint of ``epoch``."""
    config = yaml.safe_load(base.read_text())
    config["TEST"]["EPOCH"] = epoch
    (root / "experiments" / "ostrack" / f"{name}.yaml").write_text(yaml.safe_dump(config))
