"""TransT's stock tracker as a ``python -m slt.vot`` tracker: kind ``transt`` (:mod:`slt_pytracking.host`).

Imported by :func:`slt.vot.trackers.build_tracker` inside the tracker process, whose path holds a TransT checkout
patched with ``slt patch-host transt ROOT`` (trackers.ini ``paths``, from ``slt vot-workspace --host-root
transt=PATH``).
"""

from __future__ import annotations

import numpy as np
import torch

from slt.vot.trackers import TrackerSpec
from slt_pytracking.transt_net import TransTWeights

from pytracking.parameter.transt.transt50 import parameters  # after weights: it checks the tree is patched
from pytracking.tracker.transt import TransT


class TranstTracker:
    """TransT's stock tracker (``pytracking.tracker.transt.TransT``, ``transt50`` parameters) over the network that
    :class:`slt_pytracking.transt_net.TransTWeights` (the adapter's one TransT loader) builds without downloading
    ImageNet weights, in the checkpoint's architecture, and loads from its ``'net'`` entry or a bare state dict
    (``weights_only`` unless ``SLT_TRUST_CHECKPOINTS=1``). TransT takes RGB images."""

    def __init__(self, spec: TrackerSpec) -> None:
        use_gpu = torch.device(spec.device).type == "cuda"
        net = TransTWeights(net_path=str(spec.weights), use_gpu=False)
        net.load_network()
        net.net.to(spec.device)
        net.use_gpu = use_gpu
        params = parameters()
        params.use_gpu = use_gpu
        params.net = net
        self._tracker = TransT(params)
        self._tracker.features_initialized = True  # network loaded above; initialize() would load it again

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        with torch.no_grad():
            self._tracker.initialize(image, {"init_bbox": [float(v) for v in box]})

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float | None]:
        with torch.no_grad():
            out = self._tracker.track(image)
        return np.asarray(out["target_bbox"], dtype=np.float64), float(np.max(out["best_score"]))
