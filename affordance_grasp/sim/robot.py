"""The Franka Panda arm + hand as an MjSpec, with position-controlled joints and a gripper
that really squeezes.

The shipped hand actuator is a weak servo (about 600 N/m x opening): a mug held by its 1.2 cm
handle slips out. We replace it by a stiff position servo whose target is driven past the
closed stop, so the fingers press with a bounded force (``grip_force`` per finger).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import mujoco
import numpy as np
import trimesh

from .assets import panda_assets_dir
from .materials import CONTACT_RADIUS, PAD_FRICTION

# Names inside the robot spec; the world attaches it under PREFIX.
PREFIX = "robot/"
_ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
_FINGER_GEOMS = ("hand/panda_leftfinger_collision", "hand/panda_rightfinger_collision")
ARM_JOINTS = tuple(PREFIX + j for j in _ARM_JOINTS)
FINGER_JOINTS = (PREFIX + "hand/panda_finger_joint1", PREFIX + "hand/panda_finger_joint2")
FINGER_GEOMS = tuple(PREFIX + g for g in _FINGER_GEOMS)
TCP_SITE = PREFIX + "tcp"
ROOT_BODY = PREFIX + "panda_link0"
HOME_Q = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
MAX_OPENING = 0.08
# TCP: midway between the finger pads, 9 mm above the fingertips (the standard Panda TCP).
TCP_OFFSET = 0.1034


@dataclass
class GripperConfig:
    grip_force: float = 70.0   # N per finger, the Panda's continuous force (Franka Hand datasheet)
    stiffness: float = 6000.0  # N/m on the per-finger opening
    friction: float = PAD_FRICTION  # below every object material: the object's coefficient governs


_KP = (4500, 4500, 3500, 3500, 2000, 2000, 2000)
_KV = (450, 450, 350, 350, 200, 200, 200)
_TORQUE = (87, 87, 87, 87, 12, 12, 12)


def _add_position_actuator(spec, name, target, kp, kv, force, ctrlrange, trntype=mujoco.mjtTrn.mjTRN_JOINT):
    act = spec.add_actuator(name=name, target=target, trntype=trntype)
    act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
    act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
    act.gainprm[0] = kp
    act.biasprm[0:3] = [0.0, -kp, -kv]
    act.forcelimited = True
    act.forcerange = [-force, force]
    act.ctrllimited = True
    act.ctrlrange = list(ctrlrange)
    return act


MAX_LINK_FACES = 3000  # per visual mesh of the arm and hand


@functools.lru_cache(maxsize=None)
def _light_mesh(path: str) -> tuple:
    """A link mesh decimated to MAX_LINK_FACES (vertices, faces). The shipped meshes hold 134k
    triangles, and uploading them to a renderer for every new scene cost more than rendering it."""
    loaded = trimesh.load(path, force="mesh", process=False)
    # Drop the texture seams first: split vertices make an open mesh that decimation tears apart.
    mesh = trimesh.Trimesh(loaded.vertices, loaded.faces, process=True)
    mesh.merge_vertices(digits_vertex=6)
    if len(mesh.faces) > MAX_LINK_FACES:
        mesh = mesh.simplify_quadric_decimation(face_count=MAX_LINK_FACES)
    return np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)


def _lighten(spec: mujoco.MjSpec, folder) -> None:
    """Swap every file mesh for its decimated copy, and the textured materials for plain ones
    (decimation drops texture coordinates)."""
    for mesh in spec.meshes:
        if not mesh.file:
            continue
        v, f = _light_mesh(str(folder / mesh.file))
        mesh.file = ""
        mesh.uservert = v.ravel().tolist()
        mesh.userface = f.ravel().tolist()
    for mat in spec.materials:
        mat.textures = [""] * len(mat.textures)
    for tex in list(spec.textures):
        spec.delete(tex)


def build_robot_spec(gripper: GripperConfig | None = None) -> mujoco.MjSpec:
    """Arm + hand, base at the spec's world origin, with actuators named after their joints
    and a ``gripper`` actuator whose control is the per-finger opening in metres."""
    gripper = gripper or GripperConfig()
    d = panda_assets_dir()
    arm = mujoco.MjSpec.from_file(str(d / "panda.xml"))
    hand = mujoco.MjSpec.from_file(str(d / "panda_hand.xml"))
    for s in (arm, hand):
        s.meshdir = str(d)
        s.texturedir = str(d)
        _lighten(s, d)
    for a in list(hand.actuators):
        hand.delete(a)
    # The flange-to-hand rotation of the real robot: -45 degrees about z.
    frame = arm.body("panda_link8").add_frame(quat=[np.cos(-np.pi / 8), 0, 0, np.sin(-np.pi / 8)])
    frame.attach_body(hand.body("panda_hand"), "hand/", "")
    arm.body("hand/panda_hand").add_site(name="tcp", pos=[0, 0, TCP_OFFSET], size=[0.004, 0, 0])
    # The shipped finger collision is one 3 x 2.4 x 4.4 cm box; the real finger (finger.obj) is
    # 15.7 mm thick along its pad and 26 mm at its root. Two boxes follow it (config/gripper), so
    # a finger fits where the real one fits (inside a mug handle, beside a knife on the table).
    for gname in _FINGER_GEOMS:
        g = arm.geom(gname)
        body = g.parent
        g.pos, g.size = [0.0, 0.008, 0.037], [0.0095, 0.008, 0.017]            # pad: TCP -25 mm .. +9 mm
        base = body.add_geom(name=gname + "_base", type=mujoco.mjtGeom.mjGEOM_BOX, pos=[0.0, 0.013, 0.010],
                             size=[0.0105, 0.013, 0.010], group=5, rgba=[1, 1, 1, 0.3])  # root: -45 .. -25 mm
        for geom in (g, base):
            geom.friction = [gripper.friction, gripper.friction * 2 / 3 * CONTACT_RADIUS, 1e-4]
            geom.condim = 4
            geom.solref = [0.004, 1.0]
    for i, j in enumerate(_ARM_JOINTS):
        _add_position_actuator(arm, j, j, _KP[i], _KV[i], _TORQUE[i], arm.joint(j).range)
    # Per-finger opening target; the range reaches below 0 so that "close" keeps pressing.
    # The tendon averages the two finger joints, so each finger sees half the actuator force.
    over = 2 * gripper.grip_force / gripper.stiffness
    _add_position_actuator(arm, "gripper", "hand/split", gripper.stiffness, 2 * np.sqrt(gripper.stiffness * 0.1),
                           2 * gripper.grip_force, (-over, MAX_OPENING / 2), trntype=mujoco.mjtTrn.mjTRN_TENDON)
    return arm


def robot_geom_ids(model: mujoco.MjModel, root_body: str = ROOT_BODY) -> np.ndarray:
    """Ids of every geom that belongs to the robot subtree."""
    root = model.body(root_body).id
    out = []
    for g in range(model.ngeom):
        b = model.geom_bodyid[g]
        while b != 0 and b != root:
            b = model.body_parentid[b]
        if b == root:
            out.append(g)
    return np.array(out, dtype=int)
