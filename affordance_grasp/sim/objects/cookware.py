"""Cookware: bowls, saucepans, frying pans, pots with two handles and lids, kettles.

Handles that attach to a round or flared wall have their root face moved onto the wall's outer
surface (sunk a little into the wall), so they neither float off it nor poke through into the pan.

Each category's dimensions, their sources and its task phrasings are in config/object_catalogue.yaml.
"""
from __future__ import annotations

import numpy as np
import shapely.geometry as sg
import trimesh

from .. import shapes
from .build import bar, draws, pick, u
from .registry import builder
from .spec import ObjectSpec, part


# --------------------------------------------------------------------------- helpers
def _split_rim(mesh: trimesh.Trimesh, z_cut: float):
    """A vessel cut at ``z_cut`` into the body below and the rim band above (closed meshes)."""
    below = trimesh.creation.box(bounds=[[-1.0, -1.0, -1.0], [1.0, 1.0, z_cut]])
    return mesh.intersection(below), mesh.difference(below)


def _onto_wall(mesh: trimesh.Trimesh, root: np.ndarray, outer, embed: float) -> trimesh.Trimesh:
    """Move the ``root`` vertices (a handle's end face, handle pointing along +x) onto the round
    wall given by the lathe profile ``outer``, ``embed`` deep into it."""
    v = mesh.vertices.copy()
    r = shapes.profile_radius(outer, v[root, 2])
    v[root, 0] = np.sqrt(np.maximum(r ** 2 - v[root, 1] ** 2, 1e-8)) - embed
    return trimesh.Trimesh(v, mesh.faces, process=False)


def _straight_handle(style: str, length: float, width: float, height: float, tilt: float, z_attach: float,
                     outer, embed: float, taper: float = 0.15, azimuth: float = 0.0) -> trimesh.Trimesh:
    """A long pan handle along +x from the wall at height ``z_attach``, rising at ``tilt`` (rad).
    style: ``oval`` / ``rect`` (a solid moulded or wooden handle) or ``channel`` (a stamped or
    cast steel handle: a U section open underneath, 2.5 mm thick)."""
    if style == "channel":
        t = 0.0025
        sec = shapes.rounded_rect(width, height, 0.35 * min(width, height)).difference(
            sg.box(-width / 2 + t, -height, width / 2 - t, height / 2 - t))
        path = np.c_[np.linspace(0.0, length, 6), np.zeros(6), np.zeros(6)]
        m = shapes.tube(path, sec)
        v = m.vertices
        if v[:, 2].mean() < 0:  # the U must open downward: its web on top
            m = shapes.placed(m, R=shapes.rotation((1, 0, 0), np.pi))
    else:
        m = bar(length, width, height, x0=0.0, z=0.0, section=style, taper=taper)
    root = np.flatnonzero(m.vertices[:, 0] < 1e-6)
    x_wall = float(shapes.profile_radius(outer, z_attach)) - embed
    m = shapes.placed(m, (x_wall, 0.0, z_attach), shapes.rotation((0, 1, 0), -tilt))
    m = _onto_wall(m, root, outer, embed)
    if azimuth:
        m = shapes.placed(m, R=shapes.rotation((0, 0, 1), azimuth))
    return m


def _side_loop(kind: str, outer, reach: float, z_top: float, z_bottom: float, thickness: float, depth: float,
               embed: float, azimuth: float = 0.0) -> trimesh.Trimesh:
    """A vertical handle loop on a (possibly tapered) round wall, following the wall's profile."""
    path = shapes.loop_path(kind, reach, z_top - z_bottom)
    path[:, 2] += (z_top + z_bottom) / 2
    path[:, 0] += shapes.profile_radius(outer, path[:, 2]) - embed
    m = shapes.tube(path, shapes.rounded_rect(thickness, depth, 0.45 * min(thickness, depth), 3))
    return shapes.placed(m, R=shapes.rotation((0, 0, 1), azimuth)) if azimuth else m


def _frustum_towards(r0: float, r1: float, length: float, start, direction) -> trimesh.Trimesh:
    """A hollow tapered spout from ``start`` along ``direction`` (outer radius r0 at the root, r1 at the tip)."""
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    t = 0.0016  # a pressed or cast spout: a tapered tube open at both ends
    m = shapes.revolve([(r0 - t, -length / 2), (r0, -length / 2), (r1, length / 2), (r1 - t, length / 2)], 20)
    axis = np.cross((0.0, 0.0, 1.0), d)
    R = shapes.rotation(axis, np.arccos(np.clip(d[2], -1, 1))) if np.linalg.norm(axis) > 1e-9 else None
    return shapes.placed(m, np.asarray(start, float) + d * length / 2, R)


def _dome_lid(radius: float, rise: float, thickness: float, z0: float, sections: int = 40) -> trimesh.Trimesh:
    """A domed lid shell of ``thickness`` whose rim rests at ``z0`` and whose crown rises ``rise``."""
    r = np.linspace(0.0, radius, 10)
    top = z0 + thickness + rise * (1 - (r / radius) ** 2)
    bottom = z0 + rise * (1 - (r / radius) ** 2)
    prof = np.vstack([np.c_[r, bottom], [[radius + 0.001, z0 + thickness / 2]], np.c_[r[::-1], top[::-1]]])
    return shapes.revolve(prof, sections)


def _knob(stem_r: float, stem_h: float, head_r: float, head_h: float, z0: float) -> trimesh.Trimesh:
    """A mushroom knob standing on z0 (its foot sunk 2 mm below)."""
    z0 -= 0.002
    prof = [(0.0, z0), (stem_r, z0), (stem_r, z0 + stem_h), (head_r, z0 + stem_h + 0.004),
            (head_r, z0 + stem_h + head_h - 0.004), (head_r - 0.004, z0 + stem_h + head_h), (0.0, z0 + stem_h + head_h)]
    return shapes.revolve(prof, 32)


# --------------------------------------------------------------------------- bowl
@builder("bowl")
def build_bowl(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: cereal, serving (wider and shallower), footed (a ring foot under the bowl)."""
    wall, bottom = u(rng, 0.0035, 0.0050), u(rng, 0.005, 0.008)
    foot = 0.0
    if family == "cereal":
        R, h, rb = u(rng, 0.070, 0.086), u(rng, 0.052, 0.075), u(rng, 0.44, 0.54)
        mats = ("ceramic", "plastic", "glass")
    elif family == "serving":
        R, h, rb = u(rng, 0.096, 0.112), u(rng, 0.058, 0.082), u(rng, 0.45, 0.60)
        mats = ("ceramic", "glass", "wood", "plastic")
    else:  # footed
        R, h, rb = u(rng, 0.068, 0.084), u(rng, 0.050, 0.066), u(rng, 0.40, 0.50)
        foot = u(rng, 0.008, 0.012)
        mats = ("ceramic",)
    rb *= R
    q = u(rng, 1.5, 2.2)                       # how round the lower wall is
    t = np.linspace(0.0, 1.0, 10)
    outer = np.c_[rb + (R - rb) * (1 - (1 - t) ** q), t * h]
    vessel = shapes.vessel(outer, wall, bottom, sections=48)
    band = u(rng, 0.016, 0.022)
    body, rim = _split_rim(vessel, h - band)
    body_meshes = [body]
    if foot:
        rf = rb * u(rng, 0.80, 0.92)
        ft = u(rng, 0.004, 0.006)
        ring = shapes.revolve([(rf - ft, 0.0), (rf, 0.0), (rf - 0.001, foot + 0.002), (rf - ft, foot + 0.002)], 48)
        body_meshes = [shapes.placed(body, (0, 0, foot)), ring]
        rim = shapes.placed(rim, (0, 0, foot))
    return ObjectSpec("bowl", [
        part("body", ("contain",), body_meshes, mats, look="bowl"),
        part("rim", ("grasp", "hold"), [rim], mats, look="bowl"),
    ])


# --------------------------------------------------------------------------- saucepan
@builder("saucepan")
def build_saucepan(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: straight (straight-sided), saucier (rounded bottom, slightly flared rim)."""
    R, h = u(rng, 0.072, 0.090), u(rng, 0.072, 0.105)
    wall, bottom = u(rng, 0.0015, 0.0020), u(rng, 0.003, 0.004)
    if family == "straight":
        outer = [(R - 0.004, 0.0), (R - 0.0012, 0.0012), (R, 0.005), (R, h)]
    else:
        rb, zb = R * u(rng, 0.74, 0.80), h * u(rng, 0.30, 0.40)
        a = np.linspace(0.0, np.pi / 2, 8)
        curve = np.c_[R - (R - rb) * np.cos(a), zb * np.sin(a)]
        outer = np.vstack([curve, [(R + u(rng, 0.002, 0.006), h)]])
        outer = [tuple(p) for p in outer]
    body = shapes.vessel(outer, wall, bottom, sections=48)
    style = pick(rng, ("channel", "oval", "rect"))
    tilt = np.radians(u(rng, 8, 18))
    # The twin's hollow check casts its ray down the footprint centre, which a long handle pulls
    # off the pan's axis: keep that point over the low part of the floor (12-16 cm handles).
    reach = R - 0.012 if family == "straight" else rb + 0.004
    length = min(u(rng, 0.14, 0.19), 2 * reach / np.cos(tilt))
    width, height = u(rng, 0.022, 0.028), u(rng, 0.016, 0.022)
    handle = _straight_handle(style, length, width, height, tilt, h - u(rng, 0.012, 0.022), outer,
                              embed=wall / 2, taper=u(rng, 0.1, 0.25))
    hmats = ("steel",) if style == "channel" else ("plastic", "wood", "rubber")
    return ObjectSpec("saucepan", [
        part("body", ("contain", "pour"), [body], ("steel", "aluminium")),
        part("handle", ("grasp", "hold"), [handle], hmats),
    ])


# --------------------------------------------------------------------------- frying pan
# Body sizes by family, metres: outer radius, height, flare (rim radius less base radius), wall, bottom.
_PAN_BODY = {
    "nonstick": ((0.090, 0.105), (0.040, 0.052), (0.018, 0.028), (0.0025, 0.0035), (0.004, 0.005)),
    "castiron": ((0.092, 0.104), (0.044, 0.054), (0.006, 0.012), (0.0035, 0.0040), (0.0040, 0.0050)),
}


@builder("pan")
def build_pan(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: nonstick (flared aluminium, moulded handle), castiron (straighter walls, a cast
    handle with a hanging hole and a helper lug on the far side)."""
    R, h, flare, wall, bottom = draws(rng, *_PAN_BODY[family])
    rb = R - flare
    outer = [(rb - 0.006, 0.0), (rb - 0.002, 0.002), (rb, 0.005), (R, h)]
    body = shapes.vessel(outer, wall, bottom, sections=48)
    if family == "nonstick":
        tilt = np.radians(u(rng, 10, 18))
        length = u(rng, 0.150, 0.175)
        handle = _straight_handle(pick(rng, ("oval", "rect")), length, u(rng, 0.024, 0.030), u(rng, 0.017, 0.023),
                                  tilt, h - u(rng, 0.010, 0.016), outer, embed=wall / 2, taper=u(rng, 0.15, 0.3))
        return ObjectSpec("pan", [
            part("body", ("contain",), [body], ("aluminium", "steel")),
            part("handle", ("grasp", "hold"), [handle], ("plastic", "wood", "rubber")),
        ])
    # Cast iron: the handle is a flat bar widening to a rounded end with a hanging hole.
    length, w0, w1 = u(rng, 0.125, 0.150), u(rng, 0.020, 0.024), u(rng, 0.026, 0.031)
    thick, tilt = u(rng, 0.012, 0.015), np.radians(u(rng, 6, 14))
    outline = sg.Polygon([(0, -w0 / 2), (length - w1 / 2, -w1 / 2), (length - w1 / 2, w1 / 2), (0, w0 / 2)])
    outline = outline.union(sg.Point(length - w1 / 2, 0).buffer(w1 / 2, quad_segs=6))
    outline = outline.difference(sg.Point(length - w1 / 2, 0).buffer(u(rng, 0.006, 0.008), quad_segs=4))
    outline = outline.segmentize(0.004)
    main = shapes.extrude(outline, thick, z0=-thick / 2)
    root = np.flatnonzero(main.vertices[:, 0] < 1e-6)
    main = shapes.placed(main, (R - wall / 2, 0, h - thick / 2 - 0.002), shapes.rotation((0, 1, 0), -tilt))
    main = _onto_wall(main, root, outer, embed=wall / 2)
    # Helper lug: a half-round tab with a finger hole, at the rim on the far side.
    reach, lw, lt = u(rng, 0.030, 0.038), u(rng, 0.050, 0.062), u(rng, 0.008, 0.011)
    lug = sg.Point(0, 0).buffer(1.0, quad_segs=8)
    lug = sg.Polygon(np.asarray(lug.exterior.coords) * [reach + 0.006, lw / 2]).intersection(sg.box(0, -1, 1, 1))
    lug = lug.difference(sg.Point(reach * 0.45, 0).buffer(min(0.4 * reach, 0.3 * lw) * 0.75, quad_segs=4))
    lug = lug.segmentize(0.004)
    helper = shapes.extrude(lug, lt, z0=-lt / 2)
    root = np.flatnonzero(helper.vertices[:, 0] < 1e-6)
    helper = shapes.placed(helper, (R - wall / 2, 0, h - lt / 2 - 0.001))
    helper = _onto_wall(helper, root, outer, embed=wall / 2)
    helper = shapes.placed(helper, R=shapes.rotation((0, 0, 1), np.pi))
    return ObjectSpec("pan", [
        part("body", ("contain",), [body], ("steel", "painted"), look="iron"),
        part("handle", ("grasp", "hold"), [main, helper], ("steel", "painted"), look="iron"),
    ])


# --------------------------------------------------------------------------- pot
@builder("pot")
def build_pot(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: ears (two riveted loop handles), side (two straight stub handles). About half the
    variants wear a domed lid with a knob."""
    R, h = u(rng, 0.082, 0.114), u(rng, 0.100, 0.150)
    wall, bottom = u(rng, 0.0015, 0.0018), u(rng, 0.0025, 0.0035)
    outer = [(R - 0.005, 0.0), (R - 0.0015, 0.0015), (R, 0.006), (R, h)]
    body = shapes.vessel(outer, wall, bottom, sections=48)
    z_att = h - u(rng, 0.015, 0.030)
    handles = []
    if family == "ears":
        reach, span, rod = u(rng, 0.026, 0.036), u(rng, 0.060, 0.085), u(rng, 0.0050, 0.0065)
        tilt = np.radians(u(rng, 10, 30))
        loop = shapes.loop_path(pick(rng, ("round", "d")), reach + 0.004, span, n=16)
        local = np.c_[loop[:, 0], loop[:, 2], np.zeros(len(loop))]        # the loop lying in x-y
        c, s = np.cos(tilt), np.sin(tilt)
        path = np.c_[local[:, 0] * c, local[:, 1], local[:, 0] * s]        # its outer end raised
        path[:, 0] += np.sqrt(R ** 2 - path[:, 1] ** 2) - 0.004
        path[:, 2] += z_att
        ear = shapes.tube(path, rod, sides=12)
        handles = [ear, shapes.placed(ear, R=shapes.rotation((0, 0, 1), np.pi))]
        hmats = ("steel", "plastic")
    else:
        style = pick(rng, ("oval", "rect"))
        length, width, height = u(rng, 0.045, 0.065), u(rng, 0.025, 0.032), u(rng, 0.016, 0.022)
        tilt = np.radians(u(rng, 0, 10))
        handles = [_straight_handle(style, length, width, height, tilt, z_att, outer, embed=wall / 2, taper=0.1,
                                    azimuth=a) for a in (0.0, np.pi)]
        hmats = ("plastic", "rubber", "wood")
    parts = [part("body", ("contain",), [body], ("steel", "aluminium", "painted") if family == "side"
                  else ("steel", "aluminium")),
             part("handle", ("grasp", "hold"), handles, hmats)]
    if rng.random() < 0.5:
        glass = rng.random() < 0.6
        t = u(rng, 0.0035, 0.0045) if glass else u(rng, 0.0015, 0.0016)
        rise = u(rng, 0.010, 0.022)
        lid = _dome_lid(R + 0.003, rise, t, h + wall / 2)
        knob = _knob(u(rng, 0.007, 0.009), u(rng, 0.010, 0.014), u(rng, 0.016, 0.021), u(rng, 0.012, 0.016),
                     h + wall / 2 + rise + t)
        parts += [part("lid", ("open",), [lid], ("glass",) if glass else ("steel",)),
                  part("knob", ("grasp", "open"), [knob], ("plastic", "steel", "wood"))]
    return ObjectSpec("pot", parts)


# --------------------------------------------------------------------------- kettle
@builder("kettle")
def build_kettle(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: electric (jug kettle, side loop handle), stovetop (wide body, arched handle over
    the lid), gooseneck (pour-over kettle with a thin swan-neck spout)."""
    wall, bottom = 0.0015, u(rng, 0.003, 0.004)
    if family == "electric":
        rb, hb = u(rng, 0.066, 0.076), u(rng, 0.165, 0.205)
        rt = rb - u(rng, 0.008, 0.016)
        outer = [(rb - 0.004, 0.0), (rb, 0.006), (rt, hb)]
        body = shapes.vessel(outer, wall, bottom, sections=40)
        lid = _dome_lid(rt + 0.002, u(rng, 0.008, 0.016), 0.002, hb - 0.001, 40)
        handle = _side_loop("d", outer, u(rng, 0.040, 0.048), hb - u(rng, 0.012, 0.02), u(rng, 0.035, 0.05),
                            u(rng, 0.022, 0.030), u(rng, 0.016, 0.022), embed=0.004, azimuth=np.pi)
        elev = np.radians(u(rng, 30, 45))
        spout = _frustum_towards(u(rng, 0.016, 0.020), u(rng, 0.010, 0.013), u(rng, 0.035, 0.045),
                                 (rt - 0.012, 0.0, hb - 0.035), (np.cos(elev), 0.0, np.sin(elev)))
        bmats, lmats, hmats = ("plastic", "steel", "glass"), ("plastic", "steel"), ("plastic",)
    elif family == "stovetop":
        rb, hb, ro = u(rng, 0.078, 0.090), u(rng, 0.115, 0.135), u(rng, 0.040, 0.048)
        zs = hb * u(rng, 0.30, 0.40)
        a = np.linspace(0.0, np.pi / 2, 9)[1:]
        outer = np.vstack([[(rb - 0.004, 0.0), (rb, 0.006), (rb + 0.003, zs)],
                           np.c_[ro + (rb + 0.003 - ro) * np.cos(a), zs + (hb - zs) * np.sin(a)]])
        body = shapes.vessel(outer, wall, bottom, sections=40)
        rise, t = u(rng, 0.006, 0.012), 0.0015
        lid = shapes.merge([_dome_lid(ro + 0.004, rise, t, hb - 0.001, 32),
                            _knob(0.005, 0.006, u(rng, 0.010, 0.013), 0.010, hb + rise + t - 0.001)])
        # Arched handle over the lid, in the plane of the spout, attached on the shoulder.
        xa = ro + u(rng, 0.008, 0.016)
        o = np.asarray(outer)
        shoulder = o[o[:, 1] >= zs]
        z_s = float(np.interp(xa, shoulder[::-1, 0], shoulder[::-1, 1]))
        z_top = hb + u(rng, 0.060, 0.080)
        loop = shapes.loop_path("d", z_top - z_s + 0.004, 2 * xa, n=20, corner=0.6)
        path = np.c_[loop[:, 2], np.zeros(len(loop)), z_s - 0.004 + loop[:, 0]]
        width, depth = u(rng, 0.020, 0.026), u(rng, 0.015, 0.019)
        handle = shapes.tube(path, shapes.rounded_rect(width, depth, 0.45 * min(width, depth), 3))
        elev = np.radians(u(rng, 40, 55))
        z0 = hb * u(rng, 0.22, 0.32)
        spout = _frustum_towards(u(rng, 0.015, 0.018), u(rng, 0.007, 0.009), u(rng, 0.080, 0.100),
                                 (shapes.profile_radius(outer, z0) - 0.012, 0.0, z0), (np.cos(elev), 0.0, np.sin(elev)))
        bmats, lmats, hmats = ("steel", "painted"), ("steel", "painted"), ("plastic", "wood")
    else:  # gooseneck
        rb, hb = u(rng, 0.060, 0.068), u(rng, 0.140, 0.160)
        outer = [(rb - 0.004, 0.0), (rb, 0.006), (rb - u(rng, 0.0, 0.006), hb)]
        body = shapes.vessel(outer, wall, bottom, sections=40)
        rt = outer[-1][0]
        rise = u(rng, 0.004, 0.010)
        lid = shapes.merge([_dome_lid(rt + 0.002, rise, 0.0015, hb - 0.001, 32),
                            _knob(0.005, u(rng, 0.012, 0.020), u(rng, 0.009, 0.012), u(rng, 0.012, 0.018),
                                  hb + rise + 0.0005)])
        handle = _side_loop(pick(rng, ("d", "square")), outer, u(rng, 0.038, 0.046), hb - u(rng, 0.010, 0.02),
                            u(rng, 0.035, 0.05), u(rng, 0.018, 0.024), u(rng, 0.014, 0.018), embed=0.004,
                            azimuth=np.pi)
        # Swan neck: a cubic Bezier from low on the wall, out, up, and bending over at the tip.
        out, top = u(rng, 0.09, 0.12), hb * u(rng, 0.85, 0.95)
        P = np.array([(rb - 0.006, 0.0, 0.025), (rb + 0.06, 0.0, 0.015), (rb + 0.035, 0.0, top + 0.02),
                      (rb + out, 0.0, top - 0.005)])
        path = shapes.bezier(P, 24)
        ro = u(rng, 0.0050, 0.0065)           # a steel tube with a 1.5 mm wall
        section = shapes.ellipse(2 * ro, 2 * ro, 12).difference(shapes.ellipse(2 * ro - 0.003, 2 * ro - 0.003, 12))
        spout = shapes.tube(path, section)
        bmats, lmats, hmats = ("steel", "painted"), ("steel", "painted"), ("wood", "plastic")
    return ObjectSpec("kettle", [
        part("body", ("contain",), [body], bmats, look="kettle", uv_mode="cylindrical"),
        part("spout", ("pour",), [spout], bmats, look="kettle"),
        part("lid", ("open",), [lid], lmats),
        part("handle", ("grasp", "hold"), [handle], hmats),
    ])
