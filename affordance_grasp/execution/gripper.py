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


# How far the opening the fingers stop at lies from a candidate's width, which the grasp generator
# measures on the camera's cloud (one view, with depth noise): the closed opening minus the
# candidate's width over the 58 grasps that closed on an object in `bench --strategy oracle
# --trials 60 --seed 1000` (seen objects, the twin's fingers at the sim executor's grip force):
# mean +2.2 mm, standard deviation 4.2 mm, from -11.8 mm (tongs squeezed shut to 1 mm) to +14.2 mm.
# Three standard deviations either side of the candidate's width: 13 mm.
WIDTH_TOLERANCE = 0.013
# The opening the fingers read when they meet with nothing between them (the twin's: -0.1 mm),
# with half a millimetre to spare: at or below it nothing is held, whatever the expected width
# (the thinnest part held in that bench, a tongs' handle, closed them to 1.0 mm). A real hand's
# reading when it closes on nothing is checked at bring-up (docs/real_robot.md).
FINGERS_MET = 0.0005


def holds(measured: float, expected: float, tolerance: float = WIDTH_TOLERANCE,
          open_tolerance: float | None = None, met: float = FINGERS_MET) -> bool:
    """Whether the fingers rest on an object about ``expected`` wide (the candidate's width): they
    did not meet (an opening above ``met``), and stopped within the width's error of it: closed
    past it by more than ``tolerance`` they squeezed something narrower than the object (or it
    slipped out); stopped wider than it by more than ``open_tolerance`` (default ``tolerance``)
    they closed on something else. The one check of a closed grasp, for every backend."""
    upper = tolerance if open_tolerance is None else open_tolerance
    return math.isfinite(measured) and measured > met and expected - tolerance <= measured <= expected + upper
