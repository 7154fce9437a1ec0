"""What the core needs to know about PySOT, declared without importing PySOT (entry point ``slt.adapters``).

* host kind ``pysot``: an STVIR/pysot checkout, recognised by its config, model builder and training script;
  patched with the diffs in this package's ``patches/`` folder (``slt patch-host pysot ROOT``);
* host kind ``siamattn``: a msight-tech/research-siamattn checkout (a PySOT fork, CC BY-NC 4.0: the user brings it),
  recognised by its deformable-op package and mask tracker; patched with ``patches/siamattn/`` (CPU devices, the
  OpenCV version test, in-place adds that break backward); its deformable ops come from :mod:`slt_pysot.deform_ops`;
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

SIAMATTN = HostKind(
    name="siamattn",
    markers=("pysot/models/head/dcn/deform_pool.py", "pysot/tracker/siammask_tracker.py",
             "pysot/models/neck/enhance.py", "tools/train.py"),
    description="msight-tech/research-siamattn",
    commit="a476be389b81",
    patches="slt_pysot:patches/siamattn",
)

ADAPTER = Adapter(
    name="pysot",
    hosts=(PYSOT, SIAMATTN),
    vot_trackers=(VotKind(name="pysot", factory="slt_pysot.vot_tracker:PysotTracker", host="pysot", takes_config=True,
                          description="PySOT's stock SiamRPNTracker, WEIGHTS a snapshot, CONFIG its yacs file"),),
)
