"""vot-toolkit 0.9 experiments that run with a TraX tracker: reset-based (supervised) and anchor-based (multistart).

A stack names them by dotted path (``type: slt.vot.experiments.SupervisedExperiment``); the ``vot`` process imports
them, so this project must be installed where ``vot`` runs. They subclass the toolkit's classes, so its analyses
(``supervised_*``, ``multistart_*``) accept them. In vot-toolkit 0.9.0 (and 0.8.1) the stock classes fail:

* supervised: ``execute`` hands ``runtime.initialize`` one bare ``ObjectStatus`` (a 2-tuple, which the TraX runtime
  counts as two objects: "Tracker does not support multiple objects"), hands ``runtime.update`` ``None`` where the
  TraX runtime wants an empty list, and reads ``.region`` from the list of objects it gets back.
  Fix: :class:`SingleObjectRuntime` between the two speaks single objects to ``execute`` and lists to the runtime.
* multistart: ``execute`` builds ``ObjectQuery(ObjectStatus, {}, anchor)`` ("ObjectQuery.state must be a Region"; the
  offset must also be 0, the anchor being frame 0 of the proxy sequence), reads ``status.times[0][0]`` from a flat
  list of times, and stores ``ObjectStatus`` objects where the trajectory wants regions. ``execute`` is reproduced
  with these three lines fixed.
"""

from __future__ import annotations

from collections.abc import Callable

from vot.dataset import Frame, Sequence
from vot.dataset.proxy import FrameMapSequence
from vot.experiment.multirun import SupervisedExperiment as _SupervisedExperiment
from vot.experiment.multistart import MultiStartExperiment as _MultiStartExperiment
from vot.experiment.multistart import find_anchors
from vot.region import Special
from vot.tracker import ObjectQuery, ObjectStatus, OnlineTrackerRuntime, Tracker, TrackerRuntime, Trajectory


class SingleObjectRuntime(OnlineTrackerRuntime):
    """An online runtime taking and returning one ``ObjectStatus`` (what ``SupervisedExperiment.execute`` uses)
    around one that takes and returns lists of them (``TraxTrackerRuntime``)."""

    def __init__(self, runtime: TrackerRuntime) -> None:
        super().__init__(runtime.tracker)
        self._runtime = runtime

    def stop(self) -> None:
        self._runtime.stop()

    def restart(self) -> None:
        self._runtime.restart()

    def initialize(self, frame: Frame, new: ObjectStatus | None = None) -> tuple[ObjectStatus, float]:
        status, elapsed = self._runtime.initialize(frame, [new])
        return status[0], elapsed

    def update(self, frame: Frame, new: ObjectStatus | None = None) -> tuple[ObjectStatus, float]:
        status, elapsed = self._runtime.update(frame, [] if new is None else [new])
        return status[0], elapsed


class SupervisedExperiment(_SupervisedExperiment):
    """Reset-based experiment (VOT2013-2019 baseline): re-initialise ``skip_initialize`` frames after a failure."""

    def _get_runtime(self, tracker: Tracker, sequence: Sequence, multiobject: bool = False) -> SingleObjectRuntime:
        return SingleObjectRuntime(super()._get_runtime(tracker, sequence, multiobject))


class MultiStartExperiment(_MultiStartExperiment):
    """Anchor-based experiment (VOT2020+ baseline): a run from every anchor frame (``anchor.value``) to the end."""

    def execute(self, tracker: Tracker, sequence: Sequence, force: bool = False,
                callback: Callable[[float], None] | None = None) -> None:
        # The toolkit's execute, reproduced because the three faults sit in its body (see the module docstring).
        results = self.results(tracker, sequence)
        forward, backward = find_anchors(sequence, self.anchor)
        if not forward and not backward:
            raise RuntimeError("Sequence does not contain any anchors")
        runs = [(i, False) for i in forward] + [(i, True) for i in backward]
        with self._get_runtime(tracker, sequence) as runtime:
            for done, (anchor, reverse) in enumerate(runs, start=1):
                name = f"{sequence.name}_{anchor:08d}"
                if force or not Trajectory.exists(results, name):
                    frames = list(reversed(range(anchor + 1))) if reverse else list(range(anchor, len(sequence)))
                    proxy = FrameMapSequence(sequence, frames)
                    init = self._get_initialization(proxy, 0)
                    status = runtime.run(proxy, [ObjectQuery(init.region, init.properties, 0)])  # fixed: state, offset
                    trajectory = Trajectory(len(proxy))
                    trajectory.set(0, Special(Trajectory.INITIALIZATION), {"time": status.times[0]})  # fixed: times
                    for frame in range(1, len(proxy)):
                        region = status.objects[0][frame].region  # fixed: a region, not the ObjectStatus
                        trajectory.set(frame, region, {"time": status.times[frame]})
                    trajectory.write(results, name)
                if callback:
                    callback(done / len(runs))
