"""Stock TrDiMP tracker with SLT-TrDiMP weights: ``python pytracking/run_tracker.py trdimp slt_trdimp ...``.

SLT changes training only: the test-time tracker is the stock ``pytracking.tracker.trdimp.TrDiMP`` with the
host's own parameters (``pytracking/parameter/trdimp/trdimp.py``; ``slt_trdimp_lasot`` uses
``trdimp_lasot.py``, no transformer-memory update, as the paper's LaSOT numbers). Only the network changes:
weights from ``SLT_TRDIMP_CHECKPOINT`` (a checkpoint file, or a checkpoint folder: its last epoch) or
``<network_path>/slt_trdimp.pth`` (``pytracking/evaluation/local.py``); checkpoints written by the LTR
trainer also need ``SLT_TRUST_CHECKPOINTS=1`` (they pickle settings objects).

TrDiMP tracks with PreciseRoIPooling, a CUDA extension. Without a GPU, loading fails with that reason unless
``SLT_PRROI_STANDIN=1`` asks for the RoIAlign stand-in (pipeline checks only: the results are not TrDiMP's).
"""

from __future__ import annotations

from typing import Callable

import torch

from slt_pytracking import require_patched_host
from slt_pytracking.trdimp_net import TrDiMPWeights, slt_checkpoint_path

require_patched_host()

from pytracking.utils import TrackerParams  # noqa: E402  (host imports after the patch check)


def _with_slt_weights(stock: Callable[[], TrackerParams]) -> TrackerParams:
    params = stock()
    params.use_gpu = torch.cuda.is_available()
    params.net = TrDiMPWeights(net_path=str(slt_checkpoint_path()), use_gpu=params.use_gpu)
    return params


def parameters() -> TrackerParams:
    """The stock ``trdimp`` parameters with the SLT weights (no arguments: pytracking calls ``parameters()``, B13)."""
    from pytracking.parameter.trdimp.trdimp import parameters as stock

    return _with_slt_weights(stock)


def parameters_lasot() -> TrackerParams:
    """The stock ``trdimp_lasot`` parameters (no transformer-memory update) with the SLT weights."""
    from pytracking.parameter.trdimp.trdimp_lasot import parameters as stock

    return _with_slt_weights(stock)
