"""Tracker parameters for ``pytracking/run_tracker.py`` (reached through the shims that ``slt patch-host`` adds
under ``pytracking/parameter/``)."""
