"""SeqTrack's stock tracker as a ``python -m slt.vot`` tracker: kind ``seqtrack`` (:mod:`slt_ostrack.host`).

Imported by :func:`slt.vot.trackers.build_tracker` inside the tracker process, whose path holds the SeqTrack
folder (trackers.ini ``paths``, from ``slt vot-workspace --host-root seqtrack=PATH``). ``SLT_CONFIG`` is the
host experiment yaml (``experiments/seqtrack/seqtrack_b256.yaml``), ``SLT_WEIGHTS`` a weights-only checkpoint
with the weights under ``'net'`` (what SLT-SeqTrack writes).
"""

from __future__ import annotations

import numpy as np
import torch

from slt.vot.trackers import SetupError, TrackerSpec
from slt_ostrack.stock_params import tracker_params
from slt_ostrack.seqtrack import host_root

host_root()

from lib.test.tracker.seqtrack import SEQTRACK  # noqa: E402  (host imports after the shims)

from slt_ostrack.seqtrack.network import load_config  # noqa: E402

DATASET_NAME = "vot22"
"""The template-update schedule the tracker runs with: the host's VOT one (``TEST.UPDATE_INTERVALS.VOT22``)."""


class SeqTrackTracker:
    """The host's ``SEQTRACK`` tracker with the spec's config (encoder built from scratch, no MAE download) and
    weights (loaded by the host with ``torch.load``'s default ``weights_only=True``). The host puts its network
    and crops on CUDA whenever CUDA exists, so the spec's device must be that one. Takes RGB images."""

    def __init__(self, spec: TrackerSpec) -> None:
        host_device = "cuda" if torch.cuda.is_available() else "cpu"
        if torch.device(spec.device).type != host_device:
            raise SetupError(f"SLT_DEVICE={spec.device!r}: SeqTrack's tracker runs on {host_device} on this machine "
                             f"(lib/test/tracker/seqtrack.py calls .cuda() whenever CUDA exists)")
        cfg = load_config(spec.config)
        params = tracker_params(cfg, spec.weights)
        self._tracker = SEQTRACK(params, DATASET_NAME)

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        self._tracker.initialize(image, {"init_bbox": [float(v) for v in box]})

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float | None]:
        out = self._tracker.track(image)
        return np.asarray(out["target_bbox"], dtype=np.float64), None
