"""Workshop and household tools: hammers, mallets, screwdrivers, wrenches, pliers, scissors, brushes,
toothbrushes, flashlights, power drills.

Hand tools lie on the table as they would on a bench (long axis along x, z the thickness
direction); the cordless drill stands on its battery. Curved or holed flat pieces (a claw, a
wrench's ring, scissor loops) are built from several convex slabs that together make the real
outline, so each collides as itself without a convex decomposition and the holes stay open.

Each category's dimensions, their sources and its task phrasings are in config/object_catalogue.yaml.
"""
from __future__ import annotations

from typing import Callable, Sequence, Union

import numpy as np
import shapely.geometry as sg
import trimesh

from .. import shapes
from .build import lathe_x, loft, pick, u
from .registry import builder
from .spec import MeshSpec, ObjectSpec, PartSpec, mesh_spec


# --------------------------------------------------------------------------- helpers
def _hull(points) -> trimesh.Trimesh:
    """The convex hull of a point set as a closed mesh."""
    m = trimesh.convex.convex_hull(np.asarray(points, float).reshape(-1, 3))
    m.fix_normals()
    return m


Piece = Union[trimesh.Trimesh, tuple]   # a mesh, or (visual, convex pieces[, flat-shaded])


def _part(name: str, affordances: Sequence[str], items: Sequence[Piece], materials: Sequence[str],
          look: str = "", uv_mode: str = "auto") -> PartSpec:
    """Like ``spec.part``, but an item may be (visual mesh, convex pieces[, flat]): a shape whose
    exact convex pieces are known from how it was built (slabs around a hole, segments of a bent
    band) collides through those pieces instead of a convex decomposition. ``flat`` draws it
    flat-shaded (MuJoCo smooths normals across shared vertices, which streaks flat plates)."""
    specs = []
    for it in items:
        if isinstance(it, tuple):
            vis, pieces, flat = (*it, False) if len(it) == 2 else it
            volume = float(vis.volume) if vis.is_volume else 0.0
            if flat:
                vis = vis.copy()
                vis.unmerge_vertices()
            specs.append(MeshSpec(np.asarray(vis.vertices), np.asarray(vis.faces),
                                  [np.asarray(p.vertices, float) for p in pieces], shapes.texcoords(vis, uv_mode),
                                  volume))
        else:
            specs.append(mesh_spec(it, uv_mode))
    return PartSpec(name, tuple(affordances), meshes=specs, materials=tuple(materials), look=look)


def _slab(poly: sg.Polygon, thickness: float, zc: float = 0.0) -> trimesh.Trimesh:
    """A flat piece: an x-y outline extruded ``thickness`` centred on height ``zc``."""
    return shapes.extrude(poly, thickness, z0=zc - thickness / 2)


def _holed(outer: sg.Polygon, hole: np.ndarray, thickness: float, zc: float = 0.0) -> Piece:
    """A convex outline with a polygonal hole (vertices (N, 2), star-shaped about their mean),
    extruded: drawn as one slab, colliding as N convex slabs (the outline cut by rays through
    the hole's corners)."""
    hole = np.asarray(hole, float)
    c = hole.mean(0)
    far = 10.0 * max(outer.bounds[2] - outer.bounds[0], outer.bounds[3] - outer.bounds[1])
    hp = sg.Polygon(hole)
    pieces = []
    for i in range(len(hole)):
        a, b = hole[i], hole[(i + 1) % len(hole)]
        da, db = (a - c) / np.linalg.norm(a - c), (b - c) / np.linalg.norm(b - c)
        wedge = sg.Polygon([c, c + far * da, c + far * (da + db), c + far * db])
        if not wedge.is_valid:
            wedge = wedge.buffer(0)
        piece = outer.intersection(wedge).difference(hp)
        if piece.is_empty or piece.area < 1e-8:
            continue
        if piece.geom_type != "Polygon":
            piece = max(piece.geoms, key=lambda g: g.area)
        pieces.append(_slab(piece.convex_hull, thickness, zc))
    return _slab(outer.difference(hp), thickness, zc), pieces, True


def _flat(mesh: trimesh.Trimesh) -> Piece:
    """A convex plate, drawn flat-shaded."""
    return mesh, [mesh], True


def _polygon(radius_fn: Callable[[np.ndarray], np.ndarray], n: int, centre=(0.0, 0.0)) -> np.ndarray:
    """(n, 2) points of a star-shaped outline r(theta) about ``centre``."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    r = radius_fn(t)
    return np.c_[centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)]


def _ellipse_pts(cx: float, cy: float, a: float, b: float, n: int = 12, phase: float = 0.0) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False) + phase
    return np.c_[cx + a * np.cos(t), cy + b * np.sin(t)]


def _section_ring(x: float, pts2: np.ndarray, y0: float = 0.0, z0: float = 0.0) -> np.ndarray:
    """A closed loop in the plane x = const from (y, z) section points."""
    return np.c_[np.full(len(pts2), x), pts2[:, 0] + y0, pts2[:, 1] + z0]


def _oval(w: float, h: float, n: int = 16) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.c_[w / 2 * np.cos(t), h / 2 * np.sin(t)]


def _rrect(w: float, h: float, r: float, n: int = 3) -> np.ndarray:
    return np.asarray(shapes.rounded_rect(w, h, r, n).exterior.coords)[:-1]


def _grip(xs: Sequence[float], widths: Sequence[float], heights: Sequence[float], zc=0.0,
          section: str = "oval", y: float = 0.0) -> Piece:
    """A handle along x whose width (y) and height (z) follow the given stations: drawn as one
    loft, colliding as convex segments (the hull of each pair of neighbouring sections)."""
    rings = []
    for x, w, h, z in zip(xs, widths, heights, np.broadcast_to(zc, len(xs))):
        sec = _oval(w, h) if section == "oval" else _rrect(w, h, 0.35 * min(w, h), 3)
        rings.append(_section_ring(x, sec, y, z))
    return loft(rings), [_hull(np.vstack([rings[i], rings[i + 1]])) for i in range(len(rings) - 1)]


def _flat_strip(path: np.ndarray, widths: Sequence[float], z_lo, z_hi) -> Piece:
    """A flat band along a 2-D centre line (x, y), ``widths`` across it, between heights z_lo and
    z_hi (scalars or per-point arrays): drawn as one loft, colliding as convex segments."""
    path = np.asarray(path, float)
    n = len(path)
    z_lo, z_hi = np.broadcast_to(z_lo, n), np.broadcast_to(z_hi, n)
    tang = np.gradient(path, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    nrm = np.c_[-tang[:, 1], tang[:, 0]]
    rings = []
    for k in range(n):
        a, b = path[k] - widths[k] / 2 * nrm[k], path[k] + widths[k] / 2 * nrm[k]
        rings.append(np.array([(*a, z_lo[k]), (*b, z_lo[k]), (*b, z_hi[k]), (*a, z_hi[k])]))
    return loft(rings), [_hull(np.vstack([rings[i], rings[i + 1]])) for i in range(n - 1)], True


def _cyl_x(r: float, x0: float, x1: float, y: float = 0.0, z: float = 0.0, sections: int = 24) -> trimesh.Trimesh:
    return shapes.cylinder(r, x1 - x0, ((x0 + x1) / 2, y, z), axis="x", sections=sections)


def _cyl_y(r: float, y0: float, y1: float, x: float = 0.0, z: float = 0.0, sections: int = 24) -> trimesh.Trimesh:
    return shapes.cylinder(r, y1 - y0, (x, (y0 + y1) / 2, z), axis="y", sections=sections)


def _lathe_y(profile, x: float = 0.0, z: float = 0.0, sections: int = 32) -> trimesh.Trimesh:
    """A round part along +y from (y, r) stations (convex when r(y) is concave)."""
    m = lathe_x(profile, z=0.0, sections=sections)           # along x, axis at z = 0
    m = shapes.placed(m, R=shapes.rotation((0, 0, 1), np.pi / 2))  # x -> y
    m.apply_translation((x, 0.0, z))
    return m


# --------------------------------------------------------------------------- hammer
@builder("hammer")
def build_hammer(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: claw (curved split claw), ballpeen (round peen). Handle along x, head along y,
    lying on the side of its head."""
    L = u(rng, 0.28, 0.34)                    # overall, butt to top of the head
    hl = u(rng, 0.10, 0.13)                   # head length, face to claw/peen
    rf = u(rng, 0.0135, 0.0160)               # striking face radius
    cheek = 2 * rf * u(rng, 0.82, 0.92)       # head width across (z) at the eye
    ex = u(rng, 0.026, 0.034)                 # head along the handle axis at the eye
    ey = u(rng, 0.028, 0.036)                 # eye block along the head axis
    xh = L - ex / 2                           # head centre on the handle axis
    # Handle: swelled butt, slimmer waist, thickening into the eye.
    wy, hz = u(rng, 0.030, 0.036), u(rng, 0.021, 0.026)
    lh = L - 0.002
    xs = [0.0, 0.006, 0.05, 0.55 * lh, lh - ex - 0.02, lh]
    ws = [0.80 * wy, wy, 0.97 * wy, 0.78 * wy, 0.74 * wy, 0.80 * wy]
    hs = [0.80 * hz, hz, 0.96 * hz, 0.80 * hz, 0.76 * hz, 0.80 * hz]
    handle = [_grip(xs, ws, hs)]
    head = [shapes.box((ex, ey, cheek), (xh, 0.0, 0.0))]
    yf = 0.45 * hl if family == "claw" else 0.5 * hl     # face end from the eye centre
    lf = u(rng, 0.012, 0.018)
    rn = rf * u(rng, 0.72, 0.82)
    head += [_cyl_y(rn, 0.0, yf - lf + 0.001, xh), _cyl_y(rf, yf - lf, yf - 0.002, xh),
             _cyl_y(rf - 0.002, yf - 0.0025, yf, xh)]         # a chamfered face
    if family == "claw":
        yc = hl - yf                                          # claw tip from the eye centre
        curve = u(rng, 0.018, 0.030)
        P = np.array([(xh, -ey / 2 + 0.004), (xh, -0.75 * yc), (xh - curve, -yc)])
        path = shapes.bezier(P, 7)
        w = np.linspace(ex, 0.35 * ex, 7)
        slot = np.clip(np.linspace(-0.4, 1.0, 7), 0, 1) * u(rng, 0.003, 0.0045)   # V between the prongs
        thick = np.linspace(cheek, 0.8 * cheek, 7)
        root = _flat_strip(path[:3], w[:3], -thick[:3] / 2, thick[:3] / 2)
        top = _flat_strip(path[2:], w[2:], slot[2:] / 2 + 0.0002, thick[2:] / 2)
        bot = _flat_strip(path[2:], w[2:], -thick[2:] / 2, -slot[2:] / 2 - 0.0002)
        head += [root, top, bot]
    else:
        yp = hl - yf                                          # ball peen
        rb = rf * u(rng, 0.80, 0.92)
        head += [_cyl_y(rn, -(yp - rb), 0.0, xh), shapes.ellipsoid((rb, rb, rb), (xh, -(yp - rb), 0.0))]
    return ObjectSpec("hammer", [
        _part("handle", ("grasp", "hold"), handle, ("wood", "plastic", "rubber")),
        _part("head", ("pound",), head, ("steel", "painted"), look="head"),
    ])


# --------------------------------------------------------------------------- mallet
@builder("mallet")
def build_mallet(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: rubber (cylindrical rubber head), wooden (carpenter's block head). Handle along x,
    head along y, lying on the side of its head."""
    L = u(rng, 0.30, 0.36)
    wy, hz = u(rng, 0.028, 0.034), u(rng, 0.022, 0.027)
    if family == "rubber":
        rh, lhd = u(rng, 0.029, 0.036), u(rng, 0.10, 0.13)
        c = 0.004
        xh = L - rh
        prof = [(-lhd / 2, rh - c), (-lhd / 2 + c, rh), (lhd / 2 - c, rh), (lhd / 2, rh - c)]
        head = [_lathe_y(prof, xh, 0.0, 32)]
        head_mats = ("rubber",)
        top = xh
    else:
        hx, hzz, lhd = u(rng, 0.055, 0.068), u(rng, 0.048, 0.058), u(rng, 0.12, 0.14)
        flare = u(rng, 0.004, 0.008)                          # faces lean out: wider away from the handle
        xh = L - hx / 2
        pts = []
        for y in (-lhd / 2, lhd / 2):
            for x, dy in ((xh - hx / 2, 0.0), (xh + hx / 2, flare)):
                for z in (-hzz / 2, hzz / 2):
                    pts.append((x, y + np.sign(y) * dy, z))
        head = [_hull(pts)]
        head_mats = ("wood",)
        top = L - 0.001
    xs = [0.0, 0.005, 0.04, 0.6 * top, top]
    ws = [0.85 * wy, wy, wy, 0.85 * wy, 0.8 * wy]
    hs = [0.85 * hz, hz, hz, 0.85 * hz, 0.8 * hz]
    handle = [_grip(xs, ws, hs)]
    return ObjectSpec("mallet", [
        _part("handle", ("grasp", "hold"), handle, ("wood", "plastic", "rubber") if family == "rubber" else ("wood",)),
        _part("head", ("pound",), head, head_mats),
    ])


# --------------------------------------------------------------------------- screwdriver
@builder("screwdriver")
def build_screwdriver(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: slotted, phillips (cross tip), stubby. The handle has a rounded-triangle or fluted
    section so it does not roll."""
    if family == "stubby":
        lh, R = u(rng, 0.048, 0.060), u(rng, 0.016, 0.019)
        ls, rs = u(rng, 0.025, 0.040), u(rng, 0.0025, 0.0032)
    else:
        lh, R = u(rng, 0.090, 0.115), u(rng, 0.013, 0.017)
        ls, rs = u(rng, 0.075, 0.175), u(rng, 0.0025, 0.0040)
    section = pick(rng, ("triangle", "fluted"))
    if section == "triangle":
        # corners at 90, 210, 330 deg: a flat side down
        tri = sg.Polygon(_polygon(lambda t: np.full_like(t, 0.62 * R), 3) @ np.array([[0, -1], [1, 0]]).T)
        tri = tri.buffer(0.40 * R, quad_segs=6)
        b = tri.bounds
        scale = 2 * R / max(b[2] - b[0], b[3] - b[1])
        base = np.asarray(tri.exterior.coords)[:-1] * scale
    else:
        d = u(rng, 0.10, 0.14)
        base = _polygon(lambda t: R * (1 - d * np.sin(3 * t) ** 2), 36)
    base = base - base.mean(0)
    # Side profile: a domed butt, the full section, then a taper to the nose.
    stations = [(0.0, 0.45), (0.004, 0.80), (0.012, 0.97), (0.65 * lh, 1.0), (0.88 * lh, 0.82), (lh, 0.55)]
    rings = [_section_ring(x, base * s) for x, s in stations]
    if section == "triangle":
        handle = [_hull(np.vstack(rings))]
    else:
        handle = [loft(rings)]
    x0 = lh - 0.012
    shaft = [_cyl_x(rs, x0, lh + ls - 0.008, sections=16)]
    tip_x = lh + ls
    if family == "phillips":
        shaft += [_hull(np.vstack([_section_ring(tip_x - 0.009, _oval(2 * rs, 2 * rs, 12)),
                                    [(tip_x, 0.0, 0.0)]]))]
        for ang in (np.pi / 4, -np.pi / 4):   # the cross: two thin fins
            cs, sn = np.cos(ang), np.sin(ang)
            w = 0.0009
            shaft += [_hull([(tip_x - 0.009, cs * rs * s1 + -sn * w * s2, sn * rs * s1 + cs * w * s2)
                             for s1 in (-1, 1) for s2 in (-1, 1)] + [(tip_x - 0.0005, 0.0, 0.0)])]
    else:
        blade = max(2 * rs * 1.15, 0.005)
        shaft += [_hull(np.vstack([_section_ring(tip_x - 0.012, _oval(2 * rs, 2 * rs, 12)),
                                    [(tip_x, sy * blade / 2, sz * 0.0004) for sy in (-1, 1) for sz in (-1, 1)]]))]
    return ObjectSpec("screwdriver", [
        _part("handle", ("grasp", "hold"), handle, ("plastic", "rubber", "wood")),
        _part("shaft", ("screw",), shaft, ("steel",)),
    ])


# --------------------------------------------------------------------------- wrench
def _open_end(S: float, R: float, angle: float, t: float, c=(0.0, 0.0), bottom: float = 0.0) -> Piece:
    """An open jaw head: a disc of radius ``R`` at ``c`` with a slot ``S`` wide opening towards -x
    (turned by ``angle``), as three convex slabs (two jaws and the back)."""
    disc = sg.Point(*c).buffer(R, quad_segs=8)
    ca, sa = np.cos(angle), np.sin(angle)
    rot = np.array([[ca, -sa], [sa, ca]])

    def half(pts):
        return sg.Polygon(np.asarray(pts) @ rot.T + np.asarray(c))
    big = 3 * R
    jaws = [half([(-big, S / 2), (big, S / 2), (big, big), (-big, big)]),
            half([(-big, -big), (big, -big), (big, -S / 2), (-big, -S / 2)]),
            half([(bottom, -big), (big, -big), (big, big), (bottom, big)])]
    slot = disc.difference(half([(bottom, -S / 2), (-big, -S / 2), (-big, S / 2), (bottom, S / 2)]))
    return _slab(slot, t), [_slab(disc.intersection(j), t) for j in jaws], True


@builder("wrench")
def build_wrench(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: combination (open end + 12-point ring end), adjustable. Lying flat."""
    if family == "combination":
        S = u(rng, 0.010, 0.019)                              # across flats, metres
        L = 0.040 + 10.0 * S * u(rng, 0.95, 1.05)
        th = 0.0045 + 0.17 * S                                # heads 6-8 mm
        ts = th * u(rng, 0.68, 0.78)                          # shank
        Ro, Rr = 1.05 * S + 0.003, 0.65 * S + 0.0032
        xr = L - Ro - Rr
        w1, w2 = 0.75 * S + 0.005, 0.65 * S + 0.004
        shank = [_flat(_slab(sg.Polygon([(0.6 * Ro, -w1 / 2), (xr - 0.6 * Rr, -w2 / 2), (xr - 0.6 * Rr, w2 / 2),
                                   (0.6 * Ro, w1 / 2)]), ts))]
        head = _open_end(S, Ro, np.radians(15), th, bottom=-0.08 * S)
        star = _polygon(lambda t: np.where(np.arange(len(t)) % 2 == 0, 0.5 * S / np.cos(np.pi / 12), 0.5 * S)
                        * 1.03, 24, (xr, 0.0))
        ring = _holed(sg.Point(xr, 0.0).buffer(Rr, quad_segs=10), star, th)
        return ObjectSpec("wrench", [
            _part("handle", ("grasp", "hold"), shank, ("steel",), look="steel"),
            _part("head", ("turn",), [head, ring], ("steel",), look="steel"),
        ])
    # adjustable
    L = u(rng, 0.15, 0.25)
    cap = 0.12 * L + 0.002                                    # jaw capacity
    o = cap * u(rng, 0.3, 0.85)                               # how far it is open
    th = 0.0045 + 0.030 * L                                   # head 9-12 mm
    ts = u(rng, 0.0050, 0.0070)
    R = 0.75 * cap + 0.006
    ang = np.radians(15)
    head = _open_end(o, R, ang, th, bottom=-0.25 * R)
    w1, w2 = 0.11 * L, 0.085 * L
    x_end = L - R - w2 / 2
    hx = x_end - 0.002
    handle = [_flat(_slab(sg.Polygon([(0.5 * R, -w1 / 2), (hx - 0.01, -w2 / 2), (hx - 0.01, w2 / 2),
                                      (0.5 * R, w1 / 2)]), ts))]
    end = sg.box(hx - 0.0105, -w2 / 2, x_end, w2 / 2).union(sg.Point(x_end, 0.0).buffer(w2 / 2, quad_segs=8))
    handle.append(_holed(end.convex_hull, _ellipse_pts(x_end - 0.002, 0.0, 0.29 * w2, 0.29 * w2, 10), ts))
    return ObjectSpec("wrench", [
        _part("handle", ("grasp", "hold"), handle, ("steel",), look="steel"),
        _part("head", ("turn",), [head], ("steel",), look="steel"),
    ])


# --------------------------------------------------------------------------- pliers
@builder("pliers")
def build_pliers(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: combination (slip-joint / combination pliers: broad jaws with a pipe grip),
    longnose. Lying flat, jaws closed, handles a little apart. Pivot at the origin, jaws to +x."""
    if family == "combination":
        L, lj = u(rng, 0.16, 0.22), u(rng, 0.034, 0.044)
        wj0, wjt, tj = u(rng, 0.020, 0.025), u(rng, 0.010, 0.013), u(rng, 0.009, 0.011)
    else:
        L, lj = u(rng, 0.15, 0.20), u(rng, 0.050, 0.068)
        wj0, wjt, tj = u(rng, 0.015, 0.019), u(rng, 0.0035, 0.0050), u(rng, 0.008, 0.010)
    rp = 0.52 * wj0
    tg, wg = u(rng, 0.011, 0.014), u(rng, 0.013, 0.017)      # grips: thickness (z), width
    jaw_out = sg.Polygon([(-0.3 * rp, -wj0 / 2), (lj - wjt / 2, -wjt / 2), (lj - wjt / 2, wjt / 2),
                          (-0.3 * rp, wj0 / 2)])
    jaw_out = jaw_out.union(sg.Point(lj - wjt / 2, 0).buffer(wjt / 2, quad_segs=6)).convex_hull
    if family == "combination":
        grip_hole = _ellipse_pts(0.50 * lj, 0.0, 0.16 * lj, 0.16 * wj0, 8)
        jaws = [_holed(jaw_out, grip_hole, tj)]
    else:
        jaws = [_flat(_slab(jaw_out, tj))]
    jaws.append(shapes.cylinder(rp, tj + 0.0016, (0.0, 0.0, 0.0), sections=24))      # the joint and rivet
    lh = L - lj
    spread = u(rng, 0.022, 0.032)                              # half the gap between the handle ends
    handle = []
    for sgn in (-1, 1):
        P = np.array([(-0.7 * rp, sgn * 0.30 * wj0), (-0.45 * lh, sgn * 0.75 * spread),
                      (-lh + 0.004, sgn * spread)])
        path = shapes.bezier(P, 6)
        w = np.linspace(0.85 * wg, wg, 6)
        w[-1] *= 0.85
        zs = np.full(6, tg / 2)
        zs[0], zs[-1] = 0.42 * tg, 0.40 * tg
        handle.append(_flat_strip(path, w, -zs, zs))
    return ObjectSpec("pliers", [
        _part("handle", ("grasp", "hold"), handle, ("plastic", "rubber")),
        _part("jaws", ("pinch",), jaws, ("steel",)),
    ])


# --------------------------------------------------------------------------- scissors
@builder("scissors")
def build_scissors(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: office (two finger rings), shears (kitchen shears: a large finger loop). Closed,
    lying flat. Pivot at the origin, blades to +x, rings to -x."""
    if family == "office":
        L = u(rng, 0.15, 0.21)
        w, tb = u(rng, 0.014, 0.018), u(rng, 0.0018, 0.0022)
        ta = (u(rng, 0.027, 0.032), u(rng, 0.023, 0.027))    # thumb ring outer (x, y)
        fa, fb = u(rng, 0.038, 0.050), u(rng, 0.024, 0.028)   # finger loop outer (x, y)
        tip = pick(rng, ("point", "round"))
    else:
        L = u(rng, 0.20, 0.25)
        w, tb = u(rng, 0.019, 0.024), u(rng, 0.0020, 0.0025)
        ta = (u(rng, 0.030, 0.034), u(rng, 0.026, 0.030))
        fa, fb = u(rng, 0.055, 0.068), u(rng, 0.028, 0.033)
        tip = "point"
    band, tr = u(rng, 0.0050, 0.0060), u(rng, 0.0065, 0.0085)  # ring band width, ring thickness
    lb = L - 0.018 - fa
    # Each blade: spine curving in to the tip, a straight edge; the two overlap when closed.
    t = np.linspace(0.0, 1.0, 8)
    xs = -0.006 + (lb + 0.006) * t
    spine = 0.55 * w * (1 - t ** 1.6)
    edge = -0.25 * w * (1 - t)
    outline = sg.Polygon(np.vstack([np.c_[xs, spine], np.c_[xs[::-1], edge[::-1]]])).convex_hull
    if tip == "round":
        outline = outline.intersection(sg.box(-1, -1, lb - 0.004, 1)).union(
            sg.Point(lb - 0.006, 0.08 * w).buffer(0.18 * w, quad_segs=4)).convex_hull
    mirror = sg.Polygon(np.asarray(outline.exterior.coords) * [1, -1])
    blades = [_flat(_slab(outline, tb, tb / 2)), _flat(_slab(mirror, tb, 1.5 * tb)),
              shapes.cylinder(0.0035, 2 * tb + 0.0012, (0.0, 0.0, tb), sections=16)]
    # Rings: thumb ring on +y, finger loop on -y, each joined to the pivot by a neck.
    zc = tb
    rings = []
    for (a, b), sgn in ((ta, 1), ((fa, fb), -1)):
        cx, cy = -0.014 - a / 2, sgn * (b / 2 + 0.0015)
        outer = sg.Polygon(_ellipse_pts(cx, cy, a / 2, b / 2, 24))
        hole = _ellipse_pts(cx, cy, a / 2 - band, b / 2 - band, 12, phase=np.pi / 12)
        rings.append(_holed(outer, hole, tr, zc))
        neck = sg.Polygon([(-0.002, sgn * 0.0005), (-0.002, sgn * 0.45 * w), (cx + 0.35 * a, cy + sgn * 0.3 * b),
                           (cx + 0.35 * a, cy - sgn * 0.3 * b)]).convex_hull
        rings.append(_flat(_slab(neck, 0.85 * tr, zc)))
    return ObjectSpec("scissors", [
        _part("handle", ("grasp", "hold"), rings, ("plastic", "rubber")),
        _part("blade", ("cut",), blades, ("steel",)),
    ])


# --------------------------------------------------------------------------- brush
@builder("brush")
def build_brush(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: dish (long handle, round head, bristles slanted forward; lies on its flat back),
    scrub (iron-shaped block, bristles down, loop handle on top; rests on its bristles), paint
    (flat brush lying flat). Every family rests on a broad flat side."""
    if family == "dish":
        lh, wh, hh = u(rng, 0.17, 0.22), u(rng, 0.020, 0.026), u(rng, 0.010, 0.013)
        rh, beta = u(rng, 0.024, 0.030), np.radians(u(rng, 20, 35))
        lbr = u(rng, 0.022, 0.030)
        handle = [_grip([0.0, 0.004, 0.5 * lh, lh], [0.8 * wh, wh, wh, 0.9 * wh], [0.8 * hh, hh, hh, hh],
                        zc=hh / 2, section="rect")]
        xc = lh + 0.8 * rh
        d = np.array([np.sin(beta), 0.0, np.cos(beta)])
        cb = np.array([xc, 0.0, rh * np.sin(beta) + 0.005])
        e1, e2 = np.array([np.cos(beta), 0.0, -np.sin(beta)]), np.array([0.0, 1.0, 0.0])
        tt = np.linspace(0.0, 2 * np.pi, 28, endpoint=False)
        circ = np.cos(tt)[:, None] * e1 + np.sin(tt)[:, None] * e2
        holder = _hull(np.vstack([np.c_[xc + rh * np.cos(tt), rh * np.sin(tt), np.zeros_like(tt)],
                                  cb + rh * circ]))
        bristles = [shapes.cylinder(rh - 0.002, lbr + 0.002, cb + (lbr / 2 - 0.001) * d,
                                    R=shapes.rotation((0, 1, 0), beta), sections=32)]
        return ObjectSpec("brush", [
            _part("handle", ("grasp", "hold"), handle, ("plastic", "wood"), look="body"),
            _part("head", ("scrub",), [holder], ("plastic", "wood"), look="body"),
            _part("bristles", ("scrub", "brush"), bristles, ("bristle",)),
        ])
    if family == "scrub":
        lb, wb = u(rng, 0.12, 0.16), u(rng, 0.060, 0.075)
        tb, hb = u(rng, 0.018, 0.025), u(rng, 0.018, 0.025)
        # Iron shape: a rounded rectangle narrowing to a blunt point at the front.
        foot = sg.Polygon([(-lb / 2, -wb / 2), (0.2 * lb, -wb / 2), (lb / 2, -0.12 * wb), (lb / 2, 0.12 * wb),
                           (0.2 * lb, wb / 2), (-lb / 2, wb / 2)]).buffer(-0.008).buffer(0.008, quad_segs=4)
        block = _slab(foot, tb, hb + tb / 2)
        bristle = _slab(foot.buffer(-0.003, quad_segs=3), hb + 0.002, hb / 2)
        span, rise = u(rng, 0.55, 0.70) * lb, u(rng, 0.032, 0.042)
        gw, gd = u(rng, 0.022, 0.028), u(rng, 0.016, 0.020)
        loop = shapes.loop_path("d", rise + 0.004, span, n=20, corner=0.55)
        path = np.c_[loop[:, 2], np.zeros(len(loop)), hb + tb - 0.004 + loop[:, 0]]
        grip = shapes.tube(path, shapes.rounded_rect(gw, gd, 0.45 * min(gw, gd), 3))
        return ObjectSpec("brush", [
            _part("handle", ("grasp", "hold"), [grip], ("wood", "plastic"), look="body"),
            _part("head", ("scrub",), [block], ("wood", "plastic"), look="body"),
            _part("bristles", ("scrub", "brush"), [bristle], ("bristle",)),
        ])
    # paint brush: handle -x .. 0, ferrule 0 .. lf, bristles beyond
    W = u(rng, 0.025, 0.063)
    lh, lf, lbr = u(rng, 0.12, 0.17), u(rng, 0.018, 0.026), u(rng, 0.045, 0.065)
    tbr = u(rng, 0.010, 0.015)
    hw, ht = max(0.7 * W, u(rng, 0.018, 0.024)), u(rng, 0.011, 0.014)
    handle = [_grip([-lh, -lh + 0.005, -0.6 * lh, -0.15 * lh, 0.002],
                   [0.6 * hw, 0.75 * hw, 0.7 * hw, hw, 0.9 * (W + 0.004)],
                    [0.75 * ht, 0.85 * ht, 0.8 * ht, ht, tbr + 0.003])]
    # Ferrule: a 1.5 mm sheet-metal sleeve (a real one is ~0.3 mm) around the bristles' root.
    fw, ft, wt = W + 0.004, tbr + 0.004, 0.0015
    ring = shapes.rounded_rect(fw, ft, 0.45 * ft).difference(shapes.rounded_rect(fw - 2 * wt, ft - 2 * wt, 0.4 * ft))
    to_x = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])      # extrusion z -> x, (x, y) -> (y, z)
    sleeve = shapes.placed(shapes.extrude(ring, lf), R=to_x)
    walls = [shapes.box((lf, fw - ft * 0.5, wt), (lf / 2, 0.0, sz * (ft - wt) / 2)) for sz in (-1, 1)]
    walls += [shapes.box((lf, wt, ft - ft * 0.4), (lf / 2, sy * (fw - wt) / 2, 0.0)) for sy in (-1, 1)]
    ferrule = [(sleeve, walls)]
    root = _rrect(fw - 2 * wt, ft - 2 * wt, 0.4 * ft)
    bristles = [_hull(np.vstack([_section_ring(0.002, root), _section_ring(lf, root),
                                 _section_ring(lf + lbr, _rrect(W * 1.02, 0.003, 0.0014))]))]
    return ObjectSpec("brush", [
        _part("handle", ("grasp", "hold"), handle, ("wood", "plastic")),
        _part("head", ("brush",), ferrule, ("steel", "aluminium")),
        _part("bristles", ("brush",), bristles, ("bristle",)),
    ])


# --------------------------------------------------------------------------- toothbrush
@builder("toothbrush")
def build_toothbrush(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: manual. Lying on its back, bristles up; handle tail at x = 0."""
    L = u(rng, 0.170, 0.195)
    wg, tg = u(rng, 0.011, 0.015), u(rng, 0.009, 0.012)       # grip width, thickness
    wn, tn = u(rng, 0.0050, 0.0065), u(rng, 0.0045, 0.0055)   # neck
    lhd, whd, thd = u(rng, 0.026, 0.032), u(rng, 0.011, 0.0135), u(rng, 0.0045, 0.0055)
    xn0, xn1 = 0.58 * L, L - lhd - 0.004
    hs = [0.7 * tg, 0.85 * tg, tg, 0.95 * tg, 0.75 * tg, tn, 0.9 * tn]
    handle = [_grip([0.0, 0.004, 0.25 * L, 0.45 * L, xn0, xn0 + 0.012, xn1 + 0.002],
                    [0.75 * wg, 0.9 * wg, wg, 0.92 * wg, 0.75 * wg, wn, wn], hs,
                    zc=[h / 2 for h in hs], section="rect")]           # flat back on z = 0
    plate = sg.box(xn1, -whd / 2, L - whd / 2, whd / 2).union(sg.Point(L - whd / 2, 0).buffer(whd / 2, quad_segs=6))
    plate = plate.union(sg.Point(xn1 + 0.002, 0).buffer(whd / 2, quad_segs=6)).convex_hull
    head = _slab(plate, thd, thd / 2)
    tuft = plate.buffer(-0.0015, quad_segs=4)
    hbr = u(rng, 0.010, 0.012)
    bristles = _slab(tuft, hbr + 0.001, thd + hbr / 2 - 0.0005)
    return ObjectSpec("toothbrush", [
        _part("handle", ("grasp", "hold"), handle, ("plastic", "rubber"), look="body"),
        _part("head", ("brush",), [head], ("plastic",), look="body"),
        _part("bristles", ("brush",), [bristles], ("bristle",)),
    ])


# --------------------------------------------------------------------------- flashlight
@builder("flashlight")
def build_flashlight(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: penlight (slim, pocket clip keeps it from rolling, tail button), large (wide
    hexagonal anti-roll head, side button). Lying along x, head at +x."""
    if family == "penlight":
        L, r = u(rng, 0.130, 0.150), u(rng, 0.0065, 0.0085)
        lhd, rh = u(rng, 0.025, 0.035), r * u(rng, 1.08, 1.18)
        body = [lathe_x([(0.002, 0.93 * r), (0.004, r), (L - lhd + 0.002, r)], z=0.0, sections=28)]
        head = [lathe_x([(L - lhd, r), (L - lhd + 0.008, rh), (L - 0.0015, rh), (L, 0.9 * rh)], z=0.0, sections=28)]
        trigger = [lathe_x([(-0.002, 0.0045), (0.0025, 0.0045)], z=0.0, sections=16)]
        # Pocket clip near the tail, turned down to where it and the body both touch the table.
        gap, ct, cw, cl = 0.0012, u(rng, 0.0012, 0.0016), u(rng, 0.006, 0.008), u(rng, 0.045, 0.060)
        ro, half = r + gap + ct, cw / 2
        # Turn it until the clip's outer edge is as low as the head's rim: it lies on both.
        amp, ph = np.hypot(ro, half), np.arctan2(half, ro)
        th = ph + np.arccos(np.clip(rh / amp, -1, 1))
        clip = shapes.box((cl, cw, ct), (0.006 + cl / 2, 0.0, -(r + gap + ct / 2)))
        collar = shapes.box((0.008, cw, gap + ct + 0.001), (0.008, 0.0, -(r + (gap + ct) / 2 - 0.0005)))
        R = shapes.rotation((1, 0, 0), th)
        body += [shapes.placed(clip, R=R), shapes.placed(collar, R=R)]
        mats = ("aluminium", "plastic")
    else:
        L, r = u(rng, 0.25, 0.30), u(rng, 0.015, 0.019)
        lhd, rh = u(rng, 0.070, 0.090), u(rng, 0.025, 0.030)
        body = [lathe_x([(0.0, 0.93 * r), (0.003, r), (0.02, 1.04 * r), (L - lhd + 0.004, 1.04 * r)], z=0.0,
                        sections=32)]
        x0, x1 = L - lhd, L - lhd + 0.5 * lhd
        tt = np.linspace(0.0, 2 * np.pi, 36, endpoint=False)
        flat = tt - np.pi / 6 - np.round((tt - np.pi / 6) / (np.pi / 3)) * np.pi / 3   # off the nearest flat's normal
        hex_r = rh * np.cos(np.pi / 6) / np.cos(flat)
        rings = [_section_ring(x0, np.c_[1.04 * r * np.cos(tt), 1.04 * r * np.sin(tt)]),
                 _section_ring(x1, np.c_[hex_r * np.cos(tt), hex_r * np.sin(tt)]),
                 _section_ring(L, 0.98 * np.c_[hex_r * np.cos(tt), hex_r * np.sin(tt)])]
        head = [(loft(rings), [_hull(np.vstack(rings))])]
        xb = L - lhd - u(rng, 0.015, 0.030)
        trigger = [shapes.cylinder(0.0055, 0.006, (xb, 0.0, 1.04 * r + 0.001), sections=16)]
        mats = ("aluminium", "plastic")
    return ObjectSpec("flashlight", [
        _part("body", ("grasp", "hold"), body, mats, look="torch"),
        _part("head", ("light",), head, mats, look="torch"),
        _part("trigger", ("press",), trigger, ("rubber", "plastic")),
    ])


# --------------------------------------------------------------------------- drill
@builder("drill")
def build_drill(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: pistol (cordless drill-driver standing on its battery). x forward (chuck), z up."""
    bl, bw, bh = u(rng, 0.100, 0.120), u(rng, 0.072, 0.085), u(rng, 0.055, 0.070)
    foot = sg.box(-bl / 2, -bw / 2, bl / 2, bw / 2).buffer(-0.008).buffer(0.008, quad_segs=4)
    battery = [_flat(_slab(foot, bh, bh / 2))]
    # Grip: rises from the battery, raked back; 3.5-4.5 cm across (y), deeper along x.
    gw, gd, gh = u(rng, 0.036, 0.043), u(rng, 0.045, 0.055), u(rng, 0.085, 0.105)
    rake = np.radians(u(rng, 8, 16))
    xb = u(rng, -0.020, -0.010)                               # grip centre at the battery
    rm = u(rng, 0.028, 0.033)                                 # motor housing radius
    zt = bh + gh                                              # top of the grip (under the housing)
    zm = zt + 0.75 * rm                                       # housing axis
    zs = np.linspace(bh - 0.006, zm, 5)
    xs = xb - (zs - bh) * np.tan(rake)
    scale = [1.25, 1.0, 0.95, 1.0, 1.0]                       # flared where it meets the battery
    rings = [np.c_[x + gd * s / 2 * np.cos(t), gw * s / 2 * np.sin(t), np.full_like(t, z)]
             for x, z, s, t in zip(xs, zs, scale, [np.linspace(0, 2 * np.pi, 16, endpoint=False)] * 5)]
    handle = [(loft(rings), [_hull(np.vstack([rings[i], rings[i + 1]])) for i in range(4)])]
    # Motor housing and gearbox along x, from behind the grip to the clutch collar.
    xr = xs[-1] - gd / 2 - u(rng, 0.020, 0.030)
    lm = u(rng, 0.125, 0.150)
    xf = xr + lm
    body = [lathe_x([(xr, 0.55 * rm), (xr + 0.008, 0.92 * rm), (xr + 0.025, rm), (xf - 0.035, rm),
                     (xf - 0.018, 0.84 * rm), (xf, 0.78 * rm)], z=zm, sections=32)]
    rc, lc = u(rng, 0.019, 0.023), u(rng, 0.045, 0.060)
    chuck = [lathe_x([(xf - 0.003, rc), (xf + 0.65 * lc, rc), (xf + 0.9 * lc, 0.72 * rc), (xf + lc, 0.45 * rc)],
                     z=zm, sections=32)]
    # Trigger at the front of the grip just under the housing.
    xg = xs[-2] + gd / 2 - 0.004
    ztg = zm - rm - 0.004
    trigger = [_hull([(xg + dx, sy * 0.006, ztg + dz) for sy in (-1, 1)
                      for dx, dz in ((0.0, 0.0), (0.0, -0.028), (0.014, -0.004), (0.012, -0.024))])]
    return ObjectSpec("drill", [
        _part("handle", ("grasp", "hold"), handle, ("plastic", "rubber"), look="housing"),
        _part("body", ("wrap-grasp",), body, ("plastic",), look="housing"),
        _part("battery", (), battery, ("plastic",)),
        _part("chuck", ("drill",), chuck, ("aluminium", "plastic")),
        _part("trigger", ("press",), trigger, ("plastic", "rubber")),
    ])
