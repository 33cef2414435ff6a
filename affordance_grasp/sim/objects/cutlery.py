"""Cutlery and kitchen hand tools that lie on the table: forks, spoons, ladles, spatulas, whisks, tongs.

Every tool is built lying as it rests on a counter (x along its length, z up): flatware is bent in
side view so the tips and the handle end touch the table and the neck is raised; tools whose parts
stand at different heights (a turner's raised handle, a whisk's cage, a ladle's bowl and hooked
handle) are turned about y onto the edge of their side-view silhouette under their centre of mass.

Each category's dimensions, their sources and its task phrasings are in config/object_catalogue.yaml.
"""
from __future__ import annotations

from typing import Callable, List, Sequence

import numpy as np
import shapely.geometry as sg
import trimesh

from .. import shapes
from ..materials import MATERIALS
from .build import bar, lathe_x, loft, pick, u
from .registry import builder
from .spec import ObjectSpec, part


# --------------------------------------------------------------------------- shared helpers
def _section(w: float, h: float, n: int = 16, p: float = 3.0) -> np.ndarray:
    """A rounded-rectangle (superellipse) section, ``w`` across y by ``h`` up z, fixed vertex count."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    return np.c_[w / 2 * np.sign(c) * np.abs(c) ** (2 / p), h / 2 * np.sign(s) * np.abs(s) ** (2 / p)]


def _strip(xs, width, thick, zc, n: int = 16) -> trimesh.Trimesh:
    """A flat bar along x whose width (y), thickness (z) and centre height vary along it (arrays)."""
    rings = []
    for x, w, t, z in zip(xs, width, thick, zc):
        sec = _section(w, t, n)
        rings.append(np.c_[np.full(n, x), sec[:, 0], sec[:, 1] + z])
    return loft(rings)


def _bent(mesh: trimesh.Trimesh, zc: Callable[[np.ndarray], np.ndarray], max_edge: float = 0.003) -> trimesh.Trimesh:
    """A flat part bent in side view: every point raised by ``zc(x)`` (the part refined first)."""
    v, f = trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, max_edge)
    v = np.array(v, float)
    v[:, 2] += zc(v[:, 0])
    m = trimesh.Trimesh(v, f, process=True)
    m.fix_normals()
    return m


def _heading_path(start, segments, ds: float = 0.004) -> np.ndarray:
    """A planar (x-z) centre line from ``start``: segments of (length, heading at its end) with the
    heading (radians, 0 = +x, pi/2 = +z) changing linearly along each one (a straight run or an arc)."""
    pts = [np.asarray(start, float)]
    heading = segments[0][1]
    for length, h1 in segments:
        n = max(int(np.ceil(length / ds)), 2)
        hs = np.linspace(heading, h1, n + 1)[1:]
        for h in hs:
            pts.append(pts[-1] + length / n * np.array([np.cos(h), 0.0, np.sin(h)]))
        heading = h1
    return np.asarray(pts)


def _lie(groups: List[List[trimesh.Trimesh]], densities: Sequence[float]) -> List[List[trimesh.Trimesh]]:
    """Turn the tool about y so it rests on the edge of its side-view (x-z) hull under its centre of
    mass (the stable edge closest to the pose it was built in)."""
    mass, moment = 0.0, np.zeros(3)
    for ms, rho in zip(groups, densities):
        for m in ms:
            mass += m.volume * rho
            moment += m.volume * rho * m.center_mass
    com = moment / mass
    pts = np.vstack([m.vertices[:, [0, 2]] for ms in groups for m in ms])
    hull = sg.polygon.orient(sg.MultiPoint(pts).convex_hull, 1.0)
    ring = np.asarray(hull.exterior.coords)
    best = None
    for p, q in zip(ring[:-1], ring[1:]):
        d = q - p
        length = np.linalg.norm(d)
        if d[0] <= 0 or length < 1e-6:
            continue  # upper or vertical edges
        t = np.dot(com[[0, 2]] - p, d) / length ** 2
        if 0.0 < t < 1.0:
            a = float(np.arctan2(d[1], d[0]))
            if best is None or abs(a) < abs(best):
                best = a
    if best is None or abs(best) < 1e-6:
        return groups
    R = shapes.rotation((0, 1, 0), best)
    return [[shapes.placed(m, R=R) for m in ms] for ms in groups]


def _density(materials: Sequence[str]) -> float:
    return float(np.mean([MATERIALS[m].density for m in materials]))


def _flatware_handle(x_joint: float, length: float, w_neck: float, w_end: float, t_neck: float, t_end: float,
                     z_joint: float, rise: float = 0.0) -> trimesh.Trimesh:
    """A steel fork/spoon handle from its neck at ``x_joint`` back (-x) ``length``, widening to a
    rounded end; its centre line arches from ``z_joint`` down to the table at the end."""
    s = np.r_[np.linspace(0.0, 0.84, 16), 0.84 + 0.16 * np.sin(np.linspace(0, np.pi / 2, 8))[1:]]
    xs = x_joint - s * length
    w = w_neck + (w_end - w_neck) * s ** 1.3
    end = s > 0.84
    w[end] *= np.sqrt(np.clip(1 - ((s[end] - 0.84) / 0.16) ** 2, 0.12, 1))
    t = t_neck + (t_end - t_neck) * s
    zc = t_end / 2 + (z_joint - t_end / 2) * (1 - s ** 1.7) + rise * np.sin(np.pi * s) * (1 - s)
    return _strip(xs, w, t, zc)


# --------------------------------------------------------------------------- fork
def _fork_head(length: float, tine_len: float, width: float, w_neck: float, n: int, gap: float,
               tip: str = "round") -> sg.Polygon:
    """A fork head in x-y from the neck (x = 0) to the tine tips (x = length), centred on y = 0."""
    xs = length - tine_len
    x = np.linspace(0.0, xs + 0.002, 12)
    half = w_neck / 2 + (width / 2 - w_neck / 2) * np.sin(np.pi / 2 * np.clip(x / xs, 0, 1)) ** 1.4
    palm = sg.Polygon(np.vstack([np.c_[x, half], np.c_[x[::-1], -half[::-1]]]))
    tw = (width - (n - 1) * gap) / n
    tines = []
    for i in range(n):
        y = -width / 2 + tw / 2 + i * (tw + gap)
        if tip == "point":
            r = 0.0007
            poly = sg.Polygon([(xs - 0.002, y - tw / 2), (length - r, y - r), (length - r, y + r),
                               (xs - 0.002, y + tw / 2)]).union(sg.Point(length - r, y).buffer(r, quad_segs=3))
        else:
            r = 0.36 * tw
            poly = sg.Polygon([(xs - 0.002, y - tw / 2), (length - r, y - r), (length - r, y + r),
                               (xs - 0.002, y + tw / 2)]).union(sg.Point(length - r, y).buffer(r, quad_segs=4))
        tines.append(poly)
    out = palm
    for t in tines:
        out = out.union(t)
    return out.buffer(0).simplify(2e-5)


@builder("fork")
def build_fork(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: dinner (4 tines), salad (shorter, 4 tines), serving (carving fork: 2 long pointed
    tines on a steel shank in a thick handle)."""
    if family in ("dinner", "salad"):
        if family == "dinner":
            lh, tl, wh = u(rng, 0.060, 0.068), u(rng, 0.034, 0.040), u(rng, 0.022, 0.026)
            lhan, we = u(rng, 0.125, 0.140), u(rng, 0.017, 0.022)
        else:
            lh, tl, wh = u(rng, 0.052, 0.058), u(rng, 0.028, 0.033), u(rng, 0.020, 0.023)
            lhan, we = u(rng, 0.112, 0.122), u(rng, 0.015, 0.019)
        wn, th = u(rng, 0.0060, 0.0080), u(rng, 0.0020, 0.0025)
        t_neck, t_end = u(rng, 0.0030, 0.0036), u(rng, 0.0022, 0.0030)
        zn = u(rng, 0.010, 0.015)                                 # centre height at the neck
        outline = _fork_head(lh, tl, wh, wn, 4, u(rng, 0.0022, 0.0028))
        head = shapes.extrude(outline, th, z0=-th / 2)
        # Tines on the table, rising in a smooth S to the neck.
        head = _bent(head, lambda x: th / 2 + (zn - th / 2) * (1 + np.cos(np.pi * np.clip(x / lh, 0, 1))) / 2)
        handle = _flatware_handle(0.004, lhan + 0.004, wn, we, t_neck, t_end, zn)
        (handle,), (head,) = _lie([[handle], [head]], [7900.0, 7900.0])
        return ObjectSpec("fork", [
            part("handle", ("grasp", "hold"), [handle], ("steel",), look="flatware"),
            part("tines", ("stab",), [head], ("steel",), look="flatware"),
        ])
    # serving / carving fork
    lhan, whan, hhan = u(rng, 0.105, 0.125), u(rng, 0.019, 0.024), u(rng, 0.015, 0.020)
    ls, lt, wy = u(rng, 0.025, 0.040), u(rng, 0.070, 0.090), u(rng, 0.015, 0.020)
    tt, tw = u(rng, 0.0030, 0.0040), u(rng, 0.0040, 0.0050)
    handle = bar(lhan, whan, hhan, x0=-lhan, section="rect", taper=0.08)
    zc = hhan / 2
    xs = np.linspace(-0.03, ls + 0.004, 6)
    shank = _strip(xs, np.linspace(0.011, 0.008, 6), np.full(6, 0.0055), np.full(6, zc), n=12)
    # Two spear tines on a yoke, curving down a little towards their points.
    yoke = sg.Polygon([(0, -0.005), (0.012, -wy / 2 - tw / 2), (0.012, wy / 2 + tw / 2), (0, 0.005)])
    head = yoke
    for y in (-wy / 2, wy / 2):
        head = head.union(sg.Polygon([(0.008, y - tw / 2), (lt - 0.0008, y - 0.0006), (lt, y),
                                      (lt - 0.0008, y + 0.0006), (0.008, y + tw / 2)]))
    tines = shapes.extrude(head.buffer(0), tt, z0=zc - tt / 2)
    tines.apply_translation((ls, 0, 0))
    drop = u(rng, 0.004, 0.008)
    tines = _bent(tines, lambda x: -drop * np.clip((x - ls) / lt, 0, 1) ** 2)
    mats = ("wood", "plastic")
    (handle,), (shank, tines) = _lie([[handle], [shank, tines]], [_density(mats), 7900.0])
    return ObjectSpec("fork", [
        part("handle", ("grasp", "hold"), [handle], mats),
        part("tines", ("stab",), [shank, tines], ("steel",)),
    ])


# --------------------------------------------------------------------------- spoon
def _dish(half_length: float, half_width: float, depth: float, wall: float, egg: float,
          theta1: float = 1.22) -> trimesh.Trimesh:
    """A shallow hollow oval dish (a spoon's bowl) standing on its bottom, centred on x = y = 0,
    long along x; its front (+x) half ``egg`` longer than its back half."""
    # The wall's mid-surface in (r, z), offset by half the wall either side, with a round lip.
    th = np.linspace(0.0, theta1, 12)
    mid = np.c_[(half_width - wall / 2) * np.sin(th) / np.sin(theta1),
                wall / 2 + (depth - wall) * (1 - np.cos(th)) / (1 - np.cos(theta1))]
    tan = np.gradient(mid, axis=0)
    nrm = np.c_[-tan[:, 1], tan[:, 0]] / np.linalg.norm(tan, axis=1, keepdims=True)
    outer, inner = mid - nrm * wall / 2, mid + nrm * wall / 2
    a0 = np.arctan2(-nrm[-1, 1], -nrm[-1, 0])
    lip = mid[-1] + wall / 2 * np.c_[np.cos(a0 + np.linspace(0, np.pi, 6)[1:-1]),
                                     np.sin(a0 + np.linspace(0, np.pi, 6)[1:-1])]
    outer[0, 0] = inner[0, 0] = 0.0
    dish = shapes.revolve(np.vstack([outer, lip, inner[::-1]]), sections=40)
    v = np.array(dish.vertices)
    k = half_length / half_width
    v[:, 0] *= np.where(v[:, 0] > 0, k * (1 + egg), k)
    return trimesh.Trimesh(v, dish.faces, process=False)


@builder("spoon")
def build_spoon(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: table (dinner spoon), tea (teaspoon), wooden (cooking spoon, round handle)."""
    if family in ("table", "tea"):
        if family == "table":
            a, b, d = u(rng, 0.027, 0.033), u(rng, 0.019, 0.0225), u(rng, 0.008, 0.011)
            lhan, we, wn = u(rng, 0.125, 0.140), u(rng, 0.017, 0.022), u(rng, 0.006, 0.008)
            wall, t_neck, t_end = u(rng, 0.0016, 0.0020), u(rng, 0.0026, 0.0032), u(rng, 0.0021, 0.0026)
        else:
            a, b, d = u(rng, 0.020, 0.023), u(rng, 0.013, 0.0155), u(rng, 0.0055, 0.0070)
            lhan, we, wn = u(rng, 0.090, 0.100), u(rng, 0.012, 0.015), u(rng, 0.0045, 0.0055)
            wall, t_neck, t_end = u(rng, 0.0015, 0.0017), u(rng, 0.0024, 0.0028), u(rng, 0.0020, 0.0024)
        bowl = _dish(a, b, d, wall, u(rng, 0.08, 0.16))
        # The handle leaves the back of the rim flush with its top and arches down to the table.
        handle = _flatware_handle(-a + 0.004, lhan + 0.004, wn, we, t_neck, t_end, d - t_neck / 2,
                                  rise=u(rng, 0.002, 0.005))
        (handle,), (bowl,) = _lie([[handle], [bowl]], [7900.0, 7900.0])
        return ObjectSpec("spoon", [
            part("handle", ("grasp", "hold"), [handle], ("steel",), look="flatware"),
            part("bowl", ("scoop", "stir"), [bowl], ("steel",), look="flatware"),
        ])
    # wooden cooking spoon: a thick shallow bowl and a round tapered handle
    a, b, d = u(rng, 0.030, 0.038), u(rng, 0.022, 0.028), u(rng, 0.010, 0.014)
    wall = u(rng, 0.0035, 0.0045)
    lhan = u(rng, 0.20, 0.24)
    r_neck, r_mid, r_end = u(rng, 0.0048, 0.0055), u(rng, 0.0055, 0.0065), u(rng, 0.0062, 0.0075)
    bowl = _dish(a, b, d, wall, u(rng, 0.0, 0.10))
    x0 = -a - lhan
    prof = [(0.0, 0.5 * r_end), (0.002, 0.85 * r_end), (0.006, r_end), (0.35 * lhan, r_mid),
            (0.8 * lhan, r_neck), (lhan + 0.008, r_neck)]
    handle = lathe_x(prof, x0=x0, z=d - r_neck, sections=20)
    (handle,), (bowl,) = _lie([[handle], [bowl]], [720.0, 720.0])
    return ObjectSpec("spoon", [
        part("handle", ("grasp", "hold"), [handle], ("wood",), look="wood"),
        part("bowl", ("scoop", "stir"), [bowl], ("wood",), look="wood"),
    ])


# --------------------------------------------------------------------------- ladle
@builder("ladle")
def build_ladle(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: soup (deep hemispherical bowl, long handle with a hook end), sauce (small bowl,
    shorter handle)."""
    if family == "soup":
        R, depth = u(rng, 0.040, 0.050), u(rng, 0.80, 0.95)
        l_main, hook = u(rng, 0.16, 0.21), True
        w, t = u(rng, 0.013, 0.017), u(rng, 0.0025, 0.0030)
    else:
        R, depth = u(rng, 0.026, 0.032), u(rng, 0.70, 0.85)
        l_main, hook = u(rng, 0.15, 0.18), rng.random() < 0.5
        w, t = u(rng, 0.012, 0.015), u(rng, 0.0025, 0.0030)
    d = R * depth
    wall = u(rng, 0.0015, 0.0017)
    th = np.linspace(0.25, 1.45, 10)
    outer = np.c_[R * np.sin(th) / np.sin(1.45), d * (1 - np.cos(th)) / (1 - np.cos(1.45))]
    bowl = shapes.vessel(outer, wall, wall, sections=40)
    # The handle rides up the back of the wall, leaves the rim steeply, bends to run out at a
    # shallow angle, and (soup ladles) curls down into a hook at its end.
    a1, a2 = np.radians(u(rng, 62, 75)), np.radians(u(rng, 22, 34))
    zs = d - 0.012                                # the handle is riveted on the wall this far below the rim
    rs = float(np.interp(zs, outer[:, 1], outer[:, 0]))
    dr, dz = np.interp(zs + 0.002, outer[:, 1], outer[:, 0]) - rs, 0.002
    start = (-rs - t / 2 + 0.0012, 0.0, zs)
    segs = [(0.014, float(np.arctan2(dz, -dr))), (0.012, np.pi - a1), (u(rng, 0.015, 0.030), np.pi - a1),
            (0.025, np.pi - a2), (l_main, np.pi - a2)]
    if hook:
        r_hook = u(rng, 0.010, 0.015)
        segs.append((np.pi * 0.85 * r_hook, np.pi - a2 + np.radians(150)))
    path = _heading_path(start, segs)
    handle = shapes.tube(path, shapes.rounded_rect(w, t, 0.45 * t, 3))
    mats = ("steel", "plastic")
    (handle,), (bowl,) = _lie([[handle], [bowl]], [_density(mats), _density(mats)])
    return ObjectSpec("ladle", [
        part("handle", ("grasp", "hold"), [handle], mats, look="ladle"),
        part("bowl", ("scoop", "serve", "pour"), [bowl], mats, look="ladle"),
    ])


# --------------------------------------------------------------------------- spatula (turner)
def _turner_outline(length: float, width: float, w_root: float, slots: int, rng) -> sg.Polygon:
    """A turner blade in x-y from its root (x = 0, ``w_root`` wide) to its front edge (x = length)."""
    throat = 0.28 * length
    x = np.linspace(0.0, throat, 8)
    half = w_root / 2 + (width / 2 - w_root / 2) * np.sin(np.pi / 2 * x / throat)
    r = 0.12 * width
    pts = np.vstack([np.c_[x, half], [[length - r, width / 2]], [[length, width / 2 - r]],
                     [[length, -width / 2 + r]], [[length - r, -width / 2]], np.c_[x[::-1], -half[::-1]]])
    blade = sg.Polygon(pts).buffer(0.002, quad_segs=3).buffer(-0.002, quad_segs=3)
    if slots:
        sw = u(rng, 0.0030, 0.0045)
        pitch = (0.75 * width) / slots
        x0, x1 = throat + 0.004, length - 0.012
        for i in range(slots):
            y = -0.75 * width / 2 + pitch * (i + 0.5)
            blade = blade.difference(sg.LineString([(x0, y), (x1, y)]).buffer(sw / 2, quad_segs=4))
    return blade


@builder("spatula")
def build_spatula(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: straight (flat blade in line with the handle), offset (blade bent down from a raised
    handle), slotted (offset, with slots through the blade)."""
    lhan, whan, hhan = u(rng, 0.11, 0.17), u(rng, 0.020, 0.026), u(rng, 0.012, 0.018)
    lb, wb = u(rng, 0.07, 0.10), u(rng, 0.055, 0.080)
    blade_mats = pick(rng, (("steel",), ("steel", "plastic")))
    tb = u(rng, 0.0015, 0.0018) if blade_mats == ("steel",) else u(rng, 0.0022, 0.0030)
    ls, ws, ts = u(rng, 0.035, 0.055), u(rng, 0.010, 0.014), max(tb, u(rng, 0.0025, 0.0032))
    zc = hhan / 2
    handle = bar(lhan, whan, hhan, x0=-lhan, section="rect", taper=0.1)
    if family == "straight":
        shank = shapes.tube(np.c_[np.linspace(-0.035, ls + 0.004, 4), np.zeros(4), np.full(4, zc)],
                            shapes.rounded_rect(ws, ts, 0.45 * ts, 3))
        z_blade = zc - tb / 2
    else:
        # The shank runs out of the handle, dips down and meets the blade lying near the table.
        drop = zc - tb / 2 + u(rng, 0.010, 0.020)
        dip = np.arcsin(min(drop / (0.6 * ls), 0.95))
        path = _heading_path((-0.035, 0.0, zc + drop), [(0.035 + 0.1 * ls, 0.0), (0.3 * ls, -dip),
                                                        (0.3 * ls, -dip), (0.3 * ls + 0.004, 0.0)], ds=0.003)
        shank = shapes.tube(path, shapes.rounded_rect(ws, ts, 0.45 * ts, 3))
        handle.apply_translation((0, 0, drop))
        z_blade = path[-1, 2] - tb / 2
        ls = path[-1, 0] - 0.004
    outline = _turner_outline(lb, wb, ws, int(rng.integers(3, 6)) if family == "slotted" else 0, rng)
    blade = shapes.extrude(outline, tb, z0=z_blade)
    blade.apply_translation((ls, 0, 0))
    handle_mats = ("plastic", "wood", "rubber")
    (handle,), (shank, blade) = _lie([[handle], [shank, blade]], [_density(handle_mats), _density(blade_mats)])
    return ObjectSpec("spatula", [
        part("handle", ("grasp", "hold"), [handle], handle_mats),
        part("blade", ("flip", "scoop"), [shank, blade], blade_mats),
    ])


# --------------------------------------------------------------------------- whisk
def _whisk_loop(length: float, radius: float, r0: float, x_max: float, psi: float, z: float,
                tuck: float = 0.025) -> np.ndarray:
    """One wire loop's centre line: out of the handle at radius ``r0``, widening to ``radius`` at
    ``x_max``, round over the tip at ``length`` and back, in the plane at angle ``psi`` about x."""
    x1 = np.linspace(0.0, x_max, 10)
    r1 = r0 + (radius - r0) * (1 - np.cos(np.pi * x1 / x_max)) / 2
    ph = np.linspace(0, np.pi / 2, 9)[1:]
    x2, r2 = x_max + (length - x_max) * np.sin(ph), radius * np.cos(ph)
    xs, rs = np.r_[-tuck, x1, x2], np.r_[r0, r1, r2]
    half = np.c_[xs, rs]
    loop = np.vstack([half, (half * [1, -1])[-2::-1]])
    e = np.array([0.0, np.cos(psi), np.sin(psi)])
    return np.c_[loop[:, 0], np.zeros(len(loop)), np.full(len(loop), z)] + loop[:, 1:2] * e


@builder("whisk")
def build_whisk(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: balloon (4-6 loops crossing at the tip, a round cage), flat (3-4 nested loops in one
    plane)."""
    total = u(rng, 0.25, 0.30)
    lhan, whan, hhan = u(rng, 0.10, 0.125), u(rng, 0.022, 0.028), u(rng, 0.020, 0.024)
    rw = u(rng, 0.0012, 0.0015)
    lw = total - lhan
    zc = hhan / 2
    handle = bar(lhan, whan, hhan, x0=-lhan, section="oval", taper=-0.08)
    r0 = 0.3 * min(whan, hhan)
    loops = []
    if family == "balloon":
        R, n = u(rng, 0.028, 0.038), int(rng.integers(4, 7))
        xm = u(rng, 0.60, 0.70) * lw
        for k in range(n):
            loops.append(_whisk_loop(lw, R, r0, xm, (k + 0.5) * np.pi / n, zc))
    else:
        R, n = u(rng, 0.030, 0.040), int(rng.integers(3, 5))
        xm = u(rng, 0.55, 0.65) * lw
        for k in range(n):
            f = 1 - 0.8 * k / n
            loop = _whisk_loop(lw * (1 - 0.12 * k), R * f, r0 * max(f, 0.3), xm * (1 - 0.12 * k), 0.0, zc)
            # The wires leave the handle and bend down to lie flat on the table.
            s = np.clip(loop[:, 0] / (0.3 * lw), 0, 1)
            loop[:, 2] = rw + (zc - rw) * (1 + np.cos(np.pi * s)) / 2
            loops.append(loop)
    wires = [shapes.tube(p, rw, sides=10) for p in loops]
    handle_mats = ("plastic", "wood", "rubber")        # solid here: steel handles are hollow tubes
    (handle,), wires = _lie([[handle], wires], [_density(handle_mats), 7900.0])
    return ObjectSpec("whisk", [
        part("handle", ("grasp", "hold"), [handle], handle_mats),
        part("wires", ("stir",), wires, ("steel",)),
    ])


# --------------------------------------------------------------------------- tongs
def _scalloped(length: float, height: float, bump: float) -> sg.Polygon:
    """A tong head's outline in its own (x, y) plane: a rounded oblong whose front half is scalloped."""
    core = shapes.rounded_rect(length - 2 * bump, height - 2 * bump, 0.4 * height, 4)
    ring = np.asarray(core.exterior.coords)
    seg = np.linalg.norm(np.diff(ring, axis=0), axis=1)
    s = np.r_[0, np.cumsum(seg)]
    out = core.buffer(0.45 * bump, quad_segs=3)
    for q in np.arange(0, s[-1], 1.9 * bump):
        p = np.array([np.interp(q, s, ring[:, 0]), np.interp(q, s, ring[:, 1])])
        if p[0] > -0.1 * length:
            out = out.union(sg.Point(*p).buffer(bump, quad_segs=3))
    return out.buffer(0)


def _plate_yz(outline: sg.Polygon, thickness: float, x0: float, y0: float, z0: float) -> trimesh.Trimesh:
    """An outline drawn in (x, z) extruded ``thickness`` across y, centred on (x0 + its x, y0, z0 + its z)."""
    m = shapes.extrude(outline, thickness, z0=-thickness / 2)
    m = shapes.placed(m, R=shapes.rotation((1, 0, 0), np.pi / 2))   # its y -> z, its z -> -y
    m.apply_translation((x0, y0, z0))
    return m


@builder("tongs")
def build_tongs(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: kitchen (spring steel arms bent round at the hinge, scalloped heads), salad (wooden or
    plastic paddles, one spoon-like and one slotted, joined by a hinge block). They lie on the edges
    of their arms, open in a V."""
    L = u(rng, 0.23, 0.30)
    if family == "kitchen":
        hs, ts = u(rng, 0.015, 0.020), u(rng, 0.0015, 0.0020)
        lh, Hh = u(rng, 0.045, 0.060), u(rng, 0.026, 0.034)
        gap = u(rng, 0.050, 0.080)                    # between the heads
        rr = u(rng, 0.006, 0.010)                     # inner radius of the spring bend
        mats, hinge = ("steel",), "bend"
    else:
        hs, ts = u(rng, 0.014, 0.020), u(rng, 0.0045, 0.0060)
        lh, Hh = u(rng, 0.065, 0.080), u(rng, 0.045, 0.055)
        gap = u(rng, 0.060, 0.090)
        rr = u(rng, 0.004, 0.006)
        mats, hinge = ("wood", "plastic"), "block"
    zc = hs / 2
    x_head = L - lh                                     # where the heads begin
    y_head = gap / 2 + ts / 2
    x_mid = 0.5 * L

    def arm_y(x):
        return rr + ts / 2 + (y_head - rr - ts / 2) * (x / x_head)

    # Handle: the hinge half of both arms (one outline round the spring bend for kitchen tongs).
    if hinge == "bend":
        a = np.linspace(np.pi / 2, 3 * np.pi / 2, 9)
        bend = np.c_[(rr + ts / 2) * np.cos(a), (rr + ts / 2) * np.sin(a)]
        line = np.vstack([[[x_mid, arm_y(x_mid)]], bend, [[x_mid, -arm_y(x_mid)]]])
        handle_meshes = [shapes.extrude(sg.LineString(line).buffer(ts / 2, cap_style="flat", join_style="round"),
                                        hs, z0=0.0)]
    else:
        handle_meshes = [shapes.extrude(sg.LineString([(0.0, s * arm_y(0.0)), (x_mid, s * arm_y(x_mid))])
                                        .buffer(ts / 2, cap_style="flat"), hs, z0=0.0) for s in (1, -1)]
        handle_meshes.append(shapes.box((0.018, 2 * (rr + ts) + 0.006, hs), center=(0.006, 0.0, zc)))
    # Jaws: the far half of each arm and its head (a plate on edge facing the other one).
    jaws = []
    for s in (1, -1):
        jaws.append(shapes.extrude(sg.LineString([(x_mid - 0.003, s * arm_y(x_mid - 0.003)),
                                                  (x_head + 0.004, s * arm_y(x_head + 0.004))])
                                   .buffer(ts / 2, cap_style="flat"), hs, z0=0.0))
    if family == "kitchen":
        outline = _scalloped(lh, Hh, u(rng, 0.0025, 0.0035))
        heads = [_plate_yz(outline, ts, x_head + lh / 2, s * y_head, zc) for s in (1, -1)]
    else:
        oval = sg.Point(0, 0).buffer(1.0, quad_segs=8)
        base = sg.Polygon(np.asarray(oval.exterior.coords) * [lh / 2, Hh / 2])
        slotted = base
        for y in np.linspace(-0.5, 0.5, 3) * Hh * 0.55:
            slotted = slotted.difference(sg.LineString([(0.0, y), (lh, y)]).buffer(0.003, quad_segs=3))
        heads = [_plate_yz(base, ts, x_head + lh / 2 - 0.003, y_head, zc),
                 _plate_yz(slotted.buffer(0), ts, x_head + lh / 2 - 0.003, -y_head, zc)]
    jaws += heads
    handle_meshes, jaws = _lie([handle_meshes, jaws], [_density(mats)] * 2)
    return ObjectSpec("tongs", [
        part("handle", ("grasp", "hold"), list(handle_meshes), mats, look="arms"),
        part("jaws", ("pinch", "serve"), jaws, mats, look="arms"),
    ])
