"""Data-parallel scaling of SLT training: sequences per second with 1 and 2 ranks (torchrun, gloo on CPU).

Both runs train the reference tracker with the same global batch on the same synthetic videos and split the
machine's cores between their ranks (OMP_NUM_THREADS = cores / ranks), so the comparison is what a user of
this machine gets by launching more processes. Steady-state speed: median step time after the first step.

    python benchmarks/ddp_scaling.py --steps 12 --batch 8 --frames 16
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from slt.checkpoint import CheckpointManager, load_checkpoint
from slt.data.synthetic import SyntheticConfig, write_dataset


def run(ranks: int, data: Path, out: Path, args: argparse.Namespace) -> float:
    """Train with ``ranks`` processes; returns sequences per second (steady state)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, args.cores // ranks))}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
               "-m", "slt.cli", "train", "--stage", "slt", "--data", str(data), "--out", str(out),
               "--steps", str(args.steps), "--batch-size", str(args.batch), "--frames", str(args.frames),
               "--checkpoint-every", str(args.steps), "--no-progress", "--no-tensorboard", "--no-resume"]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    history = load_checkpoint(CheckpointManager(out / "slt" / "checkpoints", "slt").latest())["history"]
    return args.batch / statistics.median(h["seconds"] for h in history[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("slt_out/benchmarks/ddp_scaling"))
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=8, help="global batch: sequences per step")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    config = SyntheticConfig(height=160, width=160, num_frames=100)
    data = write_dataset(args.out / "data", "got10k", 24, 100, seed=1, config=config, progress=False)
    speed = {ranks: run(ranks, data, args.out / f"ranks{ranks}", args) for ranks in (1, 2)}
    sys.stdout.write(f"{args.cores} cores, global batch {args.batch} x {args.frames} frames\n")
    for ranks, value in speed.items():
        sys.stdout.write(f"{ranks} rank(s): {value:.2f} sequences/s\n")
    sys.stdout.write(f"2 ranks / 1 rank = {speed[2] / speed[1]:.2f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
