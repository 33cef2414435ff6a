"""Users' own objects in the twin, described by one YAML object file.

An object file names the object, where its geometry is, which part each piece of geometry
belongs to, each part's affordances, and optionally the phrasings a task planner would use::

    category: my_mug                     # the object's name in scenes (and a query word)
    names: [mug, coffee mug]             # other words a task planner may use for it
    scale: 0.001                         # metres per mesh unit (scans are often in mm)
    up: z                                # the mesh's up axis: z (default) or y (glTF)
    material: ceramic                    # default material: density, friction, look
    # the geometry, one of:
    mesh: mug.obj                        # one mesh with part labels: OBJ groups (g/o),
    labels: groups                       #   a PLY face property / glTF vertex attribute
                                         #   ({attribute: part, names: {0: body, 1: handle}}),
                                         #   or glTF mesh names ({names: {Mesh_0: body}})
    meshes: {body.stl: body, handle.stl: handle}    # or one mesh file per part
    mjcf: mug.xml                        # or an MJCF file ...
    geoms: {mug_body: body, mug_handle: handle}     # ... with a geom -> part map
    parts:                               # every part: its affordances (and optionally
      handle: [grasp, hold]              # {affordances: [...], material: ..., colour: [r, g, b]})
      body: {affordances: [contain, pour], material: ceramic}
    queries:                             # what a task planner would ask, and the part meant
      - {text: "grasp the mug by its handle", part: handle}
    upright: true                        # it stands (false: it lies flat, like a knife)
    hollow: true                         # an open container (checked: a ray reaches its floor)
    mass: 0.35                           # kg, the whole object (shared by the parts as their
                                         #   materials would weigh), or per part: {body: 0.3, handle: 0.05}

Without ``mass:`` the mass comes from each part's material density and its volume. A scanned mesh
that is not closed has no volume: the twin then weighs its convex pieces, which can come out
several times heavier than the real object; loading it warns, and ``mass:`` fixes it.

Meshes may be OBJ, STL, PLY, GLB or glTF; textures of OBJ/glTF materials are kept. Each part's
mesh is decomposed into convex pieces with CoACD (cached), so concave parts stay concave in
collisions. Relative paths are resolved against the YAML's folder. Every problem is reported
with the file's name before anything is simulated.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import cv2
import mujoco
import numpy as np
import transforms3d
import trimesh

from ..config import from_mapping, load_yaml
from ..errors import ConfigError, InvalidInputError
from .materials import MATERIALS, Appearance
from .objects import CATEGORIES, GeomSpec, MeshSpec, ObjectSpec, PartSpec, QuerySpec, dress, normalised
from .objects.check import check_shape
from .objects.spec import material_mass, mesh_spec, object_mass, scaled

MESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb", ".gltf", ".off")
_log = logging.getLogger(__name__)
MAX_MESH_BYTES = 256 << 20     # 256 MiB: far above any household scan
MAX_TEXTURE_SIDE = 512         # textures are downsampled to this for the renderer
MAX_VISUAL_FACES = 60000       # denser scans are decimated (their texture is then replaced by its mean colour)

_TYPE_NAMES = {int(mujoco.mjtGeom.mjGEOM_BOX): "box", int(mujoco.mjtGeom.mjGEOM_CYLINDER): "cylinder",
               int(mujoco.mjtGeom.mjGEOM_CAPSULE): "capsule", int(mujoco.mjtGeom.mjGEOM_SPHERE): "sphere",
               int(mujoco.mjtGeom.mjGEOM_ELLIPSOID): "ellipsoid", int(mujoco.mjtGeom.mjGEOM_MESH): "mesh"}


@dataclass
class PartEntry:
    affordances: List[str]
    material: Optional[str] = None
    colour: Optional[List[float]] = None


@dataclass
class ObjectFile:
    """The keys of an object file (unknown keys are refused)."""

    category: str
    parts: Dict[str, Any] = field(default_factory=dict)
    names: List[str] = field(default_factory=list)
    scale: float = 1.0
    up: str = "z"
    material: str = "plastic"
    friction: Optional[float] = None
    mesh: Optional[str] = None
    labels: Any = "auto"
    meshes: Optional[Dict[str, str]] = None
    mjcf: Optional[str] = None
    geoms: Optional[Dict[str, str]] = None
    affordances: Optional[Dict[str, List[str]]] = None     # older form of `parts`
    queries: List[Any] = field(default_factory=list)
    upright: bool = True
    hollow: bool = False
    mass: Any = None                                       # kg: a number, or {part: kg}

MAX_MASS = 50.0   # kg: far above anything a hand lifts; more is a unit mistake (g read as kg)


@dataclass
class LoadedObject:
    spec: ObjectSpec
    path: Path
    names: List[str]
    upright: bool = True
    hollow: bool = False
    warnings: List[str] = field(default_factory=list)     # loads, but something is doubtful (printed by the check)

    @property
    def mass(self) -> float:
        """The mass (kg) the twin gives the object."""
        return object_mass(self.spec)

    @property
    def mass_source(self) -> str:
        stated = [p.mass is not None for p in self.spec.parts]
        return "from `mass:`" if all(stated) else "partly from `mass:`" if any(stated) else "from the materials"


# --------------------------------------------------------------------------- reading meshes
def _check_file(path: Path, where: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"{where}: mesh file {path} not found")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise ConfigError(f"{where}: {path.name} is not a mesh format I read ({', '.join(MESH_SUFFIXES)})")
    if path.stat().st_size > MAX_MESH_BYTES:
        raise ConfigError(f"{where}: {path.name} is {path.stat().st_size >> 20} MiB; the limit is "
                          f"{MAX_MESH_BYTES >> 20} MiB (decimate it first)")
    return path


def _scene_meshes(path: Path, where: str, split_groups: bool = False) -> Dict[str, trimesh.Trimesh]:
    """Every mesh in a file, by name, with its scene transform applied."""
    kw = {"split_groups": True, "group_material": False} if split_groups else {}
    try:
        loaded = trimesh.load(str(path), force="scene", process=False, **kw)
    except Exception as e:  # noqa: BLE001 - trimesh raises many kinds on bad files
        raise ConfigError(f"{where}: cannot read {path.name}: {str(e).splitlines()[0][:200]}") from None
    out: Dict[str, trimesh.Trimesh] = {}
    for node in loaded.graph.nodes_geometry:
        T, gname = loaded.graph[node]
        geom = loaded.geometry.get(gname)
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue
        m = geom.copy()
        m.apply_transform(T)
        key = gname if gname not in out else node
        out[key] = m
    if not out:
        raise ConfigError(f"{where}: {path.name} holds no mesh with faces")
    return out


def _one_mesh(path: Path, where: str) -> trimesh.Trimesh:
    meshes = list(_scene_meshes(path, where).values())
    return meshes[0] if len(meshes) == 1 else trimesh.util.concatenate(meshes)


def _labelled(path: Path, labels: Any, where: str) -> Dict[str, trimesh.Trimesh]:
    """part -> mesh from one labelled file."""
    suffix = path.suffix.lower()
    if labels == "auto":
        labels = "groups" if suffix == ".obj" else None
        if labels is None:
            raise ConfigError(f"{where}: say how {path.name} labels its parts: `labels: groups` (OBJ), "
                              f"`labels: {{attribute: NAME, names: {{0: body}}}}` (PLY face property or glTF "
                              f"vertex attribute) or `labels: {{names: {{mesh_name: part}}}}` (glTF meshes)")
    if labels == "groups":
        if suffix != ".obj":
            raise ConfigError(f"{where}: `labels: groups` needs an OBJ file, got {path.name}")
        return _scene_meshes(path, where, split_groups=True)
    if not isinstance(labels, Mapping) or not ({"attribute", "names"} >= set(labels)) or "names" not in labels:
        raise ConfigError(f"{where}: labels must be 'groups' or a mapping with 'names' (and 'attribute')")
    names = {str(k): str(v) for k, v in dict(labels["names"]).items()}
    if "attribute" not in labels:  # glTF / multi-mesh: mesh names -> parts
        meshes = _scene_meshes(path, where)
        missing = sorted(set(names) - set(meshes))
        if missing:
            raise ConfigError(f"{where}: labels name meshes {missing} that {path.name} does not have; it has "
                              f"{sorted(meshes)}")
        return {names[k]: m for k, m in meshes.items() if k in names}
    return _split_by_attribute(path, str(labels["attribute"]), names, where)


def _split_by_attribute(path: Path, attribute: str, names: Dict[str, str], where: str) -> Dict[str, trimesh.Trimesh]:
    mesh = _one_mesh(path, where)
    face_label: Optional[np.ndarray] = None
    raw = mesh.metadata.get("_ply_raw") if isinstance(mesh.metadata, dict) else None
    if raw and attribute in raw.get("face", {}).get("data", {}):
        face_label = np.asarray(raw["face"]["data"][attribute]).reshape(-1)
    elif attribute in getattr(mesh, "vertex_attributes", {}):
        vl = np.asarray(mesh.vertex_attributes[attribute]).reshape(len(mesh.vertices), -1)[:, 0]
        face_label = np.round(np.median(vl[mesh.faces], axis=1))
    elif attribute in getattr(mesh, "face_attributes", {}):
        face_label = np.asarray(mesh.face_attributes[attribute]).reshape(-1)
    if face_label is None or len(face_label) != len(mesh.faces):
        raise ConfigError(f"{where}: {path.name} has no face property or vertex attribute {attribute!r}")
    keys = np.array([str(int(v)) if float(v).is_integer() else str(v) for v in face_label])
    out = {}
    unknown = sorted(set(keys) - set(names))
    if unknown:
        raise ConfigError(f"{where}: {path.name}'s {attribute!r} has values {unknown[:8]} that labels.names "
                          f"does not map to a part")
    for value, part in names.items():
        idx = np.nonzero(keys == value)[0]
        if len(idx) == 0:
            raise ConfigError(f"{where}: labels map {attribute}={value} to {part!r}, but no face has that value")
        sub = mesh.submesh([idx], append=True)
        out[part] = sub if part not in out else trimesh.util.concatenate([out[part], sub])
    return out


def _texture_of(mesh: trimesh.Trimesh) -> Tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[tuple]]:
    """(uv per vertex, texture image, mean colour) from a mesh's visuals, each None if absent."""
    vis = mesh.visual
    if getattr(vis, "kind", None) == "texture" and getattr(vis, "uv", None) is not None:
        mat = vis.material
        img = getattr(mat, "image", None) or getattr(mat, "baseColorTexture", None)
        if img is not None and len(vis.uv) == len(mesh.vertices):
            arr = np.asarray(img.convert("RGB"))
            scale = MAX_TEXTURE_SIDE / max(arr.shape[:2])
            if scale < 1:
                arr = cv2.resize(arr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            # glTF and OBJ put v = 0 at the image's bottom row; MuJoCo samples from the top.
            uv = np.asarray(vis.uv, float).copy()
            uv[:, 1] = 1.0 - uv[:, 1]
            return uv, np.ascontiguousarray(arr), None
        colour = getattr(mat, "main_color", None)
        return None, None, None if colour is None else tuple(np.asarray(colour[:3]) / 255.0)
    if getattr(vis, "kind", None) in ("vertex", "face"):
        c = np.asarray(vis.vertex_colors if vis.kind == "vertex" else vis.face_colors, float)[:, :3].mean(0) / 255.0
        return None, None, tuple(c)
    return None, None, None


# --------------------------------------------------------------------------- building the spec
def _up_rotation(up: str, where: str) -> np.ndarray:
    if up == "z":
        return np.eye(3)
    if up == "y":  # glTF: y up -> z up
        return transforms3d.axangles.axangle2mat((1, 0, 0), np.pi / 2)
    raise ConfigError(f"{where}: up must be 'z' or 'y', got {up!r}")


def _part_entries(f: ObjectFile, where: str) -> Dict[str, PartEntry]:
    raw = dict(f.parts)
    if f.affordances:
        for part, affs in f.affordances.items():
            raw.setdefault(part, list(affs))
    if not raw:
        raise ConfigError(f"{where}: give `parts:` (each part with its affordances)")
    out = {}
    for name, entry in raw.items():
        if isinstance(entry, (list, tuple)):
            entry = {"affordances": list(entry)}
        pe = from_mapping(PartEntry, entry, f"{where}: part {name!r}")
        if not isinstance(pe.affordances, list) or not all(isinstance(a, str) for a in pe.affordances):
            raise ConfigError(f"{where}: part {name!r} needs a list of affordances, e.g. [grasp, hold] "
                              f"([] for a part that is just there)")
        if pe.material is not None and pe.material not in MATERIALS:
            raise ConfigError(f"{where}: part {name!r}: unknown material {pe.material!r}; known: {sorted(MATERIALS)}")
        out[str(name)] = pe
    return out


def _mesh_parts(meshes: Dict[str, List[trimesh.Trimesh]], entries: Dict[str, PartEntry], f: ObjectFile,
                where: str) -> List[PartSpec]:
    R = _up_rotation(f.up, where) * float(f.scale)
    parts = []
    for name, ms in meshes.items():
        entry = entries[name]
        specs, app = [], None
        for m in ms:
            m = m.copy()
            if len(m.faces) == 0:
                raise ConfigError(f"{where}: the mesh of part {name!r} has no faces")
            uv, img, colour = _texture_of(m)
            if uv is None:  # no texture seams to keep: weld the faces (STL stores each one apart)
                m.merge_vertices()
            if len(m.faces) > MAX_VISUAL_FACES:
                m = m.simplify_quadric_decimation(face_count=MAX_VISUAL_FACES)
                uv, img = None, None
            T = np.eye(4)
            T[:3, :3] = R
            m.apply_transform(T)
            specs.append(mesh_spec(m, texcoords=uv))
            mat = MATERIALS[entry.material or f.material]
            if img is not None and app is None:
                app = Appearance((1.0, 1.0, 1.0, 1.0), img, mat.specular, mat.shininess, mat.reflectance)
            elif colour is not None and app is None:
                app = Appearance((*colour, 1.0), None, mat.specular, mat.shininess, mat.reflectance)
        if entry.colour is not None:
            mat = MATERIALS[entry.material or f.material]
            app = Appearance((*[float(c) for c in entry.colour[:3]], 1.0), None, mat.specular, mat.shininess,
                             mat.reflectance)
        material = entry.material or f.material
        parts.append(PartSpec(name, tuple(entry.affordances), meshes=specs, materials=(material,),
                              material=material, appearance=app))
    return parts


def _mjcf_parts(path: Path, geom_parts: Mapping[str, str], entries: Dict[str, PartEntry], f: ObjectFile,
                where: str) -> Tuple[List[PartSpec], Dict[str, dict]]:
    """Every geom of an MJCF file that the map names, flattened into one rigid object. Primitives stay
    primitives; mesh geoms are decomposed into convex pieces."""
    if not path.is_file():
        raise ConfigError(f"{where}: MJCF file {path} not found")
    try:
        model = mujoco.MjModel.from_xml_path(str(path))
    except ValueError as e:
        raise ConfigError(f"{where}: cannot load MJCF {path.name}: {str(e).splitlines()[0]}") from None
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    R_up = _up_rotation(f.up, where)
    s = float(f.scale)
    geoms: Dict[str, List[GeomSpec]] = {}
    meshes: Dict[str, List[MeshSpec]] = {}
    found = set()
    for g in range(model.ngeom):
        name = model.geom(g).name
        if name not in geom_parts:
            continue
        found.add(name)
        part = geom_parts[name]
        gtype = _TYPE_NAMES.get(int(model.geom_type[g]))
        if gtype is None:
            raise ConfigError(f"{where}: geom {name!r} has a type objects cannot use (plane, hfield, sdf)")
        R = R_up @ data.geom_xmat[g].reshape(3, 3)
        pos = R_up @ data.geom_xpos[g] * s
        if gtype == "mesh":
            mid = model.geom_dataid[g]
            v = model.mesh_vert[model.mesh_vertadr[mid]:model.mesh_vertadr[mid] + model.mesh_vertnum[mid]]
            fc = model.mesh_face[model.mesh_faceadr[mid]:model.mesh_faceadr[mid] + model.mesh_facenum[mid]]
            tm = trimesh.Trimesh(np.asarray(v) @ R.T * s + pos, np.asarray(fc), process=True)
            meshes.setdefault(part, []).append(mesh_spec(tm))
        else:
            quat = transforms3d.quaternions.mat2quat(R)
            geoms.setdefault(part, []).append(GeomSpec(gtype, tuple((model.geom_size[g] * s).tolist()),
                                                       tuple(pos.tolist()), tuple(quat.tolist()), density=500.0))
    missing = sorted(set(geom_parts) - found)
    if missing:
        raise ConfigError(f"{where}: `geoms` names geoms not in {path.name}: {missing}")
    parts = []
    for name in sorted(set(geoms) | set(meshes)):
        entry = entries[name]
        material = entry.material or f.material
        rgba = (*entry.colour[:3], 1.0) if entry.colour else (0.6, 0.6, 0.6, 1.0)
        parts.append(PartSpec(name, tuple(entry.affordances), geoms.get(name, []), tuple(rgba), meshes.get(name, []),
                              materials=(material,), material=material))
    return parts, {}


def load_object_file(path) -> LoadedObject:
    """Read and check one object file; raises ConfigError naming the file and the problem."""
    path = Path(path)
    where = str(path)
    raw = load_yaml(path, "object file")
    if "mjcf" in raw and "geoms" not in raw and isinstance(raw.get("parts"), dict) \
            and all(isinstance(v, str) for v in raw["parts"].values()):
        raw = {**raw, "geoms": raw["parts"], "parts": {}}   # the older form: parts = geom -> part
    f = from_mapping(ObjectFile, raw, where)
    if not isinstance(f.category, str) or not f.category.strip() or "/" in f.category:
        raise ConfigError(f"{where}: `category` must be a non-empty name without '/'")
    if not (isinstance(f.scale, (int, float)) and 0 < f.scale < 1e3):
        raise ConfigError(f"{where}: `scale` must be a positive number (metres per mesh unit)")
    if f.material not in MATERIALS:
        raise ConfigError(f"{where}: unknown material {f.material!r}; known: {sorted(MATERIALS)}")
    sources = [k for k in ("mesh", "meshes", "mjcf") if getattr(f, k)]
    if len(sources) != 1:
        raise ConfigError(f"{where}: give exactly one of `mesh` (one labelled mesh), `meshes` (one file per part) "
                          f"or `mjcf`; got {sources or 'none'}")
    entries = _part_entries(f, where)
    base = path.parent
    extra_meshes: Dict[str, dict] = {}
    if f.mjcf:
        if not f.geoms:
            raise ConfigError(f"{where}: `mjcf` needs `geoms: {{geom_name: part}}`")
        _require_parts(set(f.geoms.values()), entries, where)
        parts, extra_meshes = _mjcf_parts(base / f.mjcf, f.geoms, entries, f, where)
    else:
        by_part: Dict[str, List[trimesh.Trimesh]] = {}
        if f.meshes:
            for file, part in f.meshes.items():
                by_part.setdefault(str(part), []).append(_one_mesh(_check_file(base / file, where), where))
        else:
            for part, m in _labelled(_check_file(base / f.mesh, where), f.labels, where).items():
                by_part.setdefault(part, []).append(m)
        _require_parts(set(by_part), entries, where)
        parts = _mesh_parts(by_part, entries, f, where)
    spec = normalised(ObjectSpec(f.category, parts, friction=f.friction, meshes=extra_meshes,
                                 source=f"file:{path}"))
    check_shape(spec, where)
    names = [p.name for p in spec.parts]
    queries = []
    for q in f.queries:
        if not isinstance(q, Mapping) or set(q) != {"text", "part"}:
            raise ConfigError(f"{where}: each query is {{text: ..., part: ...}}, got {q!r}")
        if q["part"] not in names:
            raise ConfigError(f"{where}: query {q['text']!r} names part {q['part']!r}; the parts are {names}")
        queries.append(QuerySpec(str(q["text"]), str(q["part"])))
    spec.queries = queries
    warnings = _apply_mass(spec, f.mass, where)
    return LoadedObject(spec, path, [str(n) for n in f.names], bool(f.upright), bool(f.hollow), warnings)


def _positive_mass(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_MASS:
        raise ConfigError(f"{where}: `mass` of {what} must be a number of kg in (0, {MAX_MASS:g}], got {value!r}")
    return float(value)


def _apply_mass(spec: ObjectSpec, mass: Any, where: str) -> List[str]:
    """Set the parts' masses from the file's ``mass:``; return warnings for parts whose mass is a guess
    (an open mesh and no stated mass)."""
    names = [p.name for p in spec.parts]
    if mass is None:
        stated: Dict[str, float] = {}
    elif isinstance(mass, Mapping):
        unknown = sorted(set(map(str, mass)) - set(names))
        if unknown:
            raise ConfigError(f"{where}: `mass` names parts {unknown}; the parts are {names}")
        stated = {str(k): _positive_mass(v, f"part {k!r}", where) for k, v in mass.items()}
    else:
        total = _positive_mass(mass, "the object", where)
        # shared as the materials would weigh them: a steel head stays heavier than its wooden handle
        nominal = {p.name: material_mass(p, spec.meshes) for p in spec.parts}
        weight = sum(nominal.values())
        stated = {n: total * (nominal[n] / weight if weight > 0 else 1 / len(names)) for n in names}
    for p in spec.parts:
        if p.name in stated:
            p.mass = stated[p.name]
    return [f"part {p.name!r}: its mesh is not closed, so its volume and mass are unknown; the twin weighs its "
            f"convex pieces ({material_mass(p, spec.meshes) * 1000:.0f} g), which can be several times the real "
            f"part. Give `mass:` in the object file."
            for p in spec.parts if p.mass is None and any(m.volume <= 0 for m in p.meshes)]


def _require_parts(geometry_parts: set, entries: Dict[str, PartEntry], where: str) -> None:
    no_affordances = sorted(geometry_parts - set(entries))
    if no_affordances:
        raise ConfigError(f"{where}: parts {no_affordances} have geometry but no entry in `parts` (their affordances)")
    no_geometry = sorted(set(entries) - geometry_parts)
    if no_geometry:
        raise ConfigError(f"{where}: `parts` names {no_geometry}, which no geometry maps to; parts with geometry: "
                          f"{sorted(geometry_parts)}")


# --------------------------------------------------------------------------- registering
USER_OBJECTS: Dict[str, LoadedObject] = {}


def register_object(obj, jitter: float = 0.0) -> str:
    """Make a loaded object samplable in scenes by its category name. Each instance keeps the file's
    shape (optionally stretched by +- ``jitter``) and textures; untextured parts get random looks."""
    loaded = obj if isinstance(obj, LoadedObject) else LoadedObject(obj, Path(obj.source or "."), [])
    spec = loaded.spec
    if not spec.parts:
        raise InvalidInputError("object has no parts")

    def sample(rng: np.random.Generator, _s=spec) -> ObjectSpec:
        s = copy.deepcopy(_s)
        if jitter > 0:
            f = rng.uniform(1 - jitter, 1 + jitter, 2)
            s = normalised(scaled(s, f[0], f[0], f[1]))
        return dress(s, rng)

    CATEGORIES[spec.category] = sample
    USER_OBJECTS[spec.category] = loaded
    return spec.category


def object_files(paths: Iterable) -> List[Path]:
    """YAML object files from paths that are files or folders (searched recursively)."""
    out: List[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix.lower() in (".yaml", ".yml"))
            if not found:
                raise ConfigError(f"{p}: no object files (*.yaml) in this folder")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise ConfigError(f"object file or folder {p} not found")
    return out


def load_objects(paths: Sequence, register: bool = True) -> List[LoadedObject]:
    """Load every object file under ``paths``; all are checked before any is registered."""
    loaded = [load_object_file(f) for f in object_files(paths)]
    seen: Dict[str, Path] = {}
    for obj in loaded:
        if obj.spec.category in seen:
            raise ConfigError(f"{obj.path}: category {obj.spec.category!r} is also defined in {seen[obj.spec.category]}")
        seen[obj.spec.category] = obj.path
    for obj in loaded:
        for w in obj.warnings:
            _log.warning("%s: %s", obj.path, w)
    if register:
        for obj in loaded:
            register_object(obj)
    return loaded
