"""The controls of ``benchmarks/slt_vs_flt.py`` (issue 13): the paired bootstrap, the "+SS" loss, the CPU budget
that stops an arm, and the FLT annealing that stops when validation stops rising."""

import copy
import json
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from slt.data.got10k import Got10k
from slt.data.synthetic import SyntheticConfig, write_dataset
from slt.reference.actor import ReferenceSSActor
from slt.reference.model import ReferenceSiamRPN
from slt.reference.tracker import ReferenceTracker
from slt.reference.train import (AnnealRecipe, BudgetSpent, CpuBudget, FLTRecipe, RunOptions, SLTRecipe,
                                 anneal_flt, build_model, run_flt, run_slt)
from slt.rollout import explore
from test_reference import clip_batch

ROOT = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("slt_vs_flt", ROOT / "benchmarks" / "slt_vs_flt.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_videos(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("videos"), "got10k", num_videos=3, num_frames=16, seed=0,
                         config=SyntheticConfig(height=96, width=96, num_frames=16), progress=False)
    return Got10k(root)


def _opts(folder: Path) -> RunOptions:
    return RunOptions(out_dir=folder, progress=False, tensorboard=False)


class TickClock:
    """A fake CPU clock: every read advances one second."""

    def __init__(self) -> None:
        self.now = -1.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_paired_bootstrap_on_known_differences():
    bootstrap = _benchmark().paired_bootstrap
    flat = bootstrap(np.full(50, 3.0), np.full(50, 1.0), reps=500)
    assert flat["mean"] == flat["low"] == flat["high"] == 2.0 and flat["se"] == 0.0
    diff = np.random.default_rng(0).normal(1.0, 2.0, size=400)
    ci = bootstrap(diff, np.zeros(400), reps=4000)
    se = diff.std(ddof=1) / 20
    assert ci["mean"] == pytest.approx(diff.mean()) and ci["se"] == pytest.approx(se)
    assert ci["low"] == pytest.approx(diff.mean() - 1.96 * se, abs=0.03)
    assert ci["high"] == pytest.approx(diff.mean() + 1.96 * se, abs=0.03)
    # Seeds: each video's difference is averaged over seeds first (here +1 and +3 -> +2 on every video).
    two_seeds = bootstrap(np.stack([np.arange(10.0) + 1, np.arange(10.0) + 3]), np.stack([np.arange(10.0)] * 2))
    assert two_seeds["mean"] == two_seeds["low"] == two_seeds["high"] == 2.0
    with pytest.raises(ValueError, match="shapes"):
        bootstrap(np.zeros(5), np.zeros(6))


def test_ss_loss_trains_classification_and_boxes_and_ignores_the_reward():
    torch.manual_seed(0)
    model = ReferenceSiamRPN().eval()
    tracker = ReferenceTracker(model)
    rollout = explore(tracker, clip_batch(), torch.Generator().manual_seed(0))
    actor = ReferenceSSActor(tracker)
    results = []
    for advantages in (torch.ones(1, 3), -5 * torch.ones(1, 3)):
        samples = rollout.samples(advantages)
        samples.actions = samples.actions.flip(0)  # neither the actions nor the advantages enter the loss
        model.zero_grad()
        torch.manual_seed(1)  # the same anchor subsets
        loss, stats = actor(samples)
        loss.backward()
        results.append((loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
        assert stats["loss_cls"] > 0 and stats["loss_loc"] > 0
        assert stats["loss"] == pytest.approx(stats["loss_cls"] + 1.2 * stats["loss_loc"], rel=1e-5)
    assert results[0][0] == results[1][0]
    grads = results[0][1]
    assert any(n.startswith("cls") for n in grads) and any(n.startswith("loc") for n in grads)
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert sum(float(g.abs().sum()) for g in grads.values()) > 0
    assert all(torch.equal(grads[n], results[1][1][n]) for n in grads)


def test_cpu_budget_stops_an_arm_at_the_budget(tiny_videos, tmp_path):
    budget = CpuBudget(3.0, clock=TickClock())
    budget.check()  # starts the count: 1 s used
    budget.check()  # 2 s
    with pytest.raises(BudgetSpent, match="3.0 of 3.0"):
        budget.check()
    recipe = FLTRecipe(steps=50, batch_size=2)
    model = build_model(seed=0)
    before = copy.deepcopy(model.state_dict())
    history = run_flt(model, [tiny_videos], recipe, _opts(tmp_path), budget=CpuBudget(3.0, clock=TickClock()))
    assert len(history) == 2  # reads at 1 s and 2 s train; the third, at 3 s, stops before its step
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    slt = SLTRecipe(steps=50, num_seq=2, num_frames=4, objective="ss")
    assert len(run_slt(model, [tiny_videos], slt, _opts(tmp_path), budget=CpuBudget(3.0, clock=TickClock()))) == 2
    assert len(run_flt(build_model(seed=0), [tiny_videos], FLTRecipe(steps=3, batch_size=2),
                       _opts(tmp_path / "unbounded"))) == 3


def test_annealing_stops_when_validation_stops_rising_and_keeps_the_best_round(tiny_videos, tmp_path):
    scores = iter([10.0, 12.0, 15.0, 14.0, 15.0, 30.0])  # start, then rounds 0..4
    seen = []

    def validate(model):
        seen.append(copy.deepcopy(model.state_dict()))
        return next(scores)

    model = build_model(seed=0)
    result = anneal_flt(model, [tiny_videos], FLTRecipe(batch_size=2),
                        AnnealRecipe(round_steps=1, lr=1e-3, decay=0.5, patience=2, max_rounds=6), _opts(tmp_path),
                        validate)
    # Round 2 (14) and round 3 (15, not above the best 15) do not rise: patience 2 stops before round 4.
    assert result.scores == [12.0, 15.0, 14.0, 15.0] and result.start == 10.0
    assert result.best == 1 and result.best_score == 15.0
    assert result.lrs == [1e-3, 5e-4, 2.5e-4, 1.25e-4]
    assert all(torch.equal(v, seen[2][k]) for k, v in model.state_dict().items())  # round 1's weights
    assert any(not torch.equal(v, seen[4][k]) for k, v in model.state_dict().items())


def test_ss_objective_is_checked():
    with pytest.raises(ValueError, match="objective"):
        SLTRecipe(objective="reward")


def test_controls_are_reused_under_the_same_settings_and_refused_under_others(tmp_path):
    """--controls-from: the converged FLT, the FLT-continued runs and their arms are copied into a new seed
    folder when only the SLT recipe differs; another control setting is refused naming the key."""
    bench = _benchmark()
    source, out = tmp_path / "base" / "seed0", tmp_path / "lever" / "seed0"
    source.mkdir(parents=True)
    out.mkdir(parents=True)
    settings = {"slt": {"lr": 1e-4}, "continued_lrs": [1e-4], "test_videos": 3, "val_videos": 2, "train_videos": 4,
                "flt": [10, 5, 1, 1]}
    (source / "settings.json").write_text(json.dumps(settings))
    arms = {"FLT": {"auc": 40.0}, "SLT": {"auc": 45.0}, "+SS": {"auc": 41.0},
            "FLT continued lr 0.0001": {"val_auc": 42.0}, "FLT continued": {"auc": 42.5, "lr": 1e-4}}
    (source / "arms.json").write_text(json.dumps(arms))
    for name in ("flt_annealed.pth", "flt_anneal.json", "FLT_continued_lr_0.0001.pth"):
        (source / name).write_bytes(name.encode())
    bench.reuse_controls(source, out, {**settings, "slt": {"lr": 3e-4}})
    reused = json.loads((out / "arms.json").read_text())
    assert sorted(reused) == ["FLT", "FLT continued", "FLT continued lr 0.0001"]
    assert reused["FLT continued"]["auc"] == 42.5 and reused["FLT"]["reused_from"] == str(source)
    assert (out / "FLT_continued_lr_0.0001.pth").read_bytes() == b"FLT_continued_lr_0.0001.pth"
    assert (out / "flt_annealed.pth").read_bytes() == b"flt_annealed.pth"
    with pytest.raises(ValueError, match="continued_lrs"):
        bench.reuse_controls(source, tmp_path, {**settings, "continued_lrs": [3e-4]})
