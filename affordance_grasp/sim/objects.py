"""Procedural, part-labelled everyday objects.

An object is a set of primitive geoms grouped into named parts; every geom is named
``<instance>/<part>`` or ``<instance>/<part>#k``, so MuJoCo's segmentation render and its
contacts tell exactly which part a pixel or a finger belongs to. Dimensions follow real
objects and are randomised per instance. Object frames have z up with the lowest point on z=0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

import numpy as np
import transforms3d

from ..errors import InvalidInputError

PRIMITIVES = ("box", "cylinder", "capsule", "sphere", "ellipsoid", "mesh")


@dataclass
class GeomSpec:
    type: str
    size: Tuple[float, ...]           # MuJoCo semantics (half sizes; cylinder: radius, half-length)
    pos: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: Tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)  # w x y z
    density: float = 700.0
    mesh: str = ""                    # mesh asset name when type == "mesh"

    def __post_init__(self):
        if self.type not in PRIMITIVES:
            raise InvalidInputError(f"geom type {self.type!r} not in {PRIMITIVES}")


@dataclass
class GraspHint:
    """Where an oracle puts the TCP on a part, in the object frame.

    ``closing`` is the finger closing axis. ``approach`` is "top" (straight down) or "side"
    (horizontally, from the robot's side). ``width`` is the part's extent along ``closing``.
    """

    pos: Tuple[float, float, float]
    closing: Tuple[float, float, float]
    approach: str
    width: float


@dataclass
class PartSpec:
    name: str
    affordances: Tuple[str, ...]
    geoms: List[GeomSpec]
    rgba: Tuple[float, float, float, float]
    grasp: List[GraspHint] = field(default_factory=list)


@dataclass
class ObjectSpec:
    category: str
    parts: List[PartSpec]
    friction: float = 1.0
    meshes: Dict[str, dict] = field(default_factory=dict)  # name -> {"vertices": (N,3), "faces": (M,3)}

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


def geom_name(instance: str, part: str, k: int) -> str:
    return f"{instance}/{part}" if k == 0 else f"{instance}/{part}#{k}"


def parse_geom_name(name: str):
    """``"mug_0/handle#2"`` -> ``("mug_0", "handle")``; names without a slash -> ``None``."""
    if not name or "/" not in name:
        return None
    instance, part = name.split("/", 1)
    return instance, part.split("#", 1)[0]


# --------------------------------------------------------------------------- helpers
def _quat_axis(axis, angle):
    return tuple(transforms3d.quaternions.axangle2quat(axis, angle))


_Q_X90 = _quat_axis((1, 0, 0), np.pi / 2)  # cylinder axis z -> y
_Q_Y90 = _quat_axis((0, 1, 0), np.pi / 2)  # cylinder axis z -> x
_Q_ROLL45 = _quat_axis((1, 0, 0), np.pi / 4)


def _colour(rng, base, jitter=0.12):
    c = np.clip(np.asarray(base) + rng.uniform(-jitter, jitter, 3), 0.02, 0.98)
    return (float(c[0]), float(c[1]), float(c[2]), 1.0)


def _palette(rng, options):
    return _colour(rng, options[rng.integers(len(options))])


_HANDLE_COLOURS = [(0.1, 0.1, 0.1), (0.45, 0.25, 0.1), (0.7, 0.1, 0.1), (0.1, 0.3, 0.7), (0.9, 0.6, 0.1)]
_METAL = [(0.7, 0.7, 0.72), (0.55, 0.56, 0.6)]
_CERAMIC = [(0.9, 0.9, 0.88), (0.2, 0.5, 0.8), (0.8, 0.3, 0.3), (0.3, 0.7, 0.4), (0.95, 0.8, 0.3)]


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _octagonal_bar(length, half_w, half_h, center, axis="x", density=600.0):
    """A bar that does not roll: a box plus the same box rolled 45 degrees about its long axis."""
    size = (length / 2, half_w, half_h) if axis == "x" else (half_w, length / 2, half_h)
    roll = _Q_ROLL45 if axis == "x" else _quat_axis((0, 1, 0), np.pi / 4)
    inner = min(half_w, half_h) / np.sqrt(2) * 1.0
    size2 = (length / 2, inner * 1.2, inner * 1.2) if axis == "x" else (inner * 1.2, length / 2, inner * 1.2)
    return [GeomSpec("box", size, center, density=density), GeomSpec("box", size2, center, roll, density=density)]


# --------------------------------------------------------------------------- categories
def make_mug(rng) -> ObjectSpec:
    r, h = _u(rng, 0.034, 0.042), _u(rng, 0.08, 0.10)
    gap, t = _u(rng, 0.026, 0.032), _u(rng, 0.010, 0.013)  # bar centre offset from wall, bar thickness
    bar_h = _u(rng, 0.05, min(0.065, h - 0.02))
    zc = h / 2 + _u(rng, -0.005, 0.008)
    xb = r + gap
    handle = [
        GeomSpec("box", (0.006, t / 2, bar_h / 2), (xb, 0, zc), density=900),
        GeomSpec("box", ((gap + 0.004) / 2, t / 2, 0.005), (r + (gap - 0.004) / 2, 0, zc + bar_h / 2 - 0.005), density=900),
        GeomSpec("box", ((gap + 0.004) / 2, t / 2, 0.005), (r + (gap - 0.004) / 2, 0, zc - bar_h / 2 + 0.005), density=900),
    ]
    body_col = _palette(rng, _CERAMIC)
    return ObjectSpec("mug", [
        PartSpec("body", ("contain", "pour", "wrap-grasp"), [GeomSpec("cylinder", (r, h / 2), (0, 0, h / 2), density=350)], body_col),
        PartSpec("handle", ("grasp", "hold"), handle, _colour(rng, body_col[:3], 0.05),
                 [GraspHint((xb, 0, zc + bar_h / 2 - 0.02), (0, 1, 0), "top", t)]),
    ])


def make_knife(rng) -> ObjectSpec:
    lh, wh, hh = _u(rng, 0.09, 0.12), _u(rng, 0.022, 0.027), _u(rng, 0.024, 0.03)
    lb, wb = _u(rng, 0.10, 0.15), _u(rng, 0.022, 0.032)
    return ObjectSpec("knife", [
        PartSpec("handle", ("grasp", "hold"), _octagonal_bar(lh, wh / 2, hh / 2, (-lh / 2, 0, hh / 2)),
                 _palette(rng, _HANDLE_COLOURS), [GraspHint((-lh / 2, 0, hh - 0.011), (0, 1, 0), "top", wh)]),
        PartSpec("blade", ("cut",), [GeomSpec("box", (lb / 2, wb / 2, 0.0015), (lb / 2, 0, 0.0015), density=7800)],
                 _palette(rng, _METAL)),
    ])


def make_hammer(rng) -> ObjectSpec:
    lh, r = _u(rng, 0.20, 0.26), _u(rng, 0.013, 0.016)
    hw, hx = _u(rng, 0.08, 0.11), _u(rng, 0.024, 0.03)
    return ObjectSpec("hammer", [
        PartSpec("handle", ("grasp", "hold"), _octagonal_bar(lh, r, r, (lh / 2, 0, r), density=600),
                 _palette(rng, _HANDLE_COLOURS), [GraspHint((lh * 0.45, 0, 2 * r - 0.011), (0, 1, 0), "top", 2 * r)]),
        PartSpec("head", ("pound",), [GeomSpec("box", (hx / 2, hw / 2, r), (lh + hx / 2 - 0.002, 0, r), density=2500)],
                 _palette(rng, _METAL)),
    ])


def make_spatula(rng) -> ObjectSpec:
    lh, wh, hh = _u(rng, 0.12, 0.16), _u(rng, 0.02, 0.026), _u(rng, 0.022, 0.028)
    lb, wb = _u(rng, 0.07, 0.09), _u(rng, 0.055, 0.07)
    return ObjectSpec("spatula", [
        PartSpec("handle", ("grasp", "hold"), _octagonal_bar(lh, wh / 2, hh / 2, (-lh / 2, 0, hh / 2)),
                 _palette(rng, _HANDLE_COLOURS), [GraspHint((-lh * 0.55, 0, hh - 0.011), (0, 1, 0), "top", wh)]),
        PartSpec("blade", ("scoop", "flip"), [GeomSpec("box", (lb / 2, wb / 2, 0.002), (lb / 2, 0, 0.002), density=2000)],
                 _palette(rng, _METAL + [(0.15, 0.15, 0.15)])),
    ])


def make_pan(rng) -> ObjectSpec:
    r, h = _u(rng, 0.07, 0.085), _u(rng, 0.035, 0.045)
    lh, wh, hh = _u(rng, 0.12, 0.15), _u(rng, 0.022, 0.027), _u(rng, 0.018, 0.022)
    return ObjectSpec("pan", [
        PartSpec("pan", ("contain", "fry"), [
            GeomSpec("cylinder", (r, 0.004), (0, 0, 0.004), density=2500),
            GeomSpec("cylinder", (r, h / 2), (0, 0, h / 2), density=120),
        ], _palette(rng, [(0.15, 0.15, 0.17), (0.6, 0.6, 0.62)])),
        PartSpec("handle", ("grasp", "hold"), _octagonal_bar(lh, wh / 2, hh / 2, (r + lh / 2 - 0.005, 0, h - hh / 2), density=500),
                 _palette(rng, _HANDLE_COLOURS), [GraspHint((r + lh * 0.4, 0, h - 0.011), (0, 1, 0), "top", wh)]),
    ])


def make_screwdriver(rng) -> ObjectSpec:
    lh, rh = _u(rng, 0.08, 0.11), _u(rng, 0.013, 0.016)
    ls, rs = _u(rng, 0.07, 0.12), _u(rng, 0.003, 0.004)
    return ObjectSpec("screwdriver", [
        PartSpec("handle", ("grasp", "hold"), _octagonal_bar(lh, rh, rh, (-lh / 2, 0, rh), density=700),
                 _palette(rng, _HANDLE_COLOURS), [GraspHint((-lh / 2, 0, 2 * rh - 0.011), (0, 1, 0), "top", 2 * rh)]),
        PartSpec("shaft", ("screw",), [GeomSpec("cylinder", (rs, ls / 2), (ls / 2, 0, rh), _Q_Y90, density=7800)],
                 _palette(rng, _METAL)),
    ])


def make_bottle(rng) -> ObjectSpec:
    r, h = _u(rng, 0.028, 0.034), _u(rng, 0.13, 0.17)
    rn, hn = _u(rng, 0.013, 0.016), _u(rng, 0.032, 0.04)
    rc, hc = rn - 0.003, _u(rng, 0.012, 0.016)   # the neck's collar is wider than the cap
    return ObjectSpec("bottle", [
        PartSpec("body", ("wrap-grasp", "pour", "contain"),
                 [GeomSpec("cylinder", (r, h / 2), (0, 0, h / 2), density=450)],
                 _palette(rng, [(0.2, 0.6, 0.3), (0.3, 0.5, 0.9), (0.85, 0.85, 0.9), (0.6, 0.3, 0.1)])),
        PartSpec("neck", ("grasp", "hold"), [GeomSpec("cylinder", (rn, hn / 2), (0, 0, h + hn / 2), density=450)],
                 _palette(rng, [(0.9, 0.9, 0.9), (0.1, 0.1, 0.1), (0.9, 0.7, 0.2)]),
                 [GraspHint((0, 0, h + max(hn - 0.012, 0.018)), (0, 1, 0), "top", 2 * rn)]),
        PartSpec("cap", ("open",), [GeomSpec("cylinder", (rc, hc / 2), (0, 0, h + hn + hc / 2), density=600)],
                 _palette(rng, [(0.8, 0.1, 0.1), (0.1, 0.2, 0.7), (0.2, 0.7, 0.2)])),
    ])


def make_brush(rng) -> ObjectSpec:
    lh, wh, hh = _u(rng, 0.11, 0.14), _u(rng, 0.022, 0.026), _u(rng, 0.022, 0.027)
    lb, wb, hb = _u(rng, 0.06, 0.08), _u(rng, 0.04, 0.05), _u(rng, 0.03, 0.036)
    return ObjectSpec("brush", [
        PartSpec("handle", ("grasp", "hold"), _octagonal_bar(lh, wh / 2, hh / 2, (-lh / 2, 0, hh / 2)),
                 _palette(rng, _HANDLE_COLOURS), [GraspHint((-lh * 0.55, 0, hh - 0.011), (0, 1, 0), "top", wh)]),
        PartSpec("head", ("scrub", "brush"), [GeomSpec("box", (lb / 2, wb / 2, hb / 2), (lb / 2 - 0.003, 0, hb / 2), density=400)],
                 _palette(rng, [(0.95, 0.9, 0.6), (0.3, 0.8, 0.9), (0.9, 0.4, 0.7)])),
    ])


def make_kettle(rng) -> ObjectSpec:
    r, h = _u(rng, 0.055, 0.065), _u(rng, 0.10, 0.12)
    lh, t, hp = _u(rng, 0.07, 0.09), _u(rng, 0.012, 0.015), _u(rng, 0.035, 0.045)
    ztop = h + hp
    handle = [
        GeomSpec("box", (lh / 2, t / 2, 0.007), (0, 0, ztop - 0.007), density=700),
        GeomSpec("box", (0.006, t / 2, hp / 2), (-lh / 2 + 0.006, 0, h + hp / 2), density=700),
        GeomSpec("box", (0.006, t / 2, hp / 2), (lh / 2 - 0.006, 0, h + hp / 2), density=700),
    ]
    body_col = _palette(rng, [(0.8, 0.8, 0.82), (0.9, 0.2, 0.2), (0.2, 0.2, 0.25), (0.95, 0.95, 0.9)])
    spout_q = _quat_axis((0, 1, 0), np.pi / 4)
    return ObjectSpec("kettle", [
        PartSpec("body", ("contain", "pour"), [GeomSpec("cylinder", (r, h / 2), (0, 0, h / 2), density=200)], body_col),
        PartSpec("handle", ("grasp", "hold"), handle, _palette(rng, _HANDLE_COLOURS),
                 [GraspHint((0, 0, ztop - 0.008), (0, 1, 0), "top", t)]),
        PartSpec("spout", ("pour",), [GeomSpec("capsule", (0.009, 0.03), (r + 0.015, 0, h * 0.55), spout_q, density=300)],
                 _colour(rng, body_col[:3], 0.03)),
    ])


CATEGORIES: Dict[str, Callable[[np.random.Generator], ObjectSpec]] = {
    "mug": make_mug, "knife": make_knife, "hammer": make_hammer, "spatula": make_spatula,
    "pan": make_pan, "screwdriver": make_screwdriver, "bottle": make_bottle,
    "brush": make_brush, "kettle": make_kettle,
}


def make_object(category: str, rng: np.random.Generator) -> ObjectSpec:
    try:
        factory = CATEGORIES[category]
    except KeyError:
        raise InvalidInputError(f"unknown object category {category!r}; known: {sorted(CATEGORIES)}") from None
    return factory(rng)


def local_aabb(spec: ObjectSpec) -> np.ndarray:
    """Conservative axis-aligned bounds [[xmin ymin zmin], [xmax ymax zmax]] in the object frame."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for part in spec.parts:
        for g in part.geoms:
            if g.type == "mesh":
                v = spec.meshes[g.mesh]["vertices"]
                R = transforms3d.quaternions.quat2mat(g.quat)
                pts = v @ R.T + np.asarray(g.pos)
            else:
                s = np.asarray(g.size, float)
                half = {"box": s[:3], "ellipsoid": s[:3], "sphere": np.repeat(s[0], 3),
                        "cylinder": np.array([s[0], s[0], s[1]]), "capsule": np.array([s[0], s[0], s[1] + s[0]])}[g.type]
                R = transforms3d.quaternions.quat2mat(g.quat)
                corners = np.array(np.meshgrid(*[[-1, 1]] * 3)).reshape(3, -1).T * half
                pts = corners @ R.T + np.asarray(g.pos)
            lo, hi = np.minimum(lo, pts.min(0)), np.maximum(hi, pts.max(0))
    return np.stack([lo, hi])
