"""Exploration speed and SLT-step memory: ours vs the network's floor vs an official-style loop.

For each tracker (the reference tracker always; PySOT and TransT when PYSOT_ROOT / TRANST_ROOT point at
checkouts and their adapters import; OSTrack when OSTRACK_ROOT does), measured in one run on the same network,
clips and thread count:

(a) explore time / floor -- the floor is the network's forward on the same search crops with the template
    computed once (no cropping, no policy, no bookkeeping);
(b) an official-style loop / ours -- per-sequence OpenCV crops, the template recomputed every frame,
    float32 records, autograd as the official code has it (on for TransT, off for PySOT-style trackers);
(c) memory of one SLT step (explore + update) for T = 8, 16, 24, 32 and of the official-style step at
    T = ``--frames``, each in a fresh subprocess: the peak during the step (RSS on CPU, Linux, with the kernel's
    high-water mark reset before the step; max allocated on CUDA) and the step's own share, that peak less what
    the process held before it (network, optimizer, the frames).

    python benchmarks/explore.py [--device cuda] [--seqs 8] [--frames 24] [--size 480x640]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from explore_backends import BACKENDS, Backend, synthetic_clips

MEMORY_FRAMES = (8, 16, 24, 32)


def timed(fns: dict[str, Callable[[], Any]], runs: dict[str, int], device: torch.device,
          warmup: bool = True) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall-clock time and best process CPU time of each of ``fns`` over ``runs[name]`` runs, after one
    warm-up run each (``warmup``).

    The runs are interleaved round-robin (one run of each function per round), so that a change in the load
    of a shared machine affects every function alike and the ratios stay comparable; CUDA is synchronised.
    The CPU time (``time.process_time``, all threads of this process) is what a crowded CPU changes least.
    """
    for fn in fns.values() if warmup else ():
        fn()
    best = {name: float("inf") for name in fns}
    cpu = {name: float("inf") for name in fns}
    for round_ in range(max(runs.values())):
        for name, fn in fns.items():
            if round_ >= runs[name]:
                continue
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best[name] = min(best[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return best, cpu


def speed(backend: Backend, args: argparse.Namespace) -> dict[str, float]:
    batch = synthetic_clips(args.seqs, args.frames, args.height, args.width, seed=0)
    fns = {"ours": lambda: backend.explore(batch), "floor": backend.floor(batch),
           "official": lambda: backend.official_explore(batch)}
    times, cpu = timed(fns, {"ours": args.repeats, "floor": args.repeats, "official": max(1, args.repeats - 1)},
                       backend.device, warmup=not args.no_warmup)
    ours, floor, official = times["ours"], times["floor"], times["official"]
    steps = args.seqs * 2 * (args.frames - 1)
    return {"ours_s": ours, "floor_s": floor, "official_s": official, "ours_over_floor": ours / floor,
            "official_over_ours": official / ours, "tracker_steps_per_s": steps / ours,
            "ours_cpu_s": cpu["ours"], "floor_cpu_s": cpu["floor"], "official_cpu_s": cpu["official"]}


def _status_mb(field: str) -> float:
    """A memory field of ``/proc/self/status`` (Linux), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(f"/proc/self/status has no {field}")


def memory_child(name: str, frames: int, official: bool, args: argparse.Namespace) -> dict[str, float]:
    """Run one SLT step (explore + update) in a fresh subprocess; returns ``peak_mb``, the peak during the step
    (RSS on CPU: the kernel's high-water mark reset just before the step; max allocated on CUDA), and
    ``step_mb``, that peak less the memory held before the step (network, optimizer and the clips' frames,
    which both loops share)."""
    backend = BACKENDS[name](torch.device(args.device))
    batch = synthetic_clips(args.seqs, frames, args.height, args.width, seed=1)
    gc.collect()
    if backend.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(backend.device)
        before = torch.cuda.memory_allocated(backend.device) / 2**20
    else:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM, the peak resident set size, to the current one
        before = _status_mb("VmRSS")
    (backend.official_step if official else backend.step)(batch)
    if backend.device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(backend.device) / 2**20
    else:
        peak = _status_mb("VmHWM")
    return {"peak_mb": peak, "step_mb": peak - before}


def memory(name: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Label -> ``memory_child`` result, for T in ``MEMORY_FRAMES`` (ours) and T = ``args.frames`` (official)."""
    result = {}
    runs = [(f"T={t}", t, False) for t in MEMORY_FRAMES] + [(f"official T={args.frames}", args.frames, True)]
    for label, frames, official in runs:
        command = [sys.executable, str(Path(__file__).resolve()), "--memory-child", name, str(frames),
                   str(int(official)), "--device", args.device, "--seqs", str(args.seqs),
                   "--size", f"{args.height}x{args.width}"]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        result[label] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seqs", type=int, default=8, help="N sequences (2N trajectories)")
    parser.add_argument("--frames", type=int, default=24, help="T frames per clip")
    parser.add_argument("--size", default="480x640", help="frame size HxW")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trackers", default=",".join(BACKENDS), help="comma-separated subset")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-warmup", action="store_true",
                        help="time from the first run (for slow networks, e.g. ViT-B on a CPU)")
    parser.add_argument("--memory-child", nargs=3, metavar=("TRACKER", "FRAMES", "OFFICIAL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.height, args.width = (int(v) for v in args.size.split("x"))
    if args.memory_child:
        name, frames, official = args.memory_child
        sys.stdout.write(json.dumps(memory_child(name, int(frames), bool(int(official)), args)) + "\n")
        return 0
    device = torch.device(args.device)
    header = (f"device {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, "
              f"{torch.get_num_threads()} threads, N={args.seqs}, T={args.frames}, frames {args.size}")
    sys.stdout.write(header + "\n")
    for name in args.trackers.split(","):
        backend_cls = BACKENDS[name]
        unavailable = backend_cls.unavailable()
        if unavailable:
            sys.stdout.write(f"\n{name}: skipped ({unavailable})\n")
            continue
        backend = backend_cls(device)
        s = speed(backend, args)
        sys.stdout.write(
            f"\n{name}: explore {s['ours_s']:.2f} s ({s['tracker_steps_per_s']:.1f} tracker steps/s), floor "
            f"{s['floor_s']:.2f} s, official-style {s['official_s']:.2f} s\n"
            f"  (a) ours / floor           = {s['ours_over_floor']:.3f}\n"
            f"  (b) official-style / ours  = {s['official_over_ours']:.2f}x\n"
            f"  process CPU time: ours {s['ours_cpu_s']:.2f} s, floor {s['floor_cpu_s']:.2f} s, official-style "
            f"{s['official_cpu_s']:.2f} s; official-style / ours = {s['official_cpu_s'] / s['ours_cpu_s']:.2f}x\n")
        if not args.no_memory:
            mem = memory(name, args)
            sys.stdout.write("  (c) one SLT step, peak / step's own memory (MB): "
                             + ", ".join(f"{k} {v['peak_mb']:.0f} / {v['step_mb']:.0f}" for k, v in mem.items())
                             + "\n")
            ours, official = mem.get(f"T={args.frames}"), mem[f"official T={args.frames}"]
            if ours is not None:
                sys.stdout.write(f"      ours / official-style at T={args.frames}: peak "
                                 f"{ours['peak_mb'] / official['peak_mb']:.2f}, step's own "
                                 f"{ours['step_mb'] / official['step_mb']:.2f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
