"""What the core needs to know about OSTrack-layout trees, declared without importing the host or torch (entry
point ``slt.adapters``).

* host kind ``ostrack``: a botaoye/OSTrack checkout, recognised by its LTR trainer, model, tracker and
  ``tracking/train.py``; patched with the diffs in this package's ``patches/`` folder (``slt patch-host ostrack
  ROOT``): ``tracking/train.py --script slt_ostrack`` hands over to :mod:`slt_ostrack.train`, and
  ``tracking/test.py`` installs the CPU shims.
* VOT tracker kind ``ostrack``: the host's stock ``OSTrack`` tracker (:mod:`slt_ostrack.vot_tracker`) over a
  weights-only ``'net'`` checkpoint and an experiment yaml; the tracker process imports the ``ostrack``
  checkout (no patch needed);
* host kind ``seqtrack``: the ``SeqTrack/`` folder of microsoft/VideoX, patched with ``patches/seqtrack/``:
  ``tracking/train.py --script slt_seqtrack`` hands over to :mod:`slt_ostrack.seqtrack.train`, ``tracking/test.py``
  installs the CPU shims (docs/seqtrack.md);
* VOT tracker kind ``seqtrack``: SeqTrack's stock tracker (:mod:`slt_ostrack.seqtrack.vot_tracker`) with a host
  experiment yaml and a weights-only checkpoint; the tracker process imports the ``seqtrack`` tree;
* host kind ``artrack``: a MIV-XJTU/ARTrack checkout, patched with ``patches/artrack/`` (``slt patch-host artrack
  ROOT``): ``tracking/train.py --script slt_artrack`` hands over to :mod:`slt_ostrack.artrack.train`, and
  ``tracking/test.py`` installs the CPU shims.
* VOT tracker kind ``artrack``: ARTrack's stock sequence tracker (:mod:`slt_ostrack.artrack.vot_tracker`).

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

SEQTRACK = HostKind(
    name="seqtrack",
    markers=("lib/train/trainers/ltr_trainer.py", "lib/models/seqtrack/seqtrack.py", "lib/test/tracker/seqtrack.py",
             "tracking/train.py"),
    description="microsoft/VideoX SeqTrack/",
    commit="1744b21",
    patches="slt_ostrack:patches/seqtrack",
)

ADAPTER = Adapter(
    name="ostrack",
    hosts=(OSTRACK, SEQTRACK, ARTRACK),
    vot_trackers=(VotKind(name="ostrack", factory="slt_ostrack.vot_tracker:OSTrackTracker", host="ostrack",
                          takes_config=True,
                          description="OSTrack's stock tracker, WEIGHTS a weights-only 'net' checkpoint (SLT's "
                                      "OSTrack_ep*.pth.tar), CONFIG experiments/ostrack/NAME.yaml or an SLT config"),
                  VotKind(name="seqtrack", factory="slt_ostrack.seqtrack.vot_tracker:SeqTrackTracker",
                          host="seqtrack", takes_config=True,
                          description="SeqTrack's stock tracker, WEIGHTS a weights-only 'net' checkpoint, "
                                      "CONFIG experiments/seqtrack/<name>.yaml"),
                  VotKind(name="artrack", factory="slt_ostrack.artrack.vot_tracker:ArtrackTracker", host="artrack",
                          takes_config=True,
                          description="ARTrack's stock sequence tracker, WEIGHTS a 'net' checkpoint, CONFIG its "
                                      "experiments/artrack_seq yaml")),
)
