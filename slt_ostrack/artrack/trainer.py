"""The SLT loop on ARTrack's ``LTRTrainer``: :class:`slt_ostrack.trainer.SLTTrainer` with ARTrack's checkpoint names.

Checkpoints are ``<save_dir>/checkpoints/<project_path>/ARTrackSeq_ep%04d.pth.tar`` (weights-only loadable, the
weights under ``'net'``), the file ``lib/test/parameter/artrack_seq.py`` reads for ``TEST.EPOCH``.
"""

from __future__ import annotations

from slt_ostrack.trainer import SLTTrainer

class SLTARTrackTrainer(SLTTrainer):
    """:class:`~slt_ostrack.trainer.SLTTrainer` whose checkpoints carry ARTrack's sequence-network name."""

    net_type = "ARTrackSeq"
    run_name = "SLT-ARTrack"
