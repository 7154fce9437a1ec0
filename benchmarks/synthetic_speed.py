"""Generation time of one default synthetic video (160x160, 100 frames): ``python benchmarks/synthetic_speed.py``.

Prints the best of ``--repeats`` timed generations (after one warm-up) in seconds; on an idle CPU core it is
well under 0.2 s, which keeps ``slt demo`` and the test fixtures dominated by training, not data.
"""

from __future__ import annotations

import argparse
import time

from slt.data.synthetic import SyntheticConfig, generate_video


def best_time(repeats: int, seed: int = 1) -> float:
    """Seconds of the fastest of ``repeats`` generations of video ``seed`` with the default config."""
    config = SyntheticConfig()
    generate_video(0, config)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        generate_video(seed, config)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"default synthetic video (160x160x100): best of {args.repeats}: {best_time(args.repeats):.3f} s")


if __name__ == "__main__":
    main()
