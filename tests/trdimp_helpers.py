"""Helpers of the TrDiMP host tests: the stock tracker run the exploration is compared with, its random
numbers replayed, and subprocess runs of host tools (generic tree/data helpers come from transt_helpers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch


class ReplayStockRandom:
    """A :class:`slt_pytracking.trdimp_tracker.RandomSource` replaying the stock tracker's draws.

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

    def box_jitter(self, clips: int, count: int, generator: torch.Generator | None) -> torch.Tensor:
        assert clips == len(self.generators)
        return torch.stack([torch.rand(count, 4, generator=g) for g in self.generators])


def stock_track(net: torch.nn.Module, params_for, frames: list[np.ndarray], box: np.ndarray, seed: int) -> np.ndarray:
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


def host_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment of a host subprocess: the tree importable, no bytecode written into it, one thread."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLT_")}
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra})
    return env


def run_python(args: list[str], root: Path, timeout: float = 900, **extra: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` with this interpreter in the tree ``root`` (extra environment variables as keywords)."""
    return subprocess.run([sys.executable, "-W", "ignore", *args], cwd=root, env=host_env(root, **extra),
                          capture_output=True, text=True, timeout=timeout)


def patch_host(root: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """``slt patch-host trdimp ROOT [FLAGS]`` through the CLI, checked."""
    return subprocess.run([sys.executable, "-m", "slt.cli", "patch-host", "trdimp", str(root), *flags],
                          capture_output=True, text=True, check=True, timeout=120)
