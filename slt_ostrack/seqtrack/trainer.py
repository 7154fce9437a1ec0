"""The SLT loop on SeqTrack's ``LTRTrainer``: :class:`slt_ostrack.trainer.SLTTrainer` with SeqTrack's names.

Checkpoints are ``<save_dir>/checkpoints/<project_path>/SEQTRACK_ep%04d.pth.tar`` (weights under ``'net'``,
loadable with ``torch.load(weights_only=True)``), the file ``lib/test/parameter/seqtrack.py`` points the stock
tracker at, so the host's ``tracking/test.py`` evaluates it.
"""

from __future__ import annotations

from slt_ostrack.seqtrack import host_root

host_root()

from slt_ostrack.trainer import SLTTrainer  # noqa: E402  (imports the host trainer after the shims)


class SLTSeqTrackTrainer(SLTTrainer):
    """:class:`~slt_ostrack.trainer.SLTTrainer` (explore, :func:`slt.update.slt_update`, log) writing
    ``SEQTRACK_ep%04d.pth.tar``; the tracker is a :class:`~slt_ostrack.seqtrack.tracker.SLTSeqTrack`, the actor
    a :class:`~slt_ostrack.seqtrack.actor.SLTSeqTrackActor`."""

    net_type = "SEQTRACK"
    run_name = "SLT-SeqTrack"
