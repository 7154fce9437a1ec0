"""``python -m slt.vot``: the TraX tracker process a VOT workspace starts (``protocol = traxpython``,
``command = slt.vot``); ``env_SLT_*`` keys of trackers.ini choose the tracker (see :mod:`slt.vot.trackers`).

A missing weights or config file ends the session before the first reply, with a message naming the file that
vot-toolkit reports, and exit status 1; any other failure exits with its traceback.
"""

from __future__ import annotations

import logging
import os
import sys

from slt.vot.server import serve
from slt.vot.trackers import SetupError, TrackerSpec, build_tracker


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="slt.vot %(levelname)s: %(message)s")
    try:
        serve(lambda: build_tracker(TrackerSpec.from_environment(os.environ)))
    except SetupError:
        return 1  # serve logged it and sent it to the client; a traceback would add nothing
    return 0


if __name__ == "__main__":
    sys.exit(main())
