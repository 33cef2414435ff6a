"""Grasps built from ground-truth geometry: the upper bound used by sim-check."""
from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from ..geometry import make_transform, transform_points
from ..types import Grasp
from .world import SimWorld


SIDE_PITCH = 0.0


def grasp_frame(approach: np.ndarray, closing: np.ndarray, position: np.ndarray) -> np.ndarray:
    """TCP pose with z = approach and y = closing (re-orthogonalised against the approach)."""
    z = approach / np.linalg.norm(approach)
    y = closing - z * (closing @ z)
    n = np.linalg.norm(y)
    if n < 1e-6:
        raise InvalidInputError("closing axis is parallel to the approach axis")
    y /= n
    return make_transform(np.stack([np.cross(y, z), y, z], axis=1), position)


def oracle_grasp(world: SimWorld, instance: str, part: str, hint_index: int = 0) -> Grasp:
    placed = world.objects.get(instance)
    if placed is None:
        raise InvalidInputError(f"no object {instance!r} in the scene; objects: {sorted(world.objects)}")
    spec_part = placed.spec.part(part)
    if not spec_part.grasp:
        raise InvalidInputError(f"{placed.spec.category}/{part} has no grasp hint")
    hint = spec_part.grasp[hint_index]
    T_obj = world.object_pose(instance)
    p = transform_points(T_obj, np.asarray(hint.pos))[0]
    closing = T_obj[:3, :3] @ np.asarray(hint.closing, float)
    if hint.approach == "top":
        approach = np.array([0.0, 0.0, -1.0])
        closing[2] = 0.0
    else:  # side: from the robot towards the part, level
        horizontal = np.array([p[0], p[1], 0.0]) / np.hypot(p[0], p[1])
        approach = horizontal + np.array([0.0, 0.0, -np.tan(SIDE_PITCH)])
        closing = np.cross([0.0, 0.0, 1.0], horizontal)
    pose = grasp_frame(approach, closing, p)
    y = pose[:3, 1]
    contacts = np.stack([p - y * hint.width / 2, p + y * hint.width / 2])
    return Grasp(pose=pose, width=hint.width, quality=1.0, affordance_score=1.0, score=1.0, contacts=contacts)
