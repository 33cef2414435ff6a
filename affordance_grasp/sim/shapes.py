"""Mesh building blocks for part-labelled objects, on trimesh and shapely.

Lathe profiles (vessels with real walls), swept tubes (handle loops, wire whisks, tongs),
extruded outlines (blades, wrenches, scissors with finger holes) and placed primitives. Every
function returns a closed ``trimesh.Trimesh`` in metres; the object frame has z up.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
import shapely.geometry as sg
import transforms3d
import trimesh

Outline = Union[sg.Polygon, Sequence[Sequence[float]], np.ndarray]


# --------------------------------------------------------------------------- placement
def rotation(axis: Sequence[float], angle: float) -> np.ndarray:
    return transforms3d.axangles.axangle2mat(np.asarray(axis, float), float(angle))


def placed(mesh: trimesh.Trimesh, pos=(0.0, 0.0, 0.0), R: Optional[np.ndarray] = None) -> trimesh.Trimesh:
    """A copy of ``mesh`` rotated by ``R`` (about the origin) then moved to ``pos``."""
    T = np.eye(4)
    if R is not None:
        T[:3, :3] = R
    T[:3, 3] = pos
    return mesh.copy().apply_transform(T)


def _axis_rotation(axis: str) -> Optional[np.ndarray]:
    """Rotation taking z to the named axis."""
    return {"z": None, "x": rotation((0, 1, 0), np.pi / 2), "y": rotation((1, 0, 0), -np.pi / 2)}[axis]


# --------------------------------------------------------------------------- primitives
def box(extents, center=(0.0, 0.0, 0.0), R: Optional[np.ndarray] = None) -> trimesh.Trimesh:
    return placed(trimesh.creation.box(extents=np.asarray(extents, float)), center, R)


def cylinder(radius: float, length: float, center=(0.0, 0.0, 0.0), axis: str = "z", sections: int = 24,
             R: Optional[np.ndarray] = None) -> trimesh.Trimesh:
    m = trimesh.creation.cylinder(radius=radius, height=length, sections=sections)
    return placed(placed(m, R=_axis_rotation(axis)), center, R)


def capsule(radius: float, length: float, center=(0.0, 0.0, 0.0), axis: str = "z",
            R: Optional[np.ndarray] = None) -> trimesh.Trimesh:
    """``length`` is the straight part between the two hemispheres."""
    m = trimesh.creation.capsule(height=length, radius=radius, count=[12, 12])
    m.apply_translation((0, 0, -length / 2))  # trimesh puts one cap centre at the origin
    return placed(placed(m, R=_axis_rotation(axis)), center, R)


def ellipsoid(radii, center=(0.0, 0.0, 0.0), R: Optional[np.ndarray] = None) -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    m.apply_scale(np.asarray(radii, float))
    return placed(m, center, R)


def frustum(r_bottom: float, r_top: float, length: float, center=(0.0, 0.0, 0.0), axis: str = "z",
            sections: int = 24) -> trimesh.Trimesh:
    """A truncated cone along ``axis`` (a cone when ``r_top`` is 0)."""
    prof = [(0.0, -length / 2), (r_bottom, -length / 2), (r_top, length / 2), (0.0, length / 2)]
    return placed(placed(revolve(prof, sections), R=_axis_rotation(axis)), center)


# --------------------------------------------------------------------------- lathe
def revolve(profile: Sequence[Sequence[float]], sections: int = 48) -> trimesh.Trimesh:
    """A solid of revolution about z from a closed (r, z) outline, r >= 0, counter-clockwise."""
    prof = np.asarray(profile, float)
    if np.any(prof[:, 0] < -1e-9):
        raise ValueError("a lathe profile needs r >= 0")
    poly = sg.Polygon(prof)
    if not poly.is_valid:
        poly = poly.buffer(0)
    if poly.exterior.is_ccw is False:
        poly = sg.polygon.orient(poly, 1.0)
    ring = np.asarray(poly.exterior.coords)
    mesh = trimesh.creation.revolve(ring, sections=sections)
    mesh.fix_normals()
    return mesh


def _inward_offset(line: np.ndarray, d: float) -> np.ndarray:
    """Offset an (r, z) polyline that runs upward by ``d`` towards the axis (vertex normals)."""
    seg = np.diff(line, axis=0)
    seg /= np.linalg.norm(seg, axis=1, keepdims=True)
    n_seg = np.stack([-seg[:, 1], seg[:, 0]], 1)          # left of an upward path = towards the axis
    n = np.vstack([n_seg[:1], n_seg[:-1] + n_seg[1:], n_seg[-1:]])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    # Keep the wall thickness at corners: scale by 1 / cos(half the turn).
    cos_half = np.clip(np.einsum("ij,ij->i", n, np.vstack([n_seg[:1], n_seg])), 0.5, 1.0)
    return line + n * (d / cos_half)[:, None]


def profile_radius(outer: Sequence[Sequence[float]], z):
    """The radius of a lathe profile [(r, z), ...] (z rising) at height(s) ``z``."""
    o = np.asarray(outer, float)
    return np.interp(z, o[:, 1], o[:, 0])


def vessel(outer: Sequence[Sequence[float]], wall: float, bottom: float, sections: int = 48,
           rounded_rim: bool = True) -> trimesh.Trimesh:
    """A hollow container: the outer (r, z) wall from the base edge up to the rim (z increasing),
    a wall ``wall`` thick and a base ``bottom`` thick. The inside is open at the top."""
    out = np.asarray(outer, float)
    if out[0, 1] != 0.0:
        out = np.vstack([[out[0, 0], 0.0], out])
    if np.any(np.diff(out[:, 1]) <= 0):
        raise ValueError("the outer profile must rise monotonically from the base to the rim")
    inner = _inward_offset(out, wall)
    inner = inner[inner[:, 1] > bottom]
    r_in_bottom = max(float(np.interp(bottom, out[:, 1], out[:, 0])) - wall, 0.002)
    inner = np.vstack([[r_in_bottom, bottom], inner])
    inner[:, 0] = np.maximum(inner[:, 0], 0.001)
    rim = [out[-1]]
    if rounded_rim:  # a half-round lip between the outer and inner rim
        c = (out[-1] + inner[-1]) / 2
        a = np.linspace(0, np.pi, 6)[1:-1]
        rim = [out[-1]] + [c + wall / 2 * np.array([np.cos(t), np.sin(t)]) for t in a]
    prof = np.vstack([[[0.0, 0.0]], out[:-1], rim, inner[::-1], [[0.0, bottom]]])
    return revolve(prof, sections)


# --------------------------------------------------------------------------- sweeps and extrusions
def ellipse(width: float, height: float, n: int = 12) -> sg.Polygon:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return sg.Polygon(np.c_[width / 2 * np.cos(t), height / 2 * np.sin(t)])


def rounded_rect(width: float, height: float, radius: float, n: int = 3) -> sg.Polygon:
    r = min(radius, width / 2 - 1e-5, height / 2 - 1e-5)
    core = sg.box(-width / 2 + r, -height / 2 + r, width / 2 - r, height / 2 - r)
    return core.buffer(r, quad_segs=n) if r > 0 else core


def loft(rings: Sequence[np.ndarray]) -> trimesh.Trimesh:
    """A closed mesh through rings of equal vertex count (each a closed loop), capped at both ends."""
    rings = [np.asarray(r, float) for r in rings]
    k = len(rings[0])
    if any(len(r) != k for r in rings):
        raise ValueError("loft rings need the same number of vertices")
    v = np.vstack(rings)
    faces = []
    for i in range(len(rings) - 1):
        a, b = i * k, (i + 1) * k
        for j in range(k):
            j2 = (j + 1) % k
            faces += [[a + j, b + j, b + j2], [a + j, b + j2, a + j2]]
    c0, c1 = len(v), len(v) + 1
    v = np.vstack([v, rings[0].mean(0), rings[-1].mean(0)])
    last = (len(rings) - 1) * k
    for j in range(k):
        j2 = (j + 1) % k
        faces += [[c0, j2, j], [c1, last + j, last + j2]]
    mesh = trimesh.Trimesh(v, np.asarray(faces), process=True)
    mesh.fix_normals()
    return mesh


def densify(path: np.ndarray, step: float = 0.004) -> np.ndarray:
    """The polyline resampled every ``step`` metres or closer, its corners kept."""
    out = [path[0]]
    for a, b in zip(path[:-1], path[1:]):
        k = max(int(np.ceil(np.linalg.norm(b - a) / step)), 1)
        out += [a + (b - a) * i / k for i in range(1, k + 1)]
    return np.asarray(out)


def bezier(P: Sequence[Sequence[float]], n: int) -> np.ndarray:
    """``n`` points along the quadratic (3 control points) or cubic (4) Bezier curve ``P``."""
    P = np.asarray(P, float)
    s = np.linspace(0.0, 1.0, n)[:, None]
    if len(P) == 3:
        return (1 - s) ** 2 * P[0] + 2 * (1 - s) * s * P[1] + s ** 2 * P[2]
    return (1 - s) ** 3 * P[0] + 3 * (1 - s) ** 2 * s * P[1] + 3 * (1 - s) * s ** 2 * P[2] + s ** 3 * P[3]


def tube(path: Sequence[Sequence[float]], section: Union[float, sg.Polygon], sides: int = 10) -> trimesh.Trimesh:
    """A closed tube along a 3-D polyline. ``section`` is a radius or a shapely polygon in the
    plane normal to the path. A path that lies in a plane (a handle loop) keeps the section's x
    axis along the plane's normal all the way, so straight runs do not twist; other paths are
    swept with trimesh."""
    poly = ellipse(2 * section, 2 * section, sides) if np.isscalar(section) else section
    P = np.asarray(path, float)
    sv, vt = np.linalg.svd(P - P.mean(0))[1:]
    if len(P) >= 3 and sv[-1] <= 1e-6 * max(sv[0], 1e-9):
        n = vt[-1]
        # Keep the in-plane section axis pointing the same way as trimesh's sweep would (outward).
        P = densify(P, 0.004)
        tang = np.gradient(P, axis=0)
        tang /= np.linalg.norm(tang, axis=1, keepdims=True)
        xy = np.asarray(poly.exterior.coords)[:-1]
        rings = [p + xy[:, :1] * n + xy[:, 1:] * np.cross(t, n) for p, t in zip(P, tang)]
        return loft(rings)
    mesh = trimesh.creation.sweep_polygon(poly, P)
    mesh.fix_normals()
    return mesh


def loop_path(kind: str, reach: float, height: float, n: int = 20, corner: float = 0.4) -> np.ndarray:
    """A handle's centre line in the x-z plane, from its upper attachment (0, 0, +height/2) out to
    ``reach`` and back to the lower one (0, 0, -height/2).

    kind: ``round`` (an elliptical C), ``d`` (straight outer side with rounded corners),
    ``square`` (straight sides, small fillets), ``ear`` (a C that is fuller at the top)."""
    h = height / 2
    if kind in ("round", "ear"):
        t = np.linspace(np.pi / 2, -np.pi / 2, n)
        x, z = reach * np.cos(t), h * np.sin(t)
        if kind == "ear":
            x = x * (1 + 0.25 * np.sin(t))
        return np.c_[x, np.zeros(n), z]
    r = corner * min(reach, h) if kind == "d" else 0.15 * min(reach, h)
    pts = [(0.0, h)]
    for cx, cz, a0 in ((reach - r, h - r, np.pi / 2), (reach - r, -h + r, 0.0)):
        a = np.linspace(a0, a0 - np.pi / 2, 5)
        pts += [(cx + r * np.cos(t), cz + r * np.sin(t)) for t in a]
    pts.append((0.0, -h))
    p = np.asarray(pts)
    return np.c_[p[:, 0], np.zeros(len(p)), p[:, 1]]


def extrude(outline: Outline, thickness: float, z0: float = 0.0) -> trimesh.Trimesh:
    """A flat part: an x-y outline (holes allowed) extruded ``thickness`` up from ``z0``."""
    poly = outline if isinstance(outline, sg.Polygon) else sg.Polygon(np.asarray(outline, float))
    if not poly.is_valid:
        poly = poly.buffer(0)
    mesh = trimesh.creation.extrude_polygon(poly, thickness)
    mesh.apply_translation((0, 0, z0))
    return mesh


def blade_outline(length: float, width: float, tip: str = "point", n: int = 12) -> sg.Polygon:
    """A blade's outline in x-y from the bolster (x = 0) to the tip (x = length): spine at y = 0,
    edge at y = -width.

    tip: ``point`` (chef's knife: the edge curves up to a point on the spine), ``round`` (table
    knife: a half-round end), ``square`` (bread knife, cleaver), ``spear`` (symmetric point)."""
    if tip == "round":
        r = width / 2
        return sg.box(0, -width, length - r, 0).union(sg.Point(length - r, -r).buffer(r, quad_segs=6))
    if tip == "square":
        return sg.box(0, -width, length, 0)
    x = np.linspace(0, length, n)
    if tip == "point":
        spine = np.zeros(n)
        edge = -width * (1 - np.clip((x - 0.55 * length) / (0.45 * length), 0, 1) ** 1.6)
    elif tip == "spear":
        t = np.clip((x - 0.5 * length) / (0.5 * length), 0, 1)
        spine, edge = -width / 2 * t, -width + width / 2 * t
    else:
        raise ValueError(f"unknown blade tip {tip!r}")
    pts = np.vstack([np.c_[x, spine], np.c_[x[::-1], edge[::-1]]])
    keep = np.r_[True, np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-7]
    return sg.Polygon(pts[keep]).buffer(0).simplify(1e-6)


# --------------------------------------------------------------------------- texture coordinates
def texcoords(mesh: trimesh.Trimesh, mode: str = "auto", scale: float = 0.12) -> np.ndarray:
    """Per-vertex (u, v) in texture repeats per ``scale`` metres: ``cylindrical`` around z for
    lathe shapes, ``planar`` across the two longest extents otherwise."""
    v = mesh.vertices
    ext = np.ptp(v, axis=0)
    if mode == "auto":
        mode = "cylindrical" if (abs(ext[0] - ext[1]) < 0.15 * max(ext[:2].max(), 1e-6)
                                 and ext[2] > 0.3 * ext[:2].max()) else "planar"
    if mode == "cylindrical":
        c = v[:, :2] - v[:, :2].mean(0)
        ang = np.arctan2(c[:, 1], c[:, 0])
        circumference = np.pi * max(ext[0], 1e-6)
        return np.c_[(ang + np.pi) / (2 * np.pi) * circumference / scale, (v[:, 2] - v[:, 2].min()) / scale]
    a, b = np.argsort(-ext)[:2]
    return np.c_[(v[:, a] - v[:, a].min()) / scale, (v[:, b] - v[:, b].min()) / scale]


def merge(meshes: Sequence[trimesh.Trimesh]) -> trimesh.Trimesh:
    """One mesh from several closed ones (they may overlap: it is drawn, not booleaned)."""
    return trimesh.util.concatenate(list(meshes))


def extent(meshes: Sequence[trimesh.Trimesh]) -> Tuple[np.ndarray, np.ndarray]:
    v = np.vstack([m.vertices for m in meshes])
    return v.min(0), v.max(0)
