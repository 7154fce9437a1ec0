"""Image decoding and encoding: HxWx3 uint8 RGB arrays.

:func:`read_rgb` decodes JPEG files with jpeg4py (libjpeg-turbo) when the package imports AND its shared library
loads; the check runs once, on first use, and the answer is cached. Everything else goes through OpenCV
(``cv2.imdecode`` + BGR -> RGB). Either way the result is the same HxWx3 uint8 RGB array.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from slt.data.errors import DataError

logger = logging.getLogger(__name__)

_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = b"\xff\xd9"


@functools.cache
def _jpeg4py_usable() -> bool:
    """True when ``jpeg4py`` imports and libturbojpeg loads (checked once)."""
    try:
        import jpeg4py._cffi
    except ImportError:
        logger.debug("jpeg4py not installed; decoding with OpenCV")
        return False
    try:
        jpeg4py._cffi.initialize()  # loads libturbojpeg (a JPEG object would warn in __del__ when it fails)
    except OSError as exc:
        logger.debug("jpeg4py cannot load libturbojpeg (%s); decoding with OpenCV", exc)
        return False
    return True


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file -> HxWx3 uint8 RGB.

    Raises FileNotFoundError naming ``path`` when the file is missing, and DataError naming ``path`` when it is
    empty, undecodable, or a JPEG without an end-of-image marker in its last 64 bytes (truncated; checked here
    because some OpenCV versions decode truncated JPEGs with only a warning).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise DataError(f"{path}: empty image file")
    is_jpeg = bytes(data[:2]) == _JPEG_SOI
    if is_jpeg and _JPEG_EOI not in bytes(data[-64:]):
        raise DataError(f"{path}: truncated JPEG (no end-of-image marker)")
    if is_jpeg and _jpeg4py_usable():
        return _decode_jpeg4py(path, data)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataError(f"{path}: cannot decode image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _decode_jpeg4py(path: Path, data: np.ndarray) -> np.ndarray:
    import jpeg4py

    try:
        return jpeg4py.JPEG(data).decode()  # RGB pixel format, also for greyscale files
    except jpeg4py.JPEGRuntimeError as exc:
        raise DataError(f"{path}: cannot decode JPEG: {exc}") from exc


def write_jpeg(path: str | os.PathLike, rgb: np.ndarray, quality: int = 90) -> None:
    """Write an HxWx3 uint8 RGB array as a JPEG file (``quality`` 0-100).

    Chroma is not subsampled (4:4:4), so thin saturated structures in small frames survive the round trip.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"write_jpeg({path}): expected HxWx3 uint8 RGB, got {rgb.dtype} {rgb.shape}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality),
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"write_jpeg({path}): OpenCV could not encode the image")
    Path(path).write_bytes(buf.tobytes())
