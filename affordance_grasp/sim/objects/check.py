"""Checks that an object is fit for the twin: it builds, has a sane size and a part to grasp, rests
on the table without tipping over or exploding, and an open container is hollow. Used by the
tests, by ``affordance-grasp objects`` and when a user's object file is loaded."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import mujoco
import numpy as np

from ...errors import InvalidInputError
from ..collision import bulge
from .spec import ObjectSpec, local_aabb

MAX_EXTENT = 1.0     # m: larger objects are refused (a unit mistake: mm read as m)
MIN_EXTENT = 0.005   # m
# m: how far a collision piece may stand out of the visual mesh. Beyond about one sample spacing
# of the scene cloud (4 mm), fingers the planner puts in free air beside a part touch a phantom
# (the shipped decompositions stay within 5.2 mm; see sim/collision.py).
MAX_BULGE = 0.006
GRASP_AFFORDANCES = ("grasp", "hold")


@dataclass
class CheckReport:
    name: str
    extent: List[float]
    mass: float = 0.0
    tilt_deg: float = 0.0
    drift: float = 0.0
    speed: float = 0.0
    floor_z: Optional[float] = None      # where a ray down the opening stopped (hollow objects)
    bulge: float = 0.0                   # m: the most a collision piece stands out of its mesh (closed meshes)
    problems: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_shape(spec: ObjectSpec, where: str = "") -> None:
    """Raise InvalidInputError for an object that cannot enter the twin (before simulating it)."""
    label = where or spec.category
    if not spec.parts:
        raise InvalidInputError(f"{label}: the object has no parts")
    lo, hi = local_aabb(spec)
    ext = hi - lo
    if ext.max() > MAX_EXTENT:
        raise InvalidInputError(f"{label}: the object is {ext.max():.2f} m across (over {MAX_EXTENT} m): "
                                f"is the mesh in millimetres? set 'scale: 0.001'")
    if ext.max() < MIN_EXTENT:
        raise InvalidInputError(f"{label}: the object is {ext.max() * 1000:.1f} mm across (under "
                                f"{MIN_EXTENT * 1000:.0f} mm): is the mesh in metres where millimetres were meant?")
    if not any(set(GRASP_AFFORDANCES) & set(p.affordances) for p in spec.parts):
        raise InvalidInputError(f"{label}: no part has a grasp/hold affordance, so there is nowhere to grasp it")


def check_physics(spec: ObjectSpec, upright: bool = True, hollow: bool = False, seconds: float = 1.5,
                  max_tilt_deg: float = 12.0, yaw: float = 0.3) -> CheckReport:
    """Settle the object alone on the table and report how it came to rest."""
    from ..world import PlacedObject, SimWorld

    check_shape(spec)
    lo, hi = local_aabb(spec)
    world = SimWorld([PlacedObject("obj_0", spec, (0.5, 0.0, 0.001), yaw)])
    m, d = world.model, world.data
    body = world.object_body["obj_0"]
    rep = CheckReport(spec.category, (hi - lo).round(4).tolist(), mass=float(m.body_subtreemass[body]))
    p0 = d.xpos[body].copy()
    world.step(int(seconds / m.opt.timestep))
    R = d.xmat[body].reshape(3, 3)
    rep.tilt_deg = float(np.degrees(np.arccos(np.clip(R[2, 2], -1, 1))))
    rep.drift = float(np.linalg.norm(d.xpos[body][:2] - p0[:2]))
    rep.speed = float(np.linalg.norm(d.cvel[body][3:]))
    if not np.all(np.isfinite(d.qpos)) or abs(d.xpos[body][2] - p0[2]) > 0.05:
        rep.problems.append(f"exploded or fell through the table (z moved {d.xpos[body][2] - p0[2]:+.3f} m)")
    if rep.speed > 0.02:
        rep.problems.append(f"still moving at {rep.speed:.3f} m/s after {seconds} s")
    if upright and rep.tilt_deg > max_tilt_deg:
        rep.problems.append(f"tipped over: tilted {rep.tilt_deg:.0f} deg")
    if rep.drift > 0.03:
        rep.problems.append(f"slid or rolled {rep.drift * 100:.1f} cm")
    for part in spec.parts:
        for mesh in part.meshes:
            b = bulge(mesh.trimesh, mesh.pieces)
            if b is not None and b > rep.bulge:
                rep.bulge = b
                if b > MAX_BULGE:
                    rep.problems.append(f"{part.name}: its collision pieces stand {b * 1000:.0f} mm out of the mesh "
                                        f"(over {MAX_BULGE * 1000:.0f} mm): fingers would touch air there")
    if hollow:
        rep.floor_z = _floor_height(world, body, hi[2], _opening_centre(spec))
        if rep.floor_z is None or rep.floor_z > 0.5 * (hi[2] - lo[2]):
            rep.problems.append(f"not hollow: a ray down the opening stops at z = {rep.floor_z}")
    return rep


def _opening_centre(spec: ObjectSpec) -> np.ndarray:
    """Object-frame x, y of the middle of the parts that contain things (a pan's body, not its
    handle), where a ray down the opening should fall."""
    containers = [p for p in spec.parts if "contain" in p.affordances] or spec.parts
    v = np.vstack([spec.part_trimesh(p).vertices for p in containers])
    return (v.min(0) + v.max(0))[:2] / 2


def _floor_height(world, body: int, height: float, xy: np.ndarray) -> Optional[float]:
    """Height above the table where a ray cast straight down at object-frame ``xy`` first hits it."""
    m, d = world.model, world.data
    R = d.xmat[body].reshape(3, 3)
    centre = d.xpos[body] + R @ np.array([xy[0], xy[1], 0.0])
    start = centre + np.array([0.0, 0.0, height + 0.2])
    geomid = np.array([-1], np.int32)
    dist = mujoco.mj_ray(m, d, start, np.array([0.0, 0.0, -1.0]), None, 1, -1, geomid)
    if dist < 0 or m.geom_bodyid[geomid[0]] != body:
        return None
    return float(start[2] - dist)
