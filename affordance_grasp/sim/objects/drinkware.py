"""Drinkware and containers you pour from: mugs, cups, glasses, bottles, jars, pitchers, teapots.

Each category's dimensions, their sources and its task phrasings are in config/object_catalogue.yaml.
"""
from __future__ import annotations

import numpy as np
import shapely.geometry as sg

from .. import shapes
from .build import bar, loft, pick, u, wall_handle
from .registry import builder
from .spec import ObjectSpec, part


# --------------------------------------------------------------------------- mug
@builder("mug")
def build_mug(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family = handle shape: round (C), d (straight outer side), square."""
    r = u(rng, 0.038, 0.047)                      # outer radius at the rim
    h = u(rng, 0.085, 0.105)
    wall, bottom = u(rng, 0.0035, 0.0055), u(rng, 0.006, 0.010)
    body_kind = pick(rng, ("cylinder", "tapered", "barrel"))
    if body_kind == "cylinder":
        outer = [(r, 0.0), (r, h)]
    elif body_kind == "tapered":                  # narrower foot, like a diner mug
        outer = [(r - u(rng, 0.005, 0.010), 0.0), (r, h)]
    else:                                         # a belly below the rim
        outer = [(r - 0.004, 0.0), (r + 0.003, 0.45 * h), (r, h)]
    body = shapes.vessel(outer, wall, bottom)
    reach = u(rng, 0.020, 0.034)                  # how far the handle stands proud of the wall
    hh = u(rng, 0.045, min(0.072, h - 0.02))      # between its attachments
    zc = h / 2 + u(rng, -0.004, 0.010)
    r_attach = float(shapes.profile_radius(outer, zc))
    handle = wall_handle(family, r_attach, reach, hh, zc, thickness=u(rng, 0.009, 0.015),
                         depth=u(rng, 0.007, 0.011))
    return ObjectSpec("mug", [
        part("body", ("contain", "pour", "wrap-grasp"), [body], ("ceramic",), look="glaze", uv_mode="cylindrical"),
        part("handle", ("grasp", "hold"), [handle], ("ceramic",), look="glaze"),
    ])


# --------------------------------------------------------------------------- shared helpers
def _split(mesh, z: float):
    """The parts of a closed mesh below and above the plane at height ``z`` (both closed)."""
    cut = shapes.cylinder(0.5, 1.0, center=(0.0, 0.0, z + 0.5), sections=16)
    return mesh.difference(cut), mesh.intersection(cut)


def _plane_tube(path, section):
    """A closed tube along a path in the x-z plane with the section's x kept along y throughout
    (no twist on straight runs), the section a convex shapely polygon (x: across y, y: in-plane)."""
    path = np.asarray(path, float)
    tang = np.gradient(path, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    xy = np.asarray(section.exterior.coords)[:-1]
    n1 = np.array([0.0, 1.0, 0.0])
    rings = [p + xy[:, :1] * n1 + xy[:, 1:] * np.cross(t, n1) for p, t in zip(path, tang)]
    return loft(rings)


def _handle_on(outer, kind: str, reach: float, height: float, zc: float, thickness: float, depth: float,
               angle: float = 0.0, embed: float = 0.006, sink: float = 0.001):
    """A handle loop on a wall whose radius varies with height (a bellied jug, a teacup's bowl):
    the loop of ``shapes.loop_path`` leaning with the wall between its two attachments (and
    standing clear of any belly between them), ``reach`` proud of it; its ends run into the wall
    and are trimmed to the wall's outer surface less ``sink``, so they never show inside."""
    o = np.asarray(outer, float)
    z_top, z_bot = zc + height / 2, zc - height / 2
    r_top, r_bot = shapes.profile_radius(o, z_top), shapes.profile_radius(o, z_bot)
    zz = np.linspace(z_bot, z_top, 40)
    lean = lambda z: r_bot + (r_top - r_bot) * (z - z_bot) / height  # noqa: E731
    bulge = max(0.0, float(np.max(shapes.profile_radius(o, zz) - lean(zz))))
    embed += bulge
    path = shapes.densify(shapes.loop_path(kind, reach + embed, height))
    path[:, 2] += zc
    path[:, 0] += lean(path[:, 2]) - embed + bulge
    mesh = _plane_tube(path, shapes.rounded_rect(thickness, depth, 0.45 * min(thickness, depth), 3))
    solid = shapes.revolve([(0.0, o[0, 1])] + [(max(r - sink, 0.001), z) for r, z in o] + [(0.0, o[-1, 1])], 40)
    mesh = mesh.difference(solid)
    if angle:
        mesh = shapes.placed(mesh, R=shapes.rotation((0, 0, 1), angle))
    return mesh


def _inverted_cap(r_out: float, height: float, wall: float, top: float, z_top: float, sections: int = 40):
    """A screw cap or lid: a short cup upside down, open underneath, its top at ``z_top``."""
    cap = shapes.vessel([(r_out, 0.0), (r_out, height)], wall, top, sections=sections)
    cap = shapes.placed(cap, R=shapes.rotation((1, 0, 0), np.pi))
    cap.apply_translation((0.0, 0.0, z_top))
    return cap


def _swept_round(path, radii, sides: int = 12):
    """A round tube along a path in the x-z plane whose radius changes along it (a teapot spout)."""
    path = np.asarray(path, float)
    tang = np.gradient(path, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    n1 = np.array([0.0, 1.0, 0.0])
    a = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    rings = []
    for p, t, r in zip(path, tang, radii):
        n2 = np.cross(t, n1)
        rings.append(p + r * (np.cos(a)[:, None] * n1 + np.sin(a)[:, None] * n2))
    return loft(rings)


def _shoulder(r0: float, r1: float, z0: float, dz: float, n: int = 7):
    """A rounded shoulder from a vertical wall at radius ``r0`` (height ``z0``) in to ``r1``."""
    t = np.linspace(0, 1, n)[1:]
    return [(r1 + (r0 - r1) * np.cos(s * np.pi / 2), z0 + dz * np.sin(s * np.pi / 2)) for s in t]


# --------------------------------------------------------------------------- cup
@builder("cup")
def build_cup(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: tumbler (straight, slightly tapered, glass or plastic), paper (strongly tapered
    disposable cup), flared (stemless cup whose lip flares out)."""
    h = u(rng, 0.072, 0.094)
    if family == "tumbler":
        r = u(rng, 0.031, 0.042)
        outer = [(r - u(rng, 0.002, 0.006), 0.0), (r, h)]
        wall, bottom, mats = u(rng, 0.0022, 0.0035), u(rng, 0.006, 0.012), ("glass", "plastic")
    elif family == "paper":
        r = u(rng, 0.036, 0.044)
        outer = [(r - u(rng, 0.009, 0.013), 0.0), (r - 0.0008, h - 0.003), (r, h)]
        wall, bottom, mats = u(rng, 0.0015, 0.0018), u(rng, 0.0020, 0.0030), ("cardboard", "plastic")
    else:  # flared
        r = u(rng, 0.036, 0.044)
        rb = r - u(rng, 0.010, 0.014)
        outer = [(rb, 0.0), (rb + 0.003, 0.55 * h), (rb + 0.0065, 0.78 * h), (r - 0.003, 0.93 * h), (r, h)]
        wall, bottom, mats = u(rng, 0.0025, 0.0040), u(rng, 0.006, 0.010), ("ceramic", "glass", "plastic")
    cup = shapes.vessel(outer, wall, bottom, sections=40)
    body, rim = _split(cup, h - u(rng, 0.015, 0.022))
    return ObjectSpec("cup", [
        part("body", ("contain", "drink", "wrap-grasp"), [body], mats, look="cup", uv_mode="cylindrical"),
        part("rim", ("grasp", "hold"), [rim], mats, look="cup", uv_mode="cylindrical"),
    ])


# --------------------------------------------------------------------------- teacup
@builder("teacup")
def build_teacup(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: round (a bowl on a small foot ring, widest at the lip), straight (near-vertical
    sides on a slightly narrower base)."""
    r = u(rng, 0.040, 0.049)
    h = u(rng, 0.050, 0.066)
    wall = u(rng, 0.0025, 0.0038)
    if family == "round":
        rf, foot = u(rng, 0.021, 0.026), u(rng, 0.004, 0.007)
        t = np.linspace(0, 1, 9)[1:]
        outer = [(rf, 0.0), (rf, foot)] + [(rf + (r - rf) * np.sin(s * np.pi / 2) ** 0.8,
                                            foot + (h - foot) * (1 - np.cos(s * np.pi / 2)) ** 0.9) for s in t]
        bottom = foot + u(rng, 0.003, 0.005)
    else:
        rb = r - u(rng, 0.004, 0.009)
        outer = [(rb - 0.002, 0.0), (rb, 0.004), (r - 0.001, 0.85 * h), (r, h)]
        bottom = u(rng, 0.005, 0.008)
    body = shapes.vessel(outer, wall, bottom, sections=40)
    hh = u(rng, 0.024, min(0.034, h - 0.018))
    zc = h - u(rng, 0.007, 0.011) - hh / 2
    handle = _handle_on(outer, pick(rng, ("ear", "round", "d")), u(rng, 0.015, 0.022), hh, zc,
                        thickness=u(rng, 0.006, 0.010), depth=u(rng, 0.005, 0.008))
    return ObjectSpec("teacup", [
        part("body", ("contain", "drink"), [body], ("ceramic",), look="glaze", uv_mode="cylindrical"),
        part("handle", ("grasp", "hold"), [handle], ("ceramic",), look="glaze"),
    ])


# --------------------------------------------------------------------------- wine glass
@builder("wine_glass")
def build_wine_glass(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: red (wide round bowl), white (smaller tulip bowl), flute (tall narrow bowl)."""
    if family == "red":
        rmax, rrim, hb = u(rng, 0.042, 0.050), u(rng, 0.032, 0.038), u(rng, 0.115, 0.135)
        stem, rbase = u(rng, 0.065, 0.090), u(rng, 0.036, 0.043)
        zmax = 0.38
    elif family == "white":
        rmax, rrim, hb = u(rng, 0.036, 0.041), u(rng, 0.029, 0.034), u(rng, 0.098, 0.112)
        stem, rbase = u(rng, 0.060, 0.080), u(rng, 0.032, 0.038)
        zmax = 0.42
    else:  # flute
        rmax, rrim, hb = u(rng, 0.027, 0.032), u(rng, 0.024, 0.029), u(rng, 0.120, 0.145)
        stem, rbase = u(rng, 0.060, 0.080), u(rng, 0.032, 0.037)
        zmax = 0.55
    wall, solid = u(rng, 0.0016, 0.0022), u(rng, 0.008, 0.012)
    tb = u(rng, 0.0035, 0.0050)                    # foot thickness at its edge
    stem = min(stem, hb - 2 * solid - tb - 0.015)  # keep the bowl's floor below half the height (with
    # margin: the convex pieces bridge the narrow bottom of the bowl a little above its true floor)
    rs = u(rng, 0.0035, 0.0048)                    # stem radius (7-9.6 mm across)
    # Bowl: from a small round bottom out to its widest and in to the rim.
    r0 = rs + 0.004
    lo = np.linspace(0, 1, 7)[1:]
    hi = np.linspace(0, 1, 6)[1:]
    prof = [(r0, 0.0)] + [(r0 + (rmax - r0) * np.sin(s * np.pi / 2), zmax * hb * (1 - np.cos(s * np.pi / 2)) ** 0.7)
                          for s in lo]
    prof += [(rmax + (rrim - rmax) * s ** 1.5, zmax * hb + (1 - zmax) * hb * s) for s in hi]
    z0 = tb + stem
    bowl = shapes.vessel(prof, wall, solid, sections=40)
    bowl.apply_translation((0.0, 0.0, z0))
    stem_m = shapes.revolve([(0.0, tb - 0.001), (rs + 0.007, tb - 0.001), (rs + 0.0015, tb + 0.008),
                             (rs, tb + 0.02), (rs, z0 - 0.006), (r0 - 0.001, z0 + 0.002), (0.0, z0 + 0.002)], 24)
    base = shapes.revolve([(0.0, 0.0), (rbase, 0.0), (rbase, 0.0025), (rbase - 0.003, tb),
                           (rs + 0.008, tb + 0.0015), (0.0, tb + 0.002)], 40)
    return ObjectSpec("wine_glass", [
        part("body", ("contain", "drink"), [bowl], ("glass",), look="glass", uv_mode="cylindrical"),
        part("stem", ("grasp", "hold"), [stem_m], ("glass",), look="glass"),
        part("base", (), [base], ("glass",), look="glass"),
    ])


# --------------------------------------------------------------------------- bottle
@builder("bottle")
def build_bottle(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: water (plastic, straight or ridged, short neck, screw cap), wine (glass: Bordeaux,
    Burgundy or beer shape with a long neck, capsule or crown cap), sauce (short neck, flip cap).
    A closed bottle with real walls: the neck is the glass/plastic above the shoulder."""
    if family == "water":
        r, wall = u(rng, 0.031, 0.041), u(rng, 0.0015, 0.0020)
        hs, dz = u(rng, 0.13, 0.20), u(rng, 0.030, 0.050)
        rn, neck, cover = u(rng, 0.0130, 0.0150), u(rng, 0.026, 0.034), 0.012
        prof = [(r - 0.002, 0.0), (r, 0.006)]
        if rng.random() < 0.6:                     # moulded grip rings
            n = int(rng.integers(3, 7))
            zs = np.linspace(0.25 * hs, 0.85 * hs, 4 * n + 1)
            depth = u(rng, 0.0015, 0.0025)
            prof += [(r - depth * (0.5 - 0.5 * np.cos(2 * np.pi * k / 4)), z) for k, z in enumerate(zs)]
        prof += [(r, hs)] + _shoulder(r, rn, hs, dz)
        z_neck = hs + dz
        prof += [(rn, z_neck + neck + cover)]
        cap = _inverted_cap(rn + 0.0025, cover + u(rng, 0.004, 0.008), 0.0016, 0.002, z_neck + neck + cover + 0.004)
        body_mats, cap_mats = ("plastic",), ("plastic",)
    elif family == "wine":
        style = pick(rng, ("bordeaux", "burgundy", "beer"))
        wall = u(rng, 0.0030, 0.0045)
        if style == "beer":
            r, hs, dz = u(rng, 0.030, 0.033), u(rng, 0.11, 0.13), u(rng, 0.045, 0.060)
            rn, neck, cover = u(rng, 0.0125, 0.0140), u(rng, 0.045, 0.060), 0.006
        else:
            r, hs = u(rng, 0.036, 0.040), u(rng, 0.160, 0.180) if style == "bordeaux" else u(rng, 0.130, 0.150)
            dz = u(rng, 0.030, 0.035) if style == "bordeaux" else u(rng, 0.065, 0.075)
            rn, neck, cover = u(rng, 0.0140, 0.0160), u(rng, 0.048, 0.058), u(rng, 0.030, 0.038)
        prof = [(r - 0.003, 0.0), (r, 0.008), (r, hs)]
        if style == "bordeaux":
            prof += _shoulder(r, rn + 0.002, hs, dz)
        else:                                      # a long sloping shoulder into the neck
            t = np.linspace(0, 1, 7)[1:]
            prof += [(rn + 0.002 + (r - rn - 0.002) * (1 - s) ** 1.6 * (1 + 1.6 * s), hs + dz * s) for s in t]
        z_neck = hs + dz
        top = z_neck + neck + cover
        prof += [(rn, top - 0.01), (rn + 0.0012, top - 0.008), (rn + 0.0012, top - 0.002), (rn, top)]
        if style == "beer":                        # a crown cap
            cap = _inverted_cap(rn + 0.0025, 0.007, 0.0016, 0.0018, top + 0.002)
            cap_mats = ("painted", "steel")
        else:                                      # a foil capsule or a screw cap over the lip
            cap = _inverted_cap(rn + 0.0028, cover + 0.002, 0.0016, 0.002, top + 0.002)
            cap_mats = ("aluminium", "painted", "plastic")
        body_mats = ("glass",)
    else:  # sauce
        r, wall = u(rng, 0.030, 0.036), u(rng, 0.0020, 0.0035)
        hs, dz = u(rng, 0.11, 0.15), u(rng, 0.025, 0.040)
        rn, neck, cover = u(rng, 0.0130, 0.0160), u(rng, 0.026, 0.034), 0.010
        prof = [(r - 0.002, 0.0), (r, 0.006), (r, hs)] + _shoulder(r, rn, hs, dz)
        z_neck = hs + dz
        prof += [(rn, z_neck + neck + cover)]
        cap = _inverted_cap(rn + 0.003, cover + u(rng, 0.010, 0.016), 0.0018, 0.004, z_neck + neck + cover + 0.006)
        body_mats, cap_mats = ("plastic", "glass"), ("plastic",)
    shell = shapes.vessel(prof, wall, u(rng, 0.003, 0.006), sections=40 if len(prof) < 20 else 32)
    body, neck_m = _split(shell, z_neck)
    return ObjectSpec("bottle", [
        part("body", ("wrap-grasp", "pour", "contain"), [body], body_mats, look="bottle", uv_mode="cylindrical"),
        part("neck", ("grasp", "hold"), [neck_m], body_mats, look="bottle"),
        part("cap", ("open",), [cap], cap_mats),
    ])


# --------------------------------------------------------------------------- jar
@builder("jar")
def build_jar(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: mason (tall canning jar with a rounded shoulder), jam (short, wide, a low shoulder).
    Glass with a screw lid 5-7 cm across."""
    rl = u(rng, 0.029, 0.035)                      # lid outer radius
    if family == "mason":
        r, h = u(rng, 0.036, 0.043), u(rng, 0.085, 0.115)
        dz = u(rng, 0.012, 0.020)
    else:
        r, h = u(rng, 0.031, 0.039), u(rng, 0.066, 0.085)
        rl = min(rl, r - 0.001)
        dz = u(rng, 0.006, 0.012)
    wall = u(rng, 0.0030, 0.0040)
    rm = rl - 0.0025                               # the threaded mouth under the lid
    hm = u(rng, 0.012, 0.016)
    prof = [(r - 0.003, 0.0), (r, 0.006), (r, h)] + _shoulder(r, rm, h, dz, 6) + [(rm, h + dz + hm)]
    body = shapes.vessel(prof, wall, u(rng, 0.005, 0.008), sections=40)
    hl = hm + u(rng, 0.000, 0.003)
    lid = _inverted_cap(rl, hl, 0.0016, 0.0018, h + dz + hm + 0.0015)
    return ObjectSpec("jar", [
        part("body", ("contain", "wrap-grasp"), [body], ("glass",), uv_mode="cylindrical"),
        part("lid", ("open", "grasp", "hold"), [lid], ("aluminium", "plastic")),
    ])


# --------------------------------------------------------------------------- pitcher
def _pouring_lip(r_rim: float, z_rim: float, r_wide: float, r_tip: float, length: float, wall: float,
                 tilt: float, depth_ratio: float = 0.55):
    """A pitcher's spout: a half cone open at the top, leaving the rim along +x and tilted up by
    ``tilt``, and the solid that notches the rim where it joins (both closed meshes)."""
    x0 = r_rim - wall - 0.001
    L = length + wall + 0.001
    R = shapes.rotation((0, 1, 0), np.pi / 2 - tilt)   # z -> along the spout, rising outward
    centre = np.array([x0, 0.0, z_rim])
    outer = shapes.placed(shapes.frustum(r_wide + wall, r_tip + wall, L, center=(0, 0, L / 2), sections=24), centre, R)
    inner = shapes.placed(shapes.frustum(r_wide + 0.004, r_tip, L + 0.01, center=(0, 0, L / 2 - 0.004), sections=24),
                          centre, R)
    low = shapes.placed(shapes.box((0.3, 0.3, 0.3), center=(0, 0, -0.15)), centre, shapes.rotation((0, 1, 0), -tilt))
    lip = outer.intersection(low).difference(inner)
    # Flatten both about the rim: a real lip is wider than it is deep.
    S = np.diag([1.0, 1.0, depth_ratio, 1.0])
    S[2, 3] = z_rim * (1 - depth_ratio)
    return lip.apply_transform(S), inner.apply_transform(S)


@builder("pitcher")
def build_pitcher(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: round (a bellied jug narrowing to a neck), tall (a straight or slightly tapered
    pitcher). Open top, a pouring lip opposite the handle."""
    wall = u(rng, 0.0030, 0.0045)
    if family == "round":
        h = u(rng, 0.175, 0.215)
        rb, rf, rn, rr = u(rng, 0.055, 0.060), u(rng, 0.044, 0.050), u(rng, 0.040, 0.045), u(rng, 0.044, 0.049)
        zb = u(rng, 0.32, 0.40) * h
        t = np.linspace(0, 1, 6)
        outer = [(rf, 0.0)] + [(rf + (rb - rf) * np.sin(s * np.pi / 2), zb * (0.08 + 0.92 * s)) for s in t[1:]]
        outer += [(rn + (rb - rn) * np.cos(s * np.pi / 2), zb + (0.82 * h - zb) * np.sin(s * np.pi / 2)) for s in t[1:]]
        outer += [(rr, h)]
        kind = pick(rng, ("round", "ear"))
        reach, hh = u(rng, 0.026, 0.032), u(rng, 0.085, 0.110)
    else:
        h = u(rng, 0.200, 0.245)
        rr = u(rng, 0.046, 0.052)
        rf = rr - u(rng, 0.000, 0.006)
        outer = [(rf - 0.002, 0.0), (rf, 0.008), (rr, h)]
        kind = pick(rng, ("d", "round"))
        reach, hh = u(rng, 0.026, 0.034), u(rng, 0.100, 0.130)
    body = shapes.vessel(outer, wall, u(rng, 0.006, 0.010), sections=40)
    lip, notch = _pouring_lip(rr, h, u(rng, 0.016, 0.022), u(rng, 0.006, 0.009), u(rng, 0.016, 0.024), wall,
                              np.radians(u(rng, 4, 12)))
    body = body.difference(notch)
    zc = h - u(rng, 0.015, 0.025) - hh / 2
    handle = _handle_on(outer, kind, reach, hh, zc, thickness=u(rng, 0.011, 0.016), depth=u(rng, 0.009, 0.013),
                        angle=np.pi)
    mats = ("glass", "ceramic", "plastic")
    return ObjectSpec("pitcher", [
        part("body", ("contain", "pour"), [body], mats, look="jug", uv_mode="cylindrical"),
        part("spout", ("pour",), [lip], mats, look="jug"),
        part("handle", ("grasp", "hold"), [handle], mats, look="jug"),
    ])


# --------------------------------------------------------------------------- teapot
@builder("teapot")
def build_teapot(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: round (a squat bellied pot, spout low on the belly), tall (a coffee-pot-like tapered
    pot with a long swan-neck spout). Closed by a lid with a knob; handle opposite the spout."""
    wall = u(rng, 0.0035, 0.0050)
    if family == "round":
        hb = u(rng, 0.095, 0.120)
        rbm, rf, ro = u(rng, 0.058, 0.068), u(rng, 0.038, 0.046), u(rng, 0.034, 0.040)
        zc = u(rng, 0.40, 0.48) * hb
        a_lo = zc / np.sqrt(1 - (rf / rbm) ** 2)
        a_hi = (hb - 0.006 - zc) / np.sqrt(1 - (ro / rbm) ** 2)
        zs = np.r_[np.linspace(0.004, zc, 6), np.linspace(zc, hb - 0.006, 7)[1:]]
        rs = [rbm * np.sqrt(max(1 - ((z - zc) / (a_lo if z < zc else a_hi)) ** 2, 0.0)) for z in zs]
        outer = [(rf - 0.002, 0.0)] + list(zip(rs, zs)) + [(ro, hb)]
        z_sp, sp_len, sp_rise = u(rng, 0.25, 0.38) * hb, u(rng, 0.045, 0.060), None
        kind, reach, hh = pick(rng, ("round", "ear")), u(rng, 0.028, 0.038), u(rng, 0.055, 0.070)
        dome = u(rng, 0.010, 0.018)
        mats = ("ceramic", "glass")
    else:
        hb = u(rng, 0.150, 0.185)
        rf, rt = u(rng, 0.046, 0.052), u(rng, 0.036, 0.042)
        ro = rt - u(rng, 0.002, 0.005)
        outer = [(rf - 0.002, 0.0), (rf, 0.008), (rf - 0.002, 0.35 * hb), (rt, 0.88 * hb), (ro, hb)]
        z_sp, sp_len, sp_rise = u(rng, 0.15, 0.25) * hb, u(rng, 0.040, 0.055), None
        kind, reach, hh = pick(rng, ("d", "round")), u(rng, 0.030, 0.040), u(rng, 0.080, 0.105)
        dome = u(rng, 0.012, 0.022)
        mats = ("ceramic",)
    body = shapes.vessel(outer, wall, u(rng, 0.005, 0.008), sections=40)
    # Lid: a shallow inverted bowl resting on the opening, overhanging it a little, and its knob.
    rl = ro + u(rng, 0.002, 0.005)
    t = np.linspace(0, 1, 6)
    dome_prof = [(0.010 + (rl - 0.010) * np.sin(s * np.pi / 2), dome * (1 - np.cos(s * np.pi / 2)) ** 1.0 + 0.0)
                 for s in t]
    dome_prof[0] = (0.010, 0.0)
    lid = shapes.vessel([(p[0], p[1] + (0.004 * i / 5)) for i, p in enumerate(dome_prof)], 0.0035, 0.004, sections=40)
    lid_h = dome + 0.004
    lid = shapes.placed(lid, R=shapes.rotation((1, 0, 0), np.pi))
    lid.apply_translation((0.0, 0.0, hb + lid_h - 0.0015))
    rk, hk = u(rng, 0.008, 0.012), u(rng, 0.012, 0.018)
    z_k = hb + lid_h - 0.003
    knob = shapes.revolve([(0.0, z_k), (0.006, z_k), (0.005, z_k + 0.35 * hk), (rk, z_k + 0.6 * hk),
                           (0.8 * rk, z_k + 0.92 * hk), (0.0, z_k + hk)], 24)
    # Spout: leaves the lower body level, then sweeps up to about the rim.
    r_sp0, r_sp1 = u(rng, 0.013, 0.017), u(rng, 0.0055, 0.0075)
    lo_r = min(shapes.profile_radius(outer, z_sp - r_sp0), shapes.profile_radius(outer, z_sp + r_sp0))
    p0 = np.array([lo_r - 0.004, 0.0, z_sp])
    r_out = max(p[0] for p in outer)
    p2 = np.array([r_out + sp_len, 0.0, hb - u(rng, 0.000, 0.015)])
    p1 = np.array([r_out + 0.40 * sp_len, 0.0, z_sp + 0.15 * (p2[2] - z_sp)])
    s = np.linspace(0, 1, 12)[:, None]
    path = (1 - s) ** 2 * p0 + 2 * s * (1 - s) * p1 + s ** 2 * p2
    spout = _swept_round(path, r_sp0 + (r_sp1 - r_sp0) * s[:, 0] ** 0.8, sides=14)
    zh = hb - u(rng, 0.010, 0.018) - hh / 2
    handle = _handle_on(outer, kind, reach, hh, zh, thickness=u(rng, 0.010, 0.014), depth=u(rng, 0.009, 0.013),
                        angle=np.pi)
    return ObjectSpec("teapot", [
        part("body", ("contain", "pour"), [body], mats, look="pot", uv_mode="cylindrical"),
        part("spout", ("pour",), [spout], mats, look="pot"),
        part("lid", ("open",), [lid], mats, look="pot"),
        part("knob", ("open",), [knob], mats, look="pot"),
        part("handle", ("grasp", "hold"), [handle], mats, look="pot"),
    ])


# --------------------------------------------------------------------------- spray bottle
def _side_outline(points, width: float, y: float = 0.0, round_r: float = 0.002):
    """A part drawn in side view: an (x, z) outline extruded ``width`` across y, corners rounded."""
    poly = sg.Polygon(points).buffer(0)
    if round_r:
        poly = poly.buffer(-round_r, quad_segs=3).buffer(round_r, quad_segs=3)
    mesh = shapes.extrude(poly, width, z0=-width / 2)
    mesh = shapes.placed(mesh, R=shapes.rotation((1, 0, 0), np.pi / 2))   # outline y -> z
    mesh.apply_translation((0.0, y, 0.0))
    return mesh


@builder("spray_bottle")
def build_spray_bottle(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: round (cylindrical), oval (flattened across y), waisted (a grip waist). A closed
    bottle with real walls, a screw closure as the neck, the trigger head facing +x."""
    wall = u(rng, 0.0020, 0.0026)
    r = u(rng, 0.033, 0.041) if family != "oval" else u(rng, 0.040, 0.046)
    hs, dz = u(rng, 0.145, 0.195), u(rng, 0.020, 0.035)
    rn = u(rng, 0.0120, 0.0140)                    # the bottle's mouth under the closure
    prof = [(r - 0.003, 0.0), (r, 0.007)]
    if family == "waisted":
        prof += [(r, 0.35 * hs), (r - u(rng, 0.005, 0.008), 0.58 * hs), (r, 0.80 * hs)]
    prof += [(r, hs)] + _shoulder(r, rn, hs, dz) + [(rn, hs + dz + 0.008)]
    body = shapes.vessel(prof, wall, u(rng, 0.003, 0.005), sections=40)
    if family == "oval":
        body.apply_scale((1.0, u(rng, 0.62, 0.72), 1.0))
    z0 = hs + dz                                   # the closure's bottom
    rc, hn = rn + u(rng, 0.0025, 0.0035), u(rng, 0.025, 0.032)
    neck = shapes.revolve([(0.0, z0), (rc, z0), (rc, z0 + hn), (0.0, z0 + hn)], 32)
    # Head: the sprayer's shroud in side view, from behind the closure forward to the nozzle.
    zt = z0 + hn - 0.002                           # head bottom, on the closure
    ht, xf, wh = u(rng, 0.050, 0.065), u(rng, 0.048, 0.060), u(rng, 0.024, 0.030)
    xb = -(rc + 0.002)
    head_pts = [(xb, 0.0), (rc + 0.004, 0.0), (rc + 0.007, 0.018), (xf - 0.006, 0.55 * ht), (xf, 0.58 * ht),
                (xf, 0.86 * ht), (xf - 0.012, ht), (xb + 0.012, ht), (xb, ht - 0.018)]
    head = _side_outline(head_pts, wh + 0.004, round_r=0.003)
    # Round its long edges: the outline cut by a bar with a rounded section across y.
    head = head.intersection(bar(xf - xb + 0.01, wh, ht + 0.002, x0=xb - 0.005, z=ht / 2, section="rect"))
    head.apply_translation((0.0, 0.0, zt))
    nozzle = shapes.cylinder(u(rng, 0.0040, 0.0055), 0.012, center=(xf + 0.004, 0.0, zt + 0.72 * ht), axis="x",
                             sections=16)
    # Trigger: a curved lever hanging from the underside of the head in front of the closure.
    x1, x2 = rc + u(rng, 0.007, 0.010), rc + u(rng, 0.020, 0.024)
    under = lambda x: 0.018 + (x - rc - 0.007) * (0.55 * ht - 0.018) / (xf - 0.006 - rc - 0.007)  # noqa: E731
    ztop, zbot = under(x2) + 0.006, -u(rng, 0.020, 0.030)
    trig_pts = [(x1, ztop), (x1 - 0.001, 0.5 * (ztop + zbot)), (x1 + 0.002, zbot), (x2 - 0.001, zbot + 0.002),
                (x2 - 0.004, 0.5 * (ztop + zbot)), (x2 + 0.002, ztop)]
    trigger = _side_outline(trig_pts, u(rng, 0.012, 0.016), round_r=0.0015)
    trigger.apply_translation((0.0, 0.0, zt))
    return ObjectSpec("spray_bottle", [
        part("body", ("contain", "wrap-grasp"), [body], ("plastic",), uv_mode="cylindrical"),
        part("neck", ("grasp", "hold"), [neck], ("plastic",), look="sprayer"),
        part("head", ("press",), [head, nozzle], ("plastic",), look="sprayer"),
        part("trigger", ("press",), [trigger], ("plastic",), look="sprayer"),
    ])
