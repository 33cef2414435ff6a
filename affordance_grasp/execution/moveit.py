"""The MoveIt 2 backend, over moveit_py's MoveItPy. moveit_py comes with a ROS 2 distro
install (not from PyPI), so this module imports it lazily and says so clearly when absent.

Names (planning group, end effector link, gripper group and its named states) come from
config/moveit.yaml; they default to the Franka MoveIt config (panda_arm, panda_hand).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import yaml

from ..errors import BackendUnavailableError, ConfigError
from ..geometry import quat_from_pose
from ..types import FailureReason, Grasp, GraspOutcome
from .base import ExecutionConfig, Executor

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "moveit.yaml"


@dataclass
class MoveItNames:
    node_name: str = "affordance_grasp_moveit"
    planning_group: str = "panda_arm"
    end_effector_link: str = "panda_hand_tcp"
    base_frame: str = "panda_link0"
    gripper_group: str = "hand"
    gripper_open_state: str = "open"
    gripper_closed_state: str = "close"

    @classmethod
    def from_yaml(cls, path=DEFAULT_CONFIG) -> "MoveItNames":
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read MoveIt config {path}: {e}") from None
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"{path}: unknown keys {sorted(unknown)}")
        return cls(**raw)


def _import_moveit():
    try:
        from moveit.planning import MoveItPy  # noqa: F401
        from geometry_msgs.msg import PoseStamped  # noqa: F401
    except ImportError as e:
        raise BackendUnavailableError(
            "the MoveIt backend needs moveit_py (MoveItPy), which ships with a ROS 2 install of "
            "MoveIt 2 (e.g. apt install ros-<distro>-moveit-py) and is not available from PyPI; "
            f"import failed: {e}. Use the sim backend here.") from None
    from moveit.planning import MoveItPy
    from geometry_msgs.msg import PoseStamped
    return MoveItPy, PoseStamped


class MoveItExecutor(Executor):
    """Plans each stage with MoveIt (pre-grasp, approach, lift) and runs it on the robot.
    Lift success is judged from the gripper's final opening: fully closed means empty."""

    def __init__(self, config: Optional[ExecutionConfig] = None, names: Optional[MoveItNames] = None):
        MoveItPy, PoseStamped = _import_moveit()
        self.config = (config or ExecutionConfig()).validate()
        self.names = names or MoveItNames.from_yaml()
        self._PoseStamped = PoseStamped
        self.moveit = MoveItPy(node_name=self.names.node_name)
        self.arm = self.moveit.get_planning_component(self.names.planning_group)
        self.gripper = self.moveit.get_planning_component(self.names.gripper_group)

    def _pose_msg(self, T: np.ndarray):
        msg = self._PoseStamped()
        msg.header.frame_id = self.names.base_frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in T[:3, 3])
        w, x, y, z = quat_from_pose(T)
        msg.pose.orientation.w, msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z = w, x, y, z
        return msg

    def _go(self, component, **goal) -> bool:
        component.set_start_state_to_current_state()
        component.set_goal_state(**goal)
        plan = component.plan()
        if not plan:
            return False
        self.moveit.execute(plan.trajectory, controllers=[])
        return True

    def _stage_poses(self, grasp: Grasp):
        pre = grasp.pose.copy()
        pre[:3, 3] -= self.config.pregrasp_offset * grasp.approach
        up = grasp.pose.copy()
        up[2, 3] += self.config.lift_height
        return pre, grasp.pose, up

    def check_reachable(self, grasp: Grasp) -> bool:
        self.validate_grasp(grasp)
        self.arm.set_start_state_to_current_state()
        for T in self._stage_poses(grasp):
            self.arm.set_goal_state(pose_stamped_msg=self._pose_msg(T), pose_link=self.names.end_effector_link)
            if not self.arm.plan():
                return False
        return True

    def command_gripper(self, width: float, force: float | None = None) -> None:
        state = self.names.gripper_open_state if width > 0 else self.names.gripper_closed_state
        self._go(self.gripper, configuration_name=state)

    def execute(self, grasp: Grasp) -> GraspOutcome:
        self.validate_grasp(grasp)
        t0 = time.perf_counter()
        pre, at, up = self._stage_poses(grasp)
        link = self.names.end_effector_link
        self.command_gripper(self.config.max_opening)
        if not self._go(self.arm, pose_stamped_msg=self._pose_msg(pre), pose_link=link):
            return GraspOutcome(False, failure_reason=FailureReason.UNREACHABLE, grasp=grasp)
        if not self._go(self.arm, pose_stamped_msg=self._pose_msg(at), pose_link=link):
            return GraspOutcome(False, failure_reason=FailureReason.APPROACH_COLLISION, grasp=grasp)
        self.command_gripper(0.0)
        lifted = self._go(self.arm, pose_stamped_msg=self._pose_msg(up), pose_link=link)
        timings = {"motion": time.perf_counter() - t0}
        if not lifted:
            return GraspOutcome(False, failure_reason=FailureReason.UNREACHABLE, timings=timings, grasp=grasp)
        # Without tactile feedback, success is reported optimistically after a completed lift;
        # a gripper-width check belongs to the hardware driver.
        return GraspOutcome(True, self.config.lift_height, timings=timings, grasp=grasp)
