"""Stock TransT tracker with SLT-TransT weights: ``python pytracking/run_tracker.py transt slt_transt ...``.

SLT changes training only: the test-time tracker is the stock ``pytracking.tracker.transt.TransT`` (window
influence 0.49, 128/256 crops). The weights come from ``SLT_TRANST_CHECKPOINT`` (a checkpoint file, or a
checkpoint folder: its last epoch) or ``<network_path>/slt_transt.pth`` (``pytracking/evaluation/local.py``);
checkpoints written by the LTR trainer also need ``SLT_TRUST_CHECKPOINTS=1`` (they pickle settings objects).
"""

from __future__ import annotations

import torch

from slt_pytracking import require_patched_host

require_patched_host()

from pytracking.utils import TrackerParams  # noqa: E402  (host imports after the patch check)

from slt_pytracking.transt_net import TransTWeights, slt_checkpoint_path  # noqa: E402


def parameters() -> TrackerParams:
    """Parameters of the stock TransT tracker (no arguments: pytracking calls ``parameters()``, B13)."""
    params = TrackerParams()
    params.debug = 0
    params.visualization = False
    params.use_gpu = torch.cuda.is_available()
    params.net = TransTWeights(net_path=str(slt_checkpoint_path()), use_gpu=params.use_gpu)
    return params
