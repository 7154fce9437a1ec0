"""SLT-TransT with the paper's hyper-parameters: ``python ltr/run_training.py slt transt``.

Datasets -> sampler -> loader -> network -> tracker -> actor -> optimizer -> trainer, as the host's settings
files, with docs/method.md#hyper-parameters (SLT-TransT column; the shared rows in :mod:`slt_pytracking.train_settings.recipe`).
Needs in ``ltr/admin/local.py``: ``workspace_dir``, ``lasot_dir``, ``got10k_dir``, ``trackingnet_dir``; and the
pretrained TransT weights (``SLT_TRANST_WEIGHTS`` or ``pretrained_networks``, see
:func:`slt_pytracking.transt_net.pretrained_weights_path`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch

from slt_pytracking.loader import build_dataset, require_workspace, training_loader
from slt_pytracking.ltr_weights import load_weights
from slt_pytracking.train_settings import recipe
from slt_pytracking.trainer import SLTTrainer
from slt_pytracking.transt_actor import SLTTransTActor, transt_box_objective
from slt_pytracking.transt_net import NETWORK_DEFAULTS, network_kwargs, pretrained_weights_path, transt_offline
from slt_pytracking.transt_tracker import SLTTransT, TransTExplorationConfig

logger = logging.getLogger(__name__)


def configure(settings: Any) -> None:
    """Set the SLT-TransT hyper-parameters of the paper on an LTR ``Settings`` object."""
    recipe.configure_run(settings, "SLT-TransT: sequence-level training of TransT (Kim et al., ECCV 2022).")
    settings.num_epochs = 120
    settings.samples_per_epoch = 1000      # clips per epoch
    settings.num_seq = 8                   # N: clips per SLT step
    settings.num_seq_backward = 2          # clips per backward chunk (chunk = 2 * (T - 1) samples)
    # TransT network (kept from TransT)
    for name, value in NETWORK_DEFAULTS.items():
        setattr(settings, name, value)
    # Exploration policy
    settings.window_influence = 0.49
    settings.temperature = 4.0
    settings.sig_eps = 0.01
    settings.no_neg_logit = False
    settings.crop_backend = "torch"        # 'host': the stock get_subwindow (OpenCV, per row)
    # Loss and optimisation ('sum' chunks with AdamW equal 'mean' with grad_max_norm divided by the number of
    # chunks, num_seq / num_seq_backward)
    settings.slt_loss_weight = 15.0
    settings.lr = 1e-5
    settings.backbone_lr = 1e-6
    settings.weight_decay = 1e-4
    settings.lr_step = 100
    settings.lr_gamma = 0.1
    settings.grad_max_norm = 100.0


def run(settings: Any) -> None:
    """Train SLT-TransT from the pretrained TransT on LaSOT, GOT-10k (vottrain) and TrackingNet (TRAIN_0-3)."""
    configure(settings)
    require_workspace(settings.env)
    weights = pretrained_weights_path(settings.env)
    datasets = [build_dataset(settings.env, "lasot", split="train"),
                build_dataset(settings.env, "got10k", split="vottrain"),
                build_dataset(settings.env, "trackingnet", set_ids=list(range(4)))]
    train(settings, datasets, p_datasets=[1, 1, 1], weights=weights)


def exploration_config(settings: Any) -> TransTExplorationConfig:
    """The exploration policy and crop backend from ``settings``."""
    return TransTExplorationConfig(window_influence=settings.window_influence, temperature=settings.temperature,
                                   sig_eps=settings.sig_eps, no_neg_logit=settings.no_neg_logit,
                                   crop_backend=settings.crop_backend)


def train(settings: Any, datasets: Sequence[Any], p_datasets: Sequence[float], weights: Path | None) -> SLTTrainer:
    """The SLT-TransT recipe on configured ``settings`` (see :func:`configure`); ``weights=None`` trains from
    random weights (smoke runs only). Returns the trainer after ``settings.num_epochs`` epochs."""
    context, loader = training_loader(settings, datasets, p_datasets)

    net = transt_offline(**network_kwargs(settings))
    if weights is None:
        logger.warning("SLT-TransT starts from RANDOM weights (smoke run): results mean nothing")
    else:
        load_weights(net, weights, "TransT")
    tracker = SLTTransT(net, exploration_config(settings))
    actor = SLTTransTActor(net, transt_box_objective(), tracker.shaping, no_neg_logit=tracker.config.no_neg_logit,
                           slt_loss_weight=settings.slt_loss_weight)

    groups = [{"params": [p for n, p in net.named_parameters() if "backbone" not in n and p.requires_grad]},
              {"params": [p for n, p in net.named_parameters() if "backbone" in n and p.requires_grad],
               "lr": settings.backbone_lr}]
    optimizer = torch.optim.AdamW(groups, lr=settings.lr, weight_decay=settings.weight_decay)

    return recipe.train(settings, actor, tracker, loader, optimizer, context)
