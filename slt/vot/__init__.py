"""Evaluate SLT-trained trackers in a VOT-toolkit workspace (vot-toolkit 0.9, TraX).

* ``python -m slt.vot`` (:mod:`slt.vot.server`, :mod:`slt.vot.trackers`): the TraX tracker process that a
  workspace's ``trackers.ini`` starts; environment variables pick the tracker and its weights.
* ``slt vot-workspace`` (:mod:`slt.vot.workspace`): writes ``config.yaml``, a local ``stack.yaml`` and
  ``trackers.ini``, and converts GOT-10k / LaSOT folders to the VOT sequence layout.
* :mod:`slt.vot.experiments`: the reset-based and anchor-based experiments, fixed for vot-toolkit 0.9.

Regions are VOT rectangles: ``x, y, w, h`` in pixels, 0-based top-left.
"""
