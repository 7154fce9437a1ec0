"""The SLT training entry point shared by the OSTrack-family trees (OSTrack, SeqTrack, ARTrack).

Each tree's module (:mod:`slt_ostrack.train`, :mod:`slt_ostrack.seqtrack.train`, :mod:`slt_ostrack.artrack.train`)
declares a :class:`TrainScript`: its ``--script`` name, the host's experiment folder, the shipped defaults, and how
its network, tracker, actor, parameter groups and trainer are built. :meth:`TrainScript.main` parses the host's
``run_training.py`` arguments, reads the SLT config and trains; :meth:`TrainScript.hand_over` is the hook of a
patched ``lib/train/run_training.py``.

Under ``torchrun`` every rank takes its share of each global batch (:class:`slt.distributed.StepShardSampler`) and
gradients are averaged, so two ranks make one process's update. Ctrl-C (SIGINT) or SIGTERM finishes the current
step, writes its checkpoint, prints ``<title> interrupted at step N; run the same command again to resume`` and
exits with ``128 + signal`` (the host's ``tracking/train.py`` runs this in a child through ``os.system`` and exits 0
whatever the child's status); the rerun resumes at that step, inside its epoch (:mod:`slt_ostrack.trainer`).

An SLT config (``--config NAME``: a yaml path, ``<root>/experiments/<script>/NAME.yaml`` or one shipped in
``slt_ostrack/experiments/``) names the host config (``BASE``, in ``experiments/<host_script>/``), the starting
weights (``INIT_CHECKPOINT``), the datasets and the ``SLT`` hyper-parameters; the shipped defaults complete it.
Checkpoints go to ``<save_dir>/checkpoints/train/<host_script>/NAME/<net_type>_ep%04d.pth.tar``, where the host's
``tracking/test.py <host_script> NAME`` reads them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import yaml

from slt.distributed import DistContext, StepShardSampler, init_from_env, recorded
from slt.runner import TrainingInterrupted
from slt.sampling import SequenceSampler, list_collate
from slt.update import UpdateConfig

PACKAGE_CONFIGS = Path(__file__).resolve().parent / "experiments"
DATASETS = {"got10k": ("Got10k", "got10k_dir"), "lasot": ("Lasot", "lasot_dir"),
            "trackingnet": ("TrackingNet", "trackingnet_dir")}
"""SLT config dataset name -> (``lib.train.dataset`` class, ``settings.env`` attribute holding its folder)."""
OPTIMIZERS = ("adamw", "sgd")
"""``adamw``: the host's optimizer; ``sgd``: plain SGD, whose update is linear in the gradient (the torchrun
equivalence check uses it: Adam's first step is ``lr * sign(g)``, which rounding can flip where ``g ~ 0``)."""
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parts:
    """What one tree builds for a run: the tracker (owned by the trainer), the actor (the loss module) and the
    trainer class (an :class:`slt_ostrack.trainer.SLTTrainer`)."""

    tracker: Any
    actor: Any
    trainer: type


@dataclass(frozen=True)
class TrainScript:
    """One tree's SLT training.

    Args:
        script: the ``--script`` name (``slt_ostrack``); configs in the tree live in ``experiments/<script>/``.
        host_script: the host's tracker name: its configs are ``experiments/<host_script>/<BASE>.yaml`` and the
            checkpoints go under ``train/<host_script>/NAME``, where its ``lib/test/parameter/<host_script>.py`` looks.
        defaults: the shipped yaml whose ``SLT`` section completes a config (and whose keys are the known ones).
        title: the run's name in logs and in ``--help`` (``SLT-OSTrack``).
        host_root: puts the tree on ``sys.path`` and installs the CPU shims; returns the tree's root.
        network: the module whose ``load_config(path)`` reads a host yaml into the host's ``cfg`` and whose
            ``build_network(cfg)`` builds the host network with pretrained downloads off (imported in :meth:`run`:
            it imports the host).
        build: ``(net, cfg, slt)`` -> :class:`Parts` (``slt``: the config's ``SLT`` section).
        backbone_key, backbone_multiplier: parameters whose name contains ``backbone_key`` train at ``LR *
            cfg.TRAIN.<backbone_multiplier>``, the others at ``LR`` (the host's ``lib/train/base_functions.py``).
        save_every_epoch: sets the host's ``settings.save_every_epoch`` (SeqTrack keeps only some epochs otherwise).
    """

    script: str
    host_script: str
    defaults: Path
    title: str
    host_root: Callable[[], Path]
    network: str
    build: Callable[[torch.nn.Module, Any, dict[str, Any]], Parts]
    backbone_key: str = "backbone"
    backbone_multiplier: str = "BACKBONE_MULTIPLIER"
    save_every_epoch: bool = False

    def hand_over(self, argv: Sequence[str]) -> None:
        """The hook of the patched ``lib/train/run_training.py``: ``--script <script>`` runs :meth:`main` and
        exits with its status; any other script returns to the host."""
        parser = argparse.ArgumentParser(add_help=False)
        parser.add_argument("--script")
        known, _ = parser.parse_known_args(list(argv))
        if known.script == self.script:
            sys.exit(self.main(argv))

    def find_config(self, root: Path, name: str) -> Path:
        """The SLT config file ``name``: a path, ``<root>/experiments/<script>/<name>.yaml`` or a shipped one."""
        folder = root / "experiments" / self.script
        for candidate in (Path(name), folder / f"{name}.yaml", PACKAGE_CONFIGS / f"{name}.yaml"):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"no {self.title} config {name!r}: not a file, not in {folder}, not in "
                                f"{PACKAGE_CONFIGS}")

    def read_config(self, path: Path) -> dict[str, Any]:
        """The SLT yaml with its ``SLT`` section completed by :attr:`defaults`; unknown ``SLT`` keys raise
        ``ValueError`` naming the file."""
        defaults = yaml.safe_load(self.defaults.read_text())
        config = yaml.safe_load(path.read_text()) or {}
        unknown = set(config.get("SLT", {})) - set(defaults["SLT"])
        if unknown:
            raise ValueError(f"{path}: unknown SLT keys {sorted(unknown)}; known: {sorted(defaults['SLT'])}")
        for key in ("BASE", "INIT_CHECKPOINT", "DATASETS"):
            config.setdefault(key, defaults[key])
        config["SLT"] = {**defaults["SLT"], **config.get("SLT", {})}
        return config

    def optimizer(self, net: torch.nn.Module, cfg: Any, slt: dict[str, Any],
                  config_file: Path) -> torch.optim.Optimizer:
        """``SLT.OPTIMIZER`` over the host's two parameter groups (see :attr:`backbone_key`)."""
        rest = [p for n, p in net.named_parameters() if self.backbone_key not in n and p.requires_grad]
        backbone = [p for n, p in net.named_parameters() if self.backbone_key in n and p.requires_grad]
        groups = [{"params": rest},
                  {"params": backbone, "lr": slt["LR"] * getattr(cfg.TRAIN, self.backbone_multiplier)}]
        if slt["OPTIMIZER"] not in OPTIMIZERS:
            raise ValueError(f"SLT.OPTIMIZER = {slt['OPTIMIZER']!r} in {config_file}; expected one of {OPTIMIZERS}")
        if slt["OPTIMIZER"] == "adamw":
            return torch.optim.AdamW(groups, lr=slt["LR"], weight_decay=slt["WEIGHT_DECAY"])
        return torch.optim.SGD(groups, lr=slt["LR"], weight_decay=slt["WEIGHT_DECAY"])

    def run(self, settings: Any, config_file: Path, seed: int) -> None:
        """Build the network, tracker, actor, loader and trainer from the host ``settings`` and the SLT config,
        and train ``SLT.EPOCHS`` epochs (resuming from the newest step checkpoint)."""
        root = self.host_root()
        from lib.train.base_functions import update_settings
        from lib.train.data import LTRLoader
        from slt_ostrack.trainer import StepCheckpoints

        network = importlib.import_module(self.network)
        config = self.read_config(config_file)
        slt = config["SLT"]
        cfg = network.load_config(root / "experiments" / self.host_script / f"{config['BASE']}.yaml")
        update_settings(settings, cfg)
        settings.print_interval = slt["PRINT_INTERVAL"]
        if self.save_every_epoch:
            settings.save_every_epoch = True
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        context = init_from_env("cuda" if torch.cuda.is_available() else "cpu")
        settings.device = context.device
        settings.local_rank = context.rank if context.enabled else -1
        log_dir = os.path.join(settings.save_dir, "logs")
        os.makedirs(log_dir, exist_ok=True)
        settings.log_file = os.path.join(log_dir, f"{settings.script_name}-{settings.config_name}.log")

        net = network.build_network(cfg)
        if config["INIT_CHECKPOINT"]:
            load_weights(net, config["INIT_CHECKPOINT"])
        else:
            logger.warning("INIT_CHECKPOINT is empty: SLT starts from random weights (smoke tests only)")
        net.to(context.device)
        parts = self.build(net, cfg, slt)
        loader = self.loader(LTRLoader, settings.env, config, seed, context)
        optimizer = self.optimizer(net, cfg, slt, config_file)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, slt["LR_DROP_EPOCH"])
        update = UpdateConfig(chunk_size=slt["CHUNK_SIZE"], grad_clip=slt["GRAD_CLIP"], sample_order="clip")
        checkpoints = StepCheckpoints(every=slt["CHECKPOINT_EVERY"], minutes=slt["CHECKPOINT_MINUTES"],
                                      keep=slt["KEEP_CHECKPOINTS"])
        trainer = parts.trainer(parts.actor, [loader], optimizer, settings, scheduler, parts.tracker, update,
                                samples=slt["SAMPLES"], dist=context, checkpoints=checkpoints)
        trainer.train(slt["EPOCHS"], load_latest=True, fail_safe=False)

    @staticmethod
    def loader(loader_class: type, env: Any, config: dict[str, Any], seed: int, context: DistContext) -> Any:
        """The host's ``LTRLoader`` over :class:`slt.sampling.SequenceSampler` clips of the config's datasets; each
        rank reads its share of every global batch of ``SLT.NUM_SEQ`` clips."""
        slt = config["SLT"]
        datasets, weights = build_datasets(env, config["DATASETS"])
        steps = slt["SAMPLES_PER_EPOCH"] // slt["NUM_SEQ"]
        sampler = SequenceSampler(datasets, weights, samples_per_epoch=steps * slt["NUM_SEQ"],
                                  num_frames=slt["NUM_FRAMES"], max_gap=slt["MAX_GAP"],
                                  frame_sample_mode=slt["FRAME_SAMPLE_MODE"], max_interval=slt["MAX_INTERVAL"],
                                  interval_prob=slt["INTERVAL_PROB"], seed=seed)
        return loader_class("train", sampler, training=True, batch_size=slt["NUM_SEQ"] // context.world_size,
                            shuffle=False, num_workers=slt["NUM_WORKERS"], collate_fn=list_collate, drop_last=True,
                            stack_dim=0, sampler=StepShardSampler(0, steps, slt["NUM_SEQ"], context))

    @recorded
    def main(self, argv: Sequence[str] | None = None) -> int:
        """Parse the host's ``run_training.py`` arguments (unknown ones ignored) and train; returns the exit
        status: 0, or ``128 + signal`` after SIGINT/SIGTERM (one line; the checkpoint of the last finished step
        was written, and the same command resumes there). Other errors propagate with their traceback (under
        torchrun also in the agent's error file: :func:`slt.distributed.recorded`)."""
        parser = argparse.ArgumentParser(description=f"{self.title} training")
        parser.add_argument("--script", default=self.script)
        parser.add_argument("--config", required=True, help="SLT config name or yaml path")
        parser.add_argument("--save_dir", required=True, help="checkpoints, logs and tensorboard go here")
        parser.add_argument("--seed", type=int, default=42)
        args, _ = parser.parse_known_args(argv)
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
        root = self.host_root()
        from lib.train.admin.settings import Settings

        config_file = self.find_config(root, args.config)
        settings = Settings()
        settings.script_name = self.script
        settings.config_name = config_file.stem
        settings.project_path = f"train/{self.host_script}/{config_file.stem}"
        settings.save_dir = os.path.abspath(args.save_dir)
        settings.use_lmdb = False
        settings.use_wandb = False
        settings.local_rank = -1
        settings.description = f"{self.title}: sequence-level training (Kim et al., ECCV 2022)"
        try:
            self.run(settings, config_file, args.seed)
        except TrainingInterrupted as stop:
            logger.warning("%s", stop)
            return stop.exit_code
        return 0


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
