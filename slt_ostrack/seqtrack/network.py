"""SeqTrack's config and network, built without touching the host's module-global ``cfg`` or downloading weights."""

from __future__ import annotations

import copy
import os
from typing import Any

from torch import nn

from slt_ostrack.seqtrack import host_root

host_root()

from lib.models.seqtrack import build_seqtrack  # noqa: E402  (host imports after the shims)


def load_config(yaml_file: str | os.PathLike[str]) -> Any:
    """``lib/config/seqtrack/config.py``'s defaults merged with ``yaml_file`` -> a private deep copy.

    ``MODEL.ENCODER.PRETRAIN_TYPE`` is set to ``'scratch'`` in the copy: the host's ``'mae'`` downloads MAE
    weights when the network is built; SLT starts from a trained SeqTrack checkpoint instead.
    """
    if not os.path.isfile(yaml_file):
        raise FileNotFoundError(f"SeqTrack experiment config {yaml_file} does not exist")
    from lib.config.seqtrack import config as config_module

    config_module.update_config_from_file(str(yaml_file))
    cfg = copy.deepcopy(config_module.cfg)
    cfg.MODEL.ENCODER.PRETRAIN_TYPE = "scratch"
    return cfg


def build_network(cfg: Any) -> nn.Module:
    """``build_seqtrack(cfg)``: the host network with random weights (trained ones come from a checkpoint)."""
    if cfg.MODEL.ENCODER.PRETRAIN_TYPE != "scratch":
        raise ValueError(f"MODEL.ENCODER.PRETRAIN_TYPE = {cfg.MODEL.ENCODER.PRETRAIN_TYPE!r} downloads weights; "
                         f"build from load_config() (it sets 'scratch')")
    return build_seqtrack(cfg)
