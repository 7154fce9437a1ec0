"""SLT training of a PySOT SiamRPN++: ``python -m slt_pysot.train --cfg CONFIG`` or, in a tree patched with
``slt patch-host pysot ROOT``, PySOT's own ``python tools/train.py --cfg CONFIG`` (when ``SLT.ENABLED``).

Reads like a recipe (the official loop, docs/method.md): cfg -> clip sampler -> network (+ ``TRAIN.PRETRAINED``) -> tracker ->
actor -> optimizer and LR schedule -> :class:`slt.runner.Runner` loop (explore, reward, chunked update).

Length: one optimizer step takes ``TRAIN.NUM_SEQ`` clips, an epoch is ``DATASET.VIDEOS_PER_EPOCH // NUM_SEQ``
steps and the run ``TRAIN.EPOCH`` epochs, i.e. ``VIDEOS_PER_EPOCH * EPOCH / NUM_SEQ`` steps (25 000 for the
paper's 10 000 x 20 / 8).

Outputs under ``TRAIN.SNAPSHOT_DIR``: resumable checkpoints ``SLT.NAME/checkpoints/`` (model, optimizer, LR
schedule, step, RNG states; written atomically at the end of every epoch, the last one included -- official bug
B11 fixed; the newest ``SLT.KEEP_CHECKPOINTS`` are kept; a new run resumes from the newest), TensorBoard scalars
in ``SLT.NAME/tensorboard/``, and PySOT-format snapshots ``checkpoint_e{epoch}.pth`` (``{'epoch', 'state_dict',
'optimizer'}``) that PySOT's ``tools/test.py --snapshot`` loads.

LR schedule: PySOT's epoch-level scheduler (``TRAIN.LR`` / ``TRAIN.LR_WARMUP``, built with PySOT's own
``build_lr_scheduler``; the paper uses ``log`` 0.005 -> 0.0005 without warm-up) gives a multiplier per epoch,
``lr_spaces[e] / start_lr``; a per-step ``LambdaLR`` applies multiplier ``step // steps_per_epoch`` to every
parameter group's base learning rate. The schedule follows the step count (steps skipped for a non-finite loss
included), so epoch boundaries stay where they are.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from pysot.core.config import cfg
from pysot.utils.lr_scheduler import build_lr_scheduler
from slt.checkpoint import CheckpointError, keep_newest, load_checkpoint, load_state_dict_checked, save_checkpoint
from slt.distributed import init_from_env, recorded
from slt.rollout import explore
from slt.runner import RunConfig, Runner, TrainingInterrupted, format_stats
from slt.update import UpdateConfig, slt_update
from slt_pysot.actor import SLTSiamRPNActor
from slt_pysot.config import register_slt_cfg, resolve_device
from slt_pysot.dataset import build_sampler
from slt_pysot.model_builder import SLTModelBuilder
from slt_pysot.schedule import relative_lrs, step_scheduler
from slt_pysot.tracker import SLTSiamRPNTracker

logger = logging.getLogger(__name__)

DEFAULT_SEED = 123456
"""PySOT's ``tools/train.py`` default seed."""


def _frozen(lr_factor: float) -> bool:
    return math.isclose(lr_factor, 0.0, abs_tol=1e-12)


def build_optimizer(model: nn.Module, heads: Sequence[str] = ()) -> torch.optim.Optimizer:
    """The official SLT optimizer: backbone frozen except ``BACKBONE.TRAIN_LAYERS`` when ``RL_TRAIN_BACKBONE``;
    every BatchNorm in eval mode; parameter groups backbone ``LAYERS_LR * BASE_LR``, neck ``ADJUST.LR * BASE_LR``,
    RPN ``RPN.LR * BASE_LR`` (a factor of 0 freezes the part), and one group at ``BASE_LR`` for each further
    submodule named in ``heads`` (SiamAttn's attention, fusion and refinement heads); Adam or SGD
    (``TRAIN.MOMENTUM``) per ``TRAIN.OPTIM``, weight decay ``TRAIN.WEIGHT_DECAY``."""
    for param in model.backbone.parameters():
        param.requires_grad = False
    if cfg.TRAIN.RL_TRAIN_BACKBONE:
        for layer in cfg.BACKBONE.TRAIN_LAYERS:
            if not hasattr(model.backbone, layer):
                raise ValueError(f"BACKBONE.TRAIN_LAYERS names {layer!r}, which backbone {cfg.BACKBONE.TYPE!r} "
                                 f"does not have")
            for param in getattr(model.backbone, layer).parameters():
                param.requires_grad = True
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    base = cfg.TRAIN.BASE_LR
    parts = [("backbone", model.backbone, cfg.BACKBONE.LAYERS_LR), ("rpn_head", model.rpn_head, cfg.RPN.LR)]
    if cfg.ADJUST.ADJUST:
        parts.insert(1, ("neck", model.neck, cfg.ADJUST.LR))
    for head in heads:
        if not hasattr(model, head):
            raise ValueError(f"the model has no submodule {head!r} to train")
        parts.append((head, getattr(model, head), 1.0))
    groups = []
    for name, part, factor in parts:
        if _frozen(factor):
            for param in part.parameters():
                param.requires_grad = False
        params = [p for p in part.parameters() if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": factor * base, "name": name})
    if not groups:
        raise ValueError("nothing to train: every part is frozen (check RL_TRAIN_BACKBONE, ADJUST.LR, RPN.LR)")
    kind = cfg.TRAIN.OPTIM.lower()
    if kind == "adam":
        return torch.optim.Adam(groups, weight_decay=cfg.TRAIN.WEIGHT_DECAY)
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=base, momentum=cfg.TRAIN.MOMENTUM, weight_decay=cfg.TRAIN.WEIGHT_DECAY)
    raise ValueError(f"TRAIN.OPTIM must be 'adam' or 'sgd', got {cfg.TRAIN.OPTIM!r}")


def epoch_multipliers(epochs: int) -> np.ndarray:
    """``(epochs,)`` LR multipliers of PySOT's scheduler for ``cfg.TRAIN.LR`` / ``LR_WARMUP``
    (:func:`slt_pysot.schedule.relative_lrs` of the scheduler PySOT's ``build_lr_scheduler`` builds)."""
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = build_lr_scheduler(probe, epochs=epochs)
    return relative_lrs(scheduler.lr_spaces, scheduler.start_lr)


def build_scheduler(
    optimizer: torch.optim.Optimizer, steps_per_epoch: int, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step ``LambdaLR`` applying :func:`epoch_multipliers` ``[step // steps_per_epoch]``
    (:func:`slt_pysot.schedule.step_scheduler`)."""
    return step_scheduler(optimizer, epoch_multipliers(epochs), steps_per_epoch)


def load_pretrained(model: nn.Module, path: str, key: str = "TRAIN.PRETRAINED") -> None:
    """Load a full-model state dict (PySOT ``model.pth``: raw or under ``state_dict``, ``module.`` prefixes
    removed) on CPU with ``weights_only`` loading; every key must match (the error names the file). ``key``: the
    setting that names ``path``, for the error when the file is missing."""
    if not Path(path).is_file():
        raise CheckpointError(f"{key} = {path!r}: no such file; set {key} to a trained PySOT model.pth of this "
                              f"architecture (e.g. from PySOT's model zoo, MODEL_ZOO.md)")
    state = load_checkpoint(path)
    state = state.get("state_dict", state)
    state = {key.removeprefix("module."): value for key, value in state.items()}
    load_state_dict_checked(model, state, path)
    logger.info("loaded TRAIN.PRETRAINED %s", path)


SCHEDULE_KEYS = ("TRAIN.EPOCH", "TRAIN.BASE_LR", "TRAIN.LR.TYPE", "TRAIN.WEIGHT_DECAY", "TRAIN.OPTIM",
                 "TRAIN.NUM_FRAMES", "DATASET.VIDEOS_PER_EPOCH", "BACKBONE.LAYERS_LR", "ADJUST.LR", "RPN.LR",
                 "TRAIN.TEMP", "SLT.SAMPLES", "SLT.BASELINE")
"""cfg keys a resumed run must share with the run that wrote the checkpoints (the schedule and the objective)."""


def run_schedule() -> dict[str, Any]:
    """The current cfg's values of :data:`SCHEDULE_KEYS`, by key (a resume under others is refused, naming them)."""
    values = {}
    for key in SCHEDULE_KEYS:
        node = cfg
        for part in key.split("."):
            node = node[part]
        values[key] = node
    return values


class SnapshotRunner(Runner):
    """:class:`slt.runner.Runner` that also exports ``{snapshot_dir}/checkpoint_e{epoch}.pth`` in PySOT's format
    (``epoch``, ``state_dict``, ``optimizer``; written atomically) at the end of every epoch."""

    def __init__(self, *args: Any, snapshot_dir: str | Path, steps_per_epoch: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.snapshot_dir = Path(snapshot_dir)
        self.steps_per_epoch = steps_per_epoch

    def checkpoint_due(self) -> bool:
        """At every epoch end (where the PySOT snapshot is written), besides the clock's steps and minutes."""
        return self.step % self.steps_per_epoch == 0

    def save(self) -> Path | None:
        path = super().save()
        if self.is_main and self.step % self.steps_per_epoch == 0:
            epoch = self.step // self.steps_per_epoch
            snapshot = save_checkpoint(
                self.snapshot_dir / f"checkpoint_e{epoch}.pth",
                {"epoch": epoch, "state_dict": self.model.state_dict(), "optimizer": self.optimizer.state_dict()},
            )
            logger.info("epoch %d done: PySOT snapshot %s", epoch, snapshot)
            # the one retention rule: the newest SLT.KEEP_CHECKPOINTS of each kind of checkpoint
            epochs = {int(p.stem[len("checkpoint_e"):]): p for p in self.snapshot_dir.glob("checkpoint_e*.pth")
                      if p.stem[len("checkpoint_e"):].isdigit()}
            keep_newest([epochs[e] for e in sorted(epochs)], self.config.keep)
        return path


def _check_unsupported() -> None:
    if cfg.TRAIN.RESUME:
        raise ValueError(f"TRAIN.RESUME = {cfg.TRAIN.RESUME!r} is not used by SLT training: it resumes from the "
                         f"newest checkpoint in {Path(cfg.TRAIN.SNAPSHOT_DIR) / cfg.SLT.NAME}; leave it ''")
    if cfg.TRAIN.START_EPOCH:
        raise ValueError("TRAIN.START_EPOCH must be 0 for SLT training (resuming is automatic)")
    if cfg.SLT.SAMPLES < 1:
        raise ValueError(f"SLT.SAMPLES = {cfg.SLT.SAMPLES}: exploration needs at least one sampled trajectory per clip")
    if cfg.SLT.BASELINE == "mean_of_samples" and cfg.SLT.SAMPLES < 2:
        raise ValueError(f"SLT.BASELINE = 'mean_of_samples' averages the other sampled trajectories of a clip: set "
                         f"SLT.SAMPLES >= 2 (it is {cfg.SLT.SAMPLES})")
    if cfg.BACKBONE.PRETRAINED:
        logger.warning("BACKBONE.PRETRAINED = %r is not loaded by SLT training; start from a full model with "
                       "TRAIN.PRETRAINED", cfg.BACKBONE.PRETRAINED)


def run(
    device: torch.device,
    seed: int = DEFAULT_SEED,
    build_model: Callable[[], nn.Module] = SLTModelBuilder,
    tracker_cls: Callable[[nn.Module], Any] = SLTSiamRPNTracker,
    actor_cls: Callable[[Any], Any] = SLTSiamRPNActor,
    heads: Sequence[str] = (),
) -> list[dict[str, float]]:
    """Train with the merged global cfg on ``device``; returns the per-step history.

    ``build_model``, ``tracker_cls``, ``actor_cls`` and ``heads`` (extra trained submodules, see
    :func:`build_optimizer`) default to SLT-SiamRPN++'s; :mod:`slt_pysot.siamattn_train` passes SiamAttn's.

    Under ``torchrun`` each rank explores its share of every step's ``TRAIN.NUM_SEQ`` clips (the global batch)
    on ``cuda:LOCAL_RANK`` (or the CPU, gloo); gradients are averaged and rank 0 writes checkpoints.
    """
    _check_unsupported()
    context = init_from_env(device)
    device = context.device
    steps_per_epoch = cfg.DATASET.VIDEOS_PER_EPOCH // cfg.TRAIN.NUM_SEQ
    if steps_per_epoch < 1:
        raise ValueError(f"DATASET.VIDEOS_PER_EPOCH ({cfg.DATASET.VIDEOS_PER_EPOCH}) must be at least "
                         f"TRAIN.NUM_SEQ ({cfg.TRAIN.NUM_SEQ})")
    steps = steps_per_epoch * cfg.TRAIN.EPOCH
    cfg.CUDA = device.type == "cuda"
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    sampler = build_sampler(cfg, samples=steps * cfg.TRAIN.NUM_SEQ, seed=seed)
    model = build_model()
    if cfg.TRAIN.PRETRAINED:
        load_pretrained(model, cfg.TRAIN.PRETRAINED)
    model.to(device).eval()
    tracker = tracker_cls(model)
    actor = actor_cls(tracker)
    optimizer = build_optimizer(model, heads)
    scheduler = build_scheduler(optimizer, steps_per_epoch, cfg.TRAIN.EPOCH)
    update = UpdateConfig(chunk_size=cfg.SLT.CHUNK_SIZE, chunk_norm=cfg.SLT.CHUNK_NORM, grad_clip=cfg.TRAIN.GRAD_CLIP,
                          return_fn=cfg.SLT.REWARD, baseline=cfg.SLT.BASELINE)
    config = RunConfig(steps=steps, batch_size=cfg.TRAIN.NUM_SEQ,
                       checkpoint_every=cfg.SLT.CHECKPOINT_EVERY or steps_per_epoch,
                       checkpoint_minutes=cfg.SLT.CHECKPOINT_MINUTES, keep=cfg.SLT.KEEP_CHECKPOINTS,
                       num_workers=cfg.TRAIN.NUM_WORKERS)
    runner = SnapshotRunner(cfg.SLT.NAME, cfg.TRAIN.SNAPSHOT_DIR, model, optimizer, config, scheduler=scheduler,
                            dist=context, seed=seed, snapshot_dir=cfg.TRAIN.SNAPSHOT_DIR,
                            steps_per_epoch=steps_per_epoch, schedule=run_schedule())
    logger.info("SLT on %s: %d steps (%d epochs x %d) of %d clips x %d frames, %d sampled trajectories per clip; "
                "checkpoints in %s", device, steps, cfg.TRAIN.EPOCH, steps_per_epoch, cfg.TRAIN.NUM_SEQ,
                cfg.TRAIN.NUM_FRAMES, cfg.SLT.SAMPLES, runner.folder)

    def step(batch: dict[str, list[Any]]) -> dict[str, float]:
        model.eval()
        rollout = explore(tracker, batch, samples=cfg.SLT.SAMPLES)  # draws keyed by each clip's sampler key
        stats = slt_update(actor, model.parameters(), optimizer, rollout, update, device)
        done = runner.step + 1
        if done % max(cfg.TRAIN.PRINT_FREQ, 1) == 0 or done == steps:
            logger.info("step %d/%d (epoch %d): %s", done, steps, runner.step // steps_per_epoch + 1,
                        format_stats(stats))
        return stats

    return runner.run(sampler, step, resume=True)


def build_parser() -> argparse.ArgumentParser:
    """Command line of :func:`main` (``--cfg``, ``--seed``, ``--device``, ``--opts KEY VALUE ...``)."""
    parser = argparse.ArgumentParser(prog="python -m slt_pysot.train",
                                     description=" ".join(__doc__.split("\n\n")[0].split()))  # first paragraph
    parser.add_argument("--cfg", required=True,
                        help="PySOT yaml with SLT keys, e.g. experiments/slt_siamrpnpp/config.yaml")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--device", default=None, help="torch device (default: SLT.DEVICE, else cuda if CUDA and "
                                                       "available, else cpu)")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE",
                        help="config keys and values overriding the yaml (yacs merge_from_list), "
                             "e.g. --opts TRAIN.EPOCH 40 TRAIN.PRETRAINED model.pth")
    return parser


@recorded
def main(argv: Sequence[str] | None = None, **parts: Any) -> int:
    """Register SLT's keys, merge ``--cfg`` into PySOT's global cfg and train; returns the exit status: 0, or
    ``128 + signal`` after Ctrl-C / SIGTERM (one line; the checkpoint of the last step was written).
    ``parts``: :func:`run`'s model, tracker, actor and heads. Other errors propagate as exceptions (a non-zero
    exit with the traceback; under torchrun also in the agent's error file: :func:`slt.distributed.recorded`)."""
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    register_slt_cfg(cfg)
    cfg.merge_from_file(args.cfg)
    if len(args.opts) % 2:
        raise ValueError(f"--opts takes KEY VALUE pairs, got {len(args.opts)} words: {' '.join(args.opts)}")
    cfg.merge_from_list(args.opts)
    try:
        history = run(resolve_device(cfg, args.device), seed=args.seed, **parts)
    except TrainingInterrupted as stop:
        logger.warning("%s", stop)
        return stop.exit_code
    if history:
        last = history[-1]
        logger.info("finished at step %d; last step: %s", last["step"],
                    format_stats({k: v for k, v in last.items() if k not in ("step", "seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
