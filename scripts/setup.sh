#!/usr/bin/env bash
# Create .venv (if missing) and install this project with its test tools, the VOT toolkit (tests/test_vot.py)
# and PySOT's small config dependencies (tests/test_pysot_unit.py).
# torch is pinned: 2.13.0 is a CPU build; an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev,vot,pysot]"
