"""The TraX loop of ``python -m slt.vot``: one single-object tracker, rectangles in and out, images as paths.

Protocol (vot-trax 4): ``trax.Server([RECTANGLE], [PATH], ["color"])``; an INITIALIZE request carries the image
path and one region, a FRAME request the next image path; the reply is one rectangle ``x, y, w, h`` (pixels,
0-based top-left) with the tracker's confidence when it has one. stdout belongs to TraX (vot-toolkit reads the
tracker's stdout and stderr as one stream): log to stderr.

The tracker is made after the handshake and before the first reply (vot-toolkit's timeout covers both). Any
failure -- making the tracker (a missing weights file), a region that is not finite or has no area, an image that
cannot be read, an error inside the tracker -- ends the session with the reason sent to the client, which
vot-toolkit reports ("Server terminated the session: ..."), and is raised again, so the process exits non-zero
instead of waiting for a request that will not come.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import cv2
import numpy as np
import trax

from slt.vot.trackers import Tracker

logger = logging.getLogger(__name__)


def serve(make_tracker: Callable[[], Tracker]) -> None:
    """Answer TraX requests with the tracker ``make_tracker()`` returns until the client quits."""
    server = trax.Server([trax.Region.RECTANGLE], [trax.Image.PATH], ["color"])
    try:
        tracker = make_tracker()
        while True:
            request = server.wait()
            if request.type == trax.TraxStatus.QUIT:
                break
            image = read_image(request.image["color"].path())
            if request.type == trax.TraxStatus.INITIALIZE:
                box = init_box(request.objects)
                tracker.init(image, box)
                confidence = None
            else:
                box, confidence = tracker.track(image)
            properties = {} if confidence is None else {"confidence": confidence}
            server.status([(trax.Rectangle.create(*(float(v) for v in box)), properties)])
    except Exception as error:  # any failure ends the session: tell the client why, then fail
        logger.error("%s: %s", type(error).__name__, error)
        server.quit(reason=f"{type(error).__name__}: {error}")
        raise
    server.quit()


def read_image(path: str) -> np.ndarray:
    """An image file -> HxWx3 uint8 RGB; ``ValueError`` naming ``path`` when it cannot be read."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def init_box(objects: list) -> np.ndarray:
    """The one initialisation region of a TraX request -> ``(4,)`` xywh; ``ValueError`` unless it is a single
    region with finite values and positive width and height."""
    if len(objects) != 1:
        raise ValueError(f"expected one object to initialise on, got {len(objects)}")
    region = objects[0][0]
    if region.type != trax.Region.RECTANGLE:  # e.g. a special region, which is how TraX sends a NaN rectangle
        raise ValueError(f"bad initialisation region {region} (expected a rectangle)")
    box = np.asarray(region.bounds(), dtype=np.float64)
    if not all(math.isfinite(v) for v in box) or box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"bad initialisation region {box.tolist()} (x, y, w, h: finite, w > 0 and h > 0)")
    return box
