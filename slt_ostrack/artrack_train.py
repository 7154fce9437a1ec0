"""SLT-ARTrack training: ``python tracking/train.py --script slt_artrack --config NAME --save_dir DIR --mode single`` in
an ARTrack tree patched by ``slt patch-host artrack ROOT``, or ``python -m slt_ostrack.artrack_train --config NAME
--save_dir DIR`` from an unpatched one (either under ``torchrun`` too). See docs/artrack.md.

The config (``NAME``: a path, ``<root>/experiments/slt_artrack/NAME.yaml`` or a shipped one) names the host
experiment ``BASE`` (``experiments/artrack_seq/<BASE>.yaml``), the starting weights, the datasets and the ``SLT``
section, completed by ``slt_ostrack/experiments/slt_artrack_seq_256_full.yaml`` (which states where each value comes
from). ``SLT.OBJECTIVE`` selects the loss (:mod:`slt_ostrack.artrack_actor`), so runs that differ only in it compare
the objectives on the same data and budget.
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
from slt.sampling import SequenceSampler, list_collate
from slt.update import UpdateConfig
from slt_ostrack import host_root
from slt_ostrack.train import OPTIMIZERS, build_datasets, load_weights

SCRIPT = "slt_artrack"
HOST_SCRIPT = "artrack_seq"
DEFAULTS = Path(__file__).resolve().parent / "experiments" / "slt_artrack_seq_256_full.yaml"
logger = logging.getLogger(__name__)


def hand_over(argv: Sequence[str]) -> None:
    """The hook of the patched ``lib/train/run_training.py``: ``--script slt_artrack`` runs :func:`main` and exits;
    any other script returns to the host."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--script")
    known, _ = parser.parse_known_args(list(argv))
    if known.script == SCRIPT:
        sys.exit(main(argv))


def find_config(root: Path, name: str) -> Path:
    """The SLT config ``name``: a path, ``<root>/experiments/slt_artrack/<name>.yaml`` or a shipped one."""
    for candidate in (Path(name), root / "experiments" / SCRIPT / f"{name}.yaml", DEFAULTS.parent / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no SLT-ARTrack config {name!r}: not a file, not in {root / 'experiments' / SCRIPT}, "
                            f"not in {DEFAULTS.parent}")


def read_config(path: Path) -> dict[str, Any]:
    """The SLT yaml with its ``SLT`` section completed by the shipped defaults; unknown SLT keys raise."""
    defaults = yaml.safe_load(DEFAULTS.read_text())
    config = yaml.safe_load(path.read_text()) or {}
    unknown = set(config.get("SLT", {})) - set(defaults["SLT"])
    if unknown:
        raise ValueError(f"{path}: unknown SLT keys {sorted(unknown)}; known: {sorted(defaults['SLT'])}")
    for key in ("BASE", "INIT_CHECKPOINT", "DATASETS"):
        config.setdefault(key, defaults[key])
    config["SLT"] = {**defaults["SLT"], **config.get("SLT", {})}
    return config


def run(settings: Any, config_file: Path, seed: int) -> None:
    """Build the network, tracker, actor, loader and trainer from the host ``settings`` and the SLT config."""
    root = host_root()
    from lib.train.base_functions import update_settings
    from lib.train.data import LTRLoader
    from slt_ostrack.artrack_actor import SLTARTrackActor
    from slt_ostrack.artrack_network import build_network, load_config
    from slt_ostrack.artrack_tracker import SLTARTrack
    from slt_ostrack.artrack_trainer import SLTARTrackTrainer

    config = read_config(config_file)
    slt = config["SLT"]
    cfg = load_config(root / "experiments" / HOST_SCRIPT / f"{config['BASE']}.yaml")
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
    tracker = SLTARTrack(net, cfg, crop_backend=slt["CROP_BACKEND"], temperature=slt["TEMPERATURE"])
    actor = SLTARTrackActor(net, cfg, tracker.rules, objective=slt["OBJECTIVE"], slt_weight=slt["SLT_WEIGHT"])

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
    trainer = SLTARTrackTrainer(actor, [loader], optimizer, settings, scheduler, tracker, update,
                                samples=slt["SAMPLES"], dist=context)
    trainer.train(slt["EPOCHS"], load_latest=True, fail_safe=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the host's ``run_training.py`` arguments (unknown ones ignored) and train."""
    parser = argparse.ArgumentParser(description="SLT-ARTrack training")
    parser.add_argument("--script", default=SCRIPT)
    parser.add_argument("--config", required=True, help="SLT config name or yaml path")
    parser.add_argument("--save_dir", required=True, help="checkpoints and logs go here")
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
    # where the host's lib/test/parameter/artrack_seq.py looks for the weights of experiments/artrack_seq/<name>.yaml
    settings.project_path = f"train/{HOST_SCRIPT}/{config_file.stem}"
    settings.save_dir = os.path.abspath(args.save_dir)
    settings.use_lmdb = False
    settings.use_wandb = False
    settings.local_rank = -1
    settings.description = "SLT-ARTrack: sequence-level training of ARTrack (Kim et al., ECCV 2022)"
    run(settings, config_file, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
