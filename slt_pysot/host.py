"""What the core needs to know about PySOT, declared without importing PySOT (entry point ``slt.adapters``).

* host kind ``pysot``: an STVIR/pysot checkout, recognised by its config, model builder and training script;
  patched with the diffs in this package's ``patches/`` folder (``slt patch-host pysot ROOT``);
* VOT tracker kind ``pysot``: PySOT's stock ``SiamRPNTracker`` (:mod:`slt_pysot.vot_tracker`), built from a yacs
  config and a PySOT snapshot; the tracker process imports the ``pysot`` checkout.

This module imports only :mod:`slt.hosts`: the registry imports it to list kinds, with no host tree present.
"""

from __future__ import annotations

from slt.hosts import Adapter, HostKind, VotKind

PYSOT = HostKind(
    name="pysot",
    markers=("pysot/core/config.py", "pysot/models/model_builder.py", "tools/train.py"),
    description="STVIR/pysot",
    commit="d04028f8e18c",
    patches="slt_pysot:patches",
)

ADAPTER = Adapter(
    name="pysot",
    hosts=(PYSOT,),
    vot_trackers=(VotKind(name="pysot", factory="slt_pysot.vot_tracker:PysotTracker", host="pysot", takes_config=True,
                          description="PySOT's stock SiamRPNTracker, WEIGHTS a snapshot, CONFIG its yacs file"),),
)
