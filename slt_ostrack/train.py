"""SLT-OSTrack training: ``tracking/train.py --script slt_ostrack`` (patched tree) or ``python -m slt_ostrack.train``.

``python -m slt_ostrack.train --config NAME --save_dir DIR [--seed S]`` from an OSTrack checkout (or with it
on ``PYTHONPATH``) needs no patch; under ``torchrun`` every rank takes its share of each global batch
(:class:`slt.distributed.StepShardSampler`) and gradients are averaged, so two ranks make one process's update.
Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes its checkpoint, prints ``SLT-OSTrack interrupted at
step N; run the same command again to resume`` and exits with ``128 + signal`` (the host's ``tracking/train.py``
runs this in a child through ``os.system`` and exits 0 whatever the child's status); the rerun resumes at that
step, inside its epoch (:mod:`slt_ostrack.trainer`).

``NAME`` is an SLT config: a yaml path, ``experiments/slt_ostrack/NAME.yaml`` in the checkout, or one shipped in
``slt_ostrack/experiments/``. Checkpoints go to ``<save_dir>/checkpoints/train/ostrack/NAME/OSTrack_ep%04d.pth.tar``,
where ``tracking/test.py ostrack NAME`` reads them (with an ``experiments/ostrack/NAME.yaml`` whose
``TEST.EPOCH`` is the SLT epoch to evaluate). It names the host config (``BASE``), the starting weights, the datasets and the
``SLT`` hyper-parameters (see the shipped ``slt_vitb_256_mae_ce_32x4_ep300.yaml``).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import yaml

from slt.distributed import StepShardSampler, init_from_env
from slt.runner import TrainingInterrupted
from slt.sampling import SequenceSampler, list_collate
from slt.update import UpdateConfig
from slt_ostrack import host_root

SCRIPT = "slt_ostrack"
PACKAGE_CONFIGS = Path(__file__).resolve().parent / "experiments"
DATASETS = {"got10k": ("Got10k", "got10k_dir"), "lasot": ("Lasot", "lasot_dir"),
            "trackingnet": ("TrackingNet", "trackingnet_dir")}
"""SLT config dataset name -> (``lib.train.dataset`` class, ``settings.env`` attribute holding its folder)."""
OPTIMIZERS = ("adamw", "sgd")
"""``adamw``: the host's optimizer; ``sgd``: plain SGD, whose update is linear in the gradient (the torchrun
equivalence check uses it: Adam's first step is ``lr * sign(g)``, which rounding can flip where ``g ~ 0``)."""
logger = logging.getLogger(__name__)


def hand_over(argv: Sequence[str]) -> None:
    """The hook of the patched ``lib/train/run_training.py``: ``--script slt_ostrack`` runs :func:`main` and
    exits; any other script returns to the host."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--script")
    known, _ = parser.parse_known_args(list(argv))
    if known.script == SCRIPT:
        sys.exit(main(argv))


def find_config(root: Path, name: str) -> Path:
    """The SLT config file ``name``: a path, ``<root>/experiments/slt_ostrack/<name>.yaml`` or a shipped one."""
    for candidate in (Path(name), root / "experiments" / SCRIPT / f"{name}.yaml", PACKAGE_CONFIGS / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no SLT config {name!r}: not a file, not in {root / 'experiments' / SCRIPT}, not in "
                            f"{PACKAGE_CONFIGS}")


def read_config(path: Path) -> dict[str, Any]:
    """The SLT yaml with its ``SLT`` section completed by the shipped defaults."""
    defaults = yaml.safe_load((PACKAGE_CONFIGS / "slt_vitb_256_mae_ce_32x4_ep300.yaml").read_text())
    config = yaml.safe_load(path.read_text()) or {}
    unknown = set(config.get("SLT", {})) - set(defaults["SLT"])
    if unknown:
        raise ValueError(f"{path}: unknown SLT keys {sorted(unknown)}; known: {sorted(defaults['SLT'])}")
    for key in ("BASE", "INIT_CHECKPOINT", "DATASETS"):
        config.setdefault(key, defaults[key])
    config["SLT"] = {**defaults["SLT"], **config.get("SLT", {})}
    return config


def build_datasets(env: Any, entries: list[dict[str, Any]]) -> tuple[list[Any], list[float]]:
    """Host datasets of the config's ``DATASETS`` entries (``NAME``, optional ``SPLIT``, ``WEIGHT``)."""
    import lib.train.dataset as host_datasets
    from lib.train.data import opencv_loader

    datasets, weights = [], []
    for entry in entries:
        name = entry["NAME"]
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r} in the SLT config; expected one of {sorted(DATASETS)}")
        class_name, attribute = DATASETS[name]
        root = getattr(env, attribute, "")
        if not root or not os.path.isdir(root):
            raise FileNotFoundError(f"settings.env.{attribute} = {root!r} is not a folder: set it in "
                                    f"lib/train/admin/local.py")
        kwargs = {"split": entry["SPLIT"]} if "SPLIT" in entry else {}
        datasets.append(getattr(host_datasets, class_name)(root, image_loader=opencv_loader, **kwargs))
        weights.append(float(entry.get("WEIGHT", 1)))
    return datasets, weights


def load_weights(net: torch.nn.Module, path: str) -> None:
    """Trained weights ``path`` (``'net'`` of a checkpoint) into ``net``, ``weights_only=True``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # the host's own checkpoints pickle objects
        raise RuntimeError(f"INIT_CHECKPOINT {path} does not load with weights_only=True ({error}); re-save its "
                           f"'net' entry alone: torch.save({{'net': torch.load(p, weights_only=False)['net']}}, q)")
    net.load_state_dict(state["net"] if "net" in state else state, strict=True)
    logger.info("starting weights: %s", path)


def run(settings: Any, config_file: Path, seed: int) -> None:
    """Build the network, tracker, actor, loader and trainer from the host ``settings`` and the SLT config."""
    root = host_root()
    from lib.train.base_functions import update_settings
    from lib.train.data import LTRLoader
    from slt_ostrack.actor import SLTOSTrackActor
    from slt_ostrack.network import build_network, load_config
    from slt_ostrack.tracker import SLTOSTrack
    from slt_ostrack.trainer import SLTTrainer, StepCheckpoints

    config = read_config(config_file)
    slt = config["SLT"]
    cfg = load_config(root / "experiments" / "ostrack" / f"{config['BASE']}.yaml")
    update_settings(settings, cfg)
    settings.print_interval = slt["PRINT_INTERVAL"]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    context = init_from_env("cuda" if torch.cuda.is_available() else "cpu")
    settings.device = context.device
    settings.local_rank = context.rank if context.enabled else -1
    log_dir = os.path.join(settings.save_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    settings.log_file = os.path.join(log_dir, f"{settings.script_name}-{settings.config_name}.log")

    net = build_network(cfg)
    if config["INIT_CHECKPOINT"]:
        load_weights(net, config["INIT_CHECKPOINT"])
    else:
        logger.warning("INIT_CHECKPOINT is empty: SLT starts from random weights (smoke tests only)")
    net.to(context.device)
    tracker = SLTOSTrack(net, cfg, crop_backend=slt["CROP_BACKEND"], temperature=slt["TEMPERATURE"],
                         sig_eps=slt["SIG_EPS"])
    actor = SLTOSTrackActor(net, cfg, tracker.shaping, slt_weight=slt["SLT_WEIGHT"])

    datasets, weights = build_datasets(settings.env, config["DATASETS"])
    steps = slt["SAMPLES_PER_EPOCH"] // slt["NUM_SEQ"]
    sampler = SequenceSampler(datasets, weights, samples_per_epoch=steps * slt["NUM_SEQ"],
                              num_frames=slt["NUM_FRAMES"], max_gap=slt["MAX_GAP"],
                              frame_sample_mode=slt["FRAME_SAMPLE_MODE"], max_interval=slt["MAX_INTERVAL"],
                              interval_prob=slt["INTERVAL_PROB"], seed=seed)
    loader = LTRLoader("train", sampler, training=True, batch_size=slt["NUM_SEQ"] // context.world_size,
                       shuffle=False, num_workers=slt["NUM_WORKERS"], collate_fn=list_collate, drop_last=True,
                       stack_dim=0, sampler=StepShardSampler(0, steps, slt["NUM_SEQ"], context))

    head = [p for n, p in net.named_parameters() if "backbone" not in n and p.requires_grad]
    backbone = [p for n, p in net.named_parameters() if "backbone" in n and p.requires_grad]
    groups = [{"params": head}, {"params": backbone, "lr": slt["LR"] * cfg.TRAIN.BACKBONE_MULTIPLIER}]
    if slt["OPTIMIZER"] not in OPTIMIZERS:
        raise ValueError(f"SLT.OPTIMIZER = {slt['OPTIMIZER']!r} in {config_file}; expected one of {OPTIMIZERS}")
    if slt["OPTIMIZER"] == "adamw":
        optimizer = torch.optim.AdamW(groups, lr=slt["LR"], weight_decay=slt["WEIGHT_DECAY"])
    else:
        optimizer = torch.optim.SGD(groups, lr=slt["LR"], weight_decay=slt["WEIGHT_DECAY"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, slt["LR_DROP_EPOCH"])
    update = UpdateConfig(chunk_size=slt["CHUNK_SIZE"], grad_clip=slt["GRAD_CLIP"], sample_order="clip")
    checkpoints = StepCheckpoints(every=slt["CHECKPOINT_EVERY"], minutes=slt["CHECKPOINT_MINUTES"],
                                  keep=slt["KEEP_CHECKPOINTS"])
    trainer = SLTTrainer(actor, [loader], optimizer, settings, scheduler, tracker, update,
                         samples=slt["SAMPLES"], dist=context, checkpoints=checkpoints)
    trainer.train(slt["EPOCHS"], load_latest=True, fail_safe=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the host's ``run_training.py`` arguments (unknown ones ignored) and train; returns the exit status:
    0, or ``128 + signal`` after SIGINT/SIGTERM (one line; the checkpoint of the last finished step was written,
    and the same command resumes there). Other errors propagate with their traceback."""
    parser = argparse.ArgumentParser(description="SLT-OSTrack training")
    parser.add_argument("--script", default=SCRIPT)
    parser.add_argument("--config", required=True, help="SLT config name or yaml path")
    parser.add_argument("--save_dir", required=True, help="checkpoints, logs and tensorboard go here")
    parser.add_argument("--seed", type=int, default=42)
    args, _ = parser.parse_known_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    root = host_root()
    from lib.train.admin.settings import Settings

    config_file = find_config(root, args.config)
    settings = Settings()
    settings.script_name = SCRIPT
    settings.config_name = config_file.stem
    # where the host's lib/test/parameter/ostrack.py looks for the weights of experiments/ostrack/<name>.yaml
    settings.project_path = f"train/ostrack/{config_file.stem}"
    settings.save_dir = os.path.abspath(args.save_dir)
    settings.use_lmdb = False
    settings.use_wandb = False
    settings.local_rank = -1
    settings.description = "SLT-OSTrack: sequence-level training of OSTrack (Kim et al., ECCV 2022)"
    try:
        run(settings, config_file, args.seed)
    except TrainingInterrupted as stop:
        logger.warning("%s", stop)
        return stop.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
