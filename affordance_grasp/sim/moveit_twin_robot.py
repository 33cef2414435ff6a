"""The robot side of the moveit_py double (sim/moveit_twin.py): moveit_resources' Panda names and
groups, the RobotModel, the ROS messages the MoveIt backend builds, the twin's kinematics and
collision geometry (FK, IK held as tight as KDL's, signed distances to planning-scene boxes) and
RobotState. CONTRACT TEST DOUBLE: not MoveIt."""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Dict, List, Optional, Sequence, Tuple

import mujoco
import numpy as np
import transforms3d

from ..geometry import make_transform
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
        return make_transform(self.data.site_xmat[sid].reshape(3, 3), self.data.site_xpos[sid])

    def link_pose(self, link: str) -> np.ndarray:
        b = self.body[link]
        return make_transform(self.data.xmat[b].reshape(3, 3), self.data.xpos[b])

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
        boxes = []
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

        def link_depth(link: str, g: int) -> float:
            """How deep the first of ``link``'s collision geoms that reaches box ``g`` is in it."""
            for lg in self.link_geoms[link]:
                dep = depth(lg, g)
                if dep > 0:
                    return dep
            return 0.0

        world = [(oid, g) for oid, g in boxes if not isinstance(oid, tuple)]
        mine = [(oid, g) for oid, g in boxes if isinstance(oid, tuple)]

        def pairs():
            """(a, b, depth) of every pair the check covers, the depth found only when asked for."""
            for link in links:
                for oid, g in world:
                    if not allowed(oid, link):
                        yield link, oid, link_depth(link, g)
            for (_, aid, touch), g in mine:
                for oid, wg in world:
                    if oid != aid and not allowed(aid, oid):
                        yield aid, oid, depth(g, wg)
                for link in LINKS:
                    if link not in touch and not allowed(aid, link):
                        yield aid, link, link_depth(link, g)

        out = []
        for a, b, dep in pairs():
            if dep > 0:
                out.append((a, b, dep))
                if first:
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
