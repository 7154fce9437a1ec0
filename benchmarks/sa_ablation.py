"""Sequence-level augmentation (SA) ablation: trackers evaluated on videos played at frame intervals 1-4.

The paper's SA table (LaSOT, i = 1..4) shows random-interval clips keep the drop smallest as the video gets
faster. Here, per seed: the converged (annealed) FLT of ``slt_vs_flt.py``, then from its weights SLT with
sequential clips only (no SA) and SLT with random-interval clips (SA, PySOT's setting: probability 0.5, max
interval 7), the same number of steps each, evaluated on the held-out videos keeping every i-th frame. On the
``--out`` folder of ``slt_vs_flt.py`` it reuses that benchmark's converged FLT and its SLT run (the same
recipe as SLT with SA).

    python benchmarks/sa_ablation.py --seeds 1 --out /tmp/sa_ablation
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from typing import Any

import numpy as np

from slt.demo import FULL
from slt.evaluation import evaluate_dataset
from slt.reference.tracker import ReferenceTracker
from slt.reference.train import RunOptions, run_slt
from slt_vs_flt import common_parser, converged_flt, load_data, recipe_of

INTERVALS = (1, 2, 3, 4)


class EveryNthFrame:
    """A view of a dataset (PyTracking protocol) that keeps frames ``0, n, 2n, ...`` of every video."""

    def __init__(self, dataset: Any, interval: int) -> None:
        self.dataset, self.interval = dataset, interval

    def get_num_sequences(self) -> int:
        return self.dataset.get_num_sequences()

    def get_sequence_name(self, seq: int) -> str:
        return self.dataset.get_sequence_name(seq)

    def get_sequence_info(self, seq: int) -> dict:
        return {k: v[:: self.interval] for k, v in self.dataset.get_sequence_info(seq).items()}

    def get_frames(self, seq: int, ids: list[int], anno: Any = None) -> tuple:
        return self.dataset.get_frames(seq, [i * self.interval for i in ids])


def main(argv: list[str] | None = None) -> int:
    args = common_parser(__doc__, 1, "slt_out/benchmarks/sa_ablation").parse_args(argv)
    data = load_data(args)
    train, test = data["train"], data["test"]
    slt = recipe_of(args)
    recipes = {  # row -> (run name, recipe); "slt" is slt_vs_flt.py's SLT run
        "SLT without SA": ("slt_without_sa", dataclasses.replace(slt, frame_sample_mode="sequential")),
        "SLT with SA": ("slt", slt),
    }
    table: dict[str, list[list[float]]] = {name: [] for name in ("FLT", *recipes)}
    for seed in range(args.seeds):
        opts = RunOptions(out_dir=args.out / f"seed{seed}", seed=seed, progress=not args.no_progress,
                          tensorboard=False)
        model, _ = converged_flt(seed, args, data, opts)
        models = {"FLT": copy.deepcopy(model)}
        # As slt_vs_flt.py runs SLT: one checkpoint, at the end, so either benchmark reuses the other's run.
        slt_opts = dataclasses.replace(opts, checkpoint_every=10**9, checkpoint_minutes=0.0)
        for name, (run_name, recipe) in recipes.items():
            net = copy.deepcopy(model)
            run_slt(net, [train], recipe, slt_opts, name=run_name)
            models[name] = net
        for name, net in models.items():
            tracker = ReferenceTracker(net.eval(), FULL.slt.tracker)
            table[name].append([float(evaluate_dataset(tracker, EveryNthFrame(test, i), batch_size=25, progress=False,
                                                       protocols=("lasot",))["lasot"]["auc"]) for i in INTERVALS])
    lines = [f"{'AUC at frame interval':<22}" + "".join(f"{f'i={i}':>8}" for i in INTERVALS) + f"{'drop 1->4':>11}"]
    for name, rows in table.items():
        mean = np.mean(rows, axis=0)
        lines.append(f"{name:<22}" + "".join(f"{v:>8.1f}" for v in mean) + f"{mean[-1] - mean[0]:>+11.1f}")
    sys.stdout.write(f"held-out synthetic videos, mean of {args.seeds} seed(s), success AUC under the LaSOT protocol\n"
                     + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
