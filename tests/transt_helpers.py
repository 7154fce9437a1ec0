"""Helpers of the TransT host tests: tree copies and snapshots, local.py files, subprocess runs of host tools."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from slt.data import SyntheticConfig
from slt.data.synthetic import write_dataset


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative POSIX path -> hex digest)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def copy_tree(source: Path, target: Path) -> Path:
    """Copy a host checkout without bytecode caches and git metadata."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    return target


def host_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment of a host subprocess: the tree importable, no bytecode written into it, few threads."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLT_")}
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", **extra})
    return env


def run_python(args: list[str], root: Path, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` with this interpreter in the tree ``root`` (extra environment variables as keywords)."""
    return subprocess.run([sys.executable, "-W", "ignore", *args], cwd=root, env=host_env(root, **extra),
                          capture_output=True, text=True, timeout=timeout)


def patch_host(root: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """``slt patch-host transt ROOT [FLAGS]`` through the CLI, checked."""
    return subprocess.run([sys.executable, "-m", "slt.cli", "patch-host", "transt", str(root), *flags],
                          capture_output=True, text=True, check=True, timeout=120)


def write_ltr_local(root: Path, workspace: Path, got10k_dir: Path) -> None:
    """``ltr/admin/local.py`` of the training side (the file the host reads through ``env_settings()``)."""
    (root / "ltr" / "admin" / "local.py").write_text(
        "class EnvironmentSettings:\n"
        "    def __init__(self):\n"
        f"        self.workspace_dir = {str(workspace)!r}\n"
        "        self.tensorboard_dir = self.workspace_dir + '/tensorboard/'\n"
        f"        self.got10k_dir = {str(got10k_dir)!r}\n"
        "        self.lasot_dir = ''\n"
        "        self.trackingnet_dir = ''\n")


def write_pytracking_local(root: Path, got10k_path: Path, results: Path, networks: Path) -> None:
    """``pytracking/evaluation/local.py`` of the evaluation side."""
    (root / "pytracking" / "evaluation" / "local.py").write_text(
        "from pytracking.evaluation.environment import EnvSettings\n\n\n"
        "def local_env_settings():\n"
        "    settings = EnvSettings()\n"
        f"    settings.got10k_path = {str(got10k_path)!r}\n"
        f"    settings.results_path = {str(results)!r}\n"
        f"    settings.network_path = {str(networks)!r}\n"
        "    return settings\n")


def synthetic_got10k(out: Path, videos: int, frames: int, seed: int, split: str = "train") -> Path:
    """Synthetic GOT-10k-layout videos (128 x 128) in ``out/<split>``; returns that folder."""
    root = write_dataset(out, "got10k", num_videos=videos, num_frames=frames, seed=seed,
                         config=SyntheticConfig(height=128, width=128), progress=False)
    if split != "train":
        root = root.rename(out / split)
    return root


def read_video(folder: Path, count: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The first ``count`` frames (RGB uint8) of a GOT-10k-layout sequence and their boxes (count, 4) xywh."""
    frames = [cv2.cvtColor(cv2.imread(str(folder / f"{k:08d}.jpg")), cv2.COLOR_BGR2RGB) for k in range(1, count + 1)]
    boxes = np.loadtxt(folder / "groundtruth.txt", delimiter=",", dtype=np.float32)[:count]
    return frames, boxes
