"""SLT-TrDiMP with the paper's hyper-parameters: ``python ltr/run_training.py slt trdimp`` (TransformerTrack tree).

Datasets -> sampler -> loader -> network -> actor -> optimizer -> trainer, as the host's settings files, with
SLT_REFERENCE 5.1 / 5.2 (SLT-TrDiMP column). Needs in ``ltr/admin/local.py``: ``workspace_dir``,
``tensorboard_dir``, ``lasot_dir``, ``got10k_dir``, ``trackingnet_dir``; the pretrained TrDiMP weights
(``SLT_TRDIMP_WEIGHTS``, or ``trdimp_net.pth.tar`` in ``pretrained_networks``, see
:func:`pretrained_weights_path`); and a CUDA GPU (the IoU-Net's PreciseRoIPooling is a CUDA extension).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch

from slt.checkpoint import load_state_dict_checked
from slt.update import UpdateConfig
from slt_pytracking.checkpoints import load_state, pretrained_weights_file
from slt_pytracking.loader import build_dataset, require_workspace, training_loader
from slt_pytracking.prroi_standin import use_roi_align_standin
from slt_pytracking.trainer import SLTTrainer
from slt_pytracking.trdimp_actor import SLTTrDiMPActor, trdimp_box_objective
from slt_pytracking.trdimp_tracker import NETWORK_DEFAULTS, ExplorationConfig, SLTTrDiMP, trdimp_offline

logger = logging.getLogger(__name__)

WEIGHTS_ENV = "SLT_TRDIMP_WEIGHTS"
"""Pretrained TrDiMP weights SLT training starts from (the released ``trdimp_net.pth.tar``)."""
WEIGHTS_FILE = "trdimp_net.pth.tar"

LEARNING_RATES = {"classifier.filter_initializer": 2e-6, "classifier.filter_optimizer": 2e-5,
                  "classifier.feature_extractor": 2e-6, "classifier.transformer": 4e-5, "bb_regressor": 4e-5,
                  "feature_extractor.layer3": 8e-7}
"""Adam learning rate per trained module of the TrDiMP network (SLT_REFERENCE 5.1); nothing else trains."""


def configure(settings: Any) -> None:
    """Set the SLT-TrDiMP hyper-parameters of the paper on an LTR ``Settings`` object (and log at INFO level
    when the entry point configured no logging)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    settings.description = "SLT-TrDiMP: sequence-level training of TrDiMP (Kim et al., ECCV 2022)."
    settings.device = getattr(settings, "device", None) or ("cuda" if torch.cuda.is_available() else "cpu")
    settings.seed = 12345
    settings.num_epochs = 40
    settings.samples_per_epoch = 5000      # clips per epoch
    settings.num_seq = 8                   # N: clips per SLT step
    settings.num_frames = 24               # T: frames per clip, the init frame included
    settings.num_seq_backward = 4          # clips' worth of samples per backward chunk (4 * (T - 1))
    settings.num_workers = 4
    settings.print_interval = 1
    # Sequence-level sampling and augmentation (SS + SA)
    settings.frame_sample_mode = "random_interval"
    settings.interval_prob = 0.3           # probability of a random-interval clip
    settings.max_interval = 10
    settings.max_gap = 300
    # TrDiMP network (kept from TrDiMP)
    for name, value in NETWORK_DEFAULTS.items():
        setattr(settings, name, value)
    # Exploration tracker (SLT_REFERENCE 5.2; every other parameter: ExplorationConfig's defaults)
    settings.score_norm_meanmax = (-7.0, 7.0)
    settings.net_opt_iter = 5
    settings.round_crops = False
    settings.freeze_iounet_in_exploration = False  # True: the official behaviour (B7), the IoU-Net never trains
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
    # 'sum' adds the chunk means as the official LTR trainer (SLT_REFERENCE B9); 'mean' gives the batch mean
    settings.chunk_norm = "sum"
    settings.fail_safe = False             # True: the host restarts crashed epochs (up to 10 times), then exits 0


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


def exploration_config(settings: Any) -> ExplorationConfig:
    """The exploration tracker's parameters from ``settings``."""
    return ExplorationConfig(score_norm_meanmax=tuple(settings.score_norm_meanmax),
                             net_opt_iter=settings.net_opt_iter, round_crops=settings.round_crops,
                             **getattr(settings, "exploration_overrides", {}))


def network_kwargs(settings: Any) -> dict[str, Any]:
    """The :func:`~slt_pytracking.trdimp_tracker.trdimp_offline` arguments read from ``settings``."""
    return {name: getattr(settings, name, default) for name, default in NETWORK_DEFAULTS.items()}


def parameter_groups(net: torch.nn.Module, learning_rates: dict[str, float]) -> list[dict[str, Any]]:
    """One Adam group per module prefix of ``learning_rates`` (trainable parameters only); ValueError if a
    prefix matches nothing."""
    groups = []
    for prefix, lr in learning_rates.items():
        params = [p for name, p in net.named_parameters() if name.startswith(prefix + ".") and p.requires_grad]
        if not params:
            raise ValueError(f"no trainable parameters under {prefix!r} in the TrDiMP network")
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
        load_state_dict_checked(net, load_state(weights), source=str(weights))
        logger.info("loaded TrDiMP weights from %s", weights)
    if settings.prroi_standin:
        use_roi_align_standin(net)
    tracker = SLTTrDiMP(net, exploration_config(settings))
    actor = SLTTrDiMPActor(net, trdimp_box_objective(), tracker,
                           loss_weight={"sl_clf": settings.slt_loss_weight, "bb_ce": settings.bb_ce_weight},
                           freeze_iounet_in_exploration=settings.freeze_iounet_in_exploration)

    optimizer = torch.optim.Adam(parameter_groups(net, settings.learning_rates), lr=settings.lr,
                                 weight_decay=settings.weight_decay)
    lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, settings.lr_step, gamma=settings.lr_gamma)

    update = UpdateConfig(chunk_size=settings.num_seq_backward * (settings.num_frames - 1),
                          chunk_norm=settings.chunk_norm, grad_clip=settings.grad_max_norm,
                          sample_order="clip")  # chunks of num_seq_backward whole clips, as the official trainers
    trainer = SLTTrainer(actor, [loader], optimizer, settings, lr_scheduler, update=update, seed=settings.seed,
                         dist=context)
    trainer.train(settings.num_epochs, load_latest=True, fail_safe=settings.fail_safe)
    return trainer


def pretrained_weights_path(env: Any) -> Path:
    """Pretrained TrDiMP weights for SLT training: ``$SLT_TRDIMP_WEIGHTS``, else
    ``<settings.env.pretrained_networks>/trdimp_net.pth.tar``; FileNotFoundError naming both otherwise."""
    return pretrained_weights_file(env, WEIGHTS_ENV, WEIGHTS_FILE, "TrDiMP", "the TransformerTrack release")


def require_gpu(settings: Any) -> None:
    """RuntimeError unless training runs on CUDA or the settings ask for the PreciseRoIPooling stand-in."""
    if str(settings.device).startswith("cuda") or settings.prroi_standin:
        return
    raise RuntimeError("SLT-TrDiMP needs a CUDA GPU: the IoU-Net and the filter initialiser pool with "
                       "PreciseRoIPooling, a CUDA-only extension. For a CPU check of the pipeline run "
                       "'ltr/run_training.py slt trdimp_smoke' (RoIAlign stand-in, numbers differ)")
