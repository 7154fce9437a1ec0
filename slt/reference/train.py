"""Training recipes of the reference tracker: frame-level pre-training (FLT) and SLT fine-tuning.

Both run through :class:`slt.runner.Runner` (resumable, checkpointed). Settings are plain dataclasses, read
like PyTracking settings files: data -> sampler -> network -> actor -> optimizer -> loop.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from slt.reference.actor import ReferenceSLTActor, ReferenceSSActor
from slt.reference.flt import FLTActor, FLTConfig, PairSampler
from slt.reference.model import NetConfig, ReferenceSiamRPN
from slt.reference.tracker import ReferenceTracker, TrackerParams
from slt.rollout import explore, greedy_miou
from slt.runner import RunConfig, Runner
from slt.sampling import SequenceSampler
from slt.distributed import DistContext, average_stats
from slt.update import UpdateConfig, apply_gradients, check_start, slt_update

logger = logging.getLogger(__name__)

OBJECTIVES = ("slt", "ss")


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

    ``objective``: ``"slt"`` (``slt_weight * L_scst + box_weight * L_box``, :class:`ReferenceSLTActor`) or
    ``"ss"`` (the paper's "+SS" control: FLT's classification + box loss on the explored crops, no reward,
    :class:`ReferenceSSActor`). ``slt_weight=0`` keeps only the box loss on explored crops.
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
    objective: str = "slt"
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

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown SLT objective {self.objective!r}; expected one of {OBJECTIVES}")


class BudgetSpent(Exception):
    """Raised by :meth:`CpuBudget.check` once the budget is used; :func:`run_flt` / :func:`run_slt` stop there."""


@dataclass
class CpuBudget:
    """A compute budget in process CPU seconds (``time.process_time``: every thread of this process, not the
    other work sharing the machine), counted from :meth:`start`. ``clock`` is replaceable for tests."""

    seconds: float
    clock: Callable[[], float] = time.process_time
    _start: float | None = None

    def start(self) -> None:
        self._start = self.clock()

    def used(self) -> float:
        """CPU seconds since :meth:`start` (0 before it)."""
        return 0.0 if self._start is None else self.clock() - self._start

    def check(self) -> None:
        """Start the count on the first call; raise :class:`BudgetSpent` once ``seconds`` are used."""
        if self._start is None:
            self.start()
        used = self.used()
        if used >= self.seconds:
            raise BudgetSpent(f"{used:.1f} of {self.seconds:.1f} CPU seconds used")


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
    model: ReferenceSiamRPN, datasets: Sequence[Any], recipe: FLTRecipe, opts: RunOptions, name: str = "flt",
    budget: CpuBudget | None = None,
) -> list[dict[str, float]]:
    """Frame-level training of ``model`` in place; returns the per-step history.

    With a ``budget`` the run stops before the first step that would start with the budget already used
    (``recipe.steps`` is then a cap); the weights are those of the last finished step (no checkpoint is written
    at the stop). Budgets are per process: a torchrun run (``opts.dist.world_size > 1``) raises ``ValueError``."""
    sampler = PairSampler(datasets, samples_per_epoch=recipe.steps * recipe.batch_size,
                          frame_range=recipe.frame_range, neg_prob=recipe.neg_prob, seed=opts.seed)
    actor = FLTActor(model, config=recipe.flt)
    optimizer = _optimizer(model, recipe.lr, recipe.weight_decay)
    runner = Runner(name, opts.out_dir, model, optimizer, _run_config(recipe.steps, recipe.batch_size, opts),
                    dist=opts.dist, seed=opts.seed, schedule=_schedule(recipe))

    def step(batch: dict[str, list[Any]]) -> dict[str, float]:
        if budget is not None:
            budget.check()
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss, stats = actor(batch)
        finite = bool(torch.isfinite(loss))
        if finite:
            loss.backward()
        grad_norm, skipped = apply_gradients(list(model.parameters()), optimizer, recipe.grad_clip, finite)
        return {**average_stats(stats, opts.device), "grad_norm": grad_norm, "skipped": skipped}

    history = _run_within(runner, sampler, step, opts.resume, budget)
    model.eval()
    return history


def _run_within(runner: Runner, sampler: Any, step: Callable, resume: bool,
                budget: CpuBudget | None) -> list[dict[str, float]]:
    """``runner.run``; a :class:`BudgetSpent` from ``step`` ends the run with the steps finished so far."""
    if budget is not None and runner.dist.world_size > 1:
        raise ValueError(f"{runner.name}: a CPU budget is per process; ranks would stop at different steps")
    try:
        return runner.run(sampler, step, resume=resume)
    except BudgetSpent as spent:
        logger.info("%s: budget spent after %d steps (%s)", runner.name, runner.step, spent)
        return runner.history


def run_slt(
    model: ReferenceSiamRPN, datasets: Sequence[Any], recipe: SLTRecipe, opts: RunOptions, name: str = "slt",
    validation: dict[str, list[Any]] | None = None, budget: CpuBudget | None = None,
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
    actor = (ReferenceSLTActor(tracker, slt_weight=recipe.slt_weight, box_weight=recipe.box_weight)
             if recipe.objective == "slt" else ReferenceSSActor(tracker))
    optimizer = _optimizer(model, recipe.lr, recipe.weight_decay)
    runner = Runner(name, opts.out_dir, model, optimizer, _run_config(recipe.steps, recipe.num_seq, opts),
                    dist=opts.dist, seed=opts.seed, schedule=_schedule(recipe))

    def step(batch: dict[str, list[Any]]) -> dict[str, float]:
        if budget is not None:
            budget.check()
        model.eval()
        rollout = explore(tracker, batch, samples=recipe.samples)
        stats = slt_update(actor, model.parameters(), optimizer, rollout, recipe.update)
        if runner.step == 0 and runner.is_main:
            check_start(stats, "slt train --init CHECKPOINT, e.g. an FLT checkpoint")
        if validation is not None and (runner.step == 0 or (runner.step + 1) % recipe.val_every == 0):
            stats["val_greedy_miou"] = float(greedy_miou(tracker, validation).mean())
        return stats

    with _deterministic():
        return _run_within(runner, sampler, step, opts.resume, budget)


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """torch's deterministic algorithms for the duration (``warn_only``: an op without one warns, never raises).
    Without them one SLT update on the CPU already differed in the 6th digit between two runs of the same seed
    in one process, and over the demo's 200 steps the tracker's own trajectories amplified that to 1.8 AUC."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


@dataclass(frozen=True)
class AnnealRecipe:
    """FLT with a decaying learning rate: rounds of ``round_steps`` steps, round ``k`` at ``lr * decay ** k``
    (a fresh Adam per round, fresh pairs), until ``patience`` rounds in a row fail to raise the best validation
    score by more than ``min_gain``, or ``max_rounds``. PySOT decays its rate log-linearly over 20 epochs."""

    round_steps: int = 250
    lr: float = 1e-3
    decay: float = 0.5
    patience: int = 2
    min_gain: float = 0.0
    max_rounds: int = 10


@dataclass
class AnnealResult:
    """``start``: the validation score before annealing; per round its learning rate and score; ``best``: the
    round whose weights were kept (-1: none beat the start, the model keeps its starting weights)."""

    start: float
    lrs: list[float]
    scores: list[float]
    best: int

    @property
    def best_score(self) -> float:
        return self.start if self.best < 0 else self.scores[self.best]


def anneal_flt(
    model: ReferenceSiamRPN, datasets: Sequence[Any], base: FLTRecipe, anneal: AnnealRecipe, opts: RunOptions,
    validate: Callable[[ReferenceSiamRPN], float],
) -> AnnealResult:
    """Continue FLT of ``model`` (in place) with a decaying learning rate until ``validate(model)`` -- a score on
    validation videos, never the test videos -- stops rising (:class:`AnnealRecipe`); the model ends with the
    weights of the best round (or its own, if no round beat them). Rounds run as ``opts.out_dir /
    'flt_anneal<k>'`` (resumable)."""
    result = AnnealResult(start=float(validate(model)), lrs=[], scores=[], best=-1)
    best_state, stalls = copy.deepcopy(model.state_dict()), 0
    for k in range(anneal.max_rounds):
        result.lrs.append(anneal.lr * anneal.decay ** k)
        run_flt(model, datasets, replace(base, steps=anneal.round_steps, lr=result.lrs[-1]),
                replace(opts, seed=opts.seed + 1000 * (k + 1)), name=f"flt_anneal{k}")
        result.scores.append(float(validate(model)))
        logger.info("FLT anneal round %d (lr %.2e): validation %.2f", k, result.lrs[-1], result.scores[-1])
        if result.scores[-1] > result.best_score + anneal.min_gain:
            result.best, best_state, stalls = k, copy.deepcopy(model.state_dict()), 0
        else:
            stalls += 1
            if stalls >= anneal.patience:
                break
    model.load_state_dict(best_state)
    return result
