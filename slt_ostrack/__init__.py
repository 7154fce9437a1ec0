"""SLT for OSTrack-layout trees (botaoye/OSTrack: ``lib/train``, ``lib/config``, ``lib/test``, ``tracking/``).

* :mod:`slt_ostrack.host` -- the host kind as plain data (markers, patch folder), host-free;
* :mod:`slt_ostrack.policy` -- the categorical policy over the centre-map cells and box helpers, host-free;
* :mod:`slt_ostrack.compat` -- CPU shims for the host's breakages, applied from outside the tree;
* :mod:`slt_ostrack.tracker` -- :class:`~slt_ostrack.tracker.SLTOSTrack`, the batched exploration tracker;
* :mod:`slt_ostrack.actor` -- :class:`~slt_ostrack.actor.SLTOSTrackActor`, the loss module of the update;
* :mod:`slt_ostrack.trainer`, :mod:`slt_ostrack.train_script`, :mod:`slt_ostrack.train` -- the loop on the host's
  ``LTRTrainer`` and the entry points;
* :mod:`slt_ostrack.seqtrack`, :mod:`slt_ostrack.artrack` -- the same for SeqTrack and ARTrack's sequence network
  (docs/seqtrack.md, docs/artrack.md).

Modules that import the host call :func:`host_root` first, which names the fix when no tree is importable.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

FAMILY_MODELS = ("lib/models/ostrack/ostrack.py", "lib/models/artrack_seq/artrack_seq.py",
                 "lib/models/seqtrack/seqtrack.py")
"""Model files that mark a tree of the OSTrack family (OSTrack, ARTrack, SeqTrack) by its own network."""


def host_root() -> Path:
    """The OSTrack-family tree on ``sys.path`` (the folder holding ``lib/``); installs :mod:`slt_ostrack.compat`."""
    spec = importlib.util.find_spec("lib")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("no OSTrack tree on sys.path: run from an OSTrack checkout or set PYTHONPATH=<checkout>")
    root = Path(next(iter(spec.submodule_search_locations))).resolve().parent
    if not any((root / model).is_file() for model in FAMILY_MODELS):
        raise ImportError(f"{root} holds a 'lib' package but none of {', '.join(FAMILY_MODELS)}: not an OSTrack-family "
                          f"tree")
    from slt_ostrack import compat

    compat.install()
    return root
