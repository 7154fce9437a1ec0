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

import logging
import os
from pathlib import Path
from typing import Callable

import torch

from slt.checkpoint import load_state_dict_checked
from slt_pytracking import require_patched_host
from slt_pytracking.prroi_standin import use_roi_align_standin
from slt_pytracking.checkpoints import evaluation_checkpoint, load_state
from slt_pytracking.trdimp_tracker import trdimp_offline

require_patched_host()

from pytracking.features.net_wrappers import NetWithBackbone  # noqa: E402  (host imports after the patch check)
from pytracking.utils import TrackerParams  # noqa: E402

logger = logging.getLogger(__name__)

CHECKPOINT_ENV = "SLT_TRDIMP_CHECKPOINT"
"""SLT-TrDiMP weights the evaluation parameters load (a file, or a folder of ``*_ep*.pth.tar``)."""
STANDIN_ENV = "SLT_PRROI_STANDIN"
"""Set to 1 to evaluate on a CPU with the RoIAlign stand-in for PreciseRoIPooling (numbers are not TrDiMP's)."""


class TrDiMPWeights(NetWithBackbone):
    """``params.net`` for the stock TrDiMP tracker: loads ``net_path`` with
    :func:`~slt_pytracking.trdimp_tracker.load_state` (no unchecked unpickling) into a
    :func:`~slt_pytracking.trdimp_tracker.trdimp_offline` network (no ImageNet download), on the GPU when
    ``use_gpu`` and one is available."""

    def load_network(self) -> None:
        state = load_state(self.net_path)
        self.net = trdimp_offline(**self.net_kwargs)
        load_state_dict_checked(self.net, state, source=str(self.net_path))
        logger.info("loaded TrDiMP weights from %s", self.net_path)
        if self.use_gpu and torch.cuda.is_available():
            self.net.to("cuda")
        elif os.environ.get(STANDIN_ENV, "") == "1":
            use_roi_align_standin(self.net)
        else:
            raise RuntimeError(f"TrDiMP tracks with PreciseRoIPooling, a CUDA-only extension, and no GPU is "
                               f"available; set {STANDIN_ENV}=1 to run on the CPU with the RoIAlign stand-in "
                               f"(pipeline checks only: the results are not TrDiMP's)")
        self.net.eval()


def slt_checkpoint_path() -> Path:
    """SLT-TrDiMP weights for evaluation: ``$SLT_TRDIMP_CHECKPOINT`` (file, or checkpoint folder: its last
    epoch), else ``<pytracking env network_path>/slt_trdimp.pth``; FileNotFoundError naming both otherwise."""
    return evaluation_checkpoint(CHECKPOINT_ENV, "slt_trdimp.pth", "SLT-TrDiMP",
                                 "<workspace>/checkpoints/ltr/slt/trdimp/DiMPnet_ep0040.pth.tar")


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
