"""ARTrack's config and sequence-stage network (MIV-XJTU/ARTrack ``lib/models/artrack_seq``), built without touching the
host's module-global ``cfg``, downloading weights or editing the tree.

``build_artrack_seq(cfg, training=False)`` skips the MAE backbone file but always ``torch.load``s
``cfg.MODEL.PRETRAIN_PTH`` (an empty value raises). :func:`build_network` points an empty value at a temporary file
holding ``{'net': {}}`` (random weights; trained ones come from the SLT config's ``INIT_CHECKPOINT``); a set value is
loaded by the host as usual (``strict=False``).
"""

from __future__ import annotations

import copy
import os
import tempfile
from typing import Any

import torch
from torch import nn

from slt_ostrack import host_root

host_root()

from lib.models.artrack_seq import build_artrack_seq  # noqa: E402  (host imports after the shims)


def load_config(yaml_file: str | os.PathLike[str]) -> Any:
    """``lib/config/artrack_seq/config.py``'s defaults merged with ``yaml_file`` -> a private deep copy."""
    if not os.path.isfile(yaml_file):
        raise FileNotFoundError(f"ARTrack experiment config {yaml_file} does not exist")
    from lib.config.artrack_seq import config as config_module

    config_module.update_config_from_file(str(yaml_file))
    return copy.deepcopy(config_module.cfg)


def build_network(cfg: Any) -> nn.Module:
    """``build_artrack_seq(cfg, training=False)``; an empty ``MODEL.PRETRAIN_PTH`` gives random weights."""
    if cfg.MODEL.PRETRAIN_PTH:
        if not os.path.isfile(cfg.MODEL.PRETRAIN_PTH):
            raise FileNotFoundError(f"MODEL.PRETRAIN_PTH = {cfg.MODEL.PRETRAIN_PTH!r} is not a file")
        return build_artrack_seq(cfg, training=False)
    with tempfile.TemporaryDirectory() as folder:
        empty = os.path.join(folder, "no_weights.pth")
        torch.save({"net": {}}, empty)
        local = copy.deepcopy(cfg)
        local.MODEL.PRETRAIN_PTH = empty
        return build_artrack_seq(local, training=False)


def renormalise_embedding(net: nn.Module) -> None:
    """Bring every row of the head's tied ``max_norm`` word embedding within its norm, in place.

    ``Pix2Track.word_embeddings`` has ``max_norm=1``: each lookup rescales the rows it reads, in place, while the
    output projection uses a clone of the weights taken at the start of the head's call. After this, lookups change
    nothing until the next optimizer step, so decoding token by token equals the host's one-call loop; the trackers
    call it once per rollout (tests/test_artrack_host.py measures why).
    """
    embedding = net.pix_head.word_embeddings
    with torch.no_grad():
        rows = torch.arange(embedding.num_embeddings, device=embedding.weight.device)
        torch.embedding_renorm_(embedding.weight, rows, embedding.max_norm, embedding.norm_type)
