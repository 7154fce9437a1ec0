"""The OSTrack host kind, as plain data (no imports of the host or of torch).

The patch registry reads this declaration: the host kind's name, the files that identify an OSTrack-layout
tree, the folder of its unified diffs (package data of :mod:`slt_ostrack`) and the VOT kinds it supports.
"""

from __future__ import annotations

KIND = "ostrack"
DESCRIPTION = "botaoye/OSTrack"
SUPPORTED_COMMIT = "33b5e12586216b7fd0e95d255bd01ba44cbec759"
MARKERS = (
    "lib/train/trainers/ltr_trainer.py",
    "lib/models/ostrack/ostrack.py",
    "lib/test/tracker/ostrack.py",
    "tracking/train.py",
)
PATCH_FOLDER = "patches"
"""Relative to this package: ``slt_ostrack/patches/*.patch``, applied in name order."""
VOT_KINDS: tuple[str, ...] = ()
"""No VOT integration yet (OSTrack's ``tracking/`` VOT wrappers are not patched)."""
