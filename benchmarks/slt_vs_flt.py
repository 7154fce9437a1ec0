"""Does sequence-level training beat frame-level training? The embedded default's main measurement.

Per seed, on the synthetic videos of ``slt demo`` (same generator, 160 px frames):

1. FLT trained to a plateau: rounds of ``--round-steps`` steps until the held-out *validation* AUC (a third
   video set, not the test set) gains less than ``--plateau-gain`` points twice in a row, or ``--flt-max-steps``.
2. From those weights, with the same fine-tuning optimizer (Adam, SLT's learning rate):
   * SLT: ``--slt-steps`` steps of N clips x T frames;
   * SLT with the reward term off (slt_weight 0: box loss on the explored crops only, the paper's "+SS");
   * FLT continued for the same compute as SLT (so it gets more, cheaper, steps). Compute is the process's CPU
     time, so that the budget stays fair when other work shares the machine; wall clock is reported too.
3. One-pass evaluation of all four on ``--test-videos`` held-out videos.

Each seed's plateau (``seed<n>/flt_plateau.json``) and results (``seed<n>/result.json``) are kept, so an
interrupted run picks up at the first unfinished seed and ``sa_ablation.py`` reuses the same FLT weights.

Prints a table per seed, the means, and the gate of the embedded-default issue: SLT - FLT >= 2 AUC points on
the mean with no seed at or below 0, and SLT above continued FLT on the mean.

    python benchmarks/slt_vs_flt.py --seeds 3 --out /tmp/slt_vs_flt

or, the seeds in parallel and then the table:

    for s in 0 1 2; do OMP_NUM_THREADS=1 python benchmarks/slt_vs_flt.py --only-seed $s --out /tmp/slt_vs_flt & done
    wait; python benchmarks/slt_vs_flt.py --seeds 3 --out /tmp/slt_vs_flt
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from slt.demo import FULL, DataSpec, synthetic_dataset
from slt.evaluation import evaluate_dataset
from slt.reference.model import ReferenceSiamRPN
from slt.reference.tracker import ReferenceTracker
from slt.reference.train import FLTRecipe, RunOptions, SLTRecipe, build_model, run_flt, run_slt

ROWS = ("FLT", "SLT", "FLT continued", "SLT reward off")


def evaluate(model: ReferenceSiamRPN, dataset, recipe: SLTRecipe, desc: str) -> float:
    tracker = ReferenceTracker(model.eval(), recipe.tracker)
    return float(evaluate_dataset(tracker, dataset, batch_size=25, progress=False, desc=desc,
                                  protocols=("lasot",))["lasot"]["auc"])


def flt_to_plateau(model, train, val, args, opts, slt_recipe) -> tuple[int, list[float], float]:
    """Train FLT in rounds until the validation AUC plateaus; returns (steps, val AUCs, CPU seconds per step).

    The outcome is recorded in ``opts.out_dir / 'flt_plateau.json'``; when that file exists the plateau weights
    are loaded from the run's last checkpoint instead of being trained again.
    """
    record = opts.out_dir / "flt_plateau.json"
    if record.exists():
        done = json.loads(record.read_text())
        run_flt(model, [train], dataclasses.replace(FULL.flt, steps=done["steps"]), opts)
        logging.info("FLT plateau of %s reused: %d steps", opts.out_dir, done["steps"])
        return done["steps"], done["val_aucs"], done["cpu_seconds_per_step"]
    aucs: list[float] = []
    stalls, steps, seconds = 0, 0, 0.0
    while steps < args.flt_max_steps:
        steps += args.round_steps
        start = time.process_time()
        run_flt(model, [train], dataclasses.replace(FULL.flt, steps=steps), opts)
        seconds += time.process_time() - start
        aucs.append(evaluate(model, val, slt_recipe, "validation"))
        logging.info("FLT %d steps: validation AUC %.1f", steps, aucs[-1])
        if len(aucs) > 1:
            stalls = stalls + 1 if aucs[-1] - max(aucs[:-1]) < args.plateau_gain else 0
            if stalls >= 2:
                break
    per_step = seconds / max(steps, 1)
    record.write_text(json.dumps({"steps": steps, "val_aucs": aucs, "cpu_seconds_per_step": per_step}) + "\n")
    return steps, aucs, per_step


def run_seed(seed: int, args: argparse.Namespace, data: dict) -> dict:
    out = args.out / f"seed{seed}"
    if (out / "result.json").exists():
        logging.info("seed %d: results reused from %s", seed, out / "result.json")
        return json.loads((out / "result.json").read_text())
    opts = RunOptions(out_dir=out, seed=seed, progress=not args.no_progress, tensorboard=False)
    slt_recipe = dataclasses.replace(FULL.slt, steps=args.slt_steps)
    model = build_model(seed=seed)
    flt_steps, val_aucs, flt_step_s = flt_to_plateau(model, data["train"], data["val"], args, opts, slt_recipe)
    flt_weights = copy.deepcopy(model.state_dict())
    result = {"seed": seed, "flt_steps": flt_steps, "val_aucs": val_aucs, "auc": {}, "steps": {}, "seconds": {},
              "cpu_seconds": {}}
    result["auc"]["FLT"] = evaluate(model, data["test"], slt_recipe, "test FLT")

    def fine_tune(name: str, steps: int, train) -> None:
        net = build_model(seed=seed)
        net.load_state_dict(flt_weights)
        start, cpu_start = time.monotonic(), time.process_time()
        train(net)
        result["seconds"][name] = time.monotonic() - start
        result["cpu_seconds"][name] = time.process_time() - cpu_start
        result["steps"][name] = steps
        result["auc"][name] = evaluate(net, data["test"], slt_recipe, f"test {name}")

    fine_tune("SLT", slt_recipe.steps, lambda net: run_slt(net, [data["train"]], slt_recipe, opts, name="slt"))
    off = dataclasses.replace(slt_recipe, slt_weight=0.0)
    fine_tune("SLT reward off", off.steps,
              lambda net: run_slt(net, [data["train"]], off, opts, name="slt_reward_off"))
    cont = FLTRecipe(steps=max(1, round(result["cpu_seconds"]["SLT"] / flt_step_s)), batch_size=FULL.flt.batch_size,
                     lr=slt_recipe.lr)
    fine_tune("FLT continued", cont.steps,
              lambda net: run_flt(net, [data["train"]], cont, opts, name="flt_continued"))
    logging.info("seed %d: %s", seed, ", ".join(f"{k} {v:.1f}" for k, v in result["auc"].items()))
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def report(results: list[dict]) -> tuple[str, bool]:
    lines = ["success AUC (percent), LaSOT protocol (per-video curves averaged, frame 0 included)",
             f"{'seed':>5} {'FLT steps':>9} " + " ".join(f"{r:>15}" for r in ROWS) + f" {'SLT-FLT':>8}"]
    for r in results:
        lines.append(f"{r['seed']:>5} {r['flt_steps']:>9} " + " ".join(f"{r['auc'][k]:>15.1f}" for k in ROWS)
                     + f" {r['auc']['SLT'] - r['auc']['FLT']:>+8.1f}")
    mean = {k: float(np.mean([r["auc"][k] for r in results])) for k in ROWS}
    gains = [r["auc"]["SLT"] - r["auc"]["FLT"] for r in results]
    lines.append(f"{'mean':>5} {'':>9} " + " ".join(f"{mean[k]:>15.1f}" for k in ROWS) + f" {np.mean(gains):>+8.1f}")
    steps = {k: results[0]["steps"][k] for k in ROWS[1:]}
    secs = {k: float(np.mean([r["seconds"][k] for r in results])) for k in ROWS[1:]}
    cpu = {k: float(np.mean([r["cpu_seconds"][k] for r in results])) for k in ROWS[1:]}
    lines.append("fine-tuning budget (seed 0 steps; mean wall / CPU seconds): "
                 + ", ".join(f"{k}: {steps[k]} steps, {secs[k]:.0f} / {cpu[k]:.0f} s" for k in ROWS[1:]))
    passed = np.mean(gains) >= 2.0 and min(gains) > 0 and mean["SLT"] > mean["FLT continued"]
    lines.append(f"gate (mean SLT-FLT >= 2, every seed > 0, SLT > FLT continued): {'PASS' if passed else 'FAIL'}")
    lines.append(f"reward term's share of the gain (SLT - SLT reward off): {mean['SLT'] - mean['SLT reward off']:+.1f}")
    return "\n".join(lines), passed


def common_parser(doc: str, seeds: int, out: str) -> argparse.ArgumentParser:
    """Arguments shared with ``sa_ablation.py``: seeds, output folder, FLT plateau and SLT budget."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--test-videos", type=int, default=FULL.test.videos)
    parser.add_argument("--round-steps", type=int, default=300)
    parser.add_argument("--flt-max-steps", type=int, default=3000)
    parser.add_argument("--plateau-gain", type=float, default=0.5)
    parser.add_argument("--slt-steps", type=int, default=FULL.slt.steps)
    parser.add_argument("--no-progress", action="store_true")
    return parser


def load_data(args: argparse.Namespace) -> dict:
    """Training, validation (plateau detection) and test videos, cached under ``args.out / 'data'``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    folder, progress = args.out / "data", not args.no_progress
    return {
        "train": synthetic_dataset(folder / "train", FULL.train, progress),
        "val": synthetic_dataset(folder / "val", DataSpec(videos=24, frames=100, seed=3), progress),
        "test": synthetic_dataset(folder / "test", dataclasses.replace(FULL.test, videos=args.test_videos), progress),
    }


def main(argv: list[str] | None = None) -> int:
    parser = common_parser(__doc__, 3, "slt_out/benchmarks/slt_vs_flt")
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
