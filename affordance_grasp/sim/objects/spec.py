"""What a part-labelled object is, for the twin.

An object is a set of named parts. A part is drawn and collided through MuJoCo primitives
(``GeomSpec``) and/or meshes (``MeshSpec``: a visual mesh plus the convex pieces it collides
with, so a hollow mug stays hollow). Every geom is named ``<instance>/<part>`` or
``<instance>/<part>#k``, so MuJoCo's segmentation render and its contacts tell exactly which part
a pixel or a finger belongs to. Object frames have z up with the lowest point on z = 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import transforms3d
import trimesh

from ...errors import InvalidInputError
from ..materials import Appearance, MATERIALS

PRIMITIVES = ("box", "cylinder", "capsule", "sphere", "ellipsoid", "mesh")


@dataclass
class GeomSpec:
    """A MuJoCo primitive, drawn and collided as it is."""

    type: str
    size: Tuple[float, ...]           # MuJoCo semantics (half sizes; cylinder: radius, half-length)
    pos: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: Tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)  # w x y z
    density: float = 700.0
    mesh: str = ""                    # ObjectSpec.meshes key when type == "mesh" (a convex hull)

    def __post_init__(self):
        if self.type not in PRIMITIVES:
            raise InvalidInputError(f"geom type {self.type!r} not in {PRIMITIVES}")

    def trimesh(self, meshes: Dict[str, dict]) -> trimesh.Trimesh:
        """The primitive as a triangle mesh in the object frame (for bounds and sampling)."""
        s = np.asarray(self.size, float)
        if self.type == "box":
            m = trimesh.creation.box(extents=2 * s[:3])
        elif self.type == "cylinder":
            m = trimesh.creation.cylinder(radius=s[0], height=2 * s[1], sections=24)
        elif self.type == "capsule":
            m = trimesh.creation.capsule(height=2 * s[1], radius=s[0], count=[10, 10])
            m.apply_translation((0, 0, -s[1]))
        elif self.type == "sphere":
            m = trimesh.creation.icosphere(2, radius=s[0])
        elif self.type == "ellipsoid":
            m = trimesh.creation.icosphere(2, radius=1.0)
            m.apply_scale(s[:3])
        else:
            mesh = meshes[self.mesh]
            m = trimesh.Trimesh(mesh["vertices"], mesh.get("faces"), process=False)
            if mesh.get("faces") is None or len(m.faces) == 0:
                m = m.convex_hull
        T = np.eye(4)
        T[:3, :3] = transforms3d.quaternions.quat2mat(self.quat)
        T[:3, 3] = self.pos
        return m.apply_transform(T)


@dataclass
class MeshSpec:
    """A visual triangle mesh and the convex pieces that stand in for it in collisions."""

    vertices: np.ndarray                       # (N, 3) object frame, metres
    faces: np.ndarray                          # (M, 3)
    pieces: List[np.ndarray]                   # convex collision pieces (vertex arrays)
    texcoords: Optional[np.ndarray] = None     # (N, 2) per-vertex texture coordinates
    volume: float = 0.0                        # of the closed visual mesh (0: unknown)
    density_ratio: Optional[float] = None      # volume / the pieces' volume (computed once; scale-free)

    def __post_init__(self):
        self.vertices = np.asarray(self.vertices, np.float64).reshape(-1, 3)
        self.faces = np.asarray(self.faces, np.int64).reshape(-1, 3)
        if len(self.faces) == 0:
            raise InvalidInputError("a mesh part needs faces")
        if not self.pieces:
            raise InvalidInputError("a mesh part needs at least one convex collision piece")

    @property
    def trimesh(self) -> trimesh.Trimesh:
        return trimesh.Trimesh(self.vertices, self.faces, process=False)

    def density_scale(self) -> float:
        """Convex pieces overlap and bulge; scaling their density by true / pieces volume keeps
        the mass right (1 when the visual mesh is not closed). A linear map scales both volumes
        alike, so it is computed once and carried through ``transformed``."""
        if self.density_ratio is None:
            from ..collision import pieces_volume
            pv = pieces_volume(self.pieces)
            self.density_ratio = float(np.clip(self.volume / pv, 0.2, 1.0)) if self.volume > 0 and pv > 0 else 1.0
        return self.density_ratio

    def transformed(self, A: np.ndarray) -> "MeshSpec":
        """Under a linear map ``A`` (3x3) applied to every vertex (convex pieces stay convex)."""
        ratio = self.density_scale()
        return replace(self, vertices=self.vertices @ A.T, pieces=[p @ A.T for p in self.pieces],
                       volume=self.volume * abs(float(np.linalg.det(A))), density_ratio=ratio)


@dataclass
class PartSpec:
    name: str
    affordances: Tuple[str, ...]
    geoms: List[GeomSpec] = field(default_factory=list)
    rgba: Tuple[float, float, float, float] = (0.6, 0.6, 0.6, 1.0)
    meshes: List[MeshSpec] = field(default_factory=list)
    materials: Tuple[str, ...] = ("plastic",)   # what it may be made of; one is drawn per instance
    look: str = ""                              # parts with the same non-empty look share one appearance
    material: str = ""                          # the instance's material (set by dress())
    appearance: Optional[Appearance] = None     # the instance's appearance (set by dress())
    mass: Optional[float] = None                # kg, where it is known (an object file's `mass:`): the
                                                # twin scales the material's density to give it

    def __post_init__(self):
        self.affordances = tuple(self.affordances)
        if not self.geoms and not self.meshes:
            raise InvalidInputError(f"part {self.name!r} has no geometry")
        bad = [m for m in self.materials if m not in MATERIALS]
        if bad:
            raise InvalidInputError(f"part {self.name!r}: unknown materials {bad}; known: {sorted(MATERIALS)}")
        if not self.material:
            self.material = self.materials[0]


def material_mass(part: PartSpec, meshes: Dict[str, dict]) -> float:
    """The part's mass (kg) from its materials and geometry, as the twin builds it: primitives at
    their own density, mesh parts at the material's density over their convex pieces, scaled to
    the closed visual mesh's volume where it has one."""
    from ..collision import pieces_volume
    density = (MATERIALS.get(part.material) or MATERIALS["plastic"]).density
    total = sum(g.density * float(abs(g.trimesh(meshes).volume)) for g in part.geoms)
    return total + sum(density * m.density_scale() * pieces_volume(m.pieces) for m in part.meshes)


def object_mass(spec: "ObjectSpec") -> float:
    """The object's mass (kg) as the twin builds it: each part's stated mass, or its materials'."""
    return sum(p.mass if p.mass is not None else material_mass(p, spec.meshes) for p in spec.parts)


def density_factor(part: PartSpec, meshes: Dict[str, dict]) -> float:
    """What the part's densities are multiplied by so that it weighs ``part.mass`` (1 when unset)."""
    if part.mass is None:
        return 1.0
    nominal = material_mass(part, meshes)
    if nominal <= 0:
        raise InvalidInputError(f"part {part.name!r} has no volume to give its mass of {part.mass} kg")
    return float(part.mass) / nominal


@dataclass(frozen=True)
class QuerySpec:
    """A task planner's phrasing for an object, with the part the fingers should go on."""

    text: str
    part: str


@dataclass
class ObjectSpec:
    category: str
    parts: List[PartSpec]
    friction: Optional[float] = None            # overrides the parts' materials when set
    meshes: Dict[str, dict] = field(default_factory=dict)  # GeomSpec "mesh" hulls: name -> {vertices, faces}
    family: str = ""
    queries: List[QuerySpec] = field(default_factory=list)
    source: str = ""                            # builder name or object file

    def part(self, name: str) -> PartSpec:
        for p in self.parts:
            if p.name == name:
                return p
        raise InvalidInputError(f"{self.category} has no part {name!r}; parts: {[p.name for p in self.parts]}")

    def parts_for(self, affordance: str) -> List[str]:
        return [p.name for p in self.parts if affordance in p.affordances]

    @property
    def affordances(self) -> List[str]:
        return sorted({a for p in self.parts for a in p.affordances})

    def part_trimesh(self, part: PartSpec) -> trimesh.Trimesh:
        ms = [g.trimesh(self.meshes) for g in part.geoms] + [m.trimesh for m in part.meshes]
        return trimesh.util.concatenate(ms)

    def trimesh(self) -> trimesh.Trimesh:
        return trimesh.util.concatenate([self.part_trimesh(p) for p in self.parts])


def geom_name(instance: str, part: str, k: int) -> str:
    return f"{instance}/{part}" if k == 0 else f"{instance}/{part}#{k}"


def parse_geom_name(name: str):
    """``"mug_0/handle#2"`` -> ``("mug_0", "handle")``; names without a slash -> ``None``."""
    if not name or "/" not in name:
        return None
    instance, part = name.split("/", 1)
    return instance, part.split("#", 1)[0]


def local_aabb(spec: ObjectSpec) -> np.ndarray:
    """Axis-aligned bounds [[xmin ymin zmin], [xmax ymax zmax]] in the object frame."""
    pts = []
    for part in spec.parts:
        pts += [m.vertices for m in part.meshes]
        pts += [g.trimesh(spec.meshes).vertices for g in part.geoms]
    v = np.vstack(pts)
    return np.stack([v.min(0), v.max(0)])


def mesh_spec(mesh: trimesh.Trimesh, uv_mode: str = "auto", texcoords: Optional[np.ndarray] = None) -> MeshSpec:
    """A visual mesh with its convex pieces (CoACD, cached) and texture coordinates."""
    from ..collision import convex_pieces
    from ..shapes import texcoords as make_uv
    uv = texcoords if texcoords is not None else make_uv(mesh, uv_mode)
    if mesh.is_watertight and not mesh.is_volume:
        mesh = mesh.copy()
        mesh.fix_normals()          # closed but inside out (common in exported scans): its volume is still known
    volume = float(mesh.volume) if mesh.is_volume else 0.0
    return MeshSpec(np.asarray(mesh.vertices), np.asarray(mesh.faces), convex_pieces(mesh), uv, volume)


def part(name: str, affordances: Sequence[str], meshes: Sequence[trimesh.Trimesh], materials: Sequence[str],
         look: str = "", uv_mode: str = "auto") -> PartSpec:
    """A mesh part from one or more closed meshes (each decomposed on its own)."""
    return PartSpec(name, tuple(affordances), meshes=[mesh_spec(m, uv_mode) for m in meshes],
                    materials=tuple(materials), look=look)


def normalised(spec: ObjectSpec) -> ObjectSpec:
    """The object moved so its lowest point is on z = 0 and its footprint is centred on x = y = 0."""
    lo, hi = local_aabb(spec)
    shift = np.array([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    return translated(spec, shift)


def translated(spec: ObjectSpec, shift: np.ndarray) -> ObjectSpec:
    parts = []
    for p in spec.parts:
        geoms = [replace(g, pos=tuple((np.asarray(g.pos) + shift).tolist())) for g in p.geoms]
        meshes = [replace(m, vertices=m.vertices + shift, pieces=[q + shift for q in m.pieces]) for m in p.meshes]
        parts.append(replace(p, geoms=geoms, meshes=meshes))
    return replace(spec, parts=parts)


def scaled(spec: ObjectSpec, sx: float, sy: float, sz: float) -> ObjectSpec:
    """The object stretched along its own axes (a mesh's convex pieces stay convex). Objects
    with primitives take the mean factor throughout, since a rotated box or cylinder cannot stretch
    along the object's axes."""
    s = float(np.cbrt(sx * sy * sz))
    if any(p.geoms for p in spec.parts):
        sx = sy = sz = s
    A = np.diag([sx, sy, sz])
    parts = []
    for p in spec.parts:
        geoms = [replace(g, size=tuple(float(v) * s for v in g.size), pos=tuple((np.asarray(g.pos) * s).tolist()))
                 for g in p.geoms]
        parts.append(replace(p, geoms=geoms, meshes=[m.transformed(A) for m in p.meshes]))
    meshes = {k: {**v, "vertices": np.asarray(v["vertices"]) * s} for k, v in spec.meshes.items()}
    return replace(spec, parts=parts, meshes=meshes)
