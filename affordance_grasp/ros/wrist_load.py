"""The wrist-load reader for the MoveIt backend's probe check (execution/load.py): the external
force at the hand along the base frame's +z, from franka_ros2's estimate.

franka_robot_state_broadcaster publishes libfranka's ``O_F_ext_hat_K`` as
geometry_msgs/WrenchStamped on ``~/external_wrench_in_base_frame``, so
``/franka_robot_state_broadcaster/external_wrench_in_base_frame`` with franka_bringup's controller
name. Checked in franka_ros2 v0.1.13 (40cf08b): franka_robot_state_broadcaster.hpp line 83 (the
topic), franka_robot_state_broadcaster.cpp lines 89-91 (SystemDefaultsQoS, reliable) and 148
(publishes ``o_f_ext_hat_k``), franka_semantic_components/src/franka_robot_state.cpp lines 135
(frame_id: the arm's first link, panda_link0) and 212 (``wrench = O_F_ext_hat_K``); and in
v3.4.0 (jazzy, 29cb85a): the same topic (.hpp line 98), published best effort with depth 1
(.cpp lines 125 and 140-142; line 245 publishes ``o_f_ext_hat_k``). libfranka's robot_state.h (0.15.0, lines 301-309): "Estimated
external wrench (force, torque) acting on stiffness frame, expressed relative to the base
frame. Forces applied by the robot to the environment are positive ... Becomes [0,0,0,0,0,0]
when near or in a singularity. Unit: [N,N,N,Nm,Nm,Nm]". A carried weight therefore reads
+m g along the base's z.

The subscription is best effort, which matches both publishers. A reading is the mean force.z
of ``messages`` messages that arrived after it was asked for (the arm has stopped by then: the
trajectory has finished), so neither a stale message nor a single noisy one decides.
"""
from __future__ import annotations

import logging
import math
import threading
from collections import deque

from ..errors import BackendUnavailableError

_log = logging.getLogger(__name__)


class WristLoad:
    """A LoadReader (``load() -> float``, N, nan when there is no reading)."""

    def __init__(self, node, topic: str, base_frame: str, messages: int = 50, timeout: float = 0.5,
                 callback_group=None):
        try:
            from geometry_msgs.msg import WrenchStamped
        except ImportError as e:
            raise BackendUnavailableError(f"geometry_msgs is not installed (it comes with a ROS 2 install): {e}") \
                from None
        self.base_frame, self.messages, self.timeout = base_frame, int(messages), float(timeout)
        self._recent: deque = deque(maxlen=self.messages)
        self._seen, self._news = 0, threading.Condition()
        self._warned: set = set()
        node.create_subscription(WrenchStamped, topic, self._on, _qos(), callback_group=callback_group)

    def _force_z(self, msg) -> float:
        """force.z, or nan for a wrench in another frame (the stiffness frame's topic, wired by
        mistake) or libfranka's all-zero wrench near a singularity."""
        frame = msg.header.frame_id
        if frame and frame != self.base_frame:
            if frame not in self._warned:
                self._warned.add(frame)
                _log.warning("wrist load: the wrench is in %r, not the base frame %r; not read", frame,
                             self.base_frame)
            return math.nan
        f = msg.wrench.force
        if f.x == 0.0 and f.y == 0.0 and f.z == 0.0:
            return math.nan
        return float(f.z)

    def _on(self, msg) -> None:
        value = self._force_z(msg)
        with self._news:
            self._recent.append(value)
            self._seen += 1
            self._news.notify_all()

    def __call__(self) -> float:
        """The mean force.z of the next ``messages`` messages (those that came within ``timeout``
        s, if fewer); nan when none came or any of them is not a reading."""
        with self._news:
            start = self._seen
            self._news.wait_for(lambda: self._seen >= start + self.messages, self.timeout)
            fresh = list(self._recent)[-min(self._seen - start, self.messages):] if self._seen > start else []
        if not fresh:
            return math.nan
        return math.fsum(fresh) / len(fresh)


def _qos():
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
