"""The ``TrackerParams`` an OSTrack-family stock tracker is built from, without the host's
``lib/test/parameter`` files (which need a ``local.py`` and write one into the checkout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tracker_params(cfg: Any, checkpoint: str | Path) -> Any:
    """``lib.test.utils.TrackerParams`` for ``cfg`` (the host config: template/search factors and sizes from its
    ``TEST`` section) and the weights file ``checkpoint``; debug and per-frame box saving off. The caller has put
    the tree on ``sys.path`` (its ``host_root()``)."""
    from lib.test.utils import TrackerParams

    params = TrackerParams()
    params.cfg = cfg
    params.template_factor, params.template_size = cfg.TEST.TEMPLATE_FACTOR, cfg.TEST.TEMPLATE_SIZE
    params.search_factor, params.search_size = cfg.TEST.SEARCH_FACTOR, cfg.TEST.SEARCH_SIZE
    params.checkpoint = str(checkpoint)
    params.debug = 0
    params.save_all_boxes = False
    return params
