"""Approximate-time pairing of colour and aligned depth (message_filters is not installable here),
with the failures a planner must refuse: no frame yet, no camera_info, unsynchronised, stale."""
from __future__ import annotations

import threading
from collections import deque
from typing import Optional, Tuple

from ..errors import InvalidInputError
from .conversions import stamp_to_sec


class FrameNotNewEnough(InvalidInputError):
    """The newest frame predates the time the caller asked for (it may still arrive)."""


class NoFrameYet(InvalidInputError):
    """Nothing has arrived on a camera topic yet (a camera just found may still send one)."""


class CameraStalledError(InvalidInputError):
    """Frames came, then stopped: the newest is older than ``max_frame_age``."""


class FrameBuffer:
    def __init__(self, topics: Tuple[str, str, str], history: int = 10):
        self.topics = topics  # colour, depth, info: named in error messages
        self._color: deque = deque(maxlen=history)
        self._depth: deque = deque(maxlen=history)
        self._info = None
        self._lock = threading.Lock()

    def add_color(self, msg) -> None:
        with self._lock:
            self._color.append(msg)

    def add_depth(self, msg) -> None:
        with self._lock:
            self._depth.append(msg)

    def set_info(self, msg) -> None:
        with self._lock:
            self._info = msg

    def clear(self) -> None:
        with self._lock:
            self._color.clear()
            self._depth.clear()
            self._info = None

    def latest(self, now: float, max_age: float, slop: float, not_before: float = 0.0):
        """(colour, depth, info) of the newest colour frame that has a depth frame within ``slop``
        seconds. ``max_age`` <= 0 disables the staleness check (e.g. for a bag without /clock);
        ``not_before`` > 0 refuses frames captured earlier (FrameNotNewEnough)."""
        color_t, depth_t, info_t = self.topics
        with self._lock:
            colors, depths, info = list(self._color), list(self._depth), self._info
        if not colors or not depths:
            missing = [t for t, q in ((color_t, colors), (depth_t, depths)) if not q]
            raise NoFrameYet(f"no frame yet: nothing received on {', '.join(missing)}; is the camera running "
                                    f"and are the topics remapped correctly?")
        if info is None:
            raise InvalidInputError(f"no camera_info received on {info_t}: intrinsics are unknown")
        best = None
        for c in reversed(colors):
            tc = stamp_to_sec(c.header.stamp)
            d = min(depths, key=lambda m: abs(stamp_to_sec(m.header.stamp) - tc))
            dt = abs(stamp_to_sec(d.header.stamp) - tc)
            if dt <= slop:
                best = (c, d, tc)
                break
        if best is None:
            tc = stamp_to_sec(colors[-1].header.stamp)
            td = stamp_to_sec(depths[-1].header.stamp)
            raise InvalidInputError(f"colour and depth are not synchronised: newest stamps differ by "
                                    f"{abs(tc - td) * 1000:.1f} ms (sync_slop {slop * 1000:.1f} ms)")
        c, d, tc = best
        if not_before > 0 and tc < not_before:
            raise FrameNotNewEnough(f"no frame captured since the requested time yet: the newest synchronised "
                                    f"frame is {not_before - tc:.2f} s older")
        age = now - tc
        if max_age > 0 and age < -max_age:
            raise InvalidInputError(f"frame stamped {-age:.2f} s in the future: the camera's clock and this node's "
                                    f"differ by more than max_frame_age ({max_age:.2f} s); synchronise them (chrony/"
                                    f"PTP) or use the camera's host clock")
        if max_age > 0 and age > max_age:
            raise CameraStalledError(f"stale frame, camera stalled: the newest synchronised frame is {age:.2f} s "
                                     f"old (max_frame_age {max_age:.2f} s); the camera stopped publishing or the "
                                     f"clocks differ")
        return c, d, info
