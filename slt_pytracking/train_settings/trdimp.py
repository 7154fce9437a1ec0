"""SLT-TrDiMP with the paper's hyper-parameters: ``python ltr/run_training.py slt trdimp`` (TransformerTrack tree).

Datasets -> sampler -> loader -> network -> tracker -> actor -> optimizer -> trainer, as the host's settings
files, with docs/method.md#hyper-parameters (SLT-TrDiMP column; the shared rows in
:mod:`slt_pytracking.train_settings.recipe`). Needs in ``ltr/admin/local.py``: ``workspace_dir``,
``tensorboard_dir``, ``lasot_dir``, ``got10k_dir``, ``trackingnet_dir``; the pretrained TrDiMP weights
(``SLT_TRDIMP_WEIGHTS``, or ``trdimp_net.pth.tar`` in ``pretrained_networks``, see
:func:`slt_pytracking.trdimp_net.pretrained_weights_path`); and a CUDA GPU (the IoU-Net's PreciseRoIPooling is
a CUDA extension).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch

from slt_pytracking.loader import build_dataset, require_workspace, training_loader
from slt_pytracking.ltr_weights import load_weights
from slt_pytracking.prroi_standin import use_roi_align_standin
from slt_pytracking.train_settings import recipe
from slt_pytracking.trainer import SLTTrainer
from slt_pytracking.trdimp_actor import SLTTrDiMPActor, trdimp_box_objective
from slt_pytracking.trdimp_net import NETWORK_DEFAULTS, freeze_iounet, network_kwargs, pretrained_weights_path, \
    trdimp_offline
from slt_pytracking.trdimp_tracker import SLTTrDiMP, TrDiMPExplorationConfig

logger = logging.getLogger(__name__)

LEARNING_RATES = {"classifier.filter_initializer": 2e-6, "classifier.filter_optimizer": 2e-5,
                  "classifier.feature_extractor": 2e-6, "classifier.transformer": 4e-5, "bb_regressor": 4e-5,
                  "feature_extractor.layer3": 8e-7}
"""Adam learning rate per trained module of the TrDiMP network (docs/method.md#hyper-parameters); nothing else trains."""


def configure(settings: Any) -> None:
    """Set the SLT-TrDiMP hyper-parameters of the paper on an LTR ``Settings`` object."""
    recipe.configure_run(settings, "SLT-TrDiMP: sequence-level training of TrDiMP (Kim et al., ECCV 2022).")
    settings.num_epochs = 40
    settings.samples_per_epoch = 5000      # clips per epoch
    settings.num_seq = 8                   # N: clips per SLT step
    settings.num_seq_backward = 4          # clips' worth of samples per backward chunk (4 * (T - 1))
    # TrDiMP network (kept from TrDiMP)
    for name, value in NETWORK_DEFAULTS.items():
        setattr(settings, name, value)
    # Exploration tracker (docs/method.md#hyper-parameters; every other parameter: TrDiMPExplorationConfig's defaults)
    settings.score_norm_meanmax = (-7.0, 7.0)
    settings.net_opt_iter = 5
    settings.round_crops = False
    settings.freeze_iounet = False         # True: the official behaviour (B7), the IoU-Net never trains
    settings.prroi_standin = False         # True: RoIAlign instead of PreciseRoIPooling (CPU checks only)
    # Loss and optimisation
    settings.slt_loss_weight = 4.0         # SCST term on the final filter iteration's scores
    settings.bb_ce_weight = 0.01           # KLRegression of the IoU-Net
    settings.learning_rates = dict(LEARNING_RATES)
    settings.lr = 8e-6                     # Adam default (every trained module has its own rate)
    settings.weight_decay = 0.0
    settings.lr_step = 8
    settings.lr_gamma = 0.5
    settings.grad_max_norm = 40.0


def run(settings: Any) -> None:
    """Train SLT-TrDiMP from the pretrained TrDiMP on LaSOT, GOT-10k (vottrain) and TrackingNet (TRAIN_6-11)."""
    configure(settings)
    require_workspace(settings.env)
    require_gpu(settings)
    weights = pretrained_weights_path(settings.env)
    datasets = [build_dataset(settings.env, "lasot", split="train"),
                build_dataset(settings.env, "got10k", split="vottrain"),
                build_dataset(settings.env, "trackingnet", set_ids=list(range(6, 12)))]
    train(settings, datasets, p_datasets=[1, 1, 1], weights=weights)


def exploration_config(settings: Any) -> TrDiMPExplorationConfig:
    """The exploration tracker's parameters from ``settings``."""
    return TrDiMPExplorationConfig(score_norm_meanmax=tuple(settings.score_norm_meanmax),
                                   net_opt_iter=settings.net_opt_iter, round_crops=settings.round_crops,
                                   **getattr(settings, "exploration_overrides", {}))


def parameter_groups(net: torch.nn.Module, learning_rates: dict[str, float]) -> list[dict[str, Any]]:
    """One Adam group per module prefix of ``learning_rates`` holding its trainable parameters (a module frozen
    by :func:`~slt_pytracking.trdimp_net.freeze_iounet` gets none); ValueError if a prefix names no parameter."""
    groups = []
    for prefix, lr in learning_rates.items():
        named = [p for name, p in net.named_parameters() if name.startswith(prefix + ".")]
        if not named:
            raise ValueError(f"no parameters under {prefix!r} in the TrDiMP network")
        params = [p for p in named if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": lr})
    return groups


def train(settings: Any, datasets: Sequence[Any], p_datasets: Sequence[float], weights: Path | None) -> SLTTrainer:
    """The SLT-TrDiMP recipe on configured ``settings`` (see :func:`configure`); ``weights=None`` trains from
    random weights (smoke runs only). Returns the trainer after ``settings.num_epochs`` epochs."""
    context, loader = training_loader(settings, datasets, p_datasets)

    net = trdimp_offline(**network_kwargs(settings))
    if weights is None:
        logger.warning("SLT-TrDiMP starts from RANDOM weights (smoke run): results mean nothing")
    else:
        load_weights(net, weights, "TrDiMP")
    if settings.prroi_standin:
        use_roi_align_standin(net)
    if settings.freeze_iounet:
        freeze_iounet(net)
    tracker = SLTTrDiMP(net, exploration_config(settings))
    actor = SLTTrDiMPActor(net, trdimp_box_objective(), tracker.shaping, tracker.config,
                           loss_weight={"sl_clf": settings.slt_loss_weight, "bb_ce": settings.bb_ce_weight})

    optimizer = torch.optim.Adam(parameter_groups(net, settings.learning_rates), lr=settings.lr,
                                 weight_decay=settings.weight_decay)

    return recipe.train(settings, actor, tracker, loader, optimizer, context)


def require_gpu(settings: Any) -> None:
    """RuntimeError unless training runs on CUDA or the settings ask for the PreciseRoIPooling stand-in."""
    if str(settings.device).startswith("cuda") or settings.prroi_standin:
        return
    raise RuntimeError("SLT-TrDiMP needs a CUDA GPU: the IoU-Net and the filter initialiser pool with "
                       "PreciseRoIPooling, a CUDA-only extension. For a CPU check of the pipeline run "
                       "'ltr/run_training.py slt trdimp_smoke' (RoIAlign stand-in, numbers differ)")
