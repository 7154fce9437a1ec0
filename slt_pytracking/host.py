"""What the core needs to know about the PyTracking-family hosts, declared without importing them (entry point
``slt.adapters``).

* host kind ``transt``: a chenxin-dlut/TransT checkout; ``trdimp``: a 594422814/TransformerTrack checkout. Both
  are recognised by their training script, network and tracker files and patched with the diffs in this
  package's ``patches/transt/`` and ``patches/trdimp/`` folders (``slt patch-host transt|trdimp ROOT``);
* VOT tracker kind ``transt``: TransT's stock tracker (:mod:`slt_pytracking.vot_tracker`) over a checkpoint; the
  tracker process imports the ``transt`` checkout, which must be patched.

This module imports only :mod:`slt.hosts`: the registry imports it to list kinds, with no host tree present.
"""

from __future__ import annotations

from slt.hosts import Adapter, HostKind, VotKind

TRANST = HostKind(
    name="transt",
    markers=("ltr/run_training.py", "ltr/models/tracking/transt.py", "pytracking/tracker/transt/transt.py"),
    description="chenxin-dlut/TransT",
    commit="2793ef31f83222280b4c421f7ae15a61ba7871f1",
    patches="slt_pytracking:patches/transt",
)
TRDIMP = HostKind(
    name="trdimp",
    markers=("ltr/run_training.py", "ltr/models/tracking/dimpnet.py", "pytracking/tracker/trdimp/trdimp.py"),
    description="594422814/TransformerTrack",
    commit="e3bdd0be1a9a2cd4b1b6bb1b946a9a57a525b3fc",
    patches="slt_pytracking:patches/trdimp",
)

ADAPTER = Adapter(
    name="pytracking",
    hosts=(TRANST, TRDIMP),
    vot_trackers=(VotKind(name="transt", factory="slt_pytracking.vot_tracker:TranstTracker", host="transt",
                          description="TransT's stock tracker, WEIGHTS a 'net' checkpoint or a state dict"),),
)
