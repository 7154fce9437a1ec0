"""Checkpoints that survive a kill and refuse to run code: atomic writes, safe loads, RNG states.

* :func:`save_checkpoint` writes to a temporary file in the target folder, fsyncs it, renames it over the
  target and fsyncs the folder: a reader sees the old file or the new one, never a torn one.
* :func:`load_checkpoint` uses ``torch.load(weights_only=True)`` unless the caller says the file is trusted,
  so a checkpoint crafted to run code on unpickling is refused.
* :class:`CheckpointManager` numbers checkpoints by step and keeps the last K (:func:`keep_newest`, the one
  retention rule every training loop applies to the checkpoints it writes).
"""

from __future__ import annotations

import logging
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

logger = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read or does not fit (path and reason in the message)."""


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename, fsync of the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(state, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], *, trusted: bool = False, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint dict. ``trusted=False`` (default) allows only tensors and plain containers
    (``weights_only=True``); pass ``trusted=True`` only for files you made yourself, e.g. PyTracking
    checkpoints that pickle settings objects -- unpickling such a file can run arbitrary code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if trusted:
        logger.warning("loading %s with full unpickling (trusted=True): it can run code", path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=not trusted)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        # torch's weights_only refusal runs to a page of advice for API users; it stays in the chain (__cause__)
        found = re.search(r"unsupported (?:global: )?GLOBAL (\S+)", str(error), flags=re.IGNORECASE)
        if not trusted and found:
            raise CheckpointError(f"cannot load checkpoint {path}: it pickles objects ({found.group(1)}, ...), which "
                                  f"safe (weights_only) loading refuses") from error
        lines = [line.strip() for line in str(error).splitlines()
                 if line.strip() and not line.strip().startswith("Check the documentation")]
        reason = lines[-1] if lines else type(error).__name__
        raise CheckpointError(f"cannot load checkpoint {path} (damaged, or not a torch file?): {reason}") from error
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict")
    return state


def load_state_dict_checked(module: torch.nn.Module, state_dict: dict[str, Any], source: str) -> None:
    """``module.load_state_dict(strict=True)`` with an error naming ``source`` and the mismatching keys."""
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{source} does not fit {type(module).__name__}: {error}") from error


def rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Python, NumPy (global), torch (CPU, and CUDA when present) and an optional generator's states,
    in a form ``weights_only`` loading accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def restore_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Inverse of :func:`rng_state`."""
    random.setstate(_as_tuple(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def keep_newest(paths: Sequence[Path], keep: int | None) -> list[Path]:
    """Delete all but the newest ``keep`` of ``paths`` (ordered oldest first; ``keep=None``: delete none);
    returns the deleted files."""
    if keep is not None and keep < 1:
        raise ValueError(f"keep must be >= 1 or None (keep all), got {keep}")
    removed = list(paths[: -keep]) if keep is not None and len(paths) > keep else []
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


class CheckpointManager:
    """``{directory}/{prefix}_{step:08d}.pth`` checkpoints, the newest ``keep`` of them kept."""

    def __init__(self, directory: str | os.PathLike[str], prefix: str, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.prefix = prefix
        self.keep = keep
        self._pattern = re.compile(rf"^{re.escape(prefix)}_(\d+)\.pth$")

    def path(self, step: int) -> Path:
        return self.directory / f"{self.prefix}_{step:08d}.pth"

    def steps(self) -> list[int]:
        """Steps of the checkpoints on disk, oldest first."""
        if not self.directory.is_dir():
            return []
        found = (self._pattern.match(p.name) for p in self.directory.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def latest(self) -> Path | None:
        steps = self.steps()
        return self.path(steps[-1]) if steps else None

    def remove_stale_temporaries(self) -> None:
        """Delete temporary files left by a writer killed mid-save (they are never valid checkpoints)."""
        if self.directory.is_dir():
            for tmp in self.directory.glob(f".{self.prefix}_*.tmp"):
                logger.info("removing unfinished checkpoint write %s", tmp)
                tmp.unlink(missing_ok=True)

    def save(self, step: int, state: dict[str, Any]) -> Path:
        path = save_checkpoint(self.path(step), state)
        keep_newest([self.path(old) for old in self.steps()], self.keep)
        return path
