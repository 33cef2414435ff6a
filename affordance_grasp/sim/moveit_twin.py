"""A moveit_py test double backed by the MuJoCo twin, so that the real ``MoveItExecutor``
(execution/moveit.py) grasps objects in the twin.

CONTRACT TEST DOUBLE: this is not MoveIt. moveit_py ships with a ROS 2 install of MoveIt 2 and is
not installable here; this module mimics the parts of its API the MoveIt backend calls (names,
argument names, return types and the falsy values of failures, as moveit2's ``jazzy`` branch
binds them in moveit_py/src/moveit/...), and answers them with the twin. This module holds
MoveItPy, trajectory execution, the gripper and the bench's executor; the robot (names,
messages, kinematics, RobotState) is in moveit_twin_robot.py, the planning scene in
moveit_twin_scene.py, the planners in moveit_twin_planning.py:

- the robot model is the twin's Panda, under moveit_resources' Panda names (links, joints, the
  groups ``panda_arm``, ``hand`` and ``panda_arm_hand`` of panda_moveit_config's SRDF);
- ``RobotState.set_from_ik`` solves with the twin's IK (mink, sim/ik.py) for the tips KDL's
  ``panda_arm`` chain accepts (links rigidly fixed to ``panda_link8``);
- collision checks are real geometry: the twin's collision geoms of the links (MuJoCo's signed
  distance) against the planning scene's boxes and the attached bodies, honouring the allowed
  collision matrix and the attached bodies' touch links. Self-collision is not checked (the
  SRDF's disabled pairs are not in the twin);
- ``PlanningComponent.plan`` returns a joint trajectory: for OMPL a collision-checked joint
  interpolation (around via points when the direct one collides), not a sampling planner; for
  Pilz LIN a straight Cartesian line of the link, IK at every sample. Both are timed with
  moveit_resources' Panda limits (joint_limits.yaml, pilz_cartesian_limits.yaml at ef5836d),
  scaled as the request says;
- ``MoveItPy.execute`` plays the trajectory with the twin's joint servos, stepping physics, so a
  held object is carried or dropped as the twin's contacts decide;
- ``TwinGripper`` drives the twin's fingers as franka_ros2 v0.1.13's ``gripper_action`` serves
  control_msgs GripperCommand (franka_gripper/src/gripper_action_server.cpp): a target wider than
  the opening is a move, a narrower one a grasp at ``default_speed`` 0.1 m/s with the given force
  and the default epsilons of 5 mm; the result's position is the whole opening.

What it cannot show: MoveIt's own planners, its time parametrization, KDL's IK branches,
controllers and the driver on a real arm. ``TwinMoveItExecutor`` wraps the backend for ``bench
--executor moveit-double`` and judges each grasp by the twin (lifted and still held), as the
sim executor is judged.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import replace
from types import SimpleNamespace
from typing import Optional, Sequence

import numpy as np

from ..execution.base import ExecutionConfig, Executor
from ..execution.gripper import Gripper, GripperReply
from ..execution.moveit import MoveItExecutor, MoveItSettings
from ..types import FailureReason, Grasp, GraspOutcome, SceneModel
from .ik import PandaIK
from .robot import MAX_OPENING
from .world import SimWorld
# The double's parts; the names tests and callers use are importable from here.
from .moveit_twin_robot import (INVALID_GOAL_CONSTRAINTS, LINKS, SUCCESS, AttachedCollisionObject,  # noqa: F401
                                CollisionObject, Pose, PoseStamped, SolidPrimitive, TwinKinematics,
                                TwinRobotModel, TwinRobotState, matrix_pose, pose_matrix, robot_description,
                                tight_ik)
from .moveit_twin_scene import TwinACM, TwinPlanningScene, TwinPlanningSceneMonitor  # noqa: F401
from .moveit_twin_planning import (MotionPlanResponse, PlanRequestParameters,  # noqa: F401
                                   TwinPlanningComponent, TwinTrajectory)

_log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- execution
class ExecutionStatus:
    """moveit_controller_manager::ExecutionStatus: truthy only when SUCCEEDED."""

    def __init__(self, status: str):
        self.status = status

    def __bool__(self) -> bool:
        return self.status == "SUCCEEDED"

    def __repr__(self) -> str:
        return f"ExecutionStatus({self.status})"


class TwinTrajectoryExecutionManager:
    def __init__(self):
        self._stop = threading.Event()

    def stop_execution(self, auto_clear: bool = True) -> None:
        self._stop.set()


class TwinMoveItPy:
    """MoveItPy over a SimWorld: ``get_robot_model``, ``get_planning_component``,
    ``get_planning_scene_monitor``, ``get_trajectory_execution_manager`` and ``execute``. ``api``
    is what MoveItExecutor's ``api`` argument takes (moveit_py's classes and the ROS messages)."""

    START_TOLERANCE = 0.01   # rad: TrajectoryExecutionManager's allowed_start_tolerance default
    GOAL_TOLERANCE = 5e-4    # rad on every joint (about 0.5 mm at the hand) before a motion counts as done

    def __init__(self, world: SimWorld, ik: Optional[PandaIK] = None, settle: float = 1.0):
        self.world, self.settle = world, settle
        self.kin = TwinKinematics(world, ik)
        self.robot_model = TwinRobotModel()
        self.robot_model._kin = self.kin
        self.robot_description = robot_description()
        self.scene = TwinPlanningScene(self)
        self.psm = TwinPlanningSceneMonitor(self.scene)
        self.tem = TwinTrajectoryExecutionManager()
        self.touched: set = set()           # (instance, part) the fingers touched while watching
        # False: contacts are not noted until the gripper next closes (TwinGripper turns it on at
        # a close and off at an open)
        self.watching = True
        self.last_plan_failure = ""
        self.executions = 0
        self.api = SimpleNamespace(MoveItPy=None, PlanRequestParameters=PlanRequestParameters,
                                   RobotState=TwinRobotState, CollisionObject=CollisionObject,
                                   AttachedCollisionObject=AttachedCollisionObject, SolidPrimitive=SolidPrimitive,
                                   Pose=Pose, PoseStamped=PoseStamped)

    def get_robot_model(self) -> TwinRobotModel:
        return self.robot_model

    def get_planning_component(self, planning_component_name: str) -> TwinPlanningComponent:
        if not self.robot_model.has_joint_model_group(planning_component_name):
            # PlanningComponent's constructor throws std::runtime_error (a RuntimeError in Python)
            raise RuntimeError(f"Could not find joint model group '{planning_component_name}'.")
        return TwinPlanningComponent(self, planning_component_name)

    def get_planning_scene_monitor(self) -> TwinPlanningSceneMonitor:
        return self.psm

    def get_trajectory_execution_manager(self) -> TwinTrajectoryExecutionManager:
        return self.tem

    def step(self, n: int = 1) -> None:
        """Physics steps, ten at a time, noting what the fingers touch."""
        w = self.world
        for _ in range(max(n // 10, 1)):
            w.step(10)
            if self.watching:
                self.touched.update(w.finger_contacts())

    def execute(self, robot_trajectory: TwinTrajectory, controllers: Sequence[str]) -> ExecutionStatus:
        """Play the trajectory with the twin's joint servos. PREEMPTED when stopped, ABORTED when
        its start is not where the arm is (allowed_start_tolerance)."""
        self.executions += 1
        w, traj = self.world, robot_trajectory
        if not isinstance(traj, TwinTrajectory) or len(traj) < 1:
            return ExecutionStatus("ABORTED")
        if np.max(np.abs(traj.positions[0] - w.arm_qpos())) > self.START_TOLERANCE:
            _log.error("Invalid Trajectory: start point deviates from current robot state more than %s",
                       self.START_TOLERANCE)
            return ExecutionStatus("ABORTED")
        self.tem._stop.clear()
        dt = w.model.opt.timestep
        n = max(int(round(traj.duration / dt)), 1)
        for k in range(0, n, 10):
            if self.tem._stop.is_set():
                self.tem._stop.clear()
                w.data.ctrl[w.arm_act] = w.arm_qpos()
                return ExecutionStatus("PREEMPTED")
            t = min((k + 10) * dt, traj.duration)
            w.data.ctrl[w.arm_act] = [np.interp(t, traj.times, traj.positions[:, j]) for j in range(7)]
            self.step(10)
        # The controller reports the goal reached once the joints are there: the twin's servos lag
        # a moving target (a PD without feed-forward), a real arm's far less.
        w.data.ctrl[w.arm_act] = traj.positions[-1]
        for _ in range(int(self.settle / dt / 10)):
            if np.max(np.abs(w.arm_qpos() - traj.positions[-1])) < self.GOAL_TOLERANCE:
                break
            self.step(10)
        return ExecutionStatus("SUCCEEDED")


# ----------------------------------------------------------------------------- the gripper
class TwinGripper(Gripper):
    """The twin's fingers behind franka_gripper (franka_ros2 v0.1.13, franka_gripper/src/
    gripper_action_server.cpp), as the executor's gripper clients (ros/gripper_clients.py) see it:

    - ``interface="franka"`` (``gripper_interface: franka``): franka_msgs Move to open, to any
      width; Grasp to close, at the client's ``speed`` (FrankaGraspClient sends 0.05 m/s) with the
      given force and epsilons of 5 mm;
    - ``interface="gripper_command"`` (the default client): control_msgs GripperCommand, which
      the server turns into a move when the target is at or above the opening and into a grasp
      otherwise (with the goal's max_effort, which the client's ``open`` sends as 0), at its
      ``default_speed`` of 0.1 m/s and default epsilons of 5 mm.

    A grasp closes at the speed until the fingers stop (on an object, or on each other), then
    presses with ``force`` (N per finger, as the twin's gripper takes it), and succeeds when the
    opening ends within the epsilons of the target. The reply's width is the whole opening when the
    action ends (GripperCommand's result.position; joint_states after a franka_msgs action)."""

    def __init__(self, double: TwinMoveItPy, interface: str = "franka", speed: Optional[float] = None,
                 epsilon: float = 0.005, settle: float = 0.3):
        if interface not in ("franka", "gripper_command"):
            raise ValueError(f"interface must be franka or gripper_command, got {interface!r}")
        self.double, self.world, self.interface = double, double.world, interface
        self.speed = speed if speed is not None else (0.05 if interface == "franka" else 0.1)
        self.epsilon, self.settle = epsilon, settle
        self._stop = threading.Event()

    def width(self) -> float:
        return self.world.gripper_opening()

    def stop(self) -> None:
        self._stop.set()

    def _ramp(self, start: float, end: float) -> bool:
        w = self.world
        steps = max(int(abs(end - start) / self.speed / w.model.opt.timestep), 1)
        for k in range(10, steps + 10, 10):
            if self._stop.is_set():
                self._stop.clear()
                w.set_gripper(w.gripper_opening())
                return False
            w.set_gripper(start + (end - start) * min(k / steps, 1.0))
            self.double.step(10)
        return True

    def open(self, width: float) -> GripperReply:
        self.double.watching = False
        if not (0 <= width <= MAX_OPENING):
            return GripperReply(False, 0.0 if self.interface == "gripper_command" else self.width(),
                                f"Commanding out of range width! max_width = {MAX_OPENING} command = {width}")
        now = self.width()
        if self.interface == "gripper_command":
            if abs(width - now) < 1e-4:
                return GripperReply(True, now)
            if width < now:
                return self._grasp(width, 0.0)      # what the server makes of a narrower target
        return self._move(width)

    def close(self, width: float, force: float) -> GripperReply:
        self.double.watching = True
        if not (0 <= width <= MAX_OPENING):
            return GripperReply(False, 0.0 if self.interface == "gripper_command" else self.width(),
                                f"Commanding out of range width! max_width = {MAX_OPENING} command = {width}")
        if self.interface == "gripper_command":
            now = self.width()
            if abs(width - now) < 1e-4:
                return GripperReply(True, now)
            if width >= now:
                return self._move(width)
        return self._grasp(width, force)

    def _move(self, width: float) -> GripperReply:
        ok = self._ramp(self.width(), width)
        self.double.step(int(0.1 / self.world.model.opt.timestep))
        return GripperReply(ok, self.width(), "" if ok else "stopped before the commanded width")

    def _grasp(self, target: float, force: float) -> GripperReply:
        w = self.world
        if force > 0:
            w.model.actuator_forcerange[w.gripper_act] = [-2 * force, 2 * force]
        if not self._ramp(self.width(), 0.0):
            return GripperReply(False, self.width(), "stopped before the commanded width")
        if force > 0:
            w.set_gripper(-1.0)                        # press
        else:
            w.set_gripper(w.gripper_opening())         # no force: stay where the fingers stopped
        self.double.step(int(self.settle / w.model.opt.timestep))
        width = self.width()
        ok = target - self.epsilon <= width <= target + self.epsilon
        return GripperReply(ok, width, "" if ok else "the grasp ended outside the epsilons of the width")


# ----------------------------------------------------------------------------- the bench's executor
class TwinMoveItExecutor(Executor):
    """MoveItExecutor over the twin-backed double (``bench --executor moveit-double``), judged by
    the twin: a grasp the backend reports held must still be held after ``hold_time`` with the
    object ``success_height`` up, as the sim executor is judged. Grasps come in the twin's base
    frame, which is the Panda's ``panda_link0``."""

    def __init__(self, world: SimWorld, scene: Optional[SceneModel], ik: Optional[PandaIK] = None,
                 config: Optional[ExecutionConfig] = None, settings: Optional[MoveItSettings] = None,
                 gripper_interface: str = "franka"):
        self.world = world
        self.double = TwinMoveItPy(world, ik)
        self.gripper_double = TwinGripper(self.double, gripper_interface)
        self.backend = MoveItExecutor(self.double, self.gripper_double, settings or MoveItSettings(), config,
                                      api=self.double.api, robot_description=self.double.robot_description)
        self.config = self.backend.config
        self.backend.set_scene(scene)

    def _framed(self, grasp: Grasp) -> Grasp:
        return replace(grasp, frame_id=self.backend.settings.base_frame)

    def check_reachable(self, grasp: Grasp) -> bool:
        self.validate_grasp(grasp)
        return self.backend.check_reachable(self._framed(grasp))

    def command_gripper(self, width: float, force: Optional[float] = None) -> None:
        self.backend.command_gripper(width, force)

    def release(self) -> None:
        self.backend.release()

    def cancel(self) -> None:
        self.backend.cancel()

    def execute(self, grasp: Grasp) -> GraspOutcome:
        self.validate_grasp(grasp)
        w, cfg = self.world, self.config
        com0 = {inst: w.object_com(inst) for inst in w.objects}
        # The parts touched from the close to the next open, as the sim executor counts them (its
        # approach and retreat brush past parts without counting them)
        self.double.touched, self.double.watching = set(), False
        out = self.backend.execute(self._framed(grasp))
        reported = out.success
        if reported:
            self.double.step(int(cfg.hold_time / w.model.opt.timestep))
        held_now = {inst for inst, _ in w.finger_contacts()}
        rise = {inst: float(w.object_com(inst)[2] - com0[inst][2]) for inst in w.objects}
        lifted_inst = max(rise, key=rise.get) if rise else None
        lifted = rise.get(lifted_inst, 0.0) if lifted_inst else 0.0
        held = lifted >= cfg.success_height and lifted_inst in held_now
        if held and reported:
            reason = FailureReason.NONE
        elif reported:
            reason = FailureReason.SLIPPED       # reported held, but the twin dropped it in the hold
        else:
            reason = out.failure_reason
        timings = {**out.timings, "moveit_reported_success": float(reported)}
        parts = tuple(f"{i}/{p}" for i, p in self.double.touched)
        return GraspOutcome(held and reported, max(lifted, 0.0), parts, reason, timings=timings, grasp=grasp,
                            attempts=out.attempts, checked=out.checked)


def true_scene_model(world: SimWorld, target: Optional[str] = None) -> SceneModel:
    """The planning scene a perfect perception would give: the table top at 0 and a box per object
    from its true surface, turned with the object's yaw, from the table up to its top (as
    grasping/segmentation.scene_model makes them from a cloud)."""
    from ..types import SceneBox
    boxes = []
    for inst, placed in world.objects.items():
        T = world.object_pose(inst)
        pts = np.vstack([np.asarray(placed.spec.part_trimesh(p).apply_transform(T).vertices)
                         for p in placed.spec.parts])
        yaw = float(np.arctan2(T[1, 0], T[0, 0]))
        R = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
        local = pts[:, :2] @ R.T
        lo, hi = local.min(0), local.max(0)
        mid = R.T @ ((lo + hi) / 2)
        top = float(pts[:, 2].max())
        boxes.append(SceneBox(inst.replace("/", "_"), np.r_[mid, top / 2], np.r_[hi - lo, top], yaw, inst == target))
    return SceneModel(0.0, boxes)
