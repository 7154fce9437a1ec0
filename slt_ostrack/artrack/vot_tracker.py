"""ARTrack's stock sequence tracker as a ``python -m slt.vot`` tracker: kind ``artrack`` (:mod:`slt_ostrack.host`).

Imported by :func:`slt.vot.trackers.build_tracker` inside the tracker process, whose path holds an ARTrack checkout
(trackers.ini ``paths``, from ``slt vot-workspace --host-root artrack=PATH``). The spec's CONFIG is the host
experiment yaml (e.g. ``experiments/artrack_seq/artrack_seq_256_full.yaml``), WEIGHTS a checkpoint with the weights
under ``'net'`` (an SLT-ARTrack checkpoint), loaded with ``weights_only=True``.
"""

from __future__ import annotations

import numpy as np
import torch

from slt.vot.trackers import TrackerSpec
from slt_ostrack.stock_params import tracker_params
from slt_ostrack.artrack.network import load_config

from lib.test.tracker.artrack_seq import ARTrackSeq  # noqa: E402  (after the shims artrack_network installs)


class ArtrackTracker:
    """The host's ``ARTrackSeq`` tracker (``lib/test/tracker/artrack_seq.py``) with the spec's config and weights.

    The host builds its network with ``build_artrack_seq``, which loads ``MODEL.PRETRAIN_PTH`` first: it is pointed
    at the weights file too, so no other file is needed. The host tracker calls ``.cuda()`` on its network and
    inputs, so it runs on CUDA when there is one and on the CPU (through :mod:`slt_ostrack.compat`) when not; a spec
    device that differs raises. ARTrack takes RGB images and reports no score.
    """

    def __init__(self, spec: TrackerSpec) -> None:
        placed = "cuda" if torch.cuda.is_available() else "cpu"
        if torch.device(spec.device).type != placed:
            raise ValueError(f"the artrack tracker runs where the host's .cuda() calls put it ({placed}), not on "
                             f"{spec.device!r}")
        cfg = load_config(spec.config)
        cfg.MODEL.PRETRAIN_PTH = str(spec.weights)
        params = tracker_params(cfg, spec.weights)
        self._tracker = ARTrackSeq(params, "vot")

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        with torch.no_grad():
            self._tracker.initialize(image, {"init_bbox": [float(v) for v in box]})

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float | None]:
        with torch.no_grad():
            out = self._tracker.track(image)
        return np.asarray(out["target_bbox"], dtype=np.float64), None
