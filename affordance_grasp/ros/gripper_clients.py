"""Gripper drivers over their ROS 2 action servers, for the MoveIt backend.

- ``GripperCommandClient``: control_msgs/action/GripperCommand, the common interface (franka_ros2's
  franka_gripper serves it as ``/<arm_id>_gripper/gripper_action``; ros2_control's
  parallel-gripper controller too). franka_gripper reads ``command.position`` as half the opening
  (one finger), so ``per_finger`` halves the command; its result's ``position`` is the whole
  opening. Checked in franka_ros2 v0.1.13 (40cf08b, 2024-01-26),
  franka_gripper/src/gripper_action_server.cpp line 167 ``kTargetWidth = 2 *
  kGoal->command.position`` and line 233 ``kResult->position = current_gripper_state_.width``
  (so since 229efa6, 2021-09-28; before it the result was halved). A server that reports one
  finger's travel instead needs ``result_per_finger``.
- ``FrankaGraspClient``: franka_ros2's own franka_msgs/action/Grasp and Move, where the driver
  also judges the grasp against a width and tolerances.

Both read the opening back from the gripper's joint_states (the sum of the two finger joints).
control_msgs and franka_msgs come with a ROS 2 install, not from PyPI: building a client without
them raises BackendUnavailableError.
"""
from __future__ import annotations

import math
import threading
from typing import Optional, Sequence

from ..errors import BackendUnavailableError
from ..execution.gripper import Gripper, GripperReply


def _wait(future, timeout: float):
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    return future.result() if done.wait(timeout) else None


class _JointWidth:
    """The opening from joint_states: the two finger joints' positions added."""

    def __init__(self, node, joints: Sequence[str], callback_group=None):
        from sensor_msgs.msg import JointState
        from .common import camera_qos

        self._setup(joints)
        node.create_subscription(JointState, "joint_states", self._on, camera_qos(), callback_group=callback_group)

    def _setup(self, joints: Sequence[str]) -> None:
        self.joints, self.width = tuple(joints), math.nan
        self._seen, self._news = 0, threading.Condition()

    def _on(self, msg) -> None:
        pos = dict(zip(msg.name, msg.position))
        if all(j in pos for j in self.joints):
            with self._news:
                self.width = float(sum(pos[j] for j in self.joints))
                self._seen += 1
                self._news.notify_all()

    def after_next(self, messages: int = 3, timeout: float = 1.0) -> float:
        """The opening once ``messages`` more have come (or ``timeout`` s passed). Right after an
        action's result the last message may predate it: franka_gripper publishes its state at
        50 Hz and franka_bringup's joint_state_publisher merges it into joint_states at 30 Hz
        (franka_ros2 v0.1.13: franka_gripper_node.yaml, franka.launch.py)."""
        with self._news:
            start = self._seen
            self._news.wait_for(lambda: self._seen >= start + messages, timeout)
            return self.width


class _ActionGripper(Gripper):
    def __init__(self, node, joints: Sequence[str], timeout: float):
        from rclpy.callback_groups import ReentrantCallbackGroup

        self.node, self.timeout = node, timeout
        self.group = ReentrantCallbackGroup()
        self.state = _JointWidth(node, joints, self.group)
        self._goal = None

    def _run(self, client, goal, what: str):
        """(result, message): the action's result, or None with why not."""
        if not client.wait_for_server(timeout_sec=self.timeout):
            return None, f"{what}: the gripper's action server is not available"
        handle = _wait(client.send_goal_async(goal), self.timeout)
        if handle is None or not handle.accepted:
            return None, f"{what}: the gripper driver {'did not answer' if handle is None else 'rejected the goal'}"
        self._goal = handle
        reply = _wait(handle.get_result_async(), self.timeout)
        self._goal = None
        if reply is None:
            return None, f"{what}: no result within {self.timeout} s"
        return reply.result, ""

    def width(self) -> float:
        return self.state.width

    def stop(self) -> None:
        if self._goal is not None:
            self._goal.cancel_goal_async()


class GripperCommandClient(_ActionGripper):
    def __init__(self, node, action: str, joints: Sequence[str], per_finger: bool = True, timeout: float = 10.0,
                 result_per_finger: bool = False):
        try:
            from control_msgs.action import GripperCommand
        except ImportError as e:
            raise BackendUnavailableError(f"control_msgs is not installed (it comes with a ROS 2 install: "
                                          f"ros-<distro>-control-msgs): {e}") from None
        from rclpy.action import ActionClient

        super().__init__(node, joints, timeout)
        self.Goal, self.per_finger, self.result_per_finger = GripperCommand.Goal, per_finger, result_per_finger
        self.client = ActionClient(node, GripperCommand, action, callback_group=self.group)

    def _command(self, width: float, effort: float, what: str) -> GripperReply:
        goal = self.Goal()
        goal.command.position = width / 2 if self.per_finger else width
        goal.command.max_effort = float(effort)
        result, why = self._run(self.client, goal, what)
        if result is None:
            return GripperReply(False, self.width(), why)
        w = result.position * 2 if self.result_per_finger else result.position
        return GripperReply(bool(result.reached_goal or result.stalled), float(w),
                            "" if result.reached_goal else "stopped before the commanded width")

    def open(self, width: float) -> GripperReply:
        return self._command(width, 0.0, "open")

    def close(self, width: float, force: float) -> GripperReply:
        # Commanding the object's width lets a driver that judges grasps (franka_gripper does, with
        # its grasp epsilons) stop on it; the reported width is what tells empty from held.
        return self._command(width, force, "close")


class FrankaGraspClient(_ActionGripper):
    def __init__(self, node, namespace: str, joints: Sequence[str], epsilon: float = 0.005, speed: float = 0.05,
                 timeout: float = 10.0):
        try:
            from franka_msgs.action import Grasp, Move
        except ImportError as e:
            raise BackendUnavailableError(f"franka_msgs is not installed (franka_ros2): {e}") from None
        from rclpy.action import ActionClient

        super().__init__(node, joints, timeout)
        self.Grasp, self.Move, self.epsilon, self.speed = Grasp, Move, epsilon, speed
        ns = namespace.rstrip("/")
        self.grasp_client = ActionClient(node, Grasp, f"{ns}/grasp", callback_group=self.group)
        self.move_client = ActionClient(node, Move, f"{ns}/move", callback_group=self.group)

    def open(self, width: float) -> GripperReply:
        goal = self.Move.Goal(width=float(width), speed=self.speed)
        return self._reply(*self._run(self.move_client, goal, "open"))

    def close(self, width: float, force: float) -> GripperReply:
        goal = self.Grasp.Goal(width=float(width), speed=self.speed, force=float(force))
        goal.epsilon.inner = goal.epsilon.outer = float(self.epsilon)
        return self._reply(*self._run(self.grasp_client, goal, "close"))

    def _reply(self, result, why: str) -> GripperReply:
        """Move and Grasp answer success without a width: the opening comes from joint_states,
        read once they show the fingers after the action, not before it (a stale open reading
        after a grasp looks like fingers that never closed)."""
        ok = result is not None and result.success
        width = self.state.after_next() if result is not None else self.width()
        return GripperReply(ok, width, why or ("" if ok else getattr(result, "error", "")))


def build_gripper(node, kind: str, action: str, joints: Sequence[str], per_finger: bool, timeout: float,
                  franka_namespace: Optional[str] = None, result_per_finger: bool = False) -> Gripper:
    if kind == "franka":
        return FrankaGraspClient(node, franka_namespace or "/panda_gripper", joints, timeout=timeout)
    return GripperCommandClient(node, action, joints, per_finger, timeout, result_per_finger)
