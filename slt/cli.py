"""The ``slt`` command line: ``slt --version``, ``slt make-data``, ``slt demo``, ``slt train``,
``slt evaluate``, ``slt patch-host``, ``slt vot-workspace``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

import slt
from slt import hosts


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input (files, folders, data, checkpoints, diverging runs): reported in one line."""
    from slt.checkpoint import CheckpointError
    from slt.patching import PatchError
    from slt.runner import NonFiniteError

    return (OSError, ValueError, CheckpointError, NonFiniteError, PatchError)


def _make_data(args: argparse.Namespace) -> int:
    from slt.data.synthetic import SyntheticConfig, write_dataset

    config = SyntheticConfig(height=args.size, width=args.size, num_frames=args.frames)
    root = write_dataset(args.out, args.layout, num_videos=args.videos, num_frames=args.frames, seed=args.seed,
                         config=config, progress=not args.no_progress)
    logging.getLogger("slt").info("wrote %d %s videos of %d frames to %s", args.videos, args.layout, args.frames, root)
    sys.stdout.write(f"{root}\n")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from slt.demo import DemoOptions, run_demo

    result = run_demo(DemoOptions(out=args.out, seed=args.seed, device=args.device, quick=args.quick,
                                  progress=not args.no_progress, test_videos=args.test_videos))
    sys.stdout.write(f"\nHeld-out synthetic videos, one-pass evaluation (percent; protocols named above the "
                     f"table):\n{result.table()}\n\n")
    for name, path in result.files.items():
        sys.stdout.write(f"{name:>16}: {path}\n")
    return 0


def _patch_host(args: argparse.Namespace) -> int:
    from slt import patching

    if args.check:
        states = patching.status(args.kind, args.root)
        for name, state in states.items():
            sys.stdout.write(f"{state:>12}  {name}\n")
        return 0 if all(state == "applied" for state in states.values()) else 1
    if args.revert:
        done = patching.revert(args.kind, args.root)
        sys.stdout.write(f"reverted {len(done)} patch(es) in {args.root}\n")
        return 0
    done = patching.apply(args.kind, args.root)
    sys.stdout.write(f"applied {len(done)} patch(es) to {args.root}" + ("" if done else " (already patched)") + "\n")
    return 0


def _vot_workspace(args: argparse.Namespace) -> int:
    from slt.vot.workspace import parse_host_root, parse_tracker, write_workspace

    trackers = dict(parse_tracker(text, args.device) for text in args.tracker)
    if len(trackers) != len(args.tracker):
        raise ValueError("--tracker: the same NAME is given twice")
    roots = dict(parse_host_root(text) for text in args.host_root)
    if len(roots) != len(args.host_root):
        raise ValueError("--host-root: the same KIND is given twice")
    out = write_workspace(args.out, args.sequences, trackers, layout=args.layout, host_roots=roots,
                          python=args.python, timeout=args.timeout)
    sys.stdout.write(f"{out}\n")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import json

    from slt import scoring

    protocols = args.protocol or ["lasot", "got10k"]
    dataset = scoring.open_dataset(args.layout, args.data)
    scores = {str(folder): scoring.score_folder(folder, dataset, protocols) for folder in args.results}
    sys.stdout.write(scoring.format_table(scores, protocols) + "\n")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(scores, indent=1, default=lambda v: v.tolist()) + "\n")
    return 0


def _train(args: argparse.Namespace) -> int:
    from slt.reference.cli import train

    return train(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slt", description=(slt.__doc__ or "").splitlines()[0])
    parser.add_argument("--version", action="version", version=f"slt {slt.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    make = sub.add_parser("make-data", help="write synthetic videos in a real dataset layout")
    make.add_argument("--layout", choices=("got10k", "lasot", "trackingnet", "vot"), required=True,
                      help="dataset layout: got10k (OUT/train/), lasot (OUT/<class>/<class>-<k>/), trackingnet "
                           "(OUT/TRAIN_0 .. TRAIN_11) or vot (OUT/<name>/)")
    make.add_argument("--out", type=Path, required=True, help="output folder")
    make.add_argument("--videos", type=int, default=20, help="number of videos (default 20)")
    make.add_argument("--frames", type=int, default=100, help="frames per video (default 100)")
    make.add_argument("--size", type=int, default=160, help="frame side in pixels (default 160)")
    make.add_argument("--seed", type=int, default=0, help="random seed; video k uses seed * 100003 + k (default 0)")
    make.add_argument("--no-progress", action="store_true", help="no progress bar")
    make.set_defaults(run=_make_data)

    demo = sub.add_parser("demo", help="train a tracker frame-level, then with SLT, and compare them")
    demo.add_argument("--out", type=Path, default=Path("slt_out"), help="output folder (default ./slt_out)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0 (default cpu)")
    demo.add_argument("--quick", action="store_true", help="a small run for tests (about 2 minutes)")
    demo.add_argument("--test-videos", type=int, default=None,
                      help="held-out test videos (default 100; 8 with --quick)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(run=_demo)

    evaluate = sub.add_parser(
        "evaluate", help="score trackers' result folders against a dataset's ground truth",
        description="Score result folders (one box file per video: <video>.txt as PySOT's tools/test.py and "
                    "PyTracking's run_tracker.py write them, or <video>/<video>_001.txt as for GOT-10k) against "
                    "the ground truth of a dataset folder, under named protocols (slt.metrics). Prints one row "
                    "per folder, scores in percent.")
    evaluate.add_argument("--data", type=Path, required=True,
                          help="dataset folder (GOT-10k: its root or a split folder; LaSOT: the folder of classes; "
                               "TrackingNet: the folder of TRAIN_<i>; VOT: the folder of sequences)")
    evaluate.add_argument("--layout", choices=("got10k", "lasot", "trackingnet", "vot"), required=True,
                          help="layout of --data")
    evaluate.add_argument("--results", type=Path, nargs="+", required=True, metavar="FOLDER",
                          help="one or more result folders, one table row each")
    evaluate.add_argument("--protocol", action="append", metavar="NAME",
                          help="lasot, otb, got10k or pooled (repeatable; default lasot and got10k)")
    evaluate.add_argument("--json", type=Path, help="also write every score and curve to this JSON file")
    evaluate.set_defaults(run=_evaluate)

    host_kinds = hosts.host_kinds()
    listed = ", ".join(f"{name} ({host.description} {host.commit[:7]})" for name, host in host_kinds.items())
    patch = sub.add_parser("patch-host", help="apply, check or revert the patch a host tree needs")
    patch.add_argument("kind", choices=list(host_kinds), metavar="KIND",
                       help=f"host tree kind, one of the registered adapters' kinds: {listed or 'none'}")
    patch.add_argument("root", type=Path, help="the host checkout")
    mode = patch.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report; exit 0 only when fully applied")
    mode.add_argument("--revert", action="store_true", help="restore the tree byte for byte")
    patch.set_defaults(run=_patch_host)

    vot = sub.add_parser("vot-workspace", help="write a VOT-toolkit workspace (stack, trackers.ini, sequences)")
    vot.add_argument("--out", type=Path, required=True, help="workspace folder")
    vot.add_argument("--sequences", type=Path, required=True,
                     help="dataset folder (VOT, GOT-10k: the one with list.txt; LaSOT: the one with the classes)")
    vot.add_argument("--layout", choices=("vot", "got10k", "lasot"), default="vot",
                     help="dataset layout; got10k and lasot are converted to VOT under OUT/sequences (default vot)")
    vot_kinds = hosts.vot_kinds()
    adapter_trackers = "; ".join(f"{name}: {kind.description} (host {kind.host})" for name, kind in vot_kinds.items())
    vot.add_argument("--tracker", action="append", required=True, metavar="NAME=KIND[:WEIGHTS[:CONFIG]]",
                     help=f"a tracker (repeatable): KIND reference, static, or a registered adapter's kind: "
                          f"{adapter_trackers or 'none'}")
    vot.add_argument("--device", default="cpu", help="torch device of the trackers (default cpu)")
    vot.add_argument("--host-root", action="append", default=[], metavar="KIND=PATH",
                     help=f"the checkout of host KIND that its trackers import (repeatable; KIND one of "
                          f"{', '.join(host_kinds) or 'none'})")
    vot.add_argument("--python", default=sys.executable,
                     help="interpreter of the tracker processes (default: this one)")
    vot.add_argument("--timeout", type=int, default=30, help="seconds for start-up and each reply (default 30)")
    vot.set_defaults(run=_vot_workspace)

    train = sub.add_parser("train", help="train the reference tracker (frame-level or SLT) on a dataset")
    from slt.reference.cli import add_train_arguments

    add_train_arguments(train)
    train.set_defaults(run=_train)

    for choice in sub._choices_actions:  # each subcommand's --help opens with its one-line summary, as a sentence
        command = sub.choices[choice.dest]
        if command.description is None:
            command.description = choice.help[0].upper() + choice.help[1:] + "."
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``slt`` command; returns the exit status. Under torchrun an uncaught exception is also written to the
    agent's error file (:func:`slt.distributed.recorded`); torch is imported here, not at the top, so that
    ``slt --help`` stays quick."""
    from slt.distributed import recorded

    return recorded(_main)(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    from slt.runner import TrainingInterrupted

    try:
        return args.run(args)
    except TrainingInterrupted as stop:
        logging.getLogger("slt").warning("%s", stop)
        return stop.exit_code
    except _user_errors() as error:
        logging.getLogger("slt").error("%s", error, exc_info=args.verbose)
        return 1


if __name__ == "__main__":
    sys.exit(main())
