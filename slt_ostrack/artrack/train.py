"""SLT-ARTrack training: ``python tracking/train.py --script slt_artrack --config NAME --save_dir DIR --mode single`` in
an ARTrack tree patched by ``slt patch-host artrack ROOT``, or ``python -m slt_ostrack.artrack.train --config NAME
--save_dir DIR`` from an unpatched one (either under ``torchrun`` too). See docs/artrack.md.

The config (``NAME``: a path, ``<root>/experiments/slt_artrack/NAME.yaml`` or a shipped one) names the host
experiment ``BASE`` (``experiments/artrack_seq/<BASE>.yaml``), the starting weights, the datasets and the ``SLT``
section, completed by ``slt_ostrack/experiments/slt_artrack_seq_256_full.yaml`` (which states where each value comes
from). ``SLT.OBJECTIVE`` selects the loss (:mod:`slt_ostrack.artrack.actor`), so runs that differ only in it compare
the objectives on the same data and budget. Interrupts, resume and torchrun: :mod:`slt_ostrack.train_script`.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

from torch import nn

from slt_ostrack import host_root
from slt_ostrack.train_script import PACKAGE_CONFIGS, Parts, TrainScript

DEFAULTS = PACKAGE_CONFIGS / "slt_artrack_seq_256_full.yaml"


def build(net: nn.Module, cfg: Any, slt: dict[str, Any]) -> Parts:
    """SLT-ARTrack's tracker, actor (objective ``SLT.OBJECTIVE``) and trainer around ``net``."""
    from slt_ostrack.artrack.actor import SLTARTrackActor
    from slt_ostrack.artrack.tracker import SLTARTrack
    from slt_ostrack.artrack.trainer import SLTARTrackTrainer

    tracker = SLTARTrack(net, cfg, crop_backend=slt["CROP_BACKEND"], temperature=slt["TEMPERATURE"])
    actor = SLTARTrackActor(net, cfg, tracker.rules, objective=slt["OBJECTIVE"], slt_weight=slt["SLT_WEIGHT"])
    return Parts(tracker, actor, SLTARTrackTrainer)


SCRIPT = TrainScript(script="slt_artrack", host_script="artrack_seq", defaults=DEFAULTS, title="SLT-ARTrack",
                     host_root=host_root, network="slt_ostrack.artrack.network", build=build)


def hand_over(argv: Sequence[str]) -> None:
    """The hook of the patched ``lib/train/run_training.py`` (:meth:`TrainScript.hand_over`)."""
    SCRIPT.hand_over(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Train SLT-ARTrack (:meth:`TrainScript.main`); returns the exit status."""
    return SCRIPT.main(argv)


if __name__ == "__main__":
    sys.exit(main())
