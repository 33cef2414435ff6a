"""The load on the wrist during the slow first lift: is the object carried, or does it pivot?

The gripper's width tells a slip through the pads, not an object that turns about the grasp
while its far end stays on the table (a pan taken by its handle): the fingers keep their width,
and it slips out later in the lift. A robot that estimates the external force at its hand feels
it: once the object is off the table the upward force the hand exerts rises by the object's
weight; while it still rests there, by a fraction of it.

A reader is a callable injected by the ROS layer (ros/wrist_load.py), as the gripper's width
reader is: it returns the external force along the base frame's +z in newtons, the convention of
libfranka's ``O_F_ext_hat_K`` (the force the robot applies to its environment is positive, so a
carried weight reads +m g), or nan when it has no reading. Nothing here knows ROS.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from ..errors import InvalidInputError

LoadReader = Callable[[], float]


def check_expected_load(newtons: Optional[float]) -> Optional[float]:
    """``newtons`` as a float, or None (unknown); a negative or non-finite weight is refused."""
    if newtons is None:
        return None
    value = float(newtons)
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"the expected load must be a finite weight >= 0 N (or None), got {newtons}")
    return value


def load_carried(before: float, after: float, expected_n: Optional[float], share: float,
                 noise: float) -> Optional[bool]:
    """Whether the load rose from ``before`` to ``after`` (N) by at least ``share`` of
    ``expected_n``, the weight of the object carried whole. None when it cannot tell: no
    expected weight, no reading, or a required rise within the estimate's ``noise`` (a light
    object's weight is lost in it, and a check there would fail good grasps at random)."""
    if expected_n is None or not (math.isfinite(before) and math.isfinite(after)):
        return None
    required = share * expected_n
    if required <= noise:
        return None
    return after - before >= required
