"""The host's config and network, built without touching the host's module globals or downloading weights."""

from __future__ import annotations

import copy
import os
from typing import Any

from torch import nn

from slt_ostrack import host_root

host_root()

from lib.models.ostrack import build_ostrack  # noqa: E402  (host imports after the shims)


def load_config(yaml_file: str | os.PathLike[str]) -> Any:
    """``lib/config/ostrack/config.py``'s defaults merged with ``yaml_file`` -> a private deep copy.

    The host merges into its module-global ``cfg``; the copy is taken right after the merge, so later host
    calls that mutate the global do not change it.
    """
    if not os.path.isfile(yaml_file):
        raise FileNotFoundError(f"OSTrack experiment config {yaml_file} does not exist")
    from lib.config.ostrack import config as config_module

    config_module.update_config_from_file(str(yaml_file))
    return copy.deepcopy(config_module.cfg)


def build_network(cfg: Any) -> nn.Module:
    """``build_ostrack(cfg, training=False)``: the host network with random weights (no pretrained download;
    trained weights are loaded from a checkpoint afterwards)."""
    return build_ostrack(cfg, training=False)
