"""The MuJoCo world: table, lights, Panda, RGB-D camera, and a set of part-labelled objects.

A new set of objects means a new compiled model (MjSpec -> MjModel, a few tens of ms), so a
:class:`SimWorld` is one scene; :mod:`.scene` samples them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import mujoco
import numpy as np
import transforms3d

from ..geometry import look_at, pose_from_quat
from ..types import CameraIntrinsics
from .materials import CONTACT_RADIUS, MATERIALS, TABLE_FRICTION, Appearance
from .objects import ObjectSpec, geom_name, parse_geom_name
from .objects.spec import density_factor
from .robot import (ARM_JOINTS, FINGER_GEOMS, FINGER_JOINTS, HOME_Q, MAX_OPENING, PREFIX, TCP_SITE,
                    GripperConfig, build_robot_spec, robot_geom_ids)

_MJ_TYPES = {"box": mujoco.mjtGeom.mjGEOM_BOX, "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
             "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE, "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
             "ellipsoid": mujoco.mjtGeom.mjGEOM_ELLIPSOID, "mesh": mujoco.mjtGeom.mjGEOM_MESH}
# MuJoCo cameras look down their -z with y up; the optical frame looks down +z with y down.
_OPTICAL_TO_MJCAM = np.diag([1.0, -1.0, -1.0])
CAMERA_NAME = "rgbd"
TABLE_GEOM = "table"
VISUAL_GROUP = 1      # drawn
COLLISION_GROUP = 3   # convex pieces: collide, not drawn (MuJoCo hides groups 3-5 by default)


@dataclass
class CameraConfig:
    """A RealSense D435-like colour camera (640x480, ~615 px focal) looking down at the table
    from the front. ``eye``/``target`` are in the base frame."""

    width: int = 640
    height: int = 480
    fy: float = 615.0
    eye: Tuple[float, float, float] = (1.20, 0.0, 0.62)
    target: Tuple[float, float, float] = (0.50, 0.0, 0.02)
    near: float = 0.1
    far: float = 3.0
    # A camera on the wrist instead: the optical frame in the flange frame (panda_link8) as
    # [x y z qw qx qy qz], the hand-eye calibration a real wrist camera has. None: fixed at eye.
    wrist: Optional[Tuple[float, ...]] = None

    def intrinsics(self) -> CameraIntrinsics:
        # MuJoCo renders square pixels with the principal point at the image centre.
        return CameraIntrinsics(self.fy, self.fy, (self.width - 1) / 2, (self.height - 1) / 2, self.width, self.height)

    def fovy_deg(self) -> float:
        return float(np.rad2deg(2 * np.arctan(0.5 * self.height / self.fy)))

    def T_base_camera(self) -> np.ndarray:
        return look_at(self.eye, self.target)


@dataclass
class PlacedObject:
    instance: str
    spec: ObjectSpec
    position: Tuple[float, float, float]  # object-frame origin in the base frame
    yaw: float


@dataclass
class WorldConfig:
    camera: CameraConfig = field(default_factory=CameraConfig)
    gripper: GripperConfig = field(default_factory=GripperConfig)
    table_size: Tuple[float, float] = (1.2, 1.2)      # x, y extent
    table_center: Tuple[float, float] = (0.45, 0.0)
    table_rgba: Tuple[float, float, float, float] = (0.62, 0.5, 0.38, 1.0)
    table_texture: Optional[np.ndarray] = field(default=None, repr=False)  # HxWx3 uint8, tiled
    light_dir: Tuple[float, float, float] = (-0.3, 0.2, -1.0)             # key light direction
    light_rgb: Tuple[float, float, float] = (1.0, 1.0, 1.0)               # key light colour
    light_intensity: float = 0.7
    ambient: float = 0.25
    timestep: float = 0.002
    # Friction constraints this many times stiffer than the normal ones. MuJoCo's soft contacts let
    # a grip creep under loads well inside its friction limit; its modelling guide ("Solver
    # settings": elliptic cones and a large impratio) suppresses that without moving the limit;
    # MuJoCo Menagerie's quadrupeds use 100. At 10, a 50 g fork pinched across its handle at 70 N
    # a finger rolled out of the pads in a 10 cm lift (about 17 degrees a second), under a load
    # about 1 % of what the pads' friction resists; at 100 it stays.
    impratio: float = 100.0
    # What is left of that drift, MuJoCo's noslip pass removes (option "noslip_iterations": "a
    # post-processing step executed after the main solver ... to suppress slip/drift in friction
    # dimensions resulting from the soft-constraint model"; early termination at its tolerance,
    # 1e-6). Without it a 150 g pair of pliers pinched across both handles at 70 N a finger was
    # lifted 14 cm with no turn, then crept 1 mm along the pads in the next half second and shot
    # out of them; with it it is held. A load past the friction limit still slips: a 2 kg pan or
    # a 1.4 kg kettle taken where its weight turns it out of the pads falls as before.
    noslip_iterations: int = 10


def _add_texture(spec: mujoco.MjSpec, name: str, image: np.ndarray) -> str:
    img = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    tex = spec.add_texture(name=name, type=mujoco.mjtTexture.mjTEXTURE_2D, width=img.shape[1],
                           height=img.shape[0], nchannel=3)
    tex.data = img.tobytes()
    return name


def _add_material(spec: mujoco.MjSpec, name: str, app: Appearance, texrepeat=(1.0, 1.0)) -> str:
    mat = spec.add_material(name=name, rgba=[1, 1, 1, 1] if app.texture is not None else list(app.rgba),
                            specular=app.specular, shininess=app.shininess, reflectance=app.reflectance)
    if app.texture is not None:
        roles = list(mat.textures)
        roles[int(mujoco.mjtTextureRole.mjTEXROLE_RGB)] = _add_texture(spec, name + "/tex", app.texture)
        mat.textures = roles
        mat.texrepeat = list(texrepeat)
    return name


def _add_mesh(spec: mujoco.MjSpec, name: str, vertices, faces=None, texcoords=None, shell=False) -> str:
    m = spec.add_mesh(name=name)
    m.uservert = np.asarray(vertices, float).ravel().tolist()
    if faces is not None:
        m.userface = np.asarray(faces, int).ravel().tolist()
    if texcoords is not None:
        m.usertexcoord = np.asarray(texcoords, float).ravel().tolist()
    if shell:  # visual-only meshes carry no mass; scans need not be closed
        m.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
    return name


def _add_object(world: mujoco.MjsBody, spec: mujoco.MjSpec, obj: PlacedObject) -> None:
    """One free body per object. Primitive geoms are drawn and collided as they are; a mesh part
    is drawn from its visual mesh (no contacts, no mass) and collides through its convex pieces
    (group 3, not drawn), so a hollow body stays hollow."""
    body = world.add_body(name=obj.instance, pos=list(obj.position),
                          quat=[np.cos(obj.yaw / 2), 0, 0, np.sin(obj.yaw / 2)])
    body.add_freejoint(name=f"{obj.instance}/free")
    for mname, mesh in obj.spec.meshes.items():
        _add_mesh(spec, f"{obj.instance}/{mname}", mesh["vertices"], mesh.get("faces"))
    for part in obj.spec.parts:
        mat = MATERIALS.get(part.material) or MATERIALS["plastic"]
        mu = obj.spec.friction if obj.spec.friction is not None else mat.friction
        friction = [mu, mu * 2 / 3 * CONTACT_RADIUS, 1e-4]
        app = part.appearance or Appearance(tuple(part.rgba), None, mat.specular, mat.shininess, mat.reflectance)
        mat_name = _add_material(spec, f"{obj.instance}/{part.name}/mat", app)
        scale = density_factor(part, obj.spec.meshes)   # a stated mass wins over the material's density
        k = 0
        for g in part.geoms:
            geom = body.add_geom(name=geom_name(obj.instance, part.name, k), type=_MJ_TYPES[g.type],
                                 pos=list(g.pos), quat=list(g.quat), material=mat_name)
            if g.type == "mesh":
                geom.meshname = f"{obj.instance}/{g.mesh}"
            else:
                geom.size = list(g.size) + [0.0] * (3 - len(g.size))
            geom.density = g.density * scale
            geom.friction, geom.condim, geom.solref = friction, 4, [0.004, 1.0]
            k += 1
        for i, m in enumerate(part.meshes):
            vis = _add_mesh(spec, f"{obj.instance}/{part.name}/vis{i}", m.vertices, m.faces, m.texcoords, shell=True)
            body.add_geom(name=geom_name(obj.instance, part.name, k), type=mujoco.mjtGeom.mjGEOM_MESH, meshname=vis,
                          material=mat_name, contype=0, conaffinity=0, density=0.0, group=VISUAL_GROUP)
            k += 1
            density = mat.density * m.density_scale() * scale
            for j, piece in enumerate(m.pieces):
                col = _add_mesh(spec, f"{obj.instance}/{part.name}/col{i}_{j}", piece)
                body.add_geom(name=geom_name(obj.instance, part.name, k), type=mujoco.mjtGeom.mjGEOM_MESH,
                              meshname=col, group=COLLISION_GROUP, density=density, friction=friction, condim=4,
                              solref=[0.004, 1.0], rgba=[0.5, 0.5, 0.5, 0.3])
                k += 1


def build_world_spec(objects: List[PlacedObject], cfg: WorldConfig) -> mujoco.MjSpec:
    spec = mujoco.MjSpec()
    spec.modelname = "affordance_grasp_twin"
    spec.option.timestep = cfg.timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = cfg.impratio
    spec.option.noslip_iterations = cfg.noslip_iterations
    spec.visual.global_.offwidth = max(cfg.camera.width, 640)
    spec.visual.global_.offheight = max(cfg.camera.height, 480)
    spec.visual.map.znear = cfg.camera.near / spec.stat.extent if spec.stat.extent > 0 else 0.01
    spec.visual.headlight.ambient = [cfg.ambient] * 3
    spec.visual.headlight.diffuse = [0.35, 0.35, 0.35]
    world = spec.worldbody

    # Table top at z = 0; the robot base stands on it at the origin.
    tx, ty = cfg.table_size
    table_app = Appearance(tuple(cfg.table_rgba), cfg.table_texture, 0.2, 0.2, 0.0)
    table_mat = _add_material(spec, "table/mat", table_app, texrepeat=(4.0, 4.0))
    world.add_geom(name=TABLE_GEOM, type=mujoco.mjtGeom.mjGEOM_BOX, size=[tx / 2, ty / 2, 0.02],
                   pos=[cfg.table_center[0], cfg.table_center[1], -0.02], material=table_mat,
                   friction=[TABLE_FRICTION, 0.005, 1e-4])
    key_dir = np.asarray(cfg.light_dir, float)
    key_rgb = np.asarray(cfg.light_rgb, float) * cfg.light_intensity
    world.add_light(name="key", pos=[0.6, -0.4, 1.8], dir=list(key_dir / np.linalg.norm(key_dir)),
                    diffuse=key_rgb.tolist(), specular=[0.2] * 3, castshadow=True)
    world.add_light(name="fill", pos=[1.5, 0.5, 1.2], dir=[-0.7, -0.3, -0.6], diffuse=[0.3] * 3,
                    specular=[0.0] * 3, castshadow=False)

    # Camera: position + orientation from the optical pose (on the stand, or on the flange).
    robot = build_robot_spec(cfg.gripper)
    if cfg.camera.wrist is not None:
        T = pose_from_quat(cfg.camera.wrist[:3], cfg.camera.wrist[3:])
        parent = robot.body("panda_link8")
    else:
        T, parent = cfg.camera.T_base_camera(), world
    R = T[:3, :3] @ _OPTICAL_TO_MJCAM
    parent.add_camera(name=CAMERA_NAME, pos=list(T[:3, 3]), quat=list(transforms3d.quaternions.mat2quat(R)),
                      fovy=cfg.camera.fovy_deg())

    frame = world.add_frame(pos=[0, 0, 0])
    frame.attach_body(robot.body("panda_link0"), PREFIX, "")
    for obj in objects:
        _add_object(world, spec, obj)
    return spec


class SimWorld:
    """A compiled scene with handy indices; physics state lives in ``data``."""

    def __init__(self, objects: List[PlacedObject], cfg: Optional[WorldConfig] = None):
        self.cfg = cfg or WorldConfig()
        self.on_step = None   # called after every step(): sim_node paces motions to the wall clock with it
        self.objects = {o.instance: o for o in objects}
        self.spec = build_world_spec(objects, self.cfg)
        self.model = self.spec.compile()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.arm_qpos_adr = np.array([m.jnt_qposadr[m.joint(j).id] for j in ARM_JOINTS])
        self.arm_dof_adr = np.array([m.jnt_dofadr[m.joint(j).id] for j in ARM_JOINTS])
        self.arm_act = np.array([m.actuator(j).id for j in ARM_JOINTS])
        self.gripper_act = m.actuator(PREFIX + "gripper").id
        self.finger_qpos_adr = np.array([m.jnt_qposadr[m.joint(j).id] for j in FINGER_JOINTS])
        self.finger_geoms = np.array([m.geom(g).id for g in FINGER_GEOMS])
        self.robot_geoms = robot_geom_ids(m)
        self.tcp_site = m.site(TCP_SITE).id
        self.table_geom = m.geom(TABLE_GEOM).id
        self.camera_id = m.camera(PREFIX + CAMERA_NAME if self.cfg.camera.wrist is not None else CAMERA_NAME).id
        # geom id -> (instance, part); -1 entries are not object parts
        self.geom_part: Dict[int, Tuple[str, str]] = {}
        for g in range(m.ngeom):
            parsed = parse_geom_name(m.geom(g).name)
            if parsed and parsed[0] in self.objects:
                self.geom_part[g] = parsed
        self.object_body = {name: m.body(name).id for name in self.objects}
        self.reset()

    # ----------------------------------------------------------------- state
    def reset(self) -> None:
        mujoco.mj_resetData(self.model, self.data)
        self.set_arm_qpos(HOME_Q)
        self.data.ctrl[self.arm_act] = HOME_Q
        self.set_gripper(MAX_OPENING)
        self.data.qpos[self.finger_qpos_adr] = MAX_OPENING / 2
        mujoco.mj_forward(self.model, self.data)

    def set_arm_qpos(self, q: np.ndarray) -> None:
        self.data.qpos[self.arm_qpos_adr] = q
        self.data.qvel[self.arm_dof_adr] = 0

    def arm_qpos(self) -> np.ndarray:
        return self.data.qpos[self.arm_qpos_adr].copy()

    def set_gripper(self, opening: float) -> None:
        """Command the total finger opening in metres; 0 or less means close with full force."""
        lo, hi = self.model.actuator_ctrlrange[self.gripper_act]
        self.data.ctrl[self.gripper_act] = np.clip(opening / 2, lo, hi)

    def gripper_opening(self) -> float:
        return float(self.data.qpos[self.finger_qpos_adr].sum())

    def step(self, n: int = 1) -> None:
        mujoco.mj_step(self.model, self.data, nstep=n)
        if self.on_step is not None:
            self.on_step()

    def settle(self, seconds: float = 0.5) -> None:
        """Let objects come to rest with the arm holding its pose."""
        self.data.ctrl[self.arm_act] = self.arm_qpos()
        self.step(int(seconds / self.model.opt.timestep))

    def tcp_pose(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = self.data.site_xmat[self.tcp_site].reshape(3, 3)
        T[:3, 3] = self.data.site_xpos[self.tcp_site]
        return T

    def object_pose(self, instance: str) -> np.ndarray:
        b = self.object_body[instance]
        T = np.eye(4)
        T[:3, :3] = self.data.xmat[b].reshape(3, 3)
        T[:3, 3] = self.data.xpos[b]
        return T

    def camera_pose(self) -> np.ndarray:
        """The camera's optical frame in the base frame now (it moves with a wrist camera)."""
        T = np.eye(4)
        T[:3, :3] = self.data.cam_xmat[self.camera_id].reshape(3, 3) @ _OPTICAL_TO_MJCAM
        T[:3, 3] = self.data.cam_xpos[self.camera_id]
        return T

    def object_com(self, instance: str) -> np.ndarray:
        return self.data.xipos[self.object_body[instance]].copy()

    # ----------------------------------------------------------------- contacts
    def finger_contacts(self) -> List[Tuple[str, str]]:
        """(instance, part) pairs currently touched by a finger pad."""
        out = []
        fingers = set(self.finger_geoms.tolist())
        for i in range(self.data.ncon):
            c = self.data.contact[i]
            g1, g2 = int(c.geom1), int(c.geom2)
            for a, b in ((g1, g2), (g2, g1)):
                if a in fingers and b in self.geom_part:
                    out.append(self.geom_part[b])
        return out

    def robot_collisions(self, allowed_geoms=(), max_penetration: float = 0.0) -> List[Tuple[str, str, float]]:
        """Contacts between the robot and anything else (table, objects) deeper than
        ``max_penetration``, ignoring robot geoms against ``allowed_geoms``."""
        robot = set(self.robot_geoms.tolist())
        allowed = set(allowed_geoms)
        out = []
        for i in range(self.data.ncon):
            c = self.data.contact[i]
            g1, g2 = int(c.geom1), int(c.geom2)
            if (g1 in robot) == (g2 in robot):
                continue
            other = g2 if g1 in robot else g1
            if other in allowed or -c.dist <= max_penetration:
                continue
            mine = g1 if g1 in robot else g2
            out.append((self.model.geom(mine).name, self.model.geom(other).name, float(-c.dist)))
        return out
