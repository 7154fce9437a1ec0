"""Data-parallel scaling of SLT training: sequences per second with 1 and 2 ranks (torchrun, gloo on CPU).

Every run trains the reference tracker with the same global batch on the same synthetic videos. Three layouts:
one rank using all cores (torch's intra-op threads), one rank on one thread, and two ranks splitting the cores
(OMP_NUM_THREADS = cores / ranks), so the table separates what threads give from what processes give.
Steady-state speed: median step time after the first step. Run it on an otherwise idle machine: OpenMP
threads degrade badly when other processes hold the cores, which no layout change can fix.

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


def run(ranks: int, threads: int, data: Path, out: Path, args: argparse.Namespace) -> float:
    """Train with ``ranks`` processes of ``threads`` threads each; returns sequences per second (steady state)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
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
    split = max(1, args.cores // 2)
    layouts = [(1, args.cores), (1, 1), (2, split)]
    speed = {(r, t): run(r, t, data, args.out / f"ranks{r}_threads{t}", args) for r, t in layouts}
    sys.stdout.write(f"{args.cores} cores, global batch {args.batch} x {args.frames} frames\n")
    for (ranks, threads), value in speed.items():
        sys.stdout.write(f"{ranks} rank(s) x {threads} thread(s): {value:.2f} sequences/s\n")
    sys.stdout.write(f"2 ranks x {split} / 1 rank x {args.cores} = {speed[2, split] / speed[1, args.cores]:.2f}\n"
                     f"2 ranks x {split} / 1 rank x 1 = {speed[2, split] / speed[1, 1]:.2f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
