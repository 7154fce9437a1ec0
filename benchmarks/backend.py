"""The interface every tracker measured by ``explore.py`` implements (``explore_backends.py`` holds the
reference backend and the registry, ``host_backends.py`` the PySOT and TransT ones; both import this module, so
neither imports the other's subclasses back)."""

from __future__ import annotations

from typing import Any, Callable

import torch

from slt.rollout import Rollout


class Backend:
    """Interface of a measured tracker; subclasses build the network on ``device``."""

    device: torch.device

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this backend cannot run here, or None."""
        return None

    def explore(self, batch: dict[str, list[Any]]) -> Rollout:
        raise NotImplementedError

    def floor(self, batch: dict[str, list[Any]]) -> Callable[[], None]:
        raise NotImplementedError

    def official_explore(self, batch: dict[str, list[Any]]) -> Rollout:
        raise NotImplementedError

    def step(self, batch: dict[str, list[Any]]) -> None:
        raise NotImplementedError

    def official_step(self, batch: dict[str, list[Any]]) -> None:
        raise NotImplementedError
