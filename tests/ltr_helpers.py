"""Helpers of the LTR host tests (TransT and TrDiMP): tree copies and snapshots, local.py files, synthetic data,
subprocess runs of host tools, and the stock TrDiMP tracker the exploration is compared with."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

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


def host_env(root: Path, threads: int, **extra: str) -> dict[str, str]:
    """Environment of a host subprocess: the tree importable, no bytecode written into it, ``threads`` threads."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLT_")}
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                **extra})
    return env


def run_python(args: list[str], root: Path, timeout: float = 600, threads: int = 2,
               **extra: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` with this interpreter in the tree ``root`` (extra environment variables as keywords)."""
    return subprocess.run([sys.executable, "-W", "ignore", *args], cwd=root, env=host_env(root, threads, **extra),
                          capture_output=True, text=True, timeout=timeout)


def patch_host(host: str, root: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """``slt patch-host HOST ROOT [FLAGS]`` through the CLI, checked (``host``: ``transt`` or ``trdimp``)."""
    return subprocess.run([sys.executable, "-m", "slt.cli", "patch-host", host, str(root), *flags],
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


class ReplayStockRandom:
    """A :class:`slt_pytracking.trdimp_tracker.RandomSource` replaying the stock TrDiMP tracker's draws.

    The stock ``TrDiMP`` draws its random numbers from the global torch generator: 2 per template augmentation
    with a random shift (flip, blurs, rotations, in that order) in ``initialize``, then ``(9, 4)`` refinement
    jitters in every ``track``. Clip ``i`` here draws the same numbers from a generator seeded with
    ``seeds[i]``, i.e. what the stock tracker draws after ``torch.manual_seed(seeds[i])``.
    """

    def __init__(self, seeds: list[int]) -> None:
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]

    def init_shifts(self, clips: int, count: int) -> torch.Tensor:
        assert clips == len(self.generators)
        return torch.stack([torch.stack([torch.rand(2, generator=g) for _ in range(count)]) if count
                            else torch.zeros(0, 2) for g in self.generators])

    def box_jitter(self, clips: int, count: int, random: object) -> torch.Tensor:
        assert clips == len(self.generators)
        return torch.stack([torch.rand(count, 4, generator=g) for g in self.generators])


def stock_trdimp_track(net: torch.nn.Module, params_for, frames: list[np.ndarray], box: np.ndarray,
                       seed: int) -> np.ndarray:
    """The stock TrDiMP tracker (initialize + track) on one video -> (len(frames) - 1, 4) xywh.

    ``params_for(wrapper)`` gives its ``TrackerParams``; the network is wrapped as the host does
    (``NetWithBackbone``: image normalisation, attribute forwarding). The global torch generator is seeded with
    ``seed`` (see :class:`ReplayStockRandom`). The stock initialisation freezes the IoU-Net
    (``requires_grad=False``); the flags are restored afterwards.
    """
    from pytracking.features.net_wrappers import NetWithBackbone
    from pytracking.tracker.trdimp import TrDiMP

    flags = {name: p.requires_grad for name, p in net.named_parameters()}
    wrapper = NetWithBackbone(net_path=None, use_gpu=torch.cuda.is_available())  # moves images to the net's GPU
    wrapper.net = net
    tracker = TrDiMP(params_for(wrapper))
    tracker.features_initialized = True
    torch.manual_seed(seed)
    tracker.initialize(frames[0], {"init_bbox": [float(v) for v in box]})
    boxes = np.array([tracker.track(frame)["target_bbox"] for frame in frames[1:]], dtype=np.float64)
    for name, p in net.named_parameters():
        p.requires_grad_(flags[name])
    return boxes
