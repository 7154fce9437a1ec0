"""SLT for PyTracking/LTR hosts: SLT-TransT on a TransT checkout (chenxin-dlut/TransT) and SLT-TrDiMP on a
TransformerTrack checkout (594422814/TransformerTrack).

Run inside a host tree patched with ``slt patch-host transt ROOT`` / ``slt patch-host trdimp ROOT`` (see
docs/pytracking.md and docs/trdimp.md):

* :mod:`slt_pytracking.loader` -- host datasets, image loader and an ``LTRLoader`` of SLT clips (tracker-agnostic);
* :mod:`slt_pytracking.transt_tracker` -- :class:`~slt_pytracking.transt_tracker.SLTTransT`, the batched
  exploration tracker over the host TransT network;
* :mod:`slt_pytracking.actors` -- :class:`~slt_pytracking.actors.SLTTransTActor` (``ltr.actors.BaseActor``);
* :mod:`slt_pytracking.trainer` -- :class:`~slt_pytracking.trainer.SLTTrainer` (``ltr.trainers.LTRTrainer``,
  tracker-agnostic);
* :mod:`slt_pytracking.trdimp_tracker`, :mod:`slt_pytracking.trdimp_actor` -- the same for SLT-TrDiMP, with
  :mod:`slt_pytracking.prroi_standin` (a CPU stand-in for PreciseRoIPooling, for shape and flow checks only);
* :mod:`slt_pytracking.checkpoints` -- safe loading of LTR network weights (host-agnostic);
* :mod:`slt_pytracking.weights` -- TransT weights paths and the offline TransT constructor;
* :mod:`slt_pytracking.train_settings` -- ``run(settings)`` recipes for ``ltr/run_training.py slt NAME``;
* :mod:`slt_pytracking.parameter` -- parameters for ``pytracking/run_tracker.py transt slt_transt``.

Every module that imports the host calls :func:`require_patched_host` first, so an unpatched tree fails with
the command that fixes it instead of a ``torch._six`` import error deep inside the host.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path


def host_root() -> Path:
    """The PyTracking-family tree on ``sys.path`` (the folder holding ``ltr/``)."""
    from slt.patching import PatchError

    spec = importlib.util.find_spec("ltr")
    if spec is None or not spec.submodule_search_locations:
        raise PatchError("no host tree on sys.path: run from a TransT or TransformerTrack checkout "
                         "(ltr/run_training.py and pytracking/run_tracker.py add it) or set PYTHONPATH=<checkout>")
    return Path(next(iter(spec.submodule_search_locations))).resolve().parent


@functools.lru_cache(maxsize=None)
def require_patched_host() -> Path:
    """Check that the host tree on ``sys.path`` carries every SLT patch; returns its root.

    Raises :class:`slt.patching.PatchError` naming the ``slt patch-host`` command when it does not.
    """
    from slt import patching

    root = host_root()
    patching.require_applied(root, ("transt", "trdimp"))
    return root
