"""CPU and new-PyTorch shims for OSTrack 33b5e12, installed from outside the tree (idempotent).

* ``torch._six`` (gone since PyTorch 2.0; ``lib/train/data/loader.py`` imports ``string_classes`` and
  ``int_classes`` from it): a stub module with those two names.
* ``collections.Mapping`` / ``Sequence`` (moved to ``collections.abc`` in Python 3.10; used by the host's
  collate functions): aliases.
* Hard ``.cuda()`` calls (``lib/test/tracker/ostrack.py``, ``lib/test/tracker/data_utils.py``'s
  ``Preprocessor``, the corner head): on a machine without CUDA, ``Tensor.cuda`` and ``Module.cuda`` return the
  object unchanged (on the CPU); with CUDA they are left alone.
* ``wandb`` (imported unconditionally by ``lib/train/trainers/ltr_trainer.py`` through
  ``lib/train/data/wandb_logger.py``, used only with ``--use_wandb 1``): when it is not installed, a stub
  module whose every attribute raises ImportError naming the fix.
* ``visdom`` (``lib/vis/visdom_cus.py`` imports ``visdom`` and ``visdom.server``, on the tracker's import path
  through ``lib/test/tracker/basetracker.py``; used only for debug visualisation): when it is not installed (its
  source release needs an old setuptools to build), stub modules whose every attribute raises ImportError
  naming the fix.
* ``memory_profiler`` (imported, never used, by ARTrack's ``lib/train/trainers/ltr_seq_trainer*.py``, which
  ``lib/train/trainers/__init__.py`` imports): when it is not installed, a stub whose ``profile`` decorator returns
  the function unchanged.
"""

from __future__ import annotations

import collections
import collections.abc
import importlib.util
import logging
import sys
import types
from typing import Callable

import torch

logger = logging.getLogger(__name__)
_installed = False


def bare(net: torch.nn.Module) -> torch.nn.Module:
    """The network inside a DistributedDataParallel wrapper (or the network itself)."""
    return net.module if hasattr(net, "module") else net


def _stay_on_cpu(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003  (signature of .cuda())
    return self


def _missing(module: str, needed_by: str) -> Callable[[str], None]:
    """A stub module's ``__getattr__``: every public attribute raises ImportError naming ``module`` and the fix."""
    def attribute(name: str) -> None:
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(f"{module}.{name}: {module} is not installed ({needed_by}): pip install {module}")

    return attribute


def _no_profile(func=None, **kwargs):  # noqa: ANN001, ANN003, ANN201  (memory_profiler.profile's signature)
    return func if func is not None else (lambda f: f)


def install() -> None:
    """Install every shim this machine needs; a second call does nothing."""
    global _installed
    if _installed:
        return
    if "torch._six" not in sys.modules:
        six = types.ModuleType("torch._six")
        six.string_classes = (str, bytes)
        six.int_classes = int
        six.inf = float("inf")
        sys.modules["torch._six"] = six
    for name in ("Mapping", "Sequence", "MutableMapping", "Iterable"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    if "wandb" not in sys.modules and importlib.util.find_spec("wandb") is None:
        stub = types.ModuleType("wandb")
        stub.__getattr__ = _missing("wandb", "only --use_wandb 1 needs it")
        sys.modules["wandb"] = stub
    if "visdom" not in sys.modules and importlib.util.find_spec("visdom") is None:
        stub, server = types.ModuleType("visdom"), types.ModuleType("visdom.server")
        stub.__getattr__ = server.__getattr__ = _missing("visdom", "only the host's debug visualisation needs it")
        stub.server = server
        sys.modules.update({"visdom": stub, "visdom.server": server})
    if "memory_profiler" not in sys.modules and importlib.util.find_spec("memory_profiler") is None:
        stub = types.ModuleType("memory_profiler")
        stub.profile = _no_profile
        sys.modules["memory_profiler"] = stub
    if not torch.cuda.is_available():
        torch.Tensor.cuda = _stay_on_cpu
        torch.nn.Module.cuda = _stay_on_cpu
        logger.debug("no CUDA: the host's .cuda() calls keep tensors and modules on the CPU")
    _installed = True
