"""SLT-OSTrack training: ``tracking/train.py --script slt_ostrack`` (patched tree) or ``python -m slt_ostrack.train``.

``python -m slt_ostrack.train --config NAME --save_dir DIR [--seed S]`` from an OSTrack checkout (or with it
on ``PYTHONPATH``) needs no patch. ``NAME`` is an SLT config: a yaml path, ``experiments/slt_ostrack/NAME.yaml`` in
the checkout, or one shipped in ``slt_ostrack/experiments/``. Checkpoints go to
``<save_dir>/checkpoints/train/ostrack/NAME/OSTrack_ep%04d.pth.tar``, where ``tracking/test.py ostrack NAME`` reads
them (with an ``experiments/ostrack/NAME.yaml`` whose ``TEST.EPOCH`` is the SLT epoch to evaluate). The config names
the host config (``BASE``), the starting weights, the datasets and the ``SLT`` hyper-parameters (see the shipped
``slt_vitb_256_mae_ce_32x4_ep300.yaml``). Interrupts, resume and torchrun: :mod:`slt_ostrack.train_script`.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

from torch import nn

from slt_ostrack import host_root
from slt_ostrack.train_script import PACKAGE_CONFIGS, Parts, TrainScript


def build(net: nn.Module, cfg: Any, slt: dict[str, Any]) -> Parts:
    """SLT-OSTrack's tracker (:class:`slt_ostrack.tracker.SLTOSTrack`), actor and trainer around ``net``."""
    from slt_ostrack.actor import SLTOSTrackActor
    from slt_ostrack.tracker import SLTOSTrack
    from slt_ostrack.trainer import SLTTrainer

    tracker = SLTOSTrack(net, cfg, crop_backend=slt["CROP_BACKEND"], temperature=slt["TEMPERATURE"],
                         sig_eps=slt["SIG_EPS"])
    return Parts(tracker, SLTOSTrackActor(net, cfg, tracker.shaping, slt_weight=slt["SLT_WEIGHT"]), SLTTrainer)


SCRIPT = TrainScript(script="slt_ostrack", host_script="ostrack",
                     defaults=PACKAGE_CONFIGS / "slt_vitb_256_mae_ce_32x4_ep300.yaml", title="SLT-OSTrack",
                     host_root=host_root, network="slt_ostrack.network", build=build)


def hand_over(argv: Sequence[str]) -> None:
    """The hook of the patched ``lib/train/run_training.py`` (:meth:`TrainScript.hand_over`)."""
    SCRIPT.hand_over(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Train SLT-OSTrack (:meth:`TrainScript.main`); returns the exit status."""
    return SCRIPT.main(argv)


if __name__ == "__main__":
    sys.exit(main())
