"""PySOT's stock ``SiamRPNTracker`` as a ``python -m slt.vot`` tracker: kind ``pysot`` (:mod:`slt_pysot.host`).

Imported by :func:`slt.vot.trackers.build_tracker` inside the tracker process, whose path holds the PySOT
checkout (trackers.ini ``paths``, from ``slt vot-workspace --host-root pysot=PATH``).
"""

from __future__ import annotations

import numpy as np
import torch
from pysot.core.config import cfg
from pysot.models.model_builder import ModelBuilder
from pysot.tracker.siamrpn_tracker import SiamRPNTracker

from slt.vot.trackers import TrackerSpec
from slt_pysot.config import register_slt_cfg
from slt_pysot.train import load_pretrained


class PysotTracker:
    """PySOT's ``SiamRPNTracker`` around a ``ModelBuilder`` made from the spec's yacs config (SLT's keys
    registered first, so SLT configs merge; stock configs merge either way) and loaded from the spec's weights with
    :func:`slt_pysot.train.load_pretrained`, the adapter's one PySOT loader (a ``{'state_dict': ...}`` snapshot or a
    bare state dict as in PySOT's model zoo, ``module.`` prefixes removed, on any device). PySOT takes BGR images;
    this tracker takes RGB (:class:`slt.vot.trackers.Tracker`) and converts."""

    def __init__(self, spec: TrackerSpec) -> None:
        register_slt_cfg(cfg)
        cfg.merge_from_file(str(spec.config))
        cfg.CUDA = torch.device(spec.device).type == "cuda"  # pysot puts its crops on the GPU when set
        model = ModelBuilder()
        load_pretrained(model, str(spec.weights), key="the tracker's WEIGHTS")
        self._tracker = SiamRPNTracker(model.to(spec.device).eval())

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        with torch.no_grad():
            self._tracker.init(np.ascontiguousarray(image[..., ::-1]), [float(v) for v in box])

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float | None]:
        with torch.no_grad():
            out = self._tracker.track(np.ascontiguousarray(image[..., ::-1]))
        return np.asarray(out["bbox"], dtype=np.float64), float(out["best_score"])
