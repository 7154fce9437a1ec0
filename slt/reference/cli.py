"""``slt train``: train the reference tracker, frame-level or with SLT, on a dataset folder (resumable)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TypeVar

from slt.checkpoint import load_checkpoint, load_state_dict_checked
from slt.data.got10k import Got10k
from slt.data.lasot import Lasot
from slt.distributed import init_from_env
from slt.reference.train import FLTRecipe, RunOptions, SLTRecipe, build_model, run_flt, run_slt

READERS = {"got10k": Got10k, "lasot": Lasot}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", choices=("flt", "slt"), required=True, help="frame-level or sequence-level")
    parser.add_argument("--data", type=Path, required=True, help="dataset root (GOT-10k: the folder with list.txt)")
    parser.add_argument("--layout", choices=sorted(READERS), default="got10k", help="layout of --data (default got10k)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, TensorBoard)")
    parser.add_argument("--name", default=None, help="run name (default: the stage)")
    parser.add_argument("--init", type=Path, default=None, help="checkpoint whose model weights to start from")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, default=None, help="pairs (flt) or sequences N (slt) per step")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip T (slt)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the recipe's)")
    parser.add_argument("--slt-weight", type=float, default=None, help="weight of the SCST term (0: reward off)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0 (default cpu)")
    parser.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints")
    parser.add_argument("--checkpoint-minutes", type=float, default=10.0,
                        help="also checkpoint after this many minutes since the last one (0: only by steps)")
    parser.add_argument("--log-every", type=int, default=10, help="steps between log lines when not on a terminal")
    parser.add_argument("--keep", type=int, default=3, help="checkpoints kept")
    parser.add_argument("--no-resume", action="store_true", help="ignore checkpoints already in the run folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log lines instead)")
    parser.add_argument("--no-tensorboard", action="store_true", help="write no TensorBoard scalars")


Recipe = TypeVar("Recipe", FLTRecipe, SLTRecipe)


def _override(recipe: Recipe, **values: object) -> Recipe:
    """The recipe with the command-line values that were given."""
    return dataclasses.replace(recipe, **{k: v for k, v in values.items() if v is not None})


def train(args: argparse.Namespace) -> int:
    """Run ``slt train``; returns the exit status."""
    dataset = READERS[args.layout](args.data)
    context = init_from_env(args.device)
    device = context.device
    model = build_model(device, seed=args.seed)
    if args.init is not None:
        load_state_dict_checked(model, load_checkpoint(args.init)["model"], str(args.init))
    opts = RunOptions(out_dir=args.out, device=device, seed=args.seed, checkpoint_every=args.checkpoint_every,
                      checkpoint_minutes=args.checkpoint_minutes, log_every=args.log_every, keep=args.keep, resume=not args.no_resume, progress=not args.no_progress,
                      tensorboard=not args.no_tensorboard, dist=context)
    if args.stage == "flt":
        recipe = _override(FLTRecipe(), steps=args.steps, batch_size=args.batch_size, lr=args.lr)
        run_flt(model, [dataset], recipe, opts, name=args.name or "flt")
    else:
        recipe = _override(SLTRecipe(), steps=args.steps, num_seq=args.batch_size, num_frames=args.frames,
                           lr=args.lr, slt_weight=args.slt_weight)
        run_slt(model, [dataset], recipe, opts, name=args.name or "slt")
    return 0
