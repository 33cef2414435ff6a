"""A moveit_py test double backed by the MuJoCo twin, so that the real ``MoveItExecutor``
(execution/moveit.py) grasps objects in the twin.

CONTRACT TEST DOUBLE: this is not MoveIt. moveit_py ships with a ROS 2 install of MoveIt 2 and is
not installable here; this module mimics the parts of its API the MoveIt backend calls (names,
argument names, return types and the falsy values of failures, as moveit2's ``jazzy`` branch
binds them in moveit_py/src/moveit/...), and answers them with the twin:

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
import math
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Dict, List, Optional, Sequence, Tuple

import mujoco
import numpy as np
import transforms3d

from ..execution.base import ExecutionConfig, Executor
from ..execution.gripper import Gripper, GripperReply
from ..execution.moveit import MoveItExecutor, MoveItSettings
from ..types import FailureReason, Grasp, GraspOutcome, SceneModel
from .ik import PandaIK
from .robot import ARM_JOINTS, FINGER_JOINTS, HOME_Q, MAX_OPENING, PREFIX, TCP_SITE
from .world import SimWorld, build_world_spec

_log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- the robot's names
# moveit_resources' Panda (panda_description/urdf/panda.urdf, panda_moveit_config's SRDF).
ARM_LINKS = tuple(f"panda_link{i}" for i in range(9))
HAND_LINKS = ("panda_hand", "panda_leftfinger", "panda_rightfinger")
LINKS = ARM_LINKS + HAND_LINKS
ARM_JOINT_NAMES = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINT_NAMES = ("panda_finger_joint1", "panda_finger_joint2")
URDF_JOINTS = ARM_JOINT_NAMES + ("panda_joint8", "panda_hand_joint") + FINGER_JOINT_NAMES
VARIABLES = ARM_JOINT_NAMES + FINGER_JOINT_NAMES
MODEL_FRAME = "world"          # the SRDF's virtual joint: world -> panda_link0, fixed at the origin
IK_GROUP = "panda_arm"         # kinematics.yaml: the one group with a solver (KDL)
IK_TIPS = ("panda_link7", "panda_link8", "panda_hand")   # rigidly fixed to the solver's tip, panda_link8
# The twin's body for each link (panda_link0 is the twin's base, at the world origin).
_BODY = {**{f"panda_link{i}": f"{PREFIX}panda_link{i}" for i in range(9)},
         **{n: f"{PREFIX}hand/{n}" for n in HAND_LINKS}}
# moveit_resources panda_moveit_config/config/joint_limits.yaml
MAX_VELOCITY = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
MAX_ACCELERATION = np.array([3.75, 1.875, 2.5, 3.125, 3.75, 5.0, 5.0])
# moveit_resources panda_moveit_config/config/pilz_cartesian_limits.yaml
MAX_TRANS_VEL, MAX_TRANS_ACC, MAX_ROT_VEL = 1.0, 2.25, 1.57

# moveit_msgs/MoveItErrorCodes
SUCCESS, FAILURE, PLANNING_FAILED, INVALID_MOTION_PLAN = 1, 99999, -1, -2
START_STATE_IN_COLLISION, GOAL_IN_COLLISION = -10, -12
INVALID_GROUP_NAME, INVALID_GOAL_CONSTRAINTS, INVALID_LINK_NAME = -15, -16, -18
FRAME_TRANSFORM_FAILURE, NO_IK_SOLUTION = -21, -31


def _group(name: str, links: Sequence[str], joints: Sequence[str], updated: Sequence[str], tips=()) -> SimpleNamespace:
    """A JointModelGroup as moveit_py binds it, plus the links a collision check of the group
    covers (JointModelGroup's updated links: those below its active joints)."""
    return SimpleNamespace(name=name, link_model_names=list(links), joint_model_names=list(joints),
                           active_joint_model_names=[j for j in joints if j in VARIABLES],
                           updated_links=frozenset(updated), ik_tips=tuple(tips))


_MOVING = ARM_LINKS[1:] + HAND_LINKS
GROUPS = {
    # chain panda_link0 -> panda_link8: its links, the joints along it and the base link's parent joint
    "panda_arm": _group("panda_arm", ARM_LINKS, ("virtual_joint",) + ARM_JOINT_NAMES + ("panda_joint8",), _MOVING,
                        IK_TIPS),
    # links panda_hand and the fingers, and their parent joints
    "hand": _group("hand", HAND_LINKS, ("panda_hand_joint",) + FINGER_JOINT_NAMES, HAND_LINKS[1:]),
    "panda_arm_hand": _group("panda_arm_hand", LINKS, ("virtual_joint",) + URDF_JOINTS, _MOVING),
}


class TwinRobotModel:
    """moveit_py's RobotModel for the twin's Panda."""

    name = "panda"
    model_frame = MODEL_FRAME
    _kin: Optional["TwinKinematics"] = None
    root_joint_name = "virtual_joint"

    def __init__(self):
        self._groups = GROUPS
        self.link_names, self.joint_names, self.variable_names = LINKS, URDF_JOINTS, VARIABLES

    @property
    def joint_model_group_names(self) -> List[str]:
        return list(self._groups)

    @property
    def joint_model_groups(self) -> list:
        return list(self._groups.values())

    def has_joint_model_group(self, joint_model_group_name: str) -> bool:
        return joint_model_group_name in self._groups

    def get_joint_model_group(self, joint_model_group_name: str):
        """None for a group the model lacks (moveit_py returns the null pointer MoveIt gives, having
        logged "Group '...' not found in model")."""
        g = self._groups.get(joint_model_group_name)
        if g is None:
            _log.error("Group '%s' not found in model '%s'", joint_model_group_name, self.name)
        return g


def robot_description() -> str:
    """The robot description as URDF (names only: what the backend's name check reads of it)."""
    parents = {"panda_joint8": ("panda_link7", "panda_link8"), "panda_hand_joint": ("panda_link8", "panda_hand"),
               "panda_finger_joint1": ("panda_hand", "panda_leftfinger"),
               "panda_finger_joint2": ("panda_hand", "panda_rightfinger"),
               **{f"panda_joint{i}": (f"panda_link{i - 1}", f"panda_link{i}") for i in range(1, 8)}}
    return ("<robot name='panda'>" + "".join(f"<link name='{n}'/>" for n in LINKS) +
            "".join(f"<joint name='{j}' type='{'fixed' if j in ('panda_joint8', 'panda_hand_joint') else 'revolute'}'>"
                    f"<parent link='{parents[j][0]}'/><child link='{parents[j][1]}'/></joint>" for j in URDF_JOINTS) +
            "</robot>")


# ----------------------------------------------------------------------------- ROS messages
class _Msg:
    """A ROS message stand-in with its fields (a misspelt field is an AttributeError, as with rclpy)."""

    _fields: Tuple[Tuple[str, object], ...] = ()

    def __init__(self, **kw):
        for k, default in self._fields:
            setattr(self, k, default() if callable(default) else default)
        for k, v in kw.items():
            if k not in dict(self._fields):
                raise AttributeError(f"{type(self).__name__} has no field {k!r}")
            setattr(self, k, v)

    def __setattr__(self, k, v):
        if k not in dict(self._fields):
            raise AttributeError(f"{type(self).__name__} has no field {k!r}")
        object.__setattr__(self, k, v)


class Point(_Msg):
    _fields = (("x", 0.0), ("y", 0.0), ("z", 0.0))


class Quaternion(_Msg):
    _fields = (("x", 0.0), ("y", 0.0), ("z", 0.0), ("w", 1.0))


class Pose(_Msg):
    _fields = (("position", Point), ("orientation", Quaternion))


class Header(_Msg):
    _fields = (("frame_id", ""), ("stamp", None))


class PoseStamped(_Msg):
    _fields = (("header", Header), ("pose", Pose))


class SolidPrimitive(_Msg):
    BOX, SPHERE, CYLINDER, CONE = 1, 2, 3, 4
    _fields = (("type", 0), ("dimensions", list))


class CollisionObject(_Msg):
    ADD, REMOVE, APPEND, MOVE = 0, 1, 2, 3
    _fields = (("header", Header), ("pose", Pose), ("id", ""),
               ("primitives", list), ("primitive_poses", list), ("operation", 0))


class AttachedCollisionObject(_Msg):
    _fields = (("link_name", ""), ("object", CollisionObject), ("touch_links", list), ("weight", 0.0))


def pose_matrix(pose) -> np.ndarray:
    """A geometry_msgs Pose as a 4x4 matrix; an all-zero quaternion is the identity (MoveIt warns
    "Empty quaternion found in pose message" and does the same)."""
    q = np.array([pose.orientation.w, pose.orientation.x, pose.orientation.y, pose.orientation.z], float)
    n = np.linalg.norm(q)
    T = np.eye(4)
    T[:3, :3] = transforms3d.quaternions.quat2mat(q / n) if n > 1e-9 else np.eye(3)
    T[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
    return T


def matrix_pose(T: np.ndarray) -> Pose:
    w, x, y, z = transforms3d.quaternions.mat2quat(T[:3, :3])
    return Pose(position=Point(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
                orientation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w)))


# ----------------------------------------------------------------------------- kinematics + geometry
_TIGHT_IK: Optional[PandaIK] = None


def tight_ik() -> PandaIK:
    """The twin's IK held to 0.1 mm and 1 mrad, as KDL solves (its epsilon is 1e-5): at the sim
    executor's 1 mm and 10 mrad, the LIN lift of a long attached box tilts its far end by a
    millimetre, into the table it was cut 1 mm above. One per process (the robot's kinematics do
    not depend on the scene)."""
    global _TIGHT_IK
    if _TIGHT_IK is None:
        _TIGHT_IK = PandaIK(pos_tol=1e-4, rot_tol=1e-3, max_iters=300)
    return _TIGHT_IK


def _solve_tight(ik: PandaIK, T: np.ndarray, seed: np.ndarray) -> Optional[np.ndarray]:
    """From the seed first, held tight; else the IK's restarts, then refined from what they found
    (near a joint limit the tight local solve can stall where a looser one gets through)."""
    if ik.pos_tol <= 1e-4 and ik.rot_tol <= 1e-3:
        q = ik._solve_from(T, seed)
        if q is not None:
            return q
        loose = PandaIK.__new__(PandaIK)
        loose.__dict__.update(ik.__dict__)
        loose.pos_tol, loose.rot_tol, loose.max_iters = 1e-3, 1e-2, 150
        q = loose.solve(T, seed)
        if q is None:
            return None
        return ik._solve_from(T, q)
    return ik.solve(T, seed)


class TwinKinematics:
    """The twin's robot (no objects) with a pool of box geoms for planning-scene shapes: forward
    kinematics of the links and signed distances between their collision geoms and the boxes."""

    POOL = 48

    def __init__(self, world: SimWorld, ik: Optional[PandaIK] = None):
        spec = build_world_spec([], world.cfg)
        for i in range(self.POOL):
            body = spec.worldbody.add_body(name=f"scene_box{i}", mocap=True, pos=[0, 0, -10])
            body.add_geom(name=f"scene_box{i}", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.01] * 3,
                          contype=0, conaffinity=0, group=4)
        m = self.model = spec.compile()
        self.data = mujoco.MjData(m)
        self.ik = ik or tight_ik()
        self.arm_adr = np.array([m.jnt_qposadr[m.joint(j).id] for j in ARM_JOINTS])
        self.finger_adr = np.array([m.jnt_qposadr[m.joint(j).id] for j in FINGER_JOINTS])
        self.body = {n: m.body(b).id for n, b in _BODY.items()}
        self.tcp_site = m.site(TCP_SITE).id
        # each link's collision geoms (those that collide in the twin)
        self.link_geoms: Dict[str, List[int]] = {n: [] for n in LINKS}
        by_body = {b: n for n, b in self.body.items()}
        for g in range(m.ngeom):
            link = by_body.get(int(m.geom_bodyid[g]))
            if link is not None and (m.geom_contype[g] or m.geom_conaffinity[g]):
                self.link_geoms[link].append(g)
        self.pool_geoms = [m.geom(f"scene_box{i}").id for i in range(self.POOL)]
        self.pool_mocap = [int(m.body_mocapid[m.body(f"scene_box{i}").id]) for i in range(self.POOL)]
        self.lo, self.hi = m.jnt_range[[m.joint(j).id for j in ARM_JOINTS]].T
        # fixed transforms: each IK tip to the TCP site
        self._q = None
        self.set_q(HOME_Q, MAX_OPENING)
        T_tcp = self._site(self.tcp_site)
        self.tip_to_tcp = {t: np.linalg.inv(self.link_pose(t)) @ T_tcp for t in IK_TIPS}
        self._ik_cache: "OrderedDict[bytes, Optional[np.ndarray]]" = OrderedDict()

    def set_q(self, q_arm, opening: float) -> None:
        key = (tuple(np.round(q_arm, 12)), round(float(opening), 12))
        if key == self._q:
            return
        self.data.qpos[self.arm_adr] = q_arm
        self.data.qpos[self.finger_adr] = opening / 2
        mujoco.mj_kinematics(self.model, self.data)
        self._q = key

    def _site(self, sid: int) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = self.data.site_xmat[sid].reshape(3, 3)
        T[:3, 3] = self.data.site_xpos[sid]
        return T

    def link_pose(self, link: str) -> np.ndarray:
        b = self.body[link]
        T = np.eye(4)
        T[:3, :3] = self.data.xmat[b].reshape(3, 3)
        T[:3, 3] = self.data.xpos[b]
        return T

    def fk(self, q_arm, link: str, opening: float = 0.0) -> np.ndarray:
        self.set_q(q_arm, opening)
        return self.link_pose(link)

    def solve(self, T_tip: np.ndarray, tip: str, seed: np.ndarray) -> Optional[np.ndarray]:
        """Arm joints putting ``tip`` at ``T_tip`` (the twin's IK on the TCP), or None. Deterministic,
        so cached."""
        T = T_tip @ self.tip_to_tcp[tip]
        seed = np.clip(np.asarray(seed, float), self.lo, self.hi)
        key = np.round(T, 7).tobytes() + np.round(seed, 7).tobytes()
        if key in self._ik_cache:
            self._ik_cache.move_to_end(key)
            q = self._ik_cache[key]
        else:
            q = _solve_tight(self.ik, T, seed)
            self._ik_cache[key] = q
            if len(self._ik_cache) > 4096:
                self._ik_cache.popitem(last=False)
        return None if q is None else q.copy()

    def collisions(self, q_arm, opening: float, links, shapes, attached=(), allowed=lambda a, b: False,
                   first: bool = True) -> List[Tuple[str, str, float]]:
        """(link or attached id, object id, depth) of every penetration: ``links`` against the world
        ``shapes`` ((id, half, T) of every box), and each attached body ((id, link, touch_links,
        [(half, T in the link)])) against the shapes and the links outside its touch links."""
        m, d = self.model, self.data
        self.set_q(q_arm, opening)
        boxes, out = [], []
        placed = [(oid, half, T) for oid, half, T in shapes]
        for aid, link, touch, parts in attached:
            T_link = self.link_pose(link)
            placed += [(("attached", aid, tuple(touch)), half, T_link @ T) for half, T in parts]
        if len(placed) > self.POOL:
            raise RuntimeError(f"the twin's planning scene holds at most {self.POOL} boxes, got {len(placed)}")
        for k, (oid, half, T) in enumerate(placed):
            g = self.pool_geoms[k]
            m.geom_size[g] = half
            m.geom_rbound[g] = float(np.linalg.norm(half))
            d.mocap_pos[self.pool_mocap[k]] = T[:3, 3]
            d.mocap_quat[self.pool_mocap[k]] = transforms3d.quaternions.mat2quat(T[:3, :3])
            boxes.append((oid, g))
        mujoco.mj_kinematics(m, d)
        fromto = np.zeros(6)

        def depth(g1, g2) -> float:
            gap = np.linalg.norm(d.geom_xpos[g1] - d.geom_xpos[g2]) - m.geom_rbound[g1] - m.geom_rbound[g2]
            if gap > 0:
                return 0.0
            return max(0.0, -mujoco.mj_geomDistance(m, d, g1, g2, 0.01, fromto))

        world = [(oid, g) for oid, g in boxes if not isinstance(oid, tuple)]
        mine = [(oid, g) for oid, g in boxes if isinstance(oid, tuple)]
        for link in links:
            for oid, g in world:
                if allowed(oid, link):
                    continue
                for lg in self.link_geoms[link]:
                    dep = depth(lg, g)
                    if dep > 0:
                        out.append((link, oid, dep))
                        if first:
                            return out
                        break
        for (_, aid, touch), g in mine:
            for oid, wg in world:
                if oid != aid and not allowed(aid, oid):
                    dep = depth(g, wg)
                    if dep > 0:
                        out.append((aid, oid, dep))
                        if first:
                            return out
            for link in LINKS:
                if link in touch or allowed(aid, link):
                    continue
                for lg in self.link_geoms[link]:
                    dep = depth(lg, g)
                    if dep > 0:
                        out.append((aid, link, dep))
                        if first:
                            return out
                        break
        return out


# ----------------------------------------------------------------------------- RobotState
@dataclass
class _Attached:
    link: str
    touch_links: Tuple[str, ...]
    parts: List[Tuple[np.ndarray, np.ndarray]]     # (half sizes, pose in the link's frame)


class TwinRobotState:
    """moveit_py's RobotState: joint positions by variable name (a fresh state is zero-filled),
    with link and collision transforms that follow them only on ``update()`` (what a collision
    check reads), IK through the twin, and the attached bodies a state copied from the scene has."""

    def __init__(self, robot_model, _kin: Optional[TwinKinematics] = None):
        if not isinstance(robot_model, TwinRobotModel):
            raise TypeError("RobotState needs the double's robot model (MoveItPy.get_robot_model())")
        self._model, self._kin = robot_model, _kin if _kin is not None else robot_model._kin
        self._q = {v: 0.0 for v in VARIABLES}
        self._transforms_q = dict(self._q)        # what the transforms were last computed from
        self.attached: Dict[str, _Attached] = {}

    @property
    def robot_model(self):
        return self._model

    @property
    def dirty(self) -> bool:
        return self._q != self._transforms_q

    @property
    def joint_positions(self) -> Dict[str, float]:
        return dict(self._q)

    @joint_positions.setter
    def joint_positions(self, values: Dict[str, float]) -> None:
        for k in values:
            if k not in self._q:      # RobotModel::getVariableIndex throws moveit::Exception
                raise RuntimeError(f"Variable '{k}' is not known to model '{self._model.name}'")
        self._q.update({k: float(v) for k, v in values.items()})

    def update(self, force: bool = False, type: str = "all") -> None:   # noqa: A002 - moveit_py's name
        if type not in ("all", "links_only", "collisions_only"):
            raise ValueError("Invalid category")
        self._transforms_q = dict(self._q)

    def __copy__(self):
        s = TwinRobotState(self._model, self._kin)
        s._q, s._transforms_q = dict(self._q), dict(self._transforms_q)
        s.attached = dict(self.attached)
        return s

    def arm(self, transforms: bool = False) -> np.ndarray:
        q = self._transforms_q if transforms else self._q
        return np.array([q[j] for j in ARM_JOINT_NAMES])

    def opening(self, transforms: bool = False) -> float:
        q = self._transforms_q if transforms else self._q
        return float(sum(q[j] for j in FINGER_JOINT_NAMES))

    def set_arm(self, q_arm) -> None:
        self._q.update({j: float(v) for j, v in zip(ARM_JOINT_NAMES, q_arm)})

    def get_pose(self, link_name: str) -> Pose:
        if link_name not in LINKS:
            raise RuntimeError(f"Link '{link_name}' not found in model '{self._model.name}'")
        return matrix_pose(self._kin.fk(self.arm(True), link_name, self.opening(True)))

    def set_from_ik(self, joint_model_group_name: str, geometry_pose, tip_name: str, timeout: float = 0.0) -> bool:
        """True and the arm's joints set, or False (RobotState::setFromIK's bool). A group the model
        lacks is an error: moveit_py hands MoveIt the null group and it is dereferenced."""
        group = self._model.get_joint_model_group(joint_model_group_name)
        if group is None:
            raise RuntimeError(f"set_from_ik: Group '{joint_model_group_name}' not found in model "
                               f"'{self._model.name}' (moveit_py would dereference a null group)")
        if not group.ik_tips:
            _log.error("No kinematics solver instantiated for group '%s'", joint_model_group_name)
            return False
        tip = tip_name.lstrip("/")
        if tip not in group.ik_tips:
            _log.error("The following Pose Frame does not exist or is not fixed to the solver's tip: %s", tip)
            return False
        q = self._kin.solve(pose_matrix(geometry_pose), tip, self.arm())
        if q is None:
            return False
        self.set_arm(q)
        return True


# ----------------------------------------------------------------------------- planning scene
class TwinACM:
    """AllowedCollisionMatrix: entries by unordered name pair."""

    def __init__(self):
        self.entries: Dict[frozenset, bool] = {}

    def set_entry(self, name1: str, name2: str, allowed: bool) -> None:
        self.entries[frozenset((name1, name2))] = bool(allowed)

    def remove_entry(self, name1: str, name2: str) -> None:
        self.entries.pop(frozenset((name1, name2)), None)

    def get_entry(self, name1: str, name2: str) -> Tuple[bool, str]:
        e = self.entries.get(frozenset((name1, name2)))
        return (bool(e), "ALWAYS" if e else "NEVER")

    def allowed(self, a: str, b: str) -> bool:
        return self.entries.get(frozenset((a, b)), False)


class TwinPlanningScene:
    """PlanningScene: the world's collision objects (boxes), the ACM, the current state (the twin's
    joints, with the bodies attached to them) and collision checks."""

    def __init__(self, double: "TwinMoveItPy"):
        self._double = double
        self.world: Dict[str, List[Tuple[np.ndarray, np.ndarray]]] = {}     # id -> [(half sizes, pose)]
        self.attached: Dict[str, _Attached] = {}
        self.allowed_collision_matrix = TwinACM()
        self.planning_frame = MODEL_FRAME

    @property
    def robot_model(self):
        return self._double.robot_model

    @property
    def current_state(self) -> TwinRobotState:
        s = TwinRobotState(self._double.robot_model)
        w = self._double.world
        s.set_arm(w.arm_qpos())
        q = w.data.qpos[w.finger_qpos_adr]
        s.joint_positions = dict(zip(FINGER_JOINT_NAMES, (float(q[0]), float(q[1]))))
        s.update()
        s.attached = dict(self.attached)
        return s

    def _frame(self, frame_id: str, state: TwinRobotState) -> Optional[np.ndarray]:
        f = frame_id.lstrip("/")
        if f in (MODEL_FRAME, "panda_link0"):
            return np.eye(4)
        if f in LINKS:
            return self._double.kin.fk(state.arm(True), f, state.opening(True))
        return None

    def apply_collision_object(self, collision_object_msg, color_msg=None) -> None:
        co = collision_object_msg
        if co.operation == CollisionObject.REMOVE:
            if co.id in self.world:
                del self.world[co.id]
            else:
                _log.warning("Tried to remove world object '%s', but it does not exist in this scene.", co.id)
            return
        if co.operation not in (CollisionObject.ADD, CollisionObject.APPEND):
            _log.error("the double handles ADD, APPEND and REMOVE only (operation %s)", co.operation)
            return
        base = self._frame(co.header.frame_id, self.current_state)
        if base is None:
            _log.error("Unknown frame: '%s'", co.header.frame_id)
            return
        if len(co.primitives) != len(co.primitive_poses):
            _log.error("Number of primitive shapes does not match number of poses in collision object message")
            return
        parts = []
        T_obj = base @ pose_matrix(co.pose)
        for prim, pose in zip(co.primitives, co.primitive_poses):
            if prim.type != SolidPrimitive.BOX or len(prim.dimensions) != 3:
                _log.error("the double models boxes only (primitive type %s)", prim.type)
                return
            parts.append((np.asarray(prim.dimensions, float) / 2, T_obj @ pose_matrix(pose)))
        if co.operation == CollisionObject.ADD:
            self.world[co.id] = parts
        else:
            self.world.setdefault(co.id, []).extend(parts)

    def process_attached_collision_object(self, aco) -> bool:
        """PlanningScene::processAttachedCollisionObjectMsg: ADD moves a world object (no shapes in
        the message) onto the link at its current pose; REMOVE puts it back in the world where it
        is now. False as MoveIt gives it: an unknown link, no such object, nothing attached by that id."""
        obj = aco.object
        state = self.current_state
        if obj.operation == CollisionObject.ADD:
            if aco.link_name not in LINKS:
                _log.error("Unable to attach a body to link '%s' (link not found)", aco.link_name)
                return False
            if obj.primitives:
                _log.error("the double attaches objects already in the world only")
                return False
            if obj.id not in self.world:
                _log.error("Attempting to attach object '%s' to link '%s' but no geometry specified and such an "
                           "object does not exist in the collision world", obj.id, aco.link_name)
                return False
            T_link = self._double.kin.fk(state.arm(), aco.link_name, state.opening())
            inv = np.linalg.inv(T_link)
            parts = [(half, inv @ T) for half, T in self.world.pop(obj.id)]
            self.attached[obj.id] = _Attached(aco.link_name, tuple(aco.touch_links), parts)
            return True
        if obj.operation == CollisionObject.REMOVE:
            body = self.attached.get(obj.id)
            if body is None:
                return False
            if aco.link_name and aco.link_name != body.link:
                _log.error("The AttachedCollisionObject message states the object is attached to %s, but it is "
                           "actually attached to %s", aco.link_name, body.link)
                return False
            del self.attached[obj.id]
            if obj.id in self.world:
                _log.warning("not adding the detached body '%s' back: the world has one of that name", obj.id)
            else:
                T_link = self._double.kin.fk(state.arm(), body.link, state.opening())
                self.world[obj.id] = [(half, T_link @ T) for half, T in body.parts]
            return True
        _log.error("Unknown collision object operation: %s", obj.operation)
        return False

    def collisions(self, state: TwinRobotState, joint_model_group_name: str, first: bool = True,
                   transforms: bool = True):
        """(link or attached body, object, depth) of the penetrations of ``state`` (its transforms:
        the joints as of its last update()), the first only when ``first``; an unknown group
        checks every link, as MoveIt's collision request does."""
        group = self._double.robot_model._groups.get(joint_model_group_name)
        links = group.updated_links if group is not None else frozenset(LINKS)
        shapes = [(oid, half, T) for oid, parts in self.world.items() for half, T in parts]
        attached = [(aid, a.link, a.touch_links, a.parts) for aid, a in state.attached.items()
                    if a.link in links]
        acm = self.allowed_collision_matrix
        return self._double.kin.collisions(state.arm(transforms), state.opening(transforms),
                                           [n for n in LINKS if n in links], shapes, attached, acm.allowed, first)

    def is_state_colliding(self, robot_state=None, joint_model_group_name: str = "", verbose: bool = False) -> bool:
        """The const overload moveit_py binds: the state's transforms as they are (stale until its
        update()); the group's moving links and the bodies attached to them. With only a group
        name (the other overload), the current state."""
        if isinstance(robot_state, str):            # is_state_colliding(joint_model_group_name)
            robot_state, joint_model_group_name = None, robot_state
        state = robot_state if robot_state is not None else self.current_state
        hits = self.collisions(state, joint_model_group_name, first=not verbose)
        if verbose:
            for a, b, dep in hits:
                _log.info("Collision between '%s' and '%s' (%.1f mm)", a, b, dep * 1000)
        return bool(hits)


class _Locked:
    def __init__(self, scene):
        self.scene = scene

    def __enter__(self):
        return self.scene

    def __exit__(self, *exc):
        return False


class TwinPlanningSceneMonitor:
    name = "planning_scene_monitor"

    def __init__(self, scene: TwinPlanningScene):
        self._scene = scene

    def read_only(self):
        return _Locked(self._scene)

    def read_write(self):
        return _Locked(self._scene)

    def process_attached_collision_object(self, attached_collision_object_msg) -> bool:
        return self._scene.process_attached_collision_object(attached_collision_object_msg)

    def process_collision_object(self, collision_object_msg, color_msg=None) -> bool:
        self._scene.apply_collision_object(collision_object_msg)
        return True


# ----------------------------------------------------------------------------- planning
class PlanRequestParameters:
    """moveit_py's PlanRequestParameters (defaults: the node's ``plan_request_params``; here OMPL)."""

    def __init__(self, moveit_py_instance=None, ns: str = ""):
        self.planner_id = "RRTConnectkConfigDefault"
        self.planning_pipeline = "ompl"
        self.planning_attempts = 1
        self.planning_time = 1.0
        self.max_velocity_scaling_factor = 1.0
        self.max_acceleration_scaling_factor = 1.0


@dataclass
class TwinTrajectory:
    """A RobotTrajectory: the group's joint positions at times from the start."""
    joint_model_group_name: str
    joint_names: Tuple[str, ...]
    times: np.ndarray
    positions: np.ndarray           # (n, 7)
    attached: Dict[str, _Attached] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def __len__(self) -> int:
        return len(self.times)


class MotionPlanResponse:
    """Falsy unless ``error_code.val`` is SUCCESS (moveit_py's ``__bool__``)."""

    def __init__(self, val: int, trajectory: Optional[TwinTrajectory] = None, planner_id: str = "",
                 planning_time: float = 0.0, start_state=None, message: str = ""):
        self.error_code = SimpleNamespace(val=val, message=message, source="twin double")
        self.trajectory, self.planner_id = trajectory, planner_id
        self.planning_time, self.start_state = planning_time, start_state

    def __bool__(self) -> bool:
        return self.error_code.val == SUCCESS


def _trapezoid_time(dist: float, v: float, a: float) -> float:
    if dist <= 0:
        return 0.0
    return dist / v + v / a if dist >= v * v / a else 2.0 * math.sqrt(dist / a)


def _trapezoid_s(t: np.ndarray, T: float, v: float, a: float, dist: float) -> np.ndarray:
    """The distance covered by ``t`` along a trapezoidal (or triangular) profile over ``dist``."""
    if dist <= 0 or T <= 0:
        return np.ones_like(t) * max(dist, 0.0)
    ta = min(v / a, T / 2)
    vpk = a * ta
    t = np.clip(t, 0, T)
    s = np.where(t < ta, 0.5 * a * t ** 2,
                 np.where(t > T - ta, dist - 0.5 * a * (T - t) ** 2, 0.5 * a * ta ** 2 + vpk * (t - ta)))
    return np.clip(s, 0, dist)


def _retime(path_s: np.ndarray, dist: float, v: float, a: float, dt: float = 0.02) -> Tuple[np.ndarray, np.ndarray]:
    """Times of samples along a path at the distances ``path_s`` (increasing, 0..dist): a
    trapezoidal profile, inverted on a fine time grid."""
    T = max(_trapezoid_time(dist, v, a), dt)
    grid = np.linspace(0, T, max(int(T / 0.002), 2))
    s = _trapezoid_s(grid, T, v, a, dist)
    times = np.interp(path_s, s, grid)
    times[0], times[-1] = 0.0, T
    return times, T


_SEED_STEPS = np.random.default_rng(7).uniform(-0.8, 0.8, (6, 7))   # fixed: plans are reproducible


class TwinPlanningComponent:
    """PlanningComponent for one group: start state, a pose goal for a link, and plan()."""

    def __init__(self, double: "TwinMoveItPy", group: str):
        self._double, self.planning_group_name = double, group
        self._start: Optional[TwinRobotState] = None
        self._goal: Optional[Tuple[PoseStamped, str]] = None

    def set_start_state_to_current_state(self) -> None:
        self._start = None       # the current state when planning

    def set_start_state(self, configuration_name=None, robot_state=None) -> bool:
        if configuration_name is not None and robot_state is not None:
            raise ValueError("Cannot specify both configuration name and robot state")
        if configuration_name is None and robot_state is None:
            raise ValueError("Must specify at least one argument")
        if configuration_name is not None:
            _log.error("the double has no named states")
            return False
        self._start = robot_state.__copy__()
        return True

    def set_goal_state(self, configuration_name=None, robot_state=None, pose_stamped_msg=None, pose_link=None,
                       motion_plan_constraints=None) -> bool:
        if (pose_stamped_msg is None) != (pose_link is None):
            raise ValueError("Must specify both message and corresponding link")
        if pose_stamped_msg is None:
            if configuration_name is None and robot_state is None and motion_plan_constraints is None:
                raise ValueError("Must specify at least one argument")
            raise NotImplementedError("the double takes pose goals only")
        if configuration_name is not None or robot_state is not None or motion_plan_constraints is not None:
            raise ValueError("Cannot specify both a pose goal and another goal")
        self._goal = (pose_stamped_msg, pose_link)      # constraints are built as given, checked in plan()
        return True

    # ---------------------------------------------------------------- plan
    def plan(self, single_plan_parameters=None, multi_plan_parameters=None, planning_scene=None,
             solution_selection_function=None, stopping_criterion_callback=None) -> MotionPlanResponse:
        if single_plan_parameters is not None and multi_plan_parameters is not None:
            raise ValueError("Cannot specify both single and multi plan parameters")
        if multi_plan_parameters is not None:
            raise NotImplementedError("the double plans with single plan parameters")
        p = single_plan_parameters or PlanRequestParameters(self._double)
        t0 = time.perf_counter()
        d = self._double
        scene = planning_scene or d.scene
        start = self._start.__copy__() if self._start is not None else scene.current_state
        start.update()

        def fail(code: int, why: str) -> MotionPlanResponse:
            _log.info("plan (%s/%s) failed: %s", p.planning_pipeline, p.planner_id, why)
            d.last_plan_failure = why
            return MotionPlanResponse(code, None, p.planner_id, time.perf_counter() - t0, start, why)

        if self._goal is None:
            return fail(INVALID_GOAL_CONSTRAINTS, "no goal set")
        msg, link = self._goal
        if link not in LINKS:
            return fail(INVALID_GOAL_CONSTRAINTS, f"Position constraint link model {link} not found in kinematic model")
        base = scene._frame(msg.header.frame_id, start)
        if base is None:
            return fail(FRAME_TRANSFORM_FAILURE, f"Unknown frame: '{msg.header.frame_id}'")
        T_goal = base @ pose_matrix(msg.pose)
        group = d.robot_model._groups[self.planning_group_name]
        if link not in group.ik_tips:
            return fail(NO_IK_SOLUTION, f"no IK for link {link!r} in group {self.planning_group_name!r}")
        hits = scene.collisions(start, self.planning_group_name)
        if hits:
            return fail(START_STATE_IN_COLLISION, f"start state in collision: {hits[0][0]} - {hits[0][1]}")
        vs = float(np.clip(p.max_velocity_scaling_factor, 1e-3, 1.0))
        as_ = float(np.clip(p.max_acceleration_scaling_factor, 1e-3, 1.0))
        if p.planning_pipeline == "ompl":
            return self._free_space(scene, start, T_goal, link, vs, as_, fail, p, t0)
        if p.planning_pipeline == "pilz_industrial_motion_planner":
            if p.planner_id == "LIN":
                return self._line(scene, start, T_goal, link, vs, as_, fail, p, t0)
            if p.planner_id == "PTP":
                return self._free_space(scene, start, T_goal, link, vs, as_, fail, p, t0, detours=False)
            return fail(FAILURE, f"the double's Pilz plans LIN and PTP only, not {p.planner_id!r}")
        return fail(FAILURE, f"No planning pipeline available for name '{p.planning_pipeline}'")

    def _state_at(self, start: TwinRobotState, q) -> TwinRobotState:
        s = start.__copy__()
        s.set_arm(q)
        s.update()
        return s

    def _segment_free(self, scene, start, q0, q1, step: float = 0.02) -> bool:
        n = max(int(np.ceil(np.max(np.abs(q1 - q0)) / step)), 1)
        for s in np.linspace(0, 1, n + 1)[1:]:
            if scene.collisions(self._state_at(start, q0 + s * (q1 - q0)), self.planning_group_name):
                return False
        return True

    def _free_space(self, scene, start, T_goal, link, vs, as_, fail, p, t0, detours: bool = True):
        d = self._double
        q0 = start.arm()
        # Goal states as OMPL samples them: IK solutions from several seeds, collision-free; the
        # one farthest from the joint limits (a goal at a limit leaves the straight lines that
        # follow no room), the first with a margin of 0.2 rad when there is one.
        turned = HOME_Q.copy()
        turned[0] = np.clip(np.arctan2(T_goal[1, 3], T_goal[0, 3]), -2.8, 2.8)
        seeds = [q0, turned] + [np.clip(turned + dq, d.kin.lo + 0.05, d.kin.hi - 0.05) for dq in _SEED_STEPS]
        seeds.append(np.zeros(7))      # last: as a fresh RobotState seeds the backend's reachability check
        q_goal, margin, found = None, -1.0, False
        for seed in seeds:
            q = d.kin.solve(T_goal, link, seed)
            if q is None:
                continue
            found = True
            if scene.collisions(self._state_at(start, q), self.planning_group_name):
                continue
            m = float(np.min(np.minimum(q - d.kin.lo, d.kin.hi - q)))
            if m > margin:
                q_goal, margin = q, m
            if margin >= 0.2:
                break
        if q_goal is None:
            return fail(GOAL_IN_COLLISION if found else PLANNING_FAILED, "no collision-free IK solution for the goal")
        candidates = [[q0, q_goal]]
        if detours:
            up = T_goal.copy()
            up[2, 3] += 0.2
            q_up = d.kin.solve(up, link, q_goal)
            for via in ([turned] + ([q_up] if q_up is not None else [])):
                candidates.append([q0, via, q_goal])
            if q_up is not None:
                candidates.append([q0, turned, q_up, q_goal])
        for path in candidates:
            if all(self._segment_free(scene, start, a, b) for a, b in zip(path[:-1], path[1:])):
                return self._timed(np.array(path), vs, as_, p, t0, start)
        if detours:
            path = self._connect(scene, start, q0, q_goal)
            if path is not None:
                return self._timed(np.array(path), vs, as_, p, t0, start)
        return fail(PLANNING_FAILED, "no collision-free joint path to the goal found")

    def _connect(self, scene, start, qa, qb, iters: int = 300, step: float = 0.2):
        """A bidirectional RRT (RRT-Connect's scheme) in joint space, seeded so that a plan is
        reproducible, then shortcut: the paths the straight interpolations miss."""
        d = self._double
        lo, hi = d.kin.lo, d.kin.hi
        rng = np.random.default_rng(zlib.crc32(np.round(np.r_[qa, qb], 4).tobytes()))
        trees = ([(qa, -1)], [(qb, -1)])

        def extend(tree, target):
            i = int(np.argmin([np.max(np.abs(q - target)) for q, _ in tree]))
            q = tree[i][0]
            delta = target - q
            far = np.max(np.abs(delta))
            q_new = target if far <= step else q + delta * (step / far)
            if not self._segment_free(scene, start, q, q_new):
                return None
            tree.append((q_new, i))
            return len(tree) - 1

        def branch(tree, i):
            out = []
            while i >= 0:
                out.append(tree[i][0])
                i = tree[i][1]
            return out

        a, b = 0, 1
        for _ in range(iters):
            i = extend(trees[a], rng.uniform(lo, hi))
            if i is not None:
                q_new = trees[a][i][0]
                j = extend(trees[b], q_new)
                while j is not None and np.max(np.abs(trees[b][j][0] - q_new)) > 1e-9:
                    j = extend(trees[b], q_new)
                if j is not None:
                    pa, pb = branch(trees[a], i), branch(trees[b], j)
                    path = (pa[::-1] + pb[1:]) if a == 0 else (pb[::-1] + pa[1:])
                    return self._shortcut(scene, start, path)
            a, b = b, a
        return None

    def _shortcut(self, scene, start, path):
        out, i = [path[0]], 0
        while i < len(path) - 1:
            j = len(path) - 1
            while j > i + 1 and not self._segment_free(scene, start, path[i], path[j]):
                j -= 1
            out.append(path[j])
            i = j
        return out

    def _timed(self, path: np.ndarray, vs: float, as_: float, p, t0, start) -> MotionPlanResponse:
        """A joint path timed so that no joint exceeds its scaled velocity and acceleration."""
        seg = np.abs(np.diff(path, axis=0))
        travel = seg.sum(0)
        # the slowest joint sets the time; all move along the path together
        T = max(_trapezoid_time(float(travel[j]), MAX_VELOCITY[j] * vs, MAX_ACCELERATION[j] * as_) for j in range(7))
        # a normalized arc length along the path (max-joint metric), on the same trapezoid shape
        cum = np.r_[0.0, np.cumsum(seg.max(1))]
        total = cum[-1]
        if total <= 1e-9:
            times = np.linspace(0, max(T, 0.05), len(path))
        else:
            j = int(np.argmax([_trapezoid_time(float(travel[k]), MAX_VELOCITY[k] * vs, MAX_ACCELERATION[k] * as_)
                               for k in range(7)]))
            v, a = MAX_VELOCITY[j] * vs, MAX_ACCELERATION[j] * as_
            scale = total / travel[j] if travel[j] > 0 else 1.0
            times, T = _retime(cum, total, v * scale, a * scale)
        traj = TwinTrajectory(self.planning_group_name, ARM_JOINT_NAMES, times, path.copy(), dict(start.attached))
        return MotionPlanResponse(SUCCESS, traj, p.planner_id, time.perf_counter() - t0, start)

    def _line(self, scene, start, T_goal, link, vs, as_, fail, p, t0, spacing: float = 0.005):
        """Pilz LIN: the link's origin on a straight line, its orientation slerped; IK at every
        sample from the last; the joint path must stay on one branch and out of collision."""
        d = self._double
        q0 = start.arm()
        T0 = d.kin.fk(q0, link, start.opening())
        dist = float(np.linalg.norm(T_goal[:3, 3] - T0[:3, 3]))
        R = T0[:3, :3].T @ T_goal[:3, :3]
        axis, angle = transforms3d.axangles.mat2axangle(R, unit_thresh=1e-3) if not np.allclose(R, np.eye(3)) \
            else (np.array([0, 0, 1.0]), 0.0)
        n = max(int(np.ceil(max(dist / spacing, abs(angle) / 0.02))), 2)
        qs, q = [q0], q0
        for s in np.linspace(0, 1, n + 1)[1:]:
            T = np.eye(4)
            T[:3, :3] = T0[:3, :3] @ transforms3d.axangles.axangle2mat(axis, s * angle)
            T[:3, 3] = (1 - s) * T0[:3, 3] + s * T_goal[:3, 3]
            q_next = d.kin.solve(T, link, q)
            if q_next is None:
                return fail(NO_IK_SOLUTION, f"no IK solution on the line at {s:.2f} of it")
            if np.max(np.abs(q_next - q)) > 0.25:
                return fail(PLANNING_FAILED, f"the joints jump {np.max(np.abs(q_next - q)):.2f} rad on the line "
                                             f"(a singularity or a branch change)")
            q = q_next
            qs.append(q)
        for k, (a, b) in enumerate(zip(qs[:-1], qs[1:])):
            if not self._segment_free(scene, start, a, b, step=0.02):
                hits = scene.collisions(self._state_at(start, b), self.planning_group_name)
                why = f"{hits[0][0]} - {hits[0][1]} ({hits[0][2] * 1000:.1f} mm)" if hits else "between samples"
                return fail(INVALID_MOTION_PLAN, f"the line collides at {(k + 1) / (len(qs) - 1):.2f} of it "
                                                 f"({dist * 1000:.0f} mm, {np.degrees(angle):.1f} deg): {why}")
        path = np.array(qs)
        s_path = np.linspace(0, 1, len(path))
        v_t, a_t = MAX_TRANS_VEL * vs, MAX_TRANS_ACC * as_
        T_trans = _trapezoid_time(dist, v_t, a_t)
        T_rot = _trapezoid_time(abs(angle), MAX_ROT_VEL * vs, MAX_ROT_VEL * as_ * MAX_TRANS_ACC / MAX_TRANS_VEL)
        if T_trans >= T_rot and dist > 1e-6:
            times, _ = _retime(s_path * dist, dist, v_t, a_t)
        else:
            times, _ = _retime(s_path * abs(angle), abs(angle), MAX_ROT_VEL * vs,
                               MAX_ROT_VEL * as_ * MAX_TRANS_ACC / MAX_TRANS_VEL) if angle else \
                (np.linspace(0, 0.05, len(path)), 0.05)
        traj = TwinTrajectory(self.planning_group_name, ARM_JOINT_NAMES, times, path, dict(start.attached))
        return MotionPlanResponse(SUCCESS, traj, p.planner_id, time.perf_counter() - t0, start)


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
        self.touched: set = set()           # (instance, part) the fingers touched while anything moved
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
        self.double.touched = set()
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
