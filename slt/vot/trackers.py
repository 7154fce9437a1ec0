"""The trackers ``python -m slt.vot`` serves, chosen by environment variables that ``trackers.ini`` sets.

vot-toolkit turns every ``env_name = value`` key of a tracker's section into the variable ``NAME``:

==============  ===============================================================================================
``SLT_TRACKER``  kind: ``reference`` (this project's tracker), ``static`` (baseline), ``pysot``, ``transt``
``SLT_WEIGHTS``  absolute path of the weights (every kind but ``static``)
``SLT_CONFIG``   absolute path of the yacs config (``pysot`` only)
``SLT_DEVICE``   torch device (default ``cpu``)
==============  ===============================================================================================

A tracker takes HxWx3 uint8 RGB images and boxes ``(4,)`` xywh, pixels, 0-based top-left (VOT rectangles):
``init(image, box)`` and ``track(image) -> (box, confidence or None)``. torch and the host trees (pysot, TransT,
importable through the ``paths`` key of trackers.ini) are imported only by the kinds that need them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

KINDS = ("reference", "static", "pysot", "transt")
CONFIG_KINDS = ("pysot",)
"""Kinds built from a config file; the others take none."""

TRANST_NET = {"position_embedding": "sine", "hidden_dim": 256, "dropout": 0.1, "nheads": 8,
              "dim_feedforward": 2048, "featurefusion_layers": 4}
"""TransT's network settings (``ltr/train_settings/transt/transt.py``), used by SLT-TransT unchanged."""


class SetupError(ValueError):
    """A tracker cannot be set up: unknown kind, missing or superfluous weights or config (message names it)."""


class Tracker(Protocol):
    """What the TraX server drives; images HxWx3 uint8 RGB, boxes ``(4,)`` xywh, 0-based top-left."""

    def init(self, image: np.ndarray, box: np.ndarray) -> None: ...

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float | None]: ...


@dataclass(frozen=True)
class TrackerSpec:
    """Which tracker to serve: ``kind``, absolute ``weights`` and ``config`` paths, torch ``device``."""

    kind: str
    weights: Path | None = None
    config: Path | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SetupError(f"unknown tracker kind {self.kind!r} (expected one of {', '.join(KINDS)})")
        if (self.kind != "static") != (self.weights is not None):
            raise SetupError(f"a {self.kind} tracker takes {'no' if self.kind == 'static' else 'a'} weights file")
        if (self.kind in CONFIG_KINDS) != (self.config is not None):
            raise SetupError(f"a {self.kind} tracker takes {'a' if self.kind in CONFIG_KINDS else 'no'} config file")

    @classmethod
    def parse(cls, text: str, device: str = "cpu") -> TrackerSpec:
        """``KIND[:WEIGHTS[:CONFIG]]`` (as ``slt vot-workspace --tracker`` takes it), paths made absolute."""
        kind, *paths = text.split(":")
        if len(paths) > 2:
            raise SetupError(f"expected KIND[:WEIGHTS[:CONFIG]], got {text!r}")
        weights, config = [Path(p).expanduser().resolve() for p in paths] + [None] * (2 - len(paths))
        return cls(kind, weights, config, device)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> TrackerSpec:
        """The spec that :meth:`environment` wrote into ``environ``."""
        if "SLT_TRACKER" not in environ:
            raise SetupError("SLT_TRACKER is not set (trackers.ini: env_SLT_TRACKER = reference|static|pysot|transt)")
        weights, config = environ.get("SLT_WEIGHTS"), environ.get("SLT_CONFIG")
        return cls(environ["SLT_TRACKER"], Path(weights) if weights else None, Path(config) if config else None,
                   environ.get("SLT_DEVICE") or "cpu")

    def environment(self) -> dict[str, str]:
        """The environment variables that select this tracker."""
        env = {"SLT_TRACKER": self.kind, "SLT_DEVICE": self.device}
        if self.weights is not None:
            env["SLT_WEIGHTS"] = str(self.weights)
        if self.config is not None:
            env["SLT_CONFIG"] = str(self.config)
        return env

    def check_files(self) -> None:
        """Raise :class:`SetupError` naming the weights or config file when it does not exist or its path is
        relative (vot-toolkit starts a tracker in a temporary folder)."""
        for label, path in (("weights", self.weights), ("config", self.config)):
            if path is not None and not path.is_absolute():
                raise SetupError(f"{self.kind} tracker: {label} path {path} is not absolute")
            if path is not None and not path.is_file():
                raise SetupError(f"{self.kind} tracker: {label} file {path} does not exist")


def build_tracker(spec: TrackerSpec) -> Tracker:
    """Load the tracker ``spec`` names (weights included); raises :class:`SetupError` for a missing file."""
    spec.check_files()
    builders = {"static": lambda _: StaticTracker(), "reference": ReferenceTracker, "pysot": PysotTracker,
                "transt": TranstTracker}
    return builders[spec.kind](spec)


class StaticTracker:
    """Baseline that reports the initialisation box on every frame."""

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        self.box = np.asarray(box, dtype=np.float64).copy()

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float | None]:
        return self.box.copy(), None


class ReferenceTracker:
    """This project's reference SiamRPN (:class:`slt.reference.tracker.ReferenceTracker`) from a checkpoint with a
    ``'model'`` entry, e.g. ``OUT/runs/seed0/slt/checkpoints/slt_*.pth`` of ``slt demo``."""

    def __init__(self, spec: TrackerSpec) -> None:
        from slt.checkpoint import CheckpointError, load_checkpoint, load_state_dict_checked
        from slt.reference.tracker import ReferenceTracker as Reference
        from slt.reference.train import build_model

        state = load_checkpoint(spec.weights)
        if "model" not in state:
            raise CheckpointError(f"{spec.weights} has no 'model' entry (keys: {', '.join(map(str, state))})")
        model = build_model(spec.device)
        load_state_dict_checked(model, state["model"], str(spec.weights))
        self._tracker = Reference(model.eval())

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        self._tracker.init(image, box)

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float | None]:
        return self._tracker.track(image), None


class PysotTracker:
    """pysot's stock ``SiamRPNTracker`` around a ``ModelBuilder`` made from a yacs config and a PySOT snapshot
    (``{'state_dict': ...}``, or a bare state dict as in pysot's model zoo). pysot takes BGR images."""

    def __init__(self, spec: TrackerSpec) -> None:
        import torch
        from pysot.core.config import cfg
        from pysot.models.model_builder import ModelBuilder
        from pysot.tracker.siamrpn_tracker import SiamRPNTracker

        from slt.checkpoint import load_checkpoint, load_state_dict_checked

        _register_slt_cfg(cfg)
        cfg.merge_from_file(str(spec.config))
        cfg.CUDA = torch.device(spec.device).type == "cuda"  # pysot puts its crops on the GPU when set
        state = load_checkpoint(spec.weights)
        state = state.get("state_dict", state)
        model = ModelBuilder()
        # pysot's load_pretrain maps to a CUDA device; this is its loading on any device ('module.' from DDP)
        load_state_dict_checked(model, {k.removeprefix("module."): v for k, v in state.items()}, str(spec.weights))
        self._tracker = SiamRPNTracker(model.to(spec.device).eval())
        self._no_grad = torch.no_grad

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        with self._no_grad():
            self._tracker.init(np.ascontiguousarray(image[..., ::-1]), [float(v) for v in box])

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float | None]:
        with self._no_grad():
            out = self._tracker.track(np.ascontiguousarray(image[..., ::-1]))
        return np.asarray(out["bbox"], dtype=np.float64), float(out["best_score"])


def _register_slt_cfg(cfg: Any) -> None:
    """Add SLT's config keys (``slt_pysot.config.register_slt_cfg``) when that plugin is installed, so that SLT
    configs merge; stock pysot configs merge either way."""
    try:
        from slt_pysot.config import register_slt_cfg
    except ModuleNotFoundError as error:
        if error.name not in ("slt_pysot", "slt_pysot.config"):
            raise
        return
    register_slt_cfg(cfg)


class TranstTracker:
    """TransT's stock tracker (``pytracking.tracker.transt.TransT``, ``transt50`` parameters) with a TransT network
    built without downloading ImageNet weights and loaded from a checkpoint's ``'net'`` entry (or a bare state
    dict). The checkpoint must load with ``weights_only``: an LTR trainer checkpoint, which pickles its
    constructor and settings, is converted with ``torch.save({'net': torch.load(p, weights_only=False)['net']}, out)``.
    TransT takes RGB images."""

    def __init__(self, spec: TrackerSpec) -> None:
        from types import SimpleNamespace

        import pytracking.tracker.transt  # noqa: F401  -- before basetracker: the pristine tree has an import cycle
        import torch
        from ltr.models.backbone.transt_backbone import build_backbone
        from ltr.models.neck.featurefusion_network import build_featurefusion_network
        from ltr.models.tracking.transt import TransT as TransTNet
        from pytracking.parameter.transt.transt50 import parameters
        from pytracking.tracker.transt import TransT

        from slt.checkpoint import load_checkpoint, load_state_dict_checked

        settings = SimpleNamespace(**TRANST_NET)
        net = TransTNet(build_backbone(settings, backbone_pretrained=False), build_featurefusion_network(settings),
                        num_classes=1)
        state = load_checkpoint(spec.weights)
        load_state_dict_checked(net, state.get("net", state), str(spec.weights))
        params = parameters()
        params.use_gpu = params.net.use_gpu = torch.device(spec.device).type == "cuda"
        params.net.net = net.to(spec.device).eval()
        self._tracker = TransT(params)
        self._tracker.features_initialized = True  # network loaded above; NetWithBackbone.initialize would reload it
        self._no_grad = torch.no_grad

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        with self._no_grad():
            self._tracker.initialize(image, {"init_bbox": [float(v) for v in box]})

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float | None]:
        with self._no_grad():
            out = self._tracker.track(image)
        return np.asarray(out["target_bbox"], dtype=np.float64), float(np.max(out["best_score"]))

