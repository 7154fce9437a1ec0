"""What the core needs to know about OSTrack-layout trees, declared without importing the host or torch (entry
point ``slt.adapters``).

* host kind ``ostrack``: a botaoye/OSTrack checkout, recognised by its LTR trainer, model, tracker and
  ``tracking/train.py``; patched with the diffs in this package's ``patches/`` folder (``slt patch-host ostrack
  ROOT``): ``tracking/train.py --script slt_ostrack`` hands over to :mod:`slt_ostrack.train`, and
  ``tracking/test.py`` installs the CPU shims.
* host kind ``artrack``: a MIV-XJTU/ARTrack checkout, patched with ``patches/artrack/`` (``slt patch-host artrack
  ROOT``): ``tracking/train.py --script slt_artrack`` hands over to :mod:`slt_ostrack.artrack_train`, and
  ``tracking/test.py`` installs the CPU shims.
* VOT tracker kind ``artrack``: ARTrack's stock sequence tracker (:mod:`slt_ostrack.artrack_vot_tracker`).

This module imports only :mod:`slt.hosts`: the registry imports it to list kinds, with no host tree present.
"""

from __future__ import annotations

from slt.hosts import Adapter, HostKind, VotKind

OSTRACK = HostKind(
    name="ostrack",
    markers=("lib/train/trainers/ltr_trainer.py", "lib/models/ostrack/ostrack.py", "lib/test/tracker/ostrack.py",
             "tracking/train.py"),
    description="botaoye/OSTrack",
    commit="33b5e12",
    patches="slt_ostrack:patches",
)

ARTRACK = HostKind(
    name="artrack",
    markers=("lib/train/trainers/ltr_seq_trainer.py", "lib/models/artrack_seq/artrack_seq.py",
             "lib/test/tracker/artrack_seq.py", "tracking/train.py"),
    description="MIV-XJTU/ARTrack",
    commit="5931f4a",
    patches="slt_ostrack:patches/artrack",
)

ADAPTER = Adapter(name="ostrack", hosts=(OSTRACK, ARTRACK), vot_trackers=(
    VotKind(name="artrack", factory="slt_ostrack.artrack_vot_tracker:ArtrackTracker", host="artrack",
            takes_config=True,
            description="ARTrack's stock sequence tracker, WEIGHTS a 'net' checkpoint, CONFIG its experiments/"
                        "artrack_seq yaml"),
))
