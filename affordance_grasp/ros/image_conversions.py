"""sensor_msgs/Image <-> numpy without cv_bridge (the ROS 2 cv_bridge is not on PyPI).

Supported encodings: rgb8, bgr8, mono8, 16UC1 (and its RealSense name z16), 32FC1. Depth in
16UC1/z16 is an integer count of ``depth_scale`` metres (1 mm by default); 0 means invalid and
becomes NaN in metres. Row padding (``step`` > width * pixel size) and big-endian data are handled.
"""
from __future__ import annotations

import array

import numpy as np

from ..errors import InvalidInputError

# encoding -> (numpy dtype, channels)
ENCODINGS = {"rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "mono8": (np.uint8, 1),
             "16UC1": (np.uint16, 1), "z16": (np.uint16, 1), "32FC1": (np.float32, 1)}


def image_to_numpy(msg) -> np.ndarray:
    """H x W (x 3) array in the message's own encoding, copied out of the message buffer."""
    enc = msg.encoding
    if enc not in ENCODINGS:
        raise InvalidInputError(f"unsupported image encoding {enc!r}; supported: {', '.join(ENCODINGS)}")
    dtype, ch = ENCODINGS[enc]
    dt = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    row = msg.width * ch * dt.itemsize
    if msg.height == 0 or msg.width == 0:
        raise InvalidInputError("image has zero width or height")
    if msg.step < row:
        raise InvalidInputError(f"image step {msg.step} is smaller than a row ({row} bytes)")
    buf = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, (bytes, bytearray)) else msg.data, np.uint8)
    if buf.size < msg.step * (msg.height - 1) + row:
        raise InvalidInputError(f"image data has {buf.size} bytes, expected {msg.step * msg.height} "
                                f"for {msg.height}x{msg.width} {enc} (truncated?)")
    rows = np.lib.stride_tricks.as_strided(buf, (msg.height, row), (msg.step, 1))
    arr = np.ascontiguousarray(rows).view(dt).reshape(msg.height, msg.width, ch) if ch > 1 else \
        np.ascontiguousarray(rows).view(dt).reshape(msg.height, msg.width)
    return arr.astype(dt.newbyteorder("="), copy=False)


def numpy_to_image(arr: np.ndarray, encoding: str, msg=None):
    """Fill (or create) a sensor_msgs/Image from an array in ``encoding``."""
    if encoding not in ENCODINGS:
        raise InvalidInputError(f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}")
    dtype, ch = ENCODINGS[encoding]
    a = np.asarray(arr)
    want = (a.shape[0], a.shape[1], ch) if ch > 1 else (a.shape[0], a.shape[1]) if a.ndim >= 2 else None
    if a.ndim not in (2, 3) or a.shape != want or a.dtype != dtype:
        raise InvalidInputError(f"{encoding} needs a {np.dtype(dtype).name} array of shape "
                                f"(H, W{', 3' if ch > 1 else ''}), got {a.dtype} {a.shape}")
    if msg is None:
        from sensor_msgs.msg import Image
        msg = Image()
    a = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<"))
    msg.height, msg.width = int(a.shape[0]), int(a.shape[1])
    msg.encoding, msg.is_bigendian = encoding, 0
    msg.step = int(a.shape[1] * ch * a.itemsize)
    msg.data = array.array("B", a.tobytes())  # the fast path for rclpy (see ENVIRONMENT.md)
    return msg


def rgb_from_image(msg) -> np.ndarray:
    """Any supported colour message as RGB uint8 (H, W, 3)."""
    a = image_to_numpy(msg)
    if msg.encoding == "rgb8":
        return a
    if msg.encoding == "bgr8":
        return np.ascontiguousarray(a[..., ::-1])
    if msg.encoding == "mono8":
        return np.repeat(a[..., None], 3, axis=2)
    raise InvalidInputError(f"{msg.encoding} is not a colour encoding")


def depth_from_image(msg, depth_scale: float = 0.001) -> np.ndarray:
    """Depth in float32 metres, NaN where invalid (0 in integer encodings, non-finite or <= 0 in 32FC1)."""
    if not (np.isfinite(depth_scale) and depth_scale > 0):
        raise InvalidInputError(f"depth_scale must be > 0, got {depth_scale}")
    a = image_to_numpy(msg)
    if msg.encoding in ("16UC1", "z16"):
        d = a.astype(np.float32) * np.float32(depth_scale)
        d[a == 0] = np.nan
        return d
    if msg.encoding == "32FC1":
        d = a.astype(np.float32, copy=True)
        d[~np.isfinite(d) | (d <= 0)] = np.nan
        return d
    raise InvalidInputError(f"{msg.encoding} is not a depth encoding (use 16UC1, z16 or 32FC1)")


def depth_to_16uc1(depth_m: np.ndarray, depth_scale: float = 0.001) -> np.ndarray:
    """Metres (NaN invalid) -> uint16 counts of ``depth_scale``; invalid and out-of-range -> 0."""
    d = np.asarray(depth_m, np.float64) / depth_scale
    ok = np.isfinite(d) & (d > 0) & (d < 65535.5)
    return np.where(ok, np.round(np.where(ok, d, 0)), 0).astype(np.uint16)
