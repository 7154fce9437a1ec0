"""SLT-SiamRPN++ on an unmodified PySOT checkout (STVIR/pysot): the adapter between PySOT and :mod:`slt`.

PySOT is not a pip package: put a checkout on ``PYTHONPATH`` (its own install instructions do the same). Modules:

* :mod:`slt_pysot.config` -- ``register_slt_cfg(cfg)``: SLT's keys on PySOT's yacs cfg (needs only yacs);
* :mod:`slt_pysot.model_builder` -- ``SLTModelBuilder(ModelBuilder)``: a training forward with raw outputs;
* :mod:`slt_pysot.tracker` -- ``SLTSiamRPNTracker(SiamRPNTracker)``: batched exploration; importing it registers
  the class in ``pysot.tracker.tracker_builder.TRACKS``;
* :mod:`slt_pysot.actor` -- ``SLTSiamRPNActor``: the SCST + box loss on recorded exploration crops;
* :mod:`slt_pysot.dataset` -- clip sampling over raw GOT-10k / LaSOT / TrackingNet folders;
* :mod:`slt_pysot.schedule` -- the per-step LR schedule from PySOT's per-epoch rates (needs no PySOT);
* :mod:`slt_pysot.train` -- the training entry point (``python -m slt_pysot.train`` or PySOT's ``tools/train.py``
  once patched with ``slt patch-host pysot ROOT``);
* :mod:`slt_pysot.testdata` -- converts synthetic or raw LaSOT / GOT-10k folders into PySOT toolkit JSON files.

This package imports nothing from PySOT at import time; its submodules (except ``config``, ``schedule`` and
``testdata``) do. The SiamRPN step itself is host-free, in :mod:`slt.siamrpn`.
"""
