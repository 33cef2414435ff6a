"""The MoveIt 2 backend, over moveit_py (``moveit.planning.MoveItPy``), written against its
pybind11 bindings (moveit2/moveit_py/src): ``PlanningComponent.set_goal_state`` returns a bool,
``plan`` a ``MotionPlanResponse`` that is falsy on failure, ``MoveItPy.execute`` an
``ExecutionStatus`` that is falsy when the controllers did not finish, ``RobotState.set_from_ik``
a bool. Every one of them is checked; each failure becomes a typed ``GraspOutcome``.

One grasp, step by step:

1. reachability, before anything moves: IK for the pre-grasp and grasp poses, each IK state
   checked for collisions in the planning scene, the straight approach between them planned from
   the pre-grasp's IK state and the straight lift from the grasp's; all of it for the grasp and
   for it turned 180 deg about its approach (the same grasp for a two-finger hand), and of the
   two that pass, the one that turns the arm less from where it is;
2. the planning scene: the table from the detected plane, every object on it as a box from its
   cloud cluster (the target among them: one box, or several where one object came as more
   than one cluster, all touched and carried together);
3. open the gripper to the width the candidate was collision-checked with;
4. a free-space plan (OMPL by default) to the pre-grasp;
5. the hand may now touch the target: a straight line (Pilz LIN) to the grasp;
6. close; fingers that met, or stopped outside the cloud's width error of the candidate's
   width, are an empty grasp (execution/gripper.py holds);
7. the target is attached to the hand, and a straight lift follows, its first centimetres slow:
   an opening that collapses there is a slip caught (set back down where the hand closed), and
   so, with a wrist-load reader and the object's expected weight, is a load that has not risen
   by a share of that weight (the object turns about the grasp, still resting on the table:
   execution/load.py);
   an opening that collapses later is a slip;
8. after any failure past step 4 (an exception included): open to the checked width, detach,
   and back out straight along the approach;
9. a held object stays attached until ``release()`` (or the next grasp): then it is detached,
   the hand's allowed contacts with it revoked, and it leaves the planning scene.

Velocity and acceleration are scaled down (0.1 by default) on every motion. ``cancel()`` stops
the trajectory in progress (TrajectoryExecutionManager.stop_execution) and the gripper.

moveit_py ships with a ROS 2 install of MoveIt 2 (not PyPI): without it, building this backend
raises BackendUnavailableError saying so. The contract tests drive it through a test double.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Optional, Tuple

import numpy as np

from ..config import from_mapping, load_yaml, node_params
from ..errors import BackendUnavailableError, ConfigError, InvalidInputError
from ..geometry import pose_from_quat, quat_from_pose
from ..grasping.gripper import GripperGeometry
from ..resources import resource
from ..types import FailureReason, Grasp, GraspOutcome, SceneModel
from .base import ExecutionConfig, Executor
from .gripper import WIDTH_TOLERANCE, Gripper, holds
from .load import LoadReader, check_expected_load, load_carried

_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])  # 180 deg about the approach axis
_log = logging.getLogger(__name__)
TABLE_ID = "affordance_grasp_table"


@dataclass
class MoveItSettings:
    """config/moveit.yaml: the robot's names in its MoveIt config, the planners, the speeds.

    The robot's names come from ``arm_id`` as franka_description names them (``<arm_id>_joint1..7``,
    ``<arm_id>_link0``, ``<arm_id>_hand``, ``<arm_id>_leftfinger``/``rightfinger``,
    ``<arm_id>_finger_joint1/2``; the group ``<arm_id>_arm`` of franka_moveit_config's SRDF and of
    moveit_resources'): ``panda`` or ``fr3``. A name given explicitly wins over its derived one.
    Every name is checked against the robot model MoveIt loaded before anything moves
    (``check_robot_names``)."""

    arm_id: str = "panda"
    planning_group: str = ""                     # "": <arm_id>_arm
    arm_joints: Tuple[str, ...] = ()             # (): <arm_id>_joint1..7, the planning group's joints
    end_effector_link: str = ""                  # "": <arm_id>_hand, a link the robot description has (IK, goals, attach)
    tcp_offset: Tuple[float, float, float] = (0.0, 0.0, 0.1034)   # the grasp's TCP in that link's frame
    hand_links: Tuple[str, ...] = ()             # (): <arm_id>_hand, _leftfinger, _rightfinger
    finger_joints: Tuple[str, ...] = ()          # (): <arm_id>_finger_joint1/2, each opens half the width
    base_frame: str = ""                         # "": <arm_id>_link0
    free_space_pipeline: str = "ompl"
    free_space_planner: str = "RRTConnectkConfigDefault"
    straight_pipeline: str = "pilz_industrial_motion_planner"
    straight_planner: str = "LIN"
    velocity_scaling: float = 0.1
    acceleration_scaling: float = 0.1
    planning_time: float = 2.0
    ik_timeout: float = 0.05
    width_tolerance: float = WIDTH_TOLERANCE   # the closed opening this far from the candidate's width, either
                                               # side: nothing held (the cloud's width error, execution/gripper.py)
    table_thickness: float = 0.02
    table_size: Tuple[float, float] = (1.6, 1.6)
    box_padding: float = 0.005         # added to every object box
    # The wrist-load check after the slow probe lift (only with a load reader and an expected
    # weight): the load must rise by this share of the object's weight carried whole. Below 1:
    # the expected weight is an estimate, and a pivoting object loads the hand with a fraction
    # of its weight, less the farther its resting end lies from the grasp.
    load_share: float = 0.5
    load_noise: float = 3.0            # N: a required rise at or below this is not checked (the estimate's
                                       # spread at rest; set it at bring-up from the topic, see real_robot.md)

    def __post_init__(self):
        a = str(self.arm_id or "").strip()
        if not a or any(c.isspace() or c == "/" for c in a):
            raise ConfigError(f"moveit.arm_id must be the robot's name prefix (panda, fr3), got {self.arm_id!r}")
        self.planning_group = self.planning_group or f"{a}_arm"
        self.arm_joints = tuple(self.arm_joints) or tuple(f"{a}_joint{i}" for i in range(1, 8))
        self.end_effector_link = self.end_effector_link or f"{a}_hand"
        self.hand_links = tuple(self.hand_links) or (f"{a}_hand", f"{a}_leftfinger", f"{a}_rightfinger")
        self.finger_joints = tuple(self.finger_joints) or (f"{a}_finger_joint1", f"{a}_finger_joint2")
        self.base_frame = self.base_frame or f"{a}_link0"
        self.table_size = tuple(self.table_size)
        self.tcp_offset = tuple(float(v) for v in self.tcp_offset)
        if len(self.tcp_offset) != 3 or not all(math.isfinite(v) and abs(v) < 0.5 for v in self.tcp_offset):
            raise InvalidInputError(f"moveit.tcp_offset must be [x, y, z] in metres (under 0.5), got {self.tcp_offset}")
        for name in ("velocity_scaling", "acceleration_scaling"):
            if not 0 < getattr(self, name) <= 1:
                raise InvalidInputError(f"moveit.{name} must be in (0, 1], got {getattr(self, name)}")
        if not (self.planning_time > 0 and self.ik_timeout > 0 and self.width_tolerance >= 0):
            raise InvalidInputError("moveit planning_time and ik_timeout must be > 0, width_tolerance >= 0")
        if not 0 < self.load_share <= 1:
            raise InvalidInputError(f"moveit.load_share must be in (0, 1], got {self.load_share}")
        if not (math.isfinite(self.load_noise) and self.load_noise >= 0):
            raise InvalidInputError(f"moveit.load_noise must be a force >= 0 N, got {self.load_noise}")

    @classmethod
    def load(cls, path=None) -> "MoveItSettings":
        path = path or resource("config", "moveit.yaml")
        return from_mapping(cls, load_yaml(path, "MoveIt settings"), str(path))


def moveit_api() -> SimpleNamespace:
    """The moveit_py classes and ROS messages the backend uses (imported only when it is built)."""
    try:
        from moveit.core.robot_state import RobotState
        from moveit.planning import MoveItPy, PlanRequestParameters
        from moveit_msgs.msg import AttachedCollisionObject, CollisionObject
        from shape_msgs.msg import SolidPrimitive
        from geometry_msgs.msg import Pose, PoseStamped
    except ImportError as e:
        raise BackendUnavailableError(
            "the MoveIt backend needs moveit_py and moveit_msgs, which ship with a ROS 2 install of MoveIt 2 "
            "(rosdep installs them: ros-<distro>-moveit-py) and are not on PyPI; "
            f"import failed: {e}. Use backend: sim here.") from None
    return SimpleNamespace(MoveItPy=MoveItPy, PlanRequestParameters=PlanRequestParameters, RobotState=RobotState,
                           CollisionObject=CollisionObject, AttachedCollisionObject=AttachedCollisionObject,
                           SolidPrimitive=SolidPrimitive, Pose=Pose, PoseStamped=PoseStamped)


def moveit_config_from_params(paths, node_name: str, namespace: str = "/") -> dict:
    """The MoveIt config (robot_description, SRDF, kinematics, pipelines, ...) that ROS params files
    give a node: the ``/**`` section and the node's own (by name or fully qualified), merged in
    that order. MoveItPy gets it as ``config_dict``: left to read the process's params files
    itself, it finds them only under ``/**`` and loses them once the node has a namespace."""
    out = node_params(paths, node_name, namespace)
    if "robot_description" not in out:
        raise InvalidInputError(f"no robot_description for {namespace.rstrip('/')}/{node_name} in the params files "
                                f"{[str(p) for p in paths]}: "
                                f"start it with `ros2 launch affordance_grasp realsense_panda.launch.py`, which "
                                f"passes the MoveIt config MoveItConfigsBuilder makes")
    return out


def urdf_names(robot_description: str) -> Tuple[set, set]:
    """The links and joints a URDF (the robot description MoveIt loaded) declares."""
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(robot_description)
    except ET.ParseError as e:
        raise ConfigError(f"the robot_description is not URDF XML: {e}") from None
    return ({e.get("name") for e in root.findall("link")}, {e.get("name") for e in root.findall("joint")})


def check_robot_names(settings: "MoveItSettings", robot_model, robot_description: Optional[str] = None) -> None:
    """Every name the settings use must be in the robot model MoveIt loaded: the planning group
    (with the arm's joints in it), the end-effector, hand and base links, the finger joints.
    ConfigError naming each missing one, before anything moves (MoveIt would refuse them only
    mid-grasp: IK, goals and attach fail for a link the model lacks).

    Groups come from moveit_py's RobotModel (``joint_model_group_names``, each group's
    ``joint_model_names`` and ``link_model_names``); links and joints also from the URDF, since
    a link outside every group (the base link below the first joint) is in no group."""
    s = settings
    groups = set(robot_model.joint_model_group_names)
    links, joints = {robot_model.model_frame}, set()
    for g in robot_model.joint_model_groups:
        links.update(g.link_model_names)
        joints.update(g.joint_model_names)
    if robot_description:
        u_links, u_joints = urdf_names(robot_description)
        links |= u_links
        joints |= u_joints
    missing = []
    if s.planning_group not in groups:
        missing.append(f"planning group {s.planning_group!r} (moveit.planning_group; it has {sorted(groups)})")
        group_joints = None
    else:
        group_joints = set(robot_model.get_joint_model_group(s.planning_group).joint_model_names)
    for j in s.arm_joints:
        if j not in joints:
            missing.append(f"joint {j!r} (moveit.arm_joints)")
        elif group_joints is not None and j not in group_joints:
            missing.append(f"joint {j!r} in the group {s.planning_group!r} (moveit.arm_joints)")
    for what, names in (("end_effector_link", [s.end_effector_link]), ("base_frame", [s.base_frame]),
                        ("hand_links", s.hand_links)):
        missing += [f"link {n!r} (moveit.{what})" for n in names if n not in links]
    missing += [f"joint {j!r} (moveit.finger_joints)" for j in s.finger_joints if j not in joints]
    if missing:
        raise ConfigError(f"the robot model MoveIt loaded ({getattr(robot_model, 'name', '?')!r}) has no "
                          + "; no ".join(missing) + f". Set moveit.arm_id (now {s.arm_id!r}: panda, fr3) or the "
                          f"names in the MoveIt settings (config/moveit.yaml) to the robot's")


def check_base_frames(params_paths, executor: str = "executor_node", namespace: str = "/") -> "MoveItSettings":
    """The base frame is named in four places: the MoveIt settings (``moveit_settings`` of
    ``executor``, else config/moveit.yaml: the source of truth), executor_node's and
    grasp_planner_node's ``base_frame``, and ``pose_base_frame`` (the tf lookup of
    affordance_node and grasp_planner_node). Each that the params files give (``base_frame`` of
    the planner's must be given; ``pose_base_frame`` where ``camera_pose_source`` is tf) must equal
    the settings' one: ConfigError naming every differing one. A node the files give nothing for
    is not judged here, nor an executor_node without base_frame in them: the node checks its
    running value itself. Returns the settings."""
    ex = node_params(params_paths, executor, namespace)
    settings = MoveItSettings.load(ex.get("moveit_settings") or None)
    want, wrong = settings.base_frame, []
    for node, name in ((executor, "base_frame"), ("grasp_planner_node", "base_frame"),
                       ("grasp_planner_node", "pose_base_frame"), ("affordance_node", "pose_base_frame")):
        given = node_params(params_paths, node, namespace)
        value = given.get(name)
        if value is None:
            if not given or node == executor or \
                    (name == "pose_base_frame" and given.get("camera_pose_source", "static") != "tf"):
                continue
            wrong.append(f"{node}.{name} is not set (its default is no arm's base link)")
        elif value != want:
            wrong.append(f"{node}.{name} is {value!r}")
    if wrong:
        raise ConfigError(f"base frames differ: the MoveIt settings' base_frame is {want!r} (arm_id "
                          f"{settings.arm_id!r}), but " + ", ".join(wrong) + f" in {[str(p) for p in params_paths]}; "
                          f"set every one to {want!r}")
    return settings


class _Cancelled(Exception):
    pass


class MoveItExecutor(Executor):
    def __init__(self, moveit, gripper: Gripper, settings: Optional[MoveItSettings] = None,
                 config: Optional[ExecutionConfig] = None, api: Optional[SimpleNamespace] = None,
                 geometry: Optional[GripperGeometry] = None, load_reader: Optional[LoadReader] = None,
                 robot_description: Optional[str] = None):
        self.api = api or moveit_api()
        self.moveit, self.gripper = moveit, gripper
        self.settings = settings or MoveItSettings()
        self.config = (config or ExecutionConfig()).validate()
        self.geometry = geometry or GripperGeometry.from_yaml()
        s = self.settings
        self.robot_model = moveit.get_robot_model()
        check_robot_names(s, self.robot_model, robot_description)    # before anything can move
        self.arm = moveit.get_planning_component(s.planning_group)
        self.psm = moveit.get_planning_scene_monitor()
        self.scene: Optional[SceneModel] = None
        self._in_scene: set = set()
        self._held: Optional[Tuple[str, ...]] = None   # the target boxes attached to the hand after a success
        self._opening = self.config.max_opening  # the width the last grasp's candidate was checked with
        self._cancel = threading.Event()
        self.load_reader = load_reader           # the wrist's external force along +z (N); None: not read
        self._expected_load: Optional[float] = None

    @classmethod
    def from_moveit_config(cls, config_dict: dict, gripper: Gripper, node_name: str = "affordance_grasp_moveit",
                           **kw) -> "MoveItExecutor":
        """MoveItPy runs MoveItCpp in this process: it needs the robot description, SRDF,
        kinematics, planning pipelines and controllers, as moveit_configs_utils builds them
        (launch/realsense_panda.launch.py hands them over)."""
        api = moveit_api()
        if not config_dict or "robot_description" not in config_dict:
            raise InvalidInputError("the MoveIt backend needs a MoveIt config (robot_description, "
                                    "robot_description_semantic, kinematics, planning pipelines): start it from "
                                    "launch/realsense_panda.launch.py, which builds one with MoveItConfigsBuilder")
        # Given explicitly: left to read the process's params files, MoveItPy's node finds only the
        # /** section, and launch_ros writes a namespaced node's under its own name. No name_space:
        # moveit_py writes config_dict under the bare node name (moveit/utils.py
        # create_params_file_from_dict), which a namespaced node's fully qualified name misses.
        return cls(api.MoveItPy(node_name=node_name, config_dict=config_dict), gripper, api=api,
                   robot_description=config_dict["robot_description"], **kw)

    # ------------------------------------------------------------------ the planning scene
    def set_scene(self, scene: Optional[SceneModel]) -> None:
        if scene is not None and not isinstance(scene, SceneModel):
            raise InvalidInputError(f"expected a SceneModel, got {type(scene).__name__}")
        self.scene = scene

    def set_expected_load(self, newtons: Optional[float]) -> None:
        """The target's weight if carried whole (N), the low end of what the caller knows (the
        pipeline's estimate: GenerationReport.physical['mass_kg'] times g); None: unknown, and the
        probe then reads the gripper's width only."""
        self._expected_load = check_expected_load(newtons)

    def _box_object(self, oid: str, center, size, yaw: float):
        a, s = self.api, self.settings
        co = a.CollisionObject()
        co.header.frame_id = s.base_frame
        co.id = oid
        prim = a.SolidPrimitive()
        prim.type = a.SolidPrimitive.BOX
        prim.dimensions = [float(v) for v in size]
        pose = a.Pose()
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in center)
        pose.orientation.w, pose.orientation.z = math.cos(yaw / 2), math.sin(yaw / 2)
        co.primitives = [prim]
        co.primitive_poses = [pose]
        co.operation = a.CollisionObject.ADD
        return co

    def release(self) -> None:
        """Open to the width the grasp was checked with and let go of the held object: detached
        from the hand, the hand's allowed contacts with it revoked, and out of the planning scene
        (it lies wherever it was put down; the next frame shows where)."""
        self.command_gripper(self._opening)
        self._let_go()

    def _let_go(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        self._attach(held, False)
        self._allow_touch(held, False)
        a, s = self.api, self.settings
        with self.psm.read_write() as scene:
            for oid in held:
                co = a.CollisionObject()
                co.header.frame_id, co.id, co.operation = s.base_frame, oid, a.CollisionObject.REMOVE
                scene.apply_collision_object(co)
                self._in_scene.discard(oid)

    def _sync_scene(self) -> None:
        """Replace the objects this backend put in the scene by the current SceneModel's. An
        object still attached from a grasp that was never released is detached first: MoveIt
        ignores the removal of an attached body, and it would haunt every later plan."""
        a, s = self.api, self.settings
        self._let_go()
        with self.psm.read_write() as scene:
            for oid in self._in_scene:
                co = a.CollisionObject()
                co.header.frame_id, co.id, co.operation = s.base_frame, oid, a.CollisionObject.REMOVE
                scene.apply_collision_object(co)
            self._in_scene = set()
            if self.scene is not None:
                t = self.scene.table_height
                table = self._box_object(TABLE_ID, (0.5, 0.0, t - s.table_thickness / 2),
                                         (*s.table_size, s.table_thickness), 0.0)
                scene.apply_collision_object(table)
                self._in_scene.add(TABLE_ID)
                for b in self.scene.boxes:
                    center, size = self._above_table(np.asarray(b.center, float),
                                                     np.asarray(b.size, float) + 2 * s.box_padding, t)
                    scene.apply_collision_object(self._box_object(b.id, center, size, b.yaw))
                    self._in_scene.add(b.id)
            scene.current_state.update()

    @staticmethod
    def _above_table(center: np.ndarray, size: np.ndarray, table_top: float, gap: float = 0.001):
        """A box cut off just above the table top: padded boxes reach below it, and once the target
        is attached to the hand, a box that overlaps the table puts the lift's start state in
        collision (Pilz refuses it)."""
        lo, hi = center[2] - size[2] / 2, center[2] + size[2] / 2
        lo = max(lo, table_top + gap)
        if hi <= lo:
            return center, size
        center, size = center.copy(), size.copy()
        center[2], size[2] = (lo + hi) / 2, hi - lo
        return center, size

    def _target(self) -> Optional[Tuple[str, ...]]:
        """The target's box ids, or None. One object may come as several boxes: a mask or box hint
        that spans clusters a depth edge cut apart (segmentation.scene_model marks each cluster
        holding target points). The hand may touch all of them and carries them together: one left
        in the world would overlap the attached one, and the lift would start in collision."""
        ids = tuple(b.id for b in self.scene.boxes if b.is_target) if self.scene is not None else ()
        return ids or None

    def _allow_touch(self, target: Tuple[str, ...], allowed: bool) -> None:
        """Let the hand touch the ``target`` boxes, or take that back by removing the entries (the
        ACM is as it was before: the target ids are this backend's own, and an entry left at 'not
        allowed' would pile up as cluster ids come back frame after frame)."""
        with self.psm.read_write() as scene:
            acm = scene.allowed_collision_matrix
            for oid in target:
                for link in self.settings.hand_links:
                    if allowed:
                        acm.set_entry(oid, link, True)
                    else:
                        acm.remove_entry(oid, link)

    def _attach(self, target: Tuple[str, ...], attach: bool) -> bool:
        """Attach (or detach) every box of the target; True when each one was."""
        a, s = self.api, self.settings
        done = True
        for oid in target:
            aco = a.AttachedCollisionObject()
            aco.link_name = s.end_effector_link
            aco.object.id = oid
            aco.object.header.frame_id = s.base_frame
            aco.object.operation = a.CollisionObject.ADD if attach else a.CollisionObject.REMOVE
            aco.touch_links = list(s.hand_links)
            done = bool(self.psm.process_attached_collision_object(aco)) and done
        return done

    # ------------------------------------------------------------------ reachability
    def _pose_msg(self, T: np.ndarray):
        """The end-effector link's pose for the TCP pose ``T`` (the link sits ``tcp_offset`` behind
        the TCP, along the TCP's own axes)."""
        T = T.copy()
        T[:3, 3] = T[:3, 3] - T[:3, :3] @ np.asarray(self.settings.tcp_offset)
        msg = self.api.PoseStamped()
        msg.header.frame_id = self.settings.base_frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in T[:3, 3])
        w, x, y, z = quat_from_pose(T)
        msg.pose.orientation.w, msg.pose.orientation.x = float(w), float(x)
        msg.pose.orientation.y, msg.pose.orientation.z = float(y), float(z)
        return msg

    def _ik_free(self, T: np.ndarray, opening: float, touching: Optional[Tuple[str, ...]] = None):
        """A RobotState with IK for ``T`` and the fingers open to ``opening`` (a fresh RobotState has
        them closed, and closed fingers sit inside the object they are about to take), if it is
        free of collisions, else None; with ``touching``, the hand may touch that object, as on the
        final approach."""
        s = self.settings
        state = self.api.RobotState(self.robot_model)
        state.joint_positions = {j: opening / len(s.finger_joints) for j in s.finger_joints}
        if not state.set_from_ik(s.planning_group, self._pose_msg(T).pose, s.end_effector_link, s.ik_timeout):
            return None
        # set_from_ik leaves the collision transforms stale, and is_state_colliding (the const
        # overload moveit_py binds) reads them as they are: without this it checks a zero-filled arm.
        state.update()
        if touching is not None:
            self._allow_touch(touching, True)
        try:
            with self.psm.read_only() as scene:
                return None if scene.is_state_colliding(state, s.planning_group) else state
        finally:
            if touching is not None:
                self._allow_touch(touching, False)

    def _line_plans(self, start_state, T: np.ndarray, touching: Optional[Tuple[str, ...]]) -> bool:
        """Whether a straight line (Pilz LIN) from ``start_state`` to ``T`` plans, the hand allowed
        to touch ``touching``: the approach and the lift the grasp runs, checked before anything
        moves (the ends of a line can be free while the arm sweeps through a neighbour, or leaves
        IK's reach, between them; the lift is checked with the target still in the world, where
        the hand may touch it). The next plan starts from the current state again."""
        if touching is not None:
            self._allow_touch(touching, True)
        try:
            self.arm.set_start_state(robot_state=start_state)
            if not self.arm.set_goal_state(pose_stamped_msg=self._pose_msg(T), pose_link=self.settings.end_effector_link):
                return False
            return bool(self.arm.plan(single_plan_parameters=self._plan_params(straight=True)))
        finally:
            self.arm.set_start_state_to_current_state()
            if touching is not None:
                self._allow_touch(touching, False)

    def _stages(self, pose: np.ndarray):
        pre = pose.copy()
        pre[:3, 3] -= self.config.pregrasp_offset * pose[:3, 2]
        up = pose.copy()
        up[2, 3] += self.config.lift_height
        return pre, pose, up

    def _checked_opening(self, grasp: Grasp) -> float:
        """The width the fingers open to for ``grasp``: what its candidate was collision-checked with."""
        return min(self.config.max_opening, self.geometry.opening_for(grasp.width))

    def _reachable_pose(self, grasp: Grasp) -> Optional[np.ndarray]:
        """The grasp's pose, or the same grasp turned 180 deg about its approach (the fingers
        swapped), whichever passes the checks and turns the arm less from where it is now (as the
        sim executor chooses: the shorter motion, and the same fingers on the same side of the
        object in both); None when neither passes."""
        opening = self._checked_opening(grasp)
        target = self._target()
        with self.psm.read_only() as scene:
            now = scene.current_state.joint_positions
        best = None
        for pose in (grasp.pose, grasp.pose @ _FLIP):
            pre, at, up = self._stages(pose)
            start = self._ik_free(pre, opening)
            if start is None:
                continue
            grasped = self._ik_free(at, opening, touching=target)
            if grasped is None or not self._line_plans(start, at, target) or not self._line_plans(grasped, up, target):
                continue
            q = start.joint_positions
            turn = sum(abs(q.get(j, 0.0) - now.get(j, 0.0)) for j in self.settings.arm_joints)
            if best is None or turn < best[0]:
                best = (turn, pose)
        return None if best is None else best[1]

    def validate_grasp(self, grasp: Grasp) -> Grasp:
        super().validate_grasp(grasp)
        if grasp.frame_id != self.settings.base_frame:
            raise InvalidInputError(f"grasp is in frame {grasp.frame_id!r}; the MoveIt backend plans in "
                                    f"{self.settings.base_frame!r}")
        return grasp

    def check_reachable(self, grasp: Grasp) -> bool:
        self.validate_grasp(grasp)
        self._sync_scene()
        return self._reachable_pose(grasp) is not None

    # ------------------------------------------------------------------ motion
    def cancel(self) -> None:
        """Stop the motion in progress; the running execute() backs out and reports 'cancelled'."""
        self._cancel.set()
        self.moveit.get_trajectory_execution_manager().stop_execution()
        self.gripper.stop()

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled()

    def _move(self, T: np.ndarray, straight: bool, slow: bool = False) -> Optional[FailureReason]:
        """Plan to ``T`` and run it; ``slow`` (the probe lift) at a quarter of the usual speed."""
        self._check_cancel()
        self.arm.set_start_state_to_current_state()
        if not self.arm.set_goal_state(pose_stamped_msg=self._pose_msg(T), pose_link=self.settings.end_effector_link):
            return FailureReason.PLANNING_FAILED
        plan = self.arm.plan(single_plan_parameters=self._plan_params(straight, slow))
        if not plan:
            return FailureReason.PLANNING_FAILED
        self._check_cancel()
        status = self.moveit.execute(plan.trajectory, controllers=[])
        self._check_cancel()
        return None if status else FailureReason.EXECUTION_FAILED

    def _plan_params(self, straight: bool, slow: bool = False):
        """The request for a straight line (Pilz LIN) or a free-space plan; ``slow`` at a quarter of
        the usual speed."""
        s = self.settings
        params = self.api.PlanRequestParameters(self.moveit, "")
        params.planning_pipeline = s.straight_pipeline if straight else s.free_space_pipeline
        params.planner_id = s.straight_planner if straight else s.free_space_planner
        params.planning_time = s.planning_time
        params.planning_attempts = 1
        params.max_velocity_scaling_factor = s.velocity_scaling * (0.25 if slow else 1.0)
        params.max_acceleration_scaling_factor = s.acceleration_scaling * (0.25 if slow else 1.0)
        return params

    def _hand_pose(self) -> np.ndarray:
        """The TCP pose the arm has now (the planning scene's current state, which follows the
        joint states)."""
        with self.psm.read_only() as scene:
            p = scene.current_state.get_pose(self.settings.end_effector_link)
        T = pose_from_quat([p.position.x, p.position.y, p.position.z],
                           [p.orientation.w, p.orientation.x, p.orientation.y, p.orientation.z])
        T[:3, 3] += T[:3, :3] @ np.asarray(self.settings.tcp_offset)
        return T

    def command_gripper(self, width: float, force: Optional[float] = None) -> None:
        if not (math.isfinite(width) and 0 <= width <= self.config.max_opening + 1e-9):
            raise InvalidInputError(f"gripper width must be in [0, {self.config.max_opening}] m, got {width}")
        reply = self.gripper.open(width) if width > 0 else self.gripper.close(0.0, force or self.config.grip_force)
        if not reply.ok:
            raise InvalidInputError(f"the gripper refused the command: {reply.message}")

    def execute(self, grasp: Grasp) -> GraspOutcome:
        self.validate_grasp(grasp)
        self._cancel.clear()
        t0 = time.perf_counter()
        timings: dict = {}

        def outcome(reason: FailureReason, lifted: float = 0.0) -> GraspOutcome:
            timings["motion"] = time.perf_counter() - t0
            ok = reason is FailureReason.NONE
            return GraspOutcome(ok, lifted, (), reason, timings=timings, grasp=grasp)

        self._sync_scene()
        pose = self._reachable_pose(grasp)
        timings["ik"] = time.perf_counter() - t0
        if pose is None:
            return outcome(FailureReason.UNREACHABLE)          # nothing has moved
        pre, at, up = self._stages(pose)
        probe = None
        if self.config.probe_height > 0:
            probe = at.copy()
            probe[2, 3] += self.config.probe_height
        target = self._target()
        moved = False
        self._opening = self._checked_opening(grasp)
        try:
            if not self.gripper.open(self._opening).ok:
                return outcome(FailureReason.GRIPPER_FAILED)
            fail = self._move(pre, straight=False)
            if fail is not None:
                return outcome(fail)                            # at most on the way to the pre-grasp
            moved = True
            if target is not None:
                self._allow_touch(target, True)
            fail = self._move(at, straight=True)
            if fail is not None:
                return self._back_out(pre, target, fail, outcome)
            reply = self.gripper.close(grasp.width, self.config.grip_force)
            if not holds(reply.width, grasp.width, self.settings.width_tolerance):
                reason = FailureReason.EMPTY_GRASP if reply.ok or math.isfinite(reply.width) \
                    else FailureReason.GRIPPER_FAILED
                return self._back_out(pre, target, reason, outcome)
            # Where the hand is as it takes the object, which the object's box is attached at: a
            # hand held off by the object, or pushed as the fingers close on it, is millimetres
            # (and a degree or two) from the plan, and a set-down to the planned pose would turn
            # the attached box into the table.
            closed_at = self._hand_pose()
            if target is not None and not self._attach(target, True):
                return self._back_out(pre, target, FailureReason.EXECUTION_FAILED, outcome)
            if probe is not None:
                # the first centimetres slowly, then the opening again: closing further means slipping.
                # The baseline is the close's own answer: joint_states read right after it may still
                # show the fingers open, and the closed width after the probe would look like a slip.
                width0 = reply.width if math.isfinite(reply.width) else self.gripper.width()
                load0 = self._read_load()       # still on the table: the grip squeezes it sideways only
                fail = self._move(probe, straight=True, slow=True)
                if fail is not None:
                    return self._back_out(pre, target, fail, outcome)
                if self._probe_slipped(width0, load0, timings):
                    fail = self._move(closed_at, straight=True, slow=True)   # set it back down where it was
                    return self._back_out(pre, target, fail or FailureReason.SLIP_CAUGHT, outcome)
            fail = self._move(up, straight=True)
            if fail is not None:
                return self._back_out(pre, target, fail, outcome)
            if not holds(self.gripper.width(), grasp.width, self.settings.width_tolerance):
                return self._back_out(pre, target, FailureReason.SLIPPED, outcome)
            self._held = target       # attached until release() or the next grasp
            return outcome(FailureReason.NONE, self.config.lift_height)
        except _Cancelled:
            if not moved:
                return outcome(FailureReason.CANCELLED)
            self._cancel.clear()  # the retreat itself must be allowed to move
            return self._back_out(pre, target, FailureReason.CANCELLED, outcome)
        except Exception as e:  # noqa: BLE001 - a driver or binding error mid-grasp: never leave the arm there
            _log.error("grasp failed with %s: %s; backing out", type(e).__name__, e)
            if not moved:
                return outcome(FailureReason.EXECUTION_FAILED)
            return self._back_out(pre, target, FailureReason.EXECUTION_FAILED, outcome)

    def _read_load(self) -> float:
        """The wrist's load (N), or nan: no reader, or no expected weight to judge it against (a
        reading then only costs the wait for fresh messages)."""
        if self.load_reader is None or self._expected_load is None:
            return math.nan
        return self.load_reader()

    def _probe_slipped(self, width0: float, load0: float, timings: dict) -> bool:
        """After the probe lift: the fingers closed further (slipping through the pads), or the
        wrist took up less than ``load_share`` of the object's weight (it turns about the grasp,
        its far end still on the table, and would slip out later in the lift). A load that cannot
        be judged is marked in the timings, and the width alone decides."""
        if math.isfinite(width0) and width0 - self.gripper.width() > self.config.slip_width:
            return True
        if self.load_reader is None:
            return False
        s = self.settings
        load1 = self._read_load()
        carried = load_carried(load0, load1, self._expected_load, s.load_share, s.load_noise)
        if carried is None:
            timings["load_unknown"] = 1.0
        elif not carried:
            _log.warning("slip caught at the wrist: the load rose %.1f N after the probe, under %.0f%% of the "
                         "%.1f N expected", load1 - load0, 100 * s.load_share, self._expected_load)
        return carried is False

    def _back_out(self, pre: np.ndarray, target: Optional[Tuple[str, ...]], reason: FailureReason,
                  outcome) -> GraspOutcome:
        """Open to the width the candidate was checked with (wider could hit a neighbour the check
        never saw), let go of the target, and retreat straight back to the pre-grasp. Best effort,
        step by step: a step that fails or raises is logged and the next one still runs (the
        reported reason stays the first one; a failed retreat is marked in the timings)."""
        opened = self._best_effort("opening the gripper", lambda: self.gripper.open(self._opening).ok)
        if target is not None:
            self._best_effort("detaching the target", lambda: self._attach(target, False))
        try:
            # straight back: from the grasp, and from a lift too (a free-space plan may swing wide)
            back = self._move(pre, straight=True)
        except _Cancelled:
            back = FailureReason.CANCELLED  # cancelled again while backing out: stay where it stopped
        except Exception as e:  # noqa: BLE001
            _log.error("backing out failed: %s", e)
            back = FailureReason.EXECUTION_FAILED
        if target is not None:
            self._best_effort("restoring the allowed collisions", lambda: self._allow_touch(target, False))
        out = outcome(reason)
        if back is not None:
            out.timings["retreat_failed"] = 1.0
        if not opened:
            out.timings["open_failed"] = 1.0
        return out

    @staticmethod
    def _best_effort(what: str, step):
        """``step()``'s result, or None (logged) when it raises: one failed step of a back-out must
        not skip the others, nor escape execute()."""
        try:
            result = step()
        except Exception as e:  # noqa: BLE001
            _log.error("%s while backing out failed: %s: %s", what, type(e).__name__, e)
            return None
        return True if result is None else result
