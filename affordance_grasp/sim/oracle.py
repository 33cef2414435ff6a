"""Grasps from ground-truth geometry: the upper bound that ``sim-check`` executes.

No camera is involved: the scene's true surfaces (every object's visual mesh, faces hidden from
this camera included) are sampled into a cloud with exact normals, and the grasp generator runs on it
with the queried part as its target. So the oracle needs no per-category grasp hints and works on
any object that enters the twin, users' meshes included; it validates the twin (grip force,
friction, contacts, lift), not perception.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np
import trimesh

from ..errors import InvalidInputError
from ..grasping.antipodal import AntipodalGenerator
from ..grasping.base import Candidates
from ..grasping.cloud import SceneCloud
from ..types import Grasp
from .objects.registry import real_mass_range
from .world import SimWorld


def _world_mesh(world: SimWorld, instance: str, part) -> trimesh.Trimesh:
    placed = world.objects[instance]
    m = placed.spec.part_trimesh(part)
    return m.apply_transform(world.object_pose(instance))


def seen_from_outside(points: np.ndarray, meshes: List[trimesh.Trimesh], directions: int = 32) -> np.ndarray:
    """(N,) True where a point on the meshes' surfaces can be seen from some direction: a ray from
    it along one of ``directions`` spread over the sphere escapes the scene. A jar's threads under
    its lid, a bottle's inside below its neck, are seen by no camera and touched by no finger;
    counted as another part between the pads, they would bar every grasp on the lid."""
    import open3d as o3d
    scene = o3d.t.geometry.RaycastingScene()
    for m in meshes:
        scene.add_triangles(o3d.core.Tensor(np.asarray(m.vertices, np.float32)),
                            o3d.core.Tensor(np.asarray(m.faces, np.uint32)))
    k = np.arange(directions) + 0.5                   # a Fibonacci sphere: evenly spread directions
    z = 1 - 2 * k / directions
    phi = np.pi * (1 + 5 ** 0.5) * k
    d = np.stack([np.sqrt(1 - z ** 2) * np.cos(phi), np.sqrt(1 - z ** 2) * np.sin(phi), z], 1)
    origins = points[:, None, :] + 5e-4 * d[None]     # off the surface the point lies on
    rays = np.concatenate([origins, np.broadcast_to(d, origins.shape)], 2).reshape(-1, 6).astype(np.float32)
    blocked = scene.test_occlusions(o3d.core.Tensor(rays)).numpy().reshape(len(points), directions)
    return ~blocked.all(1)


def ground_truth_cloud(world: SimWorld, instance: str, part: str, spacing: float = 0.003,
                       seed: int = 0) -> SceneCloud:
    """Surface samples of every object (about one per ``spacing`` squared) with face normals, where
    they can be seen from outside; the target is ``instance``'s ``part``."""
    placed = world.objects.get(instance)
    if placed is None:
        raise InvalidInputError(f"no object {instance!r} in the scene; objects: {sorted(world.objects)}")
    placed.spec.part(part)  # raises for an unknown part
    rng = np.random.default_rng(seed)
    pts, nrm, tgt, body, meshes = [], [], [], [], []
    for inst, obj in world.objects.items():
        for p in obj.spec.parts:
            mesh = _world_mesh(world, inst, p)
            meshes.append(mesh)
            n = int(np.clip(mesh.area / spacing ** 2, 50, 20000))
            samples, faces = trimesh.sample.sample_surface(mesh, n, seed=int(rng.integers(1 << 31)))
            pts.append(samples)
            nrm.append(mesh.face_normals[faces])
            tgt.append(np.full(len(samples), inst == instance and p.name == part))
            body.append(np.full(len(samples), inst == instance))
    points = np.vstack(pts)
    seen = seen_from_outside(points, meshes)
    points, normals = points[seen], np.vstack(nrm)[seen]
    target, body = np.concatenate(tgt)[seen], np.concatenate(body)[seen]
    n = len(points)
    return SceneCloud(points=points, normals=normals, pixels=np.zeros((n, 2), int), is_table=np.zeros(n, bool),
                      cluster=np.zeros(n, int), target=target, camera_position=np.array([1.2, 0.0, 0.6]),
                      table_height=0.0, frame=None, body=body)


def oracle_grasps(world: SimWorld, instance: str, part: str, generator: Optional[AntipodalGenerator] = None,
                  seed: int = 0) -> Candidates:
    """Grasps on the true surface of ``part``, best quality first (may be empty), with the
    generator's report."""
    gen = generator or AntipodalGenerator()
    cloud = ground_truth_cloud(world, instance, part, seed=seed)
    # The kind is known here, as it is to the pipeline once grounding has named it.
    cloud.mass_range = real_mass_range(world.objects[instance].spec.category)
    return gen.generate(cloud, seed=seed)


def graspable_parts(spec) -> List[str]:
    """Parts meant for the fingers: those with a grasp or hold affordance."""
    return [p.name for p in spec.parts if {"grasp", "hold"} & set(p.affordances)]


def oracle_grasp(world: SimWorld, instance: str, part: str, executor=None, max_checked: int = 40) -> Grasp:
    """The best oracle grasp on ``part`` that ``executor`` (default: a SimExecutor on ``world``)
    can reach; InvalidInputError if there is none."""
    if executor is None:
        from .executor import SimExecutor
        executor = SimExecutor(world)
    grasps = oracle_grasps(world, instance, part)
    for g in grasps[:max_checked]:
        if executor.check_reachable(g):
            return g
    raise InvalidInputError(f"no reachable oracle grasp on {instance}/{part} ({len(grasps)} candidates)")
