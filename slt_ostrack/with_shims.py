"""Run one of an OSTrack-layout tree's own scripts with the CPU and new-PyTorch shims of :mod:`slt_ostrack.compat`.

For the host scripts the patch set does not touch, e.g. OSTrack's set-up step, which imports ``torch._six``
through ``lib/train/data/loader.py`` and fails on PyTorch >= 2.0::

    python -m slt_ostrack.with_shims tracking/create_default_local_file.py --workspace_dir . --data_dir ./data \
        --save_dir ./output

The script runs as ``python SCRIPT ARGS...`` would run it (``__main__``, its folder first on ``sys.path``, its
arguments in ``sys.argv``); its exit status is the command's.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Sequence

from slt_ostrack import compat


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return
    if not args:
        raise SystemExit("usage: python -m slt_ostrack.with_shims SCRIPT [ARGS...]")
    script = Path(args[0])
    if not script.is_file():
        raise SystemExit(f"slt_ostrack.with_shims: no script {script} (run it from the tree's root, e.g. "
                         "tracking/create_default_local_file.py)")
    compat.install()
    sys.argv = [str(script), *args[1:]]
    sys.path.insert(0, str(script.resolve().parent))
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
