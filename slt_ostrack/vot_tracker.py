"""OSTrack's stock tracker as a ``python -m slt.vot`` tracker: kind ``ostrack`` (:mod:`slt_ostrack.host`).

Imported by :func:`slt.vot.trackers.build_tracker` inside the tracker process, whose path holds the OSTrack
checkout (trackers.ini ``paths``, from ``slt vot-workspace --host-root ostrack=PATH``); no patch is needed, the
CPU shims of :mod:`slt_ostrack.compat` are installed from outside the tree.

``SLT_WEIGHTS``: a checkpoint with the weights under ``'net'`` that loads with ``weights_only=True`` (what SLT
training writes, ``OSTrack_ep%04d.pth.tar``); ``SLT_CONFIG``: the host experiment yaml
(``experiments/ostrack/<name>.yaml``) or an SLT config, whose ``BASE`` names that yaml in the checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from slt.checkpoint import CheckpointError
from slt.vot.trackers import SetupError, TrackerSpec
from slt_ostrack.stock_params import tracker_params
from slt_ostrack import host_root
from slt_ostrack.network import load_config
from slt_ostrack.tracker import normalise

ROOT = host_root()

from lib.test.tracker.data_utils import Preprocessor  # noqa: E402  (host imports after the shims)
from lib.test.tracker.ostrack import OSTrack  # noqa: E402
from lib.utils.misc import NestedTensor  # noqa: E402


class SLTPreprocessor(Preprocessor):
    """The host ``Preprocessor`` on a chosen device (the host's moves every crop to CUDA): an ``(H, W, 3)`` uint8
    RGB crop and its ``(H, W)`` padding mask -> ``NestedTensor`` of the ``(1, 3, H, W)`` ImageNet-normalised
    float32 crop and the ``(1, H, W)`` bool mask, on ``device``."""

    def __init__(self, device: torch.device) -> None:  # the host __init__ only puts mean and std on CUDA
        self.device = device

    def process(self, img_arr: np.ndarray, amask_arr: np.ndarray) -> NestedTensor:
        crop = torch.from_numpy(np.ascontiguousarray(img_arr)).to(self.device).permute(2, 0, 1)[None]
        mask = torch.from_numpy(np.asarray(amask_arr)).to(device=self.device, dtype=torch.bool)[None]
        return NestedTensor(normalise(crop), mask)


def experiment_yaml(config: Path) -> Path:
    """The host experiment yaml of ``config``: itself, or for an SLT config (a ``BASE`` key)
    ``<checkout>/experiments/ostrack/<BASE>.yaml``."""
    text = yaml.safe_load(config.read_text()) or {}
    if not isinstance(text, dict) or "BASE" not in text:
        return config
    base = ROOT / "experiments" / "ostrack" / f"{text['BASE']}.yaml"
    if not base.is_file():
        raise SetupError(f"{config}: BASE {text['BASE']!r} names no experiment yaml ({base} does not exist)")
    return base


def check_weights(path: Path) -> None:
    """Raise :class:`~slt.checkpoint.CheckpointError` naming ``path`` unless it loads with ``weights_only=True``
    and holds a ``'net'`` state dict (memory-mapped: the host's tracker loads it afterwards)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, ... for bad or pickled files
        raise CheckpointError(f"cannot load {path} with weights_only=True ({error}); an OSTrack training "
                              f"checkpoint pickles objects: re-save its 'net' entry alone") from error
    if not isinstance(state, dict) or not isinstance(state.get("net"), dict):
        keys = ", ".join(map(str, state)) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} has no 'net' state dict (found: {keys})")


class OSTrackTracker:
    """The host's ``lib/test/tracker/ostrack.py`` ``OSTrack`` (the decision that ``tracking/test.py`` makes) on
    ``spec.device``: network, Hann window and preprocessor moved there after the host built them. Images
    HxWx3 uint8 RGB (the host's ``tracking/test.py`` reads RGB too), boxes ``(4,)`` xywh pixels; the stock
    tracker reports no confidence."""

    def __init__(self, spec: TrackerSpec) -> None:
        check_weights(spec.weights)
        cfg = load_config(experiment_yaml(spec.config))
        params = tracker_params(cfg, spec.weights)
        device = torch.device(spec.device)
        tracker = OSTrack(params, "vot")
        tracker.network.to(device)
        tracker.output_window = tracker.output_window.to(device)
        tracker.preprocessor = SLTPreprocessor(device)
        self._tracker = tracker

    @property
    def host_tracker(self) -> Any:
        """The host ``OSTrack`` object."""
        return self._tracker

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        self._tracker.initialize(image, {"init_bbox": [float(v) for v in box]})

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float | None]:
        out = self._tracker.track(image)
        return np.asarray(out["target_bbox"], dtype=np.float64), None
