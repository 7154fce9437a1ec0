"""SLT-ARTrack: sequence-level training of ARTrack's sequence network (MIV-XJTU/ARTrack, an OSTrack-layout tree).

ARTrack decodes a box as four coordinate tokens (x1, y1, x2, y2 bins over [-0.5, 1.5] of the search crop), fed the
previous boxes as history tokens. SLT's policy is :mod:`slt.token_policy`'s factorised categorical under the host's
own inference rules; the modules here translate the host:

* :mod:`~slt_ostrack.artrack.network` -- the host config and network, pretrained file off;
* :mod:`~slt_ostrack.artrack.tracker` -- :class:`~slt_ostrack.artrack.tracker.SLTARTrack`, the batched exploration
  tracker (each row's history from its own trajectory; greedy rows = the stock ``lib/test/tracker/artrack_seq.py``);
* :mod:`~slt_ostrack.artrack.actor` -- :class:`~slt_ostrack.artrack.actor.SLTARTrackActor` (objective ``scst``,
  ``rollout`` -- ARTrack's own supervision of its rollouts -- or ``sum``);
* :mod:`~slt_ostrack.artrack.trainer`, :mod:`~slt_ostrack.artrack.train` -- the loop and the entry points;
* :mod:`~slt_ostrack.artrack.vot_tracker` -- the VOT kind ``artrack``.
"""
