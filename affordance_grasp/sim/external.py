"""User objects in the twin: from an MJCF file or from OBJ/STL meshes, with a map from geom or
mesh names to part labels and from parts to affordances.

MuJoCo collides meshes through their convex hulls; we hand it the hull (open3d) of each mesh,
so a part that is concave should come as several meshes or geoms (a convex decomposition).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional

import mujoco
import numpy as np
import transforms3d
import yaml

from ..errors import ConfigError, InvalidInputError
from .objects import CATEGORIES, GeomSpec, GraspHint, ObjectSpec, PartSpec

_TYPE_NAMES = {int(mujoco.mjtGeom.mjGEOM_BOX): "box", int(mujoco.mjtGeom.mjGEOM_CYLINDER): "cylinder",
               int(mujoco.mjtGeom.mjGEOM_CAPSULE): "capsule", int(mujoco.mjtGeom.mjGEOM_SPHERE): "sphere",
               int(mujoco.mjtGeom.mjGEOM_ELLIPSOID): "ellipsoid", int(mujoco.mjtGeom.mjGEOM_MESH): "mesh"}


def _colour(i: int):
    rng = np.random.default_rng(i)
    return tuple(rng.uniform(0.2, 0.9, 3).tolist()) + (1.0,)


def _hint_for(part_points: np.ndarray, lo_z: float) -> GraspHint:
    """Top-down grasp at the part's centre, closing across its narrower horizontal extent."""
    lo, hi = part_points.min(0), part_points.max(0)
    ext = hi - lo
    closing = (1, 0, 0) if ext[0] < ext[1] else (0, 1, 0)
    centre = (lo + hi) / 2
    z = max(hi[2] - 0.011, lo_z + 0.012)
    return GraspHint((float(centre[0]), float(centre[1]), float(z)), closing, "top", float(min(ext[0], ext[1])))


def _build_spec(category: str, geoms: Dict[str, list], affordances: Mapping[str, Iterable[str]],
                meshes: Dict[str, dict], points: Dict[str, np.ndarray], friction: float) -> ObjectSpec:
    unknown = set(affordances) - set(geoms)
    if unknown:
        raise ConfigError(f"affordances name parts {sorted(unknown)} that no geom maps to; parts: {sorted(geoms)}")
    # Object frame: lowest point on z = 0, centred in x/y like the procedural objects.
    allp = np.concatenate(list(points.values()))
    shift = np.array([-(allp[:, 0].min() + allp[:, 0].max()) / 2, -(allp[:, 1].min() + allp[:, 1].max()) / 2,
                      -allp[:, 2].min()])
    parts = []
    for i, (part, gs) in enumerate(sorted(geoms.items())):
        for g in gs:
            g.pos = tuple((np.asarray(g.pos) + shift).tolist())
        affs = tuple(affordances.get(part, ()))
        grasp = [_hint_for(points[part] + shift, 0.0)] if {"grasp", "hold"} & set(affs) else []
        parts.append(PartSpec(part, affs, gs, _colour(i), grasp))
    return ObjectSpec(category, parts, friction=friction, meshes=meshes)


def load_mjcf_object(path, part_map: Mapping[str, str], affordances: Mapping[str, Iterable[str]],
                     category: Optional[str] = None, friction: float = 1.0) -> ObjectSpec:
    """Geoms of every body in an MJCF file, flattened into one rigid object. ``part_map`` maps
    geom names to part labels; geoms it does not name are ignored (e.g. visual-only ones)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"MJCF file not found: {path}")
    try:
        model = mujoco.MjModel.from_xml_path(str(path))
    except ValueError as e:
        raise ConfigError(f"cannot load MJCF {path}: {e}") from None
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    geoms: Dict[str, list] = {}
    meshes: Dict[str, dict] = {}
    points: Dict[str, list] = {}
    found = set()
    for g in range(model.ngeom):
        name = model.geom(g).name
        if name not in part_map:
            continue
        found.add(name)
        part = part_map[name]
        gtype = _TYPE_NAMES.get(int(model.geom_type[g]))
        if gtype is None:
            raise ConfigError(f"geom {name!r} has an unsupported type for objects")
        R = data.geom_xmat[g].reshape(3, 3)
        pos, quat = data.geom_xpos[g].copy(), transforms3d.quaternions.mat2quat(R)
        mesh = ""
        if gtype == "mesh":
            mid = model.geom_dataid[g]
            v = model.mesh_vert[model.mesh_vertadr[mid]:model.mesh_vertadr[mid] + model.mesh_vertnum[mid]].copy()
            f = model.mesh_face[model.mesh_faceadr[mid]:model.mesh_faceadr[mid] + model.mesh_facenum[mid]].copy()
            mesh = f"m{g}"
            meshes[mesh] = {"vertices": v, "faces": f}
            pts = v @ R.T + pos
        else:
            pts = pos + (np.array(np.meshgrid(*[[-1, 1]] * 3)).reshape(3, -1).T * model.geom_rbound[g] * 0.577) @ R.T
        geoms.setdefault(part, []).append(GeomSpec(gtype, tuple(model.geom_size[g].tolist()), tuple(pos.tolist()),
                                                   tuple(quat.tolist()), density=500.0, mesh=mesh))
        points.setdefault(part, []).append(pts)
    missing = set(part_map) - found
    if missing:
        raise ConfigError(f"part_map names geoms not in {path.name}: {sorted(missing)}")
    return _build_spec(category or path.stem, geoms, affordances, meshes,
                       {k: np.concatenate(v) for k, v in points.items()}, friction)


def load_mesh_object(mesh_parts: Mapping[str, str], affordances: Mapping[str, Iterable[str]],
                     category: str, scale: float = 1.0, friction: float = 1.0) -> ObjectSpec:
    """One part per OBJ/STL file: ``mesh_parts`` maps file paths to part labels. Each mesh's
    convex hull (open3d) is its collision and visual shape."""
    import open3d as o3d

    geoms: Dict[str, list] = {}
    meshes: Dict[str, dict] = {}
    points: Dict[str, list] = {}
    for i, (file, part) in enumerate(mesh_parts.items()):
        p = Path(file)
        if not p.is_file():
            raise ConfigError(f"mesh file not found: {p}")
        tm = o3d.io.read_triangle_mesh(str(p))
        if len(tm.vertices) < 4:
            raise ConfigError(f"mesh {p} has fewer than 4 vertices (unreadable or empty)")
        hull, _ = tm.compute_convex_hull()
        v = np.asarray(hull.vertices) * scale
        name = f"m{i}"
        meshes[name] = {"vertices": v, "faces": np.asarray(hull.triangles)}
        geoms.setdefault(part, []).append(GeomSpec("mesh", (), (0.0, 0.0, 0.0), density=500.0, mesh=name))
        points.setdefault(part, []).append(v)
    if not geoms:
        raise ConfigError("no meshes given")
    return _build_spec(category, geoms, affordances, meshes, {k: np.concatenate(v) for k, v in points.items()},
                       friction)


def load_object_config(path) -> ObjectSpec:
    """A YAML description::

        category: my_mug
        mjcf: mug.xml                    # or: meshes: {body.obj: body, handle.obj: handle}
        parts: {mug_body: body, mug_handle: handle}   # geom name -> part (mjcf only)
        affordances: {handle: [grasp, hold], body: [contain, pour]}
        scale: 1.0                       # meshes only

    Relative paths are resolved against the YAML's folder."""
    path = Path(path)
    try:
        cfg = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read object config {path}: {e}") from None
    if not isinstance(cfg, dict) or "category" not in cfg or "affordances" not in cfg:
        raise ConfigError(f"{path}: needs 'category', 'affordances' and one of 'mjcf' / 'meshes'")
    base = path.parent
    if "mjcf" in cfg:
        return load_mjcf_object(base / cfg["mjcf"], cfg.get("parts") or {}, cfg["affordances"], cfg["category"])
    if "meshes" in cfg:
        return load_mesh_object({str(base / f): part for f, part in cfg["meshes"].items()}, cfg["affordances"],
                                cfg["category"], float(cfg.get("scale", 1.0)))
    raise ConfigError(f"{path}: give either 'mjcf' or 'meshes'")


def register_object(spec: ObjectSpec) -> None:
    """Make an external object samplable by category name in scenes (same shape every time)."""
    if not spec.parts:
        raise InvalidInputError("object has no parts")
    CATEGORIES[spec.category] = lambda rng, _s=spec: copy.deepcopy(_s)
