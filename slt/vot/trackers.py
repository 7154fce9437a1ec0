"""The trackers ``python -m slt.vot`` serves, chosen by environment variables that ``trackers.ini`` sets.

vot-toolkit turns every ``env_name = value`` key of a tracker's section into the variable ``NAME``:

==============  ===============================================================================================
``SLT_TRACKER``  kind: ``reference`` (this project's tracker), ``static`` (baseline), or an adapter's kind
``SLT_WEIGHTS``  absolute path of the weights (every kind but ``static``)
``SLT_CONFIG``   absolute path of the config file (the adapter kinds that take one)
``SLT_DEVICE``   torch device (default ``cpu``)
==============  ===============================================================================================

This module holds only the host-free kinds (:data:`BUILTIN_KINDS`). Every other kind is declared by an adapter
package in the registry (:mod:`slt.hosts`, e.g. ``pysot`` by ``slt_pysot``, ``transt`` by ``slt_pytracking``): its
factory module is imported when the tracker is built, inside the tracker process, where its host checkout is on
the path (the ``paths`` key of trackers.ini).

A tracker takes HxWx3 uint8 RGB images and boxes ``(4,)`` xywh, pixels, 0-based top-left (VOT rectangles):
``init(image, box)`` and ``track(image) -> (box, confidence or None)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from slt import hosts

BUILTIN_KINDS = ("reference", "static")
"""Host-free kinds served by this module; neither takes a config file."""


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
        known = kinds()
        if self.kind not in known:
            raise SetupError(f"unknown tracker kind {self.kind!r} (expected one of {', '.join(known)})")
        if (self.kind != "static") != (self.weights is not None):
            raise SetupError(f"a {self.kind} tracker takes {'no' if self.kind == 'static' else 'a'} weights file")
        adapter = hosts.vot_kinds().get(self.kind)
        takes_config = adapter is not None and adapter.takes_config
        if takes_config != (self.config is not None):
            raise SetupError(f"a {self.kind} tracker takes {'a' if takes_config else 'no'} config file")

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
            raise SetupError(f"SLT_TRACKER is not set (trackers.ini: env_SLT_TRACKER = {'|'.join(kinds())})")
        weights, config = environ.get("SLT_WEIGHTS"), environ.get("SLT_CONFIG")
        return cls(environ["SLT_TRACKER"], Path(weights) if weights else None, Path(config) if config else None,
                   environ.get("SLT_DEVICE") or "cpu")

    def host_kind(self) -> str | None:
        """The host kind (:mod:`slt.hosts`) whose checkout this tracker imports; None for a built-in kind."""
        adapter = hosts.vot_kinds().get(self.kind)
        return adapter.host if adapter is not None else None

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


def kinds() -> tuple[str, ...]:
    """Every tracker kind: :data:`BUILTIN_KINDS`, then the registered adapters' kinds."""
    return BUILTIN_KINDS + tuple(hosts.vot_kinds())


def build_tracker(spec: TrackerSpec) -> Tracker:
    """Load the tracker ``spec`` names (weights included); raises :class:`SetupError` for a missing file.

    An adapter kind imports its factory (and with it the host tree) here; import errors propagate unchanged."""
    spec.check_files()
    if spec.kind == "static":
        return StaticTracker()
    if spec.kind == "reference":
        return ReferenceTracker(spec)
    return hosts.vot_kinds()[spec.kind].load()(spec)


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
