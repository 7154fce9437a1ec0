"""Helpers of the ARTrack host tests: synthetic clips, a patched temporary copy of the tree, the test-side files."""

from __future__ import annotations

from pathlib import Path

import yaml

from ltr_helpers import copy_tree
from ostrack_helpers import clip_batch as ostrack_clip_batch, git_apply

PATCHES = Path(__file__).resolve().parent.parent / "slt_ostrack" / "patches" / "artrack"
BASE = "artrack_seq_256_full"


def clip_batch(clips: int, frames: int, seed: int) -> dict[str, list]:
    """:func:`ostrack_helpers.clip_batch` with clip keys ``(11, 0, i)``."""
    return ostrack_clip_batch(clips, frames, seed, key_seed=11)


def patched_copy(source: Path, target: Path) -> Path:
    """A copy of the ARTrack tree with every ``slt_ostrack/patches/artrack/*.patch`` applied in name order."""
    copy_tree(source, target)
    for patch in sorted(PATCHES.glob("*.patch")):
        git_apply(target, patch)
    return target


def revert(root: Path) -> None:
    """Revert the ARTrack patch set (reverse name order)."""
    for patch in sorted(PATCHES.glob("*.patch"), reverse=True):
        git_apply(root, patch, "--reverse")


def write_slt_config(path: Path, epochs: int, **slt: object) -> Path:
    """A smoke-test SLT-ARTrack config: synthetic GOT-10k (no split), N = 2 clips of T = 3 frames, one step."""
    config = {"BASE": BASE, "INIT_CHECKPOINT": "", "DATASETS": [{"NAME": "got10k", "WEIGHT": 1}],
              "SLT": {"EPOCHS": epochs, "SAMPLES_PER_EPOCH": 2, "NUM_SEQ": 2, "NUM_FRAMES": 3, "CHUNK_SIZE": 0,
                      "NUM_WORKERS": 0, "MAX_GAP": 5, "LR": 1e-4, **slt}}
    path.write_text(yaml.safe_dump(config))
    return path


def write_test_yaml(root: Path, name: str, epoch: int, weights: Path) -> None:
    """``experiments/artrack_seq/<name>.yaml``: the base config evaluating the SLT checkpoint of ``epoch``.

    ``MODEL.PRETRAIN_PTH`` names ``weights`` (any file with a ``'net'`` entry): the host's ``build_artrack_seq``
    loads it before the tracker loads the checkpoint.
    """
    config = yaml.safe_load((root / "experiments" / "artrack_seq" / f"{BASE}.yaml").read_text())
    config["TEST"]["EPOCH"] = epoch
    config["MODEL"]["PRETRAIN_PTH"] = str(weights)
    (root / "experiments" / "artrack_seq" / f"{name}.yaml").write_text(yaml.safe_dump(config))
