"""CPU and new-PyTorch shims for OSTrack 33b5e12, installed from outside the tree (idempotent).

* ``torch._six`` (gone since PyTorch 2.0; ``lib/train/data/loader.py`` imports ``string_classes`` and
  ``int_classes`` from it): a stub module with those two names.
* ``collections.Mapping`` / ``Sequence`` (moved to ``collections.abc`` in Python 3.10; used by the host's
  collate functions): aliases.
* Hard ``.cuda()`` calls (``lib/test/tracker/ostrack.py``, ``lib/test/tracker/data_utils.py``'s
  ``Preprocessor``, the corner head): on a machine without CUDA, ``Tensor.cuda`` and ``Module.cuda`` return the
  object unchanged (on the CPU); with CUDA they are left alone.
"""

from __future__ import annotations

import collections
import collections.abc
import logging
import sys
import types

import torch

logger = logging.getLogger(__name__)
_installed = False


def _stay_on_cpu(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003  (signature of .cuda())
    return self


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
    if not torch.cuda.is_available():
        torch.Tensor.cuda = _stay_on_cpu
        torch.nn.Module.cuda = _stay_on_cpu
        logger.debug("no CUDA: the host's .cuda() calls keep tensors and modules on the CPU")
    _installed = True
