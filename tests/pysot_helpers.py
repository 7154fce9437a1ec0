"""Helpers of the PySOT host tests: derived configs, tree snapshots, subprocess runs of the host's tools."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
ALEX_CONFIG = REPO / "experiments" / "slt_siamrpn_alex" / "config.yaml"
PAPER_CONFIG = REPO / "experiments" / "slt_siamrpnpp" / "config.yaml"


def derived_config(path: Path, base: Path = ALEX_CONFIG, **overrides: Any) -> Path:
    """Write ``base`` with ``overrides`` (dotted keys, e.g. ``TRAIN__EPOCH=1`` for ``TRAIN.EPOCH``) to ``path``."""
    config = yaml.safe_load(base.read_text())
    for dotted, value in overrides.items():
        *nodes, leaf = dotted.split("__")
        node = config
        for name in nodes:
            node = node.setdefault(name, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative POSIX path -> hex digest)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def host_env(pysot_root: Path) -> dict[str, str]:
    """Environment of a host tool subprocess: the tree on PYTHONPATH, no bytecode written into it, one thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(pysot_root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def run_python(args: list[str], cwd: Path, pysot_root: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` with this interpreter, in ``cwd``, the host tree importable."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=host_env(pysot_root), capture_output=True,
                          text=True, timeout=timeout)


def run_slt_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m slt.cli ARGS`` (the ``slt`` command of this environment)."""
    return subprocess.run([sys.executable, "-m", "slt.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
