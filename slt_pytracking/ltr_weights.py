"""LTR network weights and checkpoints, for any PyTracking-family tree (no host imports): safe loading and
where the files are.

LTR checkpoints (released weights such as ``transt.pth`` or ``trdimp_net.pth.tar``, and the ``*.pth.tar`` files
the LTR trainer writes) pickle settings, statistics and constructor objects next to the weights, so
``weights_only`` loading refuses them. :func:`load_state` tries ``weights_only`` first and unpickles fully only
when the user marks checkpoints as trusted with ``SLT_TRUST_CHECKPOINTS=1`` (unpickling can run code).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable

from torch import Tensor, nn

from slt.checkpoint import CheckpointError, load_checkpoint, load_state_dict_checked

logger = logging.getLogger(__name__)

TRUST_ENV = "SLT_TRUST_CHECKPOINTS"
"""Set to 1 to allow full unpickling of checkpoints (LTR checkpoints need it; it can run code)."""


def trusted() -> bool:
    """True when ``SLT_TRUST_CHECKPOINTS=1``."""
    return os.environ.get(TRUST_ENV, "") == "1"


def load_state(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """The network state dict in ``path``: the ``'net'`` entry of an LTR checkpoint, or a bare state dict.

    ``weights_only`` loading first; full unpickling only with ``SLT_TRUST_CHECKPOINTS=1``.
    """
    try:
        state = load_checkpoint(path)
    except CheckpointError as error:
        if not trusted():
            if "pickles objects" not in str(error):
                raise
            raise CheckpointError(f"{path} pickles objects (LTR checkpoints hold settings and statistics), which safe "
                                  f"loading refuses: set {TRUST_ENV}=1 to load it if you trust its source "
                                  f"(unpickling can run code)") from error
        state = load_checkpoint(path, trusted=True)
    weights = state.get("net", state)
    if not isinstance(weights, dict) or not all(isinstance(v, Tensor) for v in weights.values()):
        raise CheckpointError(f"{path} holds no network state dict (expected a 'net' entry or a dict of tensors)")
    return weights


def load_weights(net: nn.Module, path: str | os.PathLike[str], network: str) -> None:
    """Load ``path`` (see :func:`load_state`) into ``net``, strictly; errors name the file and the keys."""
    load_state_dict_checked(net, load_state(path), source=str(path))
    logger.info("loaded %s weights from %s", network, path)


_NETWORKS: dict[tuple[Any, ...], nn.Module] = {}


def loaded_once(path: str | os.PathLike[str], key: tuple[Any, ...], build: Callable[[], nn.Module]) -> nn.Module:
    """``build()``, the network of the weights file ``path``, made once per process for the same file (path,
    size, modification time) and ``key`` (device, architecture options): PyTracking's ``run_tracker.py`` creates a
    tracker, and loads its parameters' network, for every sequence. One network is kept at a time."""
    stat = Path(path).stat()
    full = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, *key)
    if full not in _NETWORKS:
        _NETWORKS.clear()
        _NETWORKS[full] = build()
    return _NETWORKS[full]


def latest_checkpoint(path: Path) -> Path:
    """``path`` itself if a file, else the last ``*_ep*.pth.tar`` in the folder ``path``."""
    if path.is_dir():
        found = sorted(path.glob("*_ep*.pth.tar"))
        if not found:
            raise FileNotFoundError(f"no *_ep*.pth.tar checkpoint in {path}")
        return found[-1]
    return path


def pretrained_weights_file(env: Any, variable: str, filename: str, network: str, release: str) -> Path:
    """Pretrained ``network`` weights for SLT training: the file named by ``$variable``, else
    ``<env.pretrained_networks>/filename`` (``env``: the LTR ``settings.env``); FileNotFoundError naming both
    ways otherwise. ``release`` says where the file comes from, for the messages."""
    value = os.environ.get(variable)
    if value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{variable}={value} is not a file: point it at the pretrained {network} "
                                    f"weights ({filename} from {release})")
        return path
    folder = getattr(env, "pretrained_networks", None)
    if folder and (Path(folder).expanduser() / filename).is_file():
        return Path(folder).expanduser() / filename
    raise FileNotFoundError(f"no pretrained {network} weights: set {variable}=/path/to/{filename} ({release}), or "
                            f"add self.pretrained_networks = '/folder/with/{filename}' to ltr/admin/local.py "
                            f"(now {folder!r})")


def evaluation_checkpoint(variable: str, filename: str, network: str, example: str) -> Path:
    """SLT-trained ``network`` weights for evaluation: ``$variable`` (a file, or a checkpoint folder: its last
    epoch), else ``<pytracking env network_path>/filename``; FileNotFoundError naming both ways otherwise.
    ``example`` is a checkpoint path the LTR trainer writes, for the message."""
    value = os.environ.get(variable)
    if value:
        path = Path(value).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{variable}={value} does not exist: point it at an {network} checkpoint "
                                    f"(e.g. {example}) or folder")
        return latest_checkpoint(path)
    from pytracking.evaluation.environment import env_settings

    network_path = env_settings().network_path
    default = Path(network_path).expanduser() / filename
    if default.is_file():
        return default
    raise FileNotFoundError(f"no {network} weights: set {variable}=/path/to/checkpoint (or folder), or put "
                            f"{filename} in network_path of pytracking/evaluation/local.py (now {network_path!r})")
