"""The gripper as a real-robot backend sees it: open, close on an object, and read the opening
back. The opening after closing tells an empty grasp (the fingers met) from a held object, and
after the lift, a held object from one that slipped out: the hardware's only evidence, so the
fallback and re-detection loops work on a real robot too.

Implementations drive a driver's action server (ros/gripper_clients.py: control_msgs
GripperCommand, or franka_ros2's franka_msgs Grasp/Move); tests use a double.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass


@dataclass
class GripperReply:
    ok: bool                      # the driver carried the command out
    width: float = math.nan       # the opening it reports afterwards (m); nan when it says nothing
    message: str = ""


class Gripper(abc.ABC):
    @abc.abstractmethod
    def open(self, width: float) -> GripperReply:
        """Open to ``width`` metres (total opening between the fingers)."""

    @abc.abstractmethod
    def close(self, width: float, force: float) -> GripperReply:
        """Close on an object expected to be ``width`` wide, pressing with ``force`` newtons."""

    @abc.abstractmethod
    def width(self) -> float:
        """The opening now (m), from the driver's joint states; nan if unknown."""

    def stop(self) -> None:
        """Stop a motion in progress where the driver can (default: nothing to stop)."""


def holds(measured: float, expected: float, tolerance: float, open_tolerance: float | None = None) -> bool:
    """Whether the fingers rest on an object about ``expected`` wide: closed past it by more
    than ``tolerance`` they met each other (or the object slipped out); stopped wider than it by
    more than ``open_tolerance`` (default twice ``tolerance``: the width was estimated from one
    view) they never closed on it, or closed on something else."""
    upper = 2 * tolerance if open_tolerance is None else open_tolerance
    return math.isfinite(measured) and expected - tolerance <= measured <= expected + upper
