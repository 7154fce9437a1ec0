"""Training recipes of the reference tracker: frame-level pre-training (FLT) and SLT fine-tuning.

Both run through :class:`slt.runner.Runner` (resumable, checkpointed). Settings are plain dataclasses, read
like PyTracking settings files: data -> sampler -> network -> actor -> optimizer -> loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from slt.reference.actor import ReferenceSLTActor
from slt.reference.flt import FLTActor, FLTConfig, PairSampler
from slt.reference.model import NetConfig, ReferenceSiamRPN
from slt.reference.tracker import ReferenceTracker, TrackerParams
from slt.rollout import explore, greedy_miou
from slt.runner import RunConfig, Runner
from slt.sampling import SequenceSampler
from slt.distributed import DistContext, average_stats
from slt.update import UpdateConfig, apply_gradients, check_start, slt_update


@dataclass(frozen=True)
class FLTRecipe:
    """Frame-level training: Adam, ``steps`` steps of ``batch_size`` pairs."""

    steps: int = 1500
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    frame_range: int = 50
    neg_prob: float = 0.2
    grad_clip: float = 10.0
    flt: FLTConfig = FLTConfig()


@dataclass(frozen=True)
class SLTRecipe:
    """SLT fine-tuning: ``num_seq`` clips of ``num_frames`` frames per step (N and T), Adam.

    ``slt_weight=0`` turns the reward term off (the "+SS" control: box loss on explored crops only).
    ``samples``: sampled trajectories per clip (S; 1 as the paper, >= 2 for ``update.baseline =
    "mean_of_samples"``). ``val_every``: steps between greedy mIoU measurements on the validation clips given
    to :func:`run_slt` (also after the first step). Sampling follows PySOT's SLT config (random-interval clips with probability 0.5, max interval 7, the
    template taken at the clip start).
    """

    steps: int = 200
    num_seq: int = 8
    num_frames: int = 16
    lr: float = 1e-4
    weight_decay: float = 1e-4
    slt_weight: float = 1.0
    box_weight: float = 1.0
    samples: int = 1
    val_every: int = 20
    frame_sample_mode: str = "random_interval"
    interval_prob: float = 0.5
    max_interval: int = 7
    max_gap: int = -1
    tracker: TrackerParams = TrackerParams()
    update: UpdateConfig = UpdateConfig(chunk_size=64, grad_clip=10.0)


@dataclass
class RunOptions:
    """Where and how a recipe runs."""

    out_dir: Path
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    checkpoint_every: int = 50
    checkpoint_minutes: float = 10.0
    log_every: int = 10
    keep: int = 3
    resume: bool = True
    progress: bool = True
    tensorboard: bool = True
    num_workers: int = 0
    dist: DistContext = field(default_factory=DistContext)


def build_model(device: torch.device | str = "cpu", seed: int = 0, config: NetConfig = NetConfig()) -> ReferenceSiamRPN:
    """A freshly initialised reference network (deterministic for ``seed``)."""
    torch.manual_seed(seed)
    return ReferenceSiamRPN(config).to(device)


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)


def _schedule(recipe: FLTRecipe | SLTRecipe) -> dict[str, Any]:
    """The recipe's settings a resumed run must share (all but the number of steps, which may grow)."""
    return {k: v for k, v in asdict(recipe).items() if k != "steps"}


def _run_config(steps: int, batch_size: int, opts: RunOptions) -> RunConfig:
    return RunConfig(steps=steps, batch_size=batch_size, checkpoint_every=opts.checkpoint_every,
                     checkpoint_minutes=opts.checkpoint_minutes, log_every=opts.log_every, keep=opts.keep,
                     num_workers=opts.num_workers, tensorboard=opts.tensorboard, progress=opts.progress)


def run_flt(
    model: ReferenceSiamRPN, datasets: Sequence[Any], recipe: FLTRecipe, opts: RunOptions, name: str = "flt"
) -> list[dict[str, float]]:
    """Frame-level training of ``model`` in place; returns the per-step history."""
    sampler = PairSampler(datasets, samples_per_epoch=recipe.steps * recipe.batch_size,
                          frame_range=recipe.frame_range, neg_prob=recipe.neg_prob, seed=opts.seed)
    actor = FLTActor(model, config=recipe.flt)
    optimizer = _optimizer(model, recipe.lr, recipe.weight_decay)
    runner = Runner(name, opts.out_dir, model, optimizer, _run_config(recipe.steps, recipe.batch_size, opts),
                    dist=opts.dist, seed=opts.seed, schedule=_schedule(recipe))

    def step(batch: dict[str, list[Any]]) -> dict[str, float]:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss, stats = actor(batch)
        finite = bool(torch.isfinite(loss))
        if finite:
            loss.backward()
        grad_norm, skipped = apply_gradients(list(model.parameters()), optimizer, recipe.grad_clip, finite)
        return {**average_stats(stats, opts.device), "grad_norm": grad_norm, "skipped": skipped}

    history = runner.run(sampler, step, resume=opts.resume)
    model.eval()
    return history


def run_slt(
    model: ReferenceSiamRPN, datasets: Sequence[Any], recipe: SLTRecipe, opts: RunOptions, name: str = "slt",
    validation: dict[str, list[Any]] | None = None,
) -> list[dict[str, float]]:
    """SLT fine-tuning of ``model`` in place (exploration and update in eval mode, BatchNorm frozen, as the
    official loops); returns the per-step history (reward, greedy and sampled mIoU, losses, grad norm, and
    ``val_greedy_miou`` -- the greedy mIoU on the collated ``validation`` clips -- every ``recipe.val_every``
    steps). The per-step batch mIoU is too noisy to show a trend; the fixed validation clips are not."""
    sampler = SequenceSampler(
        datasets, samples_per_epoch=recipe.steps * recipe.num_seq, num_frames=recipe.num_frames,
        max_gap=recipe.max_gap, frame_sample_mode=recipe.frame_sample_mode, max_interval=recipe.max_interval,
        interval_prob=recipe.interval_prob, seed=opts.seed,
    )
    tracker = ReferenceTracker(model, recipe.tracker)
    actor = ReferenceSLTActor(tracker, slt_weight=recipe.slt_weight, box_weight=recipe.box_weight)
    optimizer = _optimizer(model, recipe.lr, recipe.weight_decay)
    runner = Runner(name, opts.out_dir, model, optimizer, _run_config(recipe.steps, recipe.num_seq, opts),
                    dist=opts.dist, seed=opts.seed, schedule=_schedule(recipe))

    def step(batch: dict[str, list[Any]]) -> dict[str, float]:
        model.eval()
        rollout = explore(tracker, batch, samples=recipe.samples)
        stats = slt_update(actor, model.parameters(), optimizer, rollout, recipe.update)
        if runner.step == 0 and runner.is_main:
            check_start(stats, "slt train --init CHECKPOINT, e.g. an FLT checkpoint")
        if validation is not None and (runner.step == 0 or (runner.step + 1) % recipe.val_every == 0):
            stats["val_greedy_miou"] = float(greedy_miou(tracker, validation).mean())
        return stats

    return runner.run(sampler, step, resume=opts.resume)
