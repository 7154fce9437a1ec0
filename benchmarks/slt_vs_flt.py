"""Does sequence-level training beat frame-level training, and its controls? The embedded default's measurement.

Per seed, on the synthetic videos of ``slt demo`` (same generator, 160 px frames):

1. A converged FLT tracker: the demo's FLT (``--flt-steps`` at Adam 1e-3), then annealed
   (:func:`slt.reference.train.anneal_flt`: rounds of ``--round-steps`` at a learning rate halved every round)
   until the AUC on the *validation* videos (a third video set, never the test set) stops rising. Every arm
   starts from these weights.
2. The arms, each on the same training videos:
   * ``SLT`` (+SS+SO+SA): the demo's SLT recipe, ``--slt-steps`` steps; its process CPU seconds are the budget B;
   * ``+SS+SO``: SLT on sequentially sampled clips (no random intervals);
   * ``+SS``: the FLT objective (classification with anchor labels + box loss) on the crops of the tracker's own
     trajectories through sequentially sampled clips, no reward (:class:`slt.reference.actor.ReferenceSSActor`);
   * ``FLT continued``: the FLT objective on template/search pairs, at each of ``--continued-lrs``; the rate
     with the best validation AUC is the row (the test videos never choose it).
   Every arm but SLT runs until it has used B process CPU seconds (``time.process_time``: this process only,
   so the budget stays fair when other work shares the machine); each arm's CPU seconds and steps are printed.
   SLT's budget includes its greedy validation measurements (every ``val_every`` steps), which FLT continued
   does not make, so the control gets slightly more training compute than SLT.
3. One-pass evaluation on ``--test-videos`` held-out videos; paired bootstrap 95 % intervals over the test
   videos (each video's difference averaged over the seeds) for SLT - FLT, SLT - FLT continued, +SS+SO - +SS
   (what SO adds) and SLT - +SS+SO (what SA adds).

Each seed's converged FLT (``seed<n>/flt_annealed.pth``, ``flt_anneal.json``) and each finished arm
(``seed<n>/arms.json``) are kept, so an interrupted run picks up at the first unfinished arm and
``sa_ablation.py`` reuses the same FLT weights.

    python benchmarks/slt_vs_flt.py --seeds 5 --out /tmp/slt_vs_flt

An SLT lever that keeps a step's cost (rate, SCST weight, advantage scale) is measured against the controls
of an earlier run, which ``--controls-from`` copies into a new ``--out`` (the SLT, +SS+SO and +SS arms rerun):

    python benchmarks/slt_vs_flt.py --seeds 5 --out /tmp/lever --controls-from /tmp/slt_vs_flt --slt-lr 3e-4

or, the seeds in parallel and then the table:

    for s in 0 1 2 3 4; do OMP_NUM_THREADS=1 python benchmarks/slt_vs_flt.py --only-seed $s --out /tmp/slt_vs_flt & done
    wait; python benchmarks/slt_vs_flt.py --seeds 5 --out /tmp/slt_vs_flt

Exit status 0 when the issue's acceptance holds (module ``GATES``), 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from slt.demo import FULL, DataSpec, synthetic_dataset, validation_clips
from slt.evaluation import evaluate_dataset
from slt.reference.model import ReferenceSiamRPN
from slt.reference.tracker import ReferenceTracker
from slt.reference.train import (AnnealRecipe, CpuBudget, FLTRecipe, RunOptions, SLTRecipe, anneal_flt,
                                 build_model, run_flt, run_slt)

ROWS = ("FLT", "FLT continued", "+SS", "+SS+SO", "SLT")
CONTRASTS = (("SLT", "FLT"), ("SLT", "FLT continued"), ("+SS+SO", "+SS"), ("SLT", "+SS+SO"))
GATES = ("mean SLT-FLT >= 3.0 with every seed >= 1.0; mean SLT-(FLT continued) >= 1.5 with its 95 % interval "
         "above 0; SLT's greedy validation mIoU higher in its last quarter than in its first on every seed")


def paired_bootstrap(a: np.ndarray, b: np.ndarray, reps: int = 10000, level: float = 0.95,
                     seed: int = 0) -> dict[str, float]:
    """Paired bootstrap of ``mean(a - b)`` over videos.

    ``a``, ``b``: ``(videos,)`` or ``(seeds, videos)`` per-video scores of two arms on the same videos (the
    same video order in every seed). Each video's difference is averaged over the seeds, then the videos are
    resampled with replacement ``reps`` times. Returns ``mean``, ``low``, ``high`` (the ``level`` percentile
    interval) and ``se`` (the standard error of the mean over videos).
    """
    a, b = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape != b.shape or a.shape[1] < 2:
        raise ValueError(f"paired_bootstrap: arms of shapes {a.shape} and {b.shape}; expected equal "
                         "(seeds, videos) with at least 2 videos")
    diff = (a - b).mean(axis=0)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(reps, diff.size))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return {"mean": float(diff.mean()), "low": float(low), "high": float(high),
            "se": float(diff.std(ddof=1) / np.sqrt(diff.size))}


def evaluate(model: ReferenceSiamRPN, dataset: Any, desc: str) -> list[float]:
    """Per-video success AUC (percent, LaSOT protocol) of the greedy tracker on every video of ``dataset``;
    their mean is the dataset's AUC."""
    tracker = ReferenceTracker(model.eval(), FULL.slt.tracker)
    return [float(v) for v in evaluate_dataset(tracker, dataset, batch_size=25, progress=False, desc=desc,
                                               protocols=("lasot",))["lasot"]["per_video_auc"]]


def val_auc(model: ReferenceSiamRPN, data: dict) -> float:
    return float(np.mean(evaluate(model, data["val"], "validation")))


def recipe_of(args: argparse.Namespace) -> SLTRecipe:
    """The demo's SLT recipe with the levers of the command line (steps, rate, S, baseline, advantage scale,
    temperature, SCST weight)."""
    return dataclasses.replace(FULL.slt, steps=args.slt_steps, lr=args.slt_lr, samples=args.samples,
                               slt_weight=args.slt_weight,
                               tracker=dataclasses.replace(FULL.slt.tracker, temperature=args.temperature),
                               update=dataclasses.replace(FULL.slt.update, baseline=args.baseline,
                                                          advantage_scale=args.advantage_scale))


def converged_flt(seed: int, args: argparse.Namespace, data: dict, opts: RunOptions) -> tuple[ReferenceSiamRPN, dict]:
    """The seed's converged FLT tracker (step 1 of the module doc) and its record; reused from
    ``opts.out_dir`` when a previous run wrote it."""
    weights, record = opts.out_dir / "flt_annealed.pth", opts.out_dir / "flt_anneal.json"
    model = build_model(seed=seed)
    if weights.exists() and record.exists():
        model.load_state_dict(torch.load(weights, map_location="cpu"))
        logging.info("seed %d: converged FLT reused from %s", seed, weights)
        return model.eval(), json.loads(record.read_text())
    flt = dataclasses.replace(FULL.flt, steps=args.flt_steps)
    start = time.process_time()
    run_flt(model, [data["train"]], flt, opts)
    anneal = AnnealRecipe(round_steps=args.round_steps, patience=args.patience, max_rounds=args.max_rounds)
    result = anneal_flt(model, [data["train"]], flt, anneal, opts, lambda net: val_auc(net, data))
    done = {"flt_steps": flt.steps, "round_steps": anneal.round_steps, **dataclasses.asdict(result),
            "best_score": result.best_score,
            "cpu_seconds": time.process_time() - start}
    torch.save(model.state_dict(), weights)
    record.write_text(json.dumps(done, indent=2) + "\n")
    return model.eval(), done


def check_settings(path: Path, settings: dict) -> None:
    """Write ``settings`` to ``path``, or check that a previous run there used the same ones: finished arms
    are reused only under the settings they were trained with (raises ``ValueError`` naming the keys)."""
    settings = json.loads(json.dumps(settings))
    if not path.exists():
        path.write_text(json.dumps(settings, indent=2) + "\n")
        return
    saved = json.loads(path.read_text())
    changed = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
    if changed:
        raise ValueError(f"{path} records a run with other settings ({', '.join(changed)}); its arms would be "
                         "reused under the new ones: use another --out")


CONTROL_ARMS = ("FLT", "FLT continued")
"""Arms that do not depend on the SLT recipe (``FLT continued`` also names its per-rate runs)."""


def reuse_controls(source: Path, out: Path, settings: dict) -> None:
    """Start ``out`` (a seed folder) from ``source``'s converged FLT and FLT-continued arms, so that an SLT lever
    is measured against the same controls without retraining them. ``source`` must record the same settings
    except the SLT recipe's (raises ``ValueError`` naming the keys). The controls keep the budget of the run
    that trained them (its SLT arm's CPU seconds, printed with the table): fair for a lever that leaves the
    cost of an SLT step unchanged (rate, weights, scales), not for one that changes it (S, N, T, steps)."""
    saved = json.loads((source / "settings.json").read_text())
    ours = json.loads(json.dumps(settings))
    changed = sorted(k for k in set(saved) | set(ours) if k != "slt" and saved.get(k) != ours.get(k))
    if changed:
        raise ValueError(f"--controls-from {source}: its controls were trained under other settings "
                         f"({', '.join(changed)})")
    arms = json.loads((source / "arms.json").read_text())
    controls = {k: {**v, "reused_from": str(source)} for k, v in arms.items() if k.startswith(CONTROL_ARMS)}
    missing = [k for k in ("FLT", "FLT continued") if k not in controls]
    if missing:
        raise ValueError(f"--controls-from {source}: arms.json has no {', '.join(missing)} arm (run it to the end)")
    for name in ["flt_annealed.pth", "flt_anneal.json"] + [f"{k.replace(' ', '_')}.pth" for k in controls
                                                            if k.startswith("FLT continued lr")]:
        shutil.copyfile(source / name, out / name)
    (out / "arms.json").write_text(json.dumps(controls, indent=2) + "\n")
    logging.info("%s: converged FLT and %d control arms reused from %s", out, len(controls), source)


def run_seed(seed: int, args: argparse.Namespace, data: dict) -> dict:
    """All arms of one seed (module doc), resumed arm by arm from ``seed<n>/arms.json``."""
    out = args.out / f"seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    opts = RunOptions(out_dir=out, seed=seed, progress=not args.no_progress, tensorboard=False)
    slt_recipe = recipe_of(args)
    settings = {"slt": dataclasses.asdict(slt_recipe), "continued_lrs": list(args.continued_lrs),
                "test_videos": args.test_videos, "val_videos": args.val_videos, "train_videos": args.train_videos,
                "flt": [args.flt_steps, args.round_steps, args.patience, args.max_rounds]}
    if args.controls_from is not None and not (out / "arms.json").exists():
        reuse_controls(args.controls_from / f"seed{seed}", out, settings)
    check_settings(out / "settings.json", settings)
    model, flt_record = converged_flt(seed, args, data, opts)
    flt_weights = {k: v.clone() for k, v in model.state_dict().items()}
    record = out / "arms.json"
    arms: dict[str, dict] = json.loads(record.read_text()) if record.exists() else {}
    # Budgeted arms never checkpoint mid-run and never resume one: an arm is redone whole or reused whole.
    arm_opts = dataclasses.replace(opts, checkpoint_every=10**9, checkpoint_minutes=0.0, resume=False)
    clips = validation_clips(data["val"], 32)

    def arm(name: str, train: Callable[[ReferenceSiamRPN, CpuBudget | None], list[dict]],
            budget: float | None, test: bool = True) -> dict:
        """Train one arm from the converged FLT weights (within ``budget`` CPU seconds, or unbounded), measure
        it on the validation videos and, with ``test``, the test videos; kept in ``arms.json``."""
        if name in arms:
            return arms[name]
        net = build_model(seed=seed)
        net.load_state_dict(flt_weights)
        meter = CpuBudget(float("inf") if budget is None else budget)
        wall = time.monotonic()
        meter.start()
        history = train(net, None if budget is None else meter)
        entry = {"steps": len(history), "cpu_seconds": meter.used(), "wall_seconds": time.monotonic() - wall,
                 "val_auc": val_auc(net, data),
                 "val_greedy_miou": [h["val_greedy_miou"] for h in history if "val_greedy_miou" in h]}
        if test:
            entry["per_video_auc"] = evaluate(net, data["test"], f"test {name}")
            entry["auc"] = float(np.mean(entry["per_video_auc"]))
        else:
            torch.save(net.state_dict(), out / f"{name.replace(' ', '_')}.pth")
        arms[name] = entry
        record.write_text(json.dumps(arms, indent=2) + "\n")
        logging.info("seed %d %s: %d steps, %.0f CPU s, validation AUC %.1f%s", seed, name, entry["steps"],
                     entry["cpu_seconds"], entry["val_auc"], f", test AUC {entry['auc']:.1f}" if test else "")
        return entry

    if "FLT" not in arms:
        per_video = evaluate(model, data["test"], "test FLT")
        arms["FLT"] = {"steps": 0, "cpu_seconds": 0.0, "wall_seconds": 0.0, "val_auc": flt_record["best_score"],
                       "per_video_auc": per_video, "auc": float(np.mean(per_video)), "val_greedy_miou": []}
    cap = args.slt_steps * 20  # budgeted arms stop on the budget long before this cap
    # SLT sets the budget; it checkpoints only at its end, so sa_ablation.py can reuse the run.
    slt = arm("SLT", lambda net, b: run_slt(net, [data["train"]], slt_recipe, dataclasses.replace(arm_opts,
                                            resume=True), name="slt", validation=clips), None)
    budget = slt["cpu_seconds"]
    sequential = dataclasses.replace(slt_recipe, steps=cap, frame_sample_mode="sequential")
    arm("+SS+SO", lambda net, b: run_slt(net, [data["train"]], sequential, arm_opts, name="slt_sequential",
                                         validation=clips, budget=b), budget)
    ss = dataclasses.replace(sequential, objective="ss")
    arm("+SS", lambda net, b: run_slt(net, [data["train"]], ss, arm_opts, name="ss", validation=clips, budget=b),
        budget)
    continued_opts = dataclasses.replace(arm_opts, seed=seed + 10**6)  # pairs FLT has not drawn
    for lr in args.continued_lrs:
        recipe = FLTRecipe(steps=cap * 10, batch_size=FULL.flt.batch_size, lr=lr)
        arm(f"FLT continued lr {lr:g}",
            lambda net, b, recipe=recipe: run_flt(net, [data["train"]], recipe, continued_opts,
                                                  name=f"flt_continued_{recipe.lr:g}", budget=b), budget, test=False)
    if "FLT continued" not in arms:
        name = max((f"FLT continued lr {lr:g}" for lr in args.continued_lrs), key=lambda k: arms[k]["val_auc"])
        net = build_model(seed=seed)
        net.load_state_dict(torch.load(out / f"{name.replace(' ', '_')}.pth", map_location="cpu"))
        per_video = evaluate(net, data["test"], "test FLT continued")
        arms["FLT continued"] = {**arms[name], "lr": float(name.split()[-1]), "per_video_auc": per_video,
                                 "auc": float(np.mean(per_video))}
        record.write_text(json.dumps(arms, indent=2) + "\n")
    return {"seed": seed, "flt": flt_record, "arms": arms}


def report(results: list[dict], reps: int = 10000) -> tuple[str, bool]:
    """The table, the CPU budgets, the paired intervals and the gates of the issue; returns (text, passed)."""
    auc = {k: np.array([r["arms"][k]["per_video_auc"] for r in results]) for k in ROWS}
    per_seed = {k: auc[k].mean(axis=1) for k in ROWS}
    lines = [f"success AUC (percent), LaSOT protocol, {auc['FLT'].shape[1]} test videos",
             f"{'seed':>5} " + " ".join(f"{r:>14}" for r in ROWS) + f" {'SLT-FLT':>8} {'SLT-cont':>8}"]
    for s, r in enumerate(results):
        lines.append(f"{r['seed']:>5} " + " ".join(f"{per_seed[k][s]:>14.1f}" for k in ROWS)
                     + f" {per_seed['SLT'][s] - per_seed['FLT'][s]:>+8.1f}"
                     + f" {per_seed['SLT'][s] - per_seed['FLT continued'][s]:>+8.1f}")
    lines.append(f"{'mean':>5} " + " ".join(f"{per_seed[k].mean():>14.1f}" for k in ROWS))
    lines.append("per seed: CPU seconds / steps of each arm (FLT: pre-training + annealing CPU seconds, rounds)")
    for r in results:
        arms, flt = r["arms"], r["flt"]
        cells = [f"FLT {flt['cpu_seconds']:.0f} s, {flt['flt_steps']}+{len(flt['scores'])}x{flt['round_steps']}"]
        cells += [f"{k} {arms[k]['cpu_seconds']:.0f} s / {arms[k]['steps']}" for k in ROWS[1:]]
        lines.append(f"  seed {r['seed']}: " + "; ".join(cells) + f" (continued lr {arms['FLT continued']['lr']:g}: "
                     + ", ".join(f"{k.split()[-1]} val {v['val_auc']:.1f}" for k, v in arms.items()
                                 if k.startswith("FLT continued lr")) + ")")
    intervals = {}
    for a, b in CONTRASTS:
        ci = intervals[(a, b)] = paired_bootstrap(auc[a], auc[b], reps=reps)
        lines.append(f"{a} - {b}: {ci['mean']:+.2f} AUC, 95 % interval [{ci['low']:+.2f}, {ci['high']:+.2f}], "
                     f"paired s.e. {ci['se']:.2f}")
    rising = []
    for r in results:
        curve = r["arms"]["SLT"]["val_greedy_miou"]
        quarter = max(1, len(curve) // 4)
        first, last = float(np.mean(curve[:quarter])), float(np.mean(curve[-quarter:]))
        rising.append(last > first)
        lines.append(f"  seed {r['seed']}: SLT greedy validation mIoU first quarter {first:.3f}, last quarter "
                     f"{last:.3f} ({len(curve)} measurements)")
    gain = per_seed["SLT"] - per_seed["FLT"]
    control = intervals[("SLT", "FLT continued")]
    passed = bool(gain.mean() >= 3.0 and gain.min() >= 1.0 and control["mean"] >= 1.5 and control["low"] > 0
                  and all(rising))
    lines.append(f"gate ({GATES}; {len(results)} seed(s)): {'PASS' if passed else 'FAIL'}")
    return "\n".join(lines), passed


def common_parser(doc: str, seeds: int, out: str) -> argparse.ArgumentParser:
    """Arguments shared with ``sa_ablation.py``: seeds, output folder, data sizes, the converged FLT, SLT."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--data", type=Path, default=None, help="synthetic video cache (default OUT/data)")
    parser.add_argument("--train-videos", type=int, default=FULL.train.videos)
    parser.add_argument("--test-videos", type=int, default=300)
    parser.add_argument("--val-videos", type=int, default=100,
                        help="validation videos (annealing, rate choice); the demo's 24 stopped annealing on noise")
    parser.add_argument("--flt-steps", type=int, default=1500,
                        help="FLT steps at the demo's rate before annealing (the demo itself trains 1000, unannealed)")
    parser.add_argument("--round-steps", type=int, default=250, help="steps per FLT annealing round")
    parser.add_argument("--patience", type=int, default=3, help="annealing rounds without a validation gain")
    parser.add_argument("--max-rounds", type=int, default=6, help="annealing rounds (lr 1e-3 halved each: 3.1e-5 last)")
    parser.add_argument("--slt-steps", type=int, default=200,
                        help="SLT steps; their CPU seconds are every budgeted arm's budget (the demo trains 160)")
    parser.add_argument("--slt-lr", type=float, default=FULL.slt.lr)
    parser.add_argument("--samples", type=int, default=FULL.slt.samples, help="sampled trajectories per clip")
    parser.add_argument("--baseline", default=FULL.slt.update.baseline,
                        help="SCST baseline: greedy, or mean_of_samples (leave-one-out, needs --samples >= 2)")
    parser.add_argument("--advantage-scale", default=FULL.slt.update.advantage_scale,
                        help="slt.scst.scale_advantages: none, batch or group (S >= 2)")
    parser.add_argument("--temperature", type=float, default=FULL.slt.tracker.temperature)
    parser.add_argument("--slt-weight", type=float, default=FULL.slt.slt_weight, help="weight of the SCST loss")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def load_data(args: argparse.Namespace) -> dict:
    """Training, validation (annealing, rate choice) and test videos, cached under ``--data``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    folder, progress = args.data or args.out / "data", not args.no_progress
    specs = {"train": dataclasses.replace(FULL.train, videos=args.train_videos), "val": dataclasses.replace(FULL.val, videos=args.val_videos),
             "test": dataclasses.replace(FULL.test, videos=args.test_videos)}
    return {split: synthetic_dataset(folder / f"{split}_v{s.videos}_f{s.frames}_s{s.seed}_px{s.size}", s, progress)
            for split, s in specs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = common_parser(__doc__, 5, "slt_out/benchmarks/slt_vs_flt")
    parser.add_argument("--continued-lrs", type=float, nargs="+", default=[3e-4, 1e-4, 3e-5],
                        help="learning rates of FLT continued; the best on validation videos is the row")
    parser.add_argument("--controls-from", type=Path, default=None,
                        help="another --out of this benchmark whose converged FLT and FLT-continued arms a new "
                             "--out starts from (same settings but the SLT recipe's): an SLT lever that keeps a "
                             "step's cost, measured against the same controls")
    parser.add_argument("--only-seed", type=int, default=None,
                        help="run this seed alone and keep its results (seeds can run in parallel processes, "
                             "e.g. one per core with OMP_NUM_THREADS=1); a later run without it prints the table")
    args = parser.parse_args(argv)
    data = load_data(args)
    if args.only_seed is not None:
        run_seed(args.only_seed, args, data)
        return 0
    results = [run_seed(seed, args, data) for seed in range(args.seeds)]
    text, passed = report(results)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(text + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
