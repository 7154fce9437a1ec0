"""SLT-SeqTrack training: ``tracking/train.py --script slt_seqtrack`` (patched tree) or
``python -m slt_ostrack.seqtrack.train`` (no patch).

``python -m slt_ostrack.seqtrack.train --config NAME --save_dir DIR [--seed S]`` from a SeqTrack folder (or
with it on ``PYTHONPATH``); under ``torchrun`` every rank takes its share of each global batch
(:class:`slt.distributed.StepShardSampler`) and gradients are averaged, so two ranks make one process's update.

``NAME`` is an SLT config: a yaml path, ``experiments/slt_seqtrack/NAME.yaml`` in the tree, or one shipped in
``slt_ostrack/experiments/`` (``slt_seqtrack_b256``). Checkpoints go to
``<save_dir>/checkpoints/train/seqtrack/NAME/SEQTRACK_ep%04d.pth.tar``, where ``tracking/test.py seqtrack NAME``
reads them (with an ``experiments/seqtrack/NAME.yaml`` whose ``TEST.EPOCH`` is the SLT epoch to evaluate).
Interrupts, resume and torchrun: :mod:`slt_ostrack.train_script`.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

from torch import nn

from slt_ostrack.seqtrack import host_root
from slt_ostrack.train_script import PACKAGE_CONFIGS, Parts, TrainScript


def build(net: nn.Module, cfg: Any, slt: dict[str, Any]) -> Parts:
    """SLT-SeqTrack's tracker, actor (SCST + the host's cross-entropy) and trainer around ``net``."""
    from slt_ostrack.seqtrack.actor import SLTSeqTrackActor
    from slt_ostrack.seqtrack.tracker import SLTSeqTrack
    from slt_ostrack.seqtrack.trainer import SLTSeqTrackTrainer

    tracker = SLTSeqTrack(net, cfg, crop_backend=slt["CROP_BACKEND"], temperature=slt["TEMPERATURE"],
                          dataset_name=slt["DATASET_NAME"])
    actor = SLTSeqTrackActor(net, cfg, tracker.rules, slt_weight=slt["SLT_WEIGHT"], ce_weight=slt["CE_WEIGHT"])
    return Parts(tracker, actor, SLTSeqTrackTrainer)


SCRIPT = TrainScript(script="slt_seqtrack", host_script="seqtrack", defaults=PACKAGE_CONFIGS / "slt_seqtrack_b256.yaml",
                     title="SLT-SeqTrack", host_root=host_root, network="slt_ostrack.seqtrack.network", build=build,
                     backbone_key="encoder", backbone_multiplier="ENCODER_MULTIPLIER",
                     save_every_epoch=True)  # the host keeps only the last 10 epochs' and every 10th


def hand_over(argv: Sequence[str]) -> None:
    """The hook of the patched ``lib/train/run_training.py`` (:meth:`TrainScript.hand_over`)."""
    SCRIPT.hand_over(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Train SLT-SeqTrack (:meth:`TrainScript.main`); returns the exit status."""
    return SCRIPT.main(argv)


if __name__ == "__main__":
    sys.exit(main())
