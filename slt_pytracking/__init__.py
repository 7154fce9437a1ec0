"""SLT for PyTracking/LTR hosts: SLT-TransT on a TransT checkout (chenxin-dlut/TransT) and SLT-TrDiMP on a
TransformerTrack checkout (594422814/TransformerTrack).

Run inside a host tree patched with ``slt patch-host transt ROOT`` / ``slt patch-host trdimp ROOT`` (see
docs/pytracking.md and docs/trdimp.md):

One layout per tracker -- ``<tracker>_net`` (the host network in parts, built offline, its weights),
``<tracker>_tracker`` (the batched exploration tracker and its state; it builds and owns the policy
:class:`slt.policy.Shaping`), ``<tracker>_actor`` (the loss module, ``actor(samples) -> (loss, stats)``, given
the tracker's shaping):

* :mod:`slt_pytracking.transt_net`, :mod:`slt_pytracking.transt_tracker`, :mod:`slt_pytracking.transt_actor`
  -- SLT-TransT;
* :mod:`slt_pytracking.trdimp_net`, :mod:`slt_pytracking.trdimp_tracker`, :mod:`slt_pytracking.trdimp_actor`
  -- SLT-TrDiMP, with :mod:`slt_pytracking.prroi_standin` (a CPU stand-in for PreciseRoIPooling, for shape and
  flow checks only);

and, tracker-agnostic:

* :mod:`slt_pytracking.loader` -- host datasets, image loader and an ``LTRLoader`` of SLT clips, sharded by step;
* :mod:`slt_pytracking.trainer` -- :class:`~slt_pytracking.trainer.SLTTrainer` (``ltr.trainers.LTRTrainer``): owns
  the tracker, explores (:func:`slt.rollout.explore`) and updates (:func:`slt.update.slt_update`);
* :mod:`slt_pytracking.ltr_weights` -- safe loading of LTR network weights and checkpoints, and where they are;
* :mod:`slt_pytracking.imagenet` -- the networks' input normalisation;
* :mod:`slt_pytracking.train_settings` -- ``run(settings)`` recipes for ``ltr/run_training.py slt NAME`` (shared
  parts in :mod:`slt_pytracking.train_settings.recipe`);
* :mod:`slt_pytracking.parameter` -- parameters for ``pytracking/run_tracker.py transt slt_transt`` /
  ``trdimp slt_trdimp``.

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
