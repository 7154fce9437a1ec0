"""SLT-SeqTrack: sequence-level training of SeqTrack (microsoft/VideoX ``SeqTrack/``, an OSTrack-layout tree).

SeqTrack decodes a box as four tokens (cx, cy, w, h bins of the search crop) with a causal decoder over the
encoder's features of ``[z1, z2, x]``. SLT's policy is :mod:`slt.token_policy`'s factorised categorical under
the host's own inference rules; the modules here translate the host:

* :mod:`~slt_ostrack.seqtrack.network` -- the host config and network, pretrained download off;
* :mod:`~slt_ostrack.seqtrack.tracker` -- :class:`~slt_ostrack.seqtrack.tracker.SLTSeqTrack`, the batched
  exploration tracker (greedy rows = the stock ``lib/test/tracker/seqtrack.py``);
* :mod:`~slt_ostrack.seqtrack.actor` -- :class:`~slt_ostrack.seqtrack.actor.SLTSeqTrackActor` (SCST on the
  teacher-forced token log-probabilities + the host's cross-entropy);
* :mod:`~slt_ostrack.seqtrack.trainer`, :mod:`~slt_ostrack.seqtrack.train` -- the loop and the entry points.

Modules that import the host call :func:`host_root` first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import slt_ostrack


def host_root() -> Path:
    """The SeqTrack tree on ``sys.path``; installs :mod:`slt_ostrack.compat` and the ``np.float`` alias.

    ``lib/utils/pos_embed.py:56`` of the host uses ``np.float``, removed from NumPy 1.24; it was the builtin
    ``float``, which the alias restores (nothing else changes).
    """
    root = slt_ostrack.host_root()
    if not (root / "lib" / "models" / "seqtrack" / "seqtrack.py").is_file():
        raise ImportError(f"{root} is an OSTrack-family tree without lib/models/seqtrack/seqtrack.py: not SeqTrack "
                          f"(use the SeqTrack/ folder of microsoft/VideoX)")
    if not hasattr(np, "float"):
        np.float = float  # type: ignore[attr-defined]
    return root
