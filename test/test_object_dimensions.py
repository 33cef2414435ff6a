"""The procedural objects are as big as the catalogue says: every built variant of every category
measures inside the documented ``dims`` ranges (config/object_catalogue.yaml) for the dimensions
that can be read off the built geometry without guessing.

All ``cat.variants`` variants of each category are measured (``variant(cat, i)``: the unstretched
geometry; an instance is a variant stretched by a further +- ``scale_jitter``). Their convex pieces
come from the shipped collision cache, so building all of them takes seconds.

``CHECKS`` maps category -> dims key -> how to measure it. A key is listed only where the builder
makes that measurement the drawn size (or the sum of drawn sizes the key names, such as a whole
tool's length). Objects stand in their object frame: z up, lowest point on z = 0. A tool that lies
on the table has its long axis along x and may be turned a little about y to rest on its
side-view hull; that leaves y extents as built, and lengths and thicknesses of such parts are
measured along the principal axes of their side view (x-z). A straight handle whose root is
shaped onto a round wall is allowed ``WALL_ROOT`` beyond its range.

Keys that are not listed, and why:

* not an extent: every ``wall``, ``capacity_l``, whisk ``wire_diameter``.
* drawn for a centre line, the built part wider by its section: pot ``ear_span``, whisk
  ``flat_width``, pliers ``handle_gap``.
* measured from a wall, not from a part's edge: mug, teacup and pitcher ``handle_reach``, pot
  ``ear_reach``, teapot ``spout_reach``; depths inside a part: spoon and ladle ``bowl_depth``, pot
  ``lid_rise``.
* a thickness of a handle that arches in side view: fork, spoon and ladle ``handle_thickness``,
  fork ``neck_height``.
* the part holds more than the dimension: fork ``tine_length`` (the palm), spatula
  ``blade_length`` and ``blade_thickness`` (the shank, which may be the larger piece), tongs
  ``head_length``, ``arm_thickness`` and ``opening`` (arms and heads share parts), wine glass
  ``stem_length`` and ``stem_diameter`` (the stem flares into foot and bowl), bottle
  ``neck_diameter`` and ``neck_length`` (the neck part starts at the shoulder's last ring, 2 mm
  wider than the neck, and runs up under the cap), pliers ``jaw_length`` (the jaw slab runs back
  past the pivot), toothbrush ``head_length`` (the head plate starts 4 mm behind the head), spray
  bottle ``trigger_length`` (the trigger's top is inside the head), bowl ``foot_height`` (the
  ring reaches 2 mm up into the bowl), scissors ``thumb_ring`` (one of four handle pieces).
* changed after drawing: bowl and cup ``rim_band`` (the rounded lip adds up to half a wall),
  saucepan ``handle_height`` (a channel handle's legs are trimmed by its rounded corners), drill
  ``grip_width`` (flared 25 % into the battery), scissors ``blade_width`` (each blade is 0.8 of
  the drawn width, the closed pair 1.1).
* not built as one extent: wrench ``jaw_size`` and ``adjustable_capacity`` (the jaws stand part
  open), whisk ``cage_diameter`` (the loops' planes are turned about the handle's axis).
"""
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import pytest

from affordance_grasp.sim.objects import REGISTRY, variant
from affordance_grasp.sim.objects.spec import ObjectSpec

# Most checked extents end on a vertex the builder placed at the drawn size (lathe sections have a
# vertex on each axis, extrusions keep their outline's corners). The rest are lofts and bends
# whose extreme falls between stations, polygons whose width changes a little with direction
# (a 20-gon's by 1.2 %), a vessel's rounded lip (half a wall above its rim), and outlines rounded
# after drawing; 2 % of the bound covers these and is well under the width of every checked range.
TOL = 0.02

Value = Union[float, Tuple[float, ...], None]


class Check(NamedTuple):
    """How to measure one dims key on a built variant (``None``: the variant has no such part)."""
    measure: Callable[[ObjectSpec], Value]
    families: Optional[Sequence[str]] = None   # only these families have the dimension
    slack: float = 0.0                         # metres allowed above the range, for a stated reason
    why: str = ""


# --------------------------------------------------------------------------- measurements
def _vertices(spec: ObjectSpec, part: Optional[str] = None, piece: bool = False) -> Optional[np.ndarray]:
    """The object's vertices, a part's, or (``piece``) those of the part's largest mesh."""
    if part is None:
        return np.asarray(spec.trimesh().vertices)
    if part not in [p.name for p in spec.parts]:
        return None
    p = spec.part(part)
    if piece:
        meshes = [m.vertices for m in p.meshes] + [g.trimesh(spec.meshes).vertices for g in p.geoms]
        return max(meshes, key=lambda v: np.ptp(v, axis=0).max())
    return np.asarray(spec.part_trimesh(p).vertices)


def _side_view(v: np.ndarray) -> Tuple[float, float]:
    """Extents along the principal axes of the x-z (side view) projection: (along, across)."""
    xz = v[:, [0, 2]] - v[:, [0, 2]].mean(axis=0)
    _, _, vt = np.linalg.svd(xz, full_matrices=False)
    p = xz @ vt.T
    return float(np.ptp(p[:, 0])), float(np.ptp(p[:, 1]))


def _extent(v: np.ndarray, axis: str) -> float:
    """``x``, ``y``, ``z``: axis-aligned; ``across``: the larger horizontal extent (a round body's
    diameter); ``round``: the larger of y and z (a round part lying along x); ``along`` and
    ``thick``: along and across the side view's long axis (a part turned about y)."""
    ext = np.ptp(v, axis=0)
    if axis in ("x", "y", "z"):
        return float(ext["xyz".index(axis)])
    if axis == "across":
        return float(max(ext[0], ext[1]))
    if axis == "round":
        return float(max(ext[1], ext[2]))
    if axis in ("along", "thick"):
        return _side_view(v)[axis == "thick"]
    raise ValueError(axis)


def overall(axis: str) -> Callable[[ObjectSpec], Value]:
    """The whole object's extent."""
    return lambda spec: _extent(_vertices(spec), axis)


def part(name: str, *axes: str, piece: bool = False) -> Callable[[ObjectSpec], Value]:
    """A part's extent(s) (``piece``: its largest mesh alone, where the part has several)."""
    def measure(spec):
        v = _vertices(spec, name, piece)
        if v is None:
            return None
        values = tuple(_extent(v, a) for a in axes)
        return values if len(values) > 1 else values[0]
    return measure


def shaft_showing(spec: ObjectSpec) -> float:
    """A screwdriver's shaft beyond the handle (the rest of it is sunk 12 mm into the handle)."""
    return _extent(_vertices(spec), "x") - _extent(_vertices(spec, "handle"), "x")


def bristles_standing(spec: ObjectSpec) -> float:
    """How far a toothbrush's bristles stand above its head (their block is sunk 1 mm into it)."""
    return float(_vertices(spec, "bristles")[:, 2].max() - _vertices(spec, "head")[:, 2].max())


# A straight handle's root face is moved onto a round wall (its edges back to where the wall
# curves away, w^2/8R, and its top and bottom edges apart by the tilt, h/2 sin(tilt)), so measured
# along the handle it is up to ~4 mm longer than the drawn length from the wall.
WALL_ROOT = dict(slack=0.004, why="root face shaped onto the round wall")

CHECKS: Dict[str, Dict[str, Check]] = {
    # ------------------------------------------------------------------ cookware (upright)
    "bowl": {
        "diameter": Check(overall("across")),
        "height": Check(overall("z")),                            # with the ring foot of footed bowls
    },
    "saucepan": {
        "diameter": Check(part("body", "across")),               # the handle is a part of its own
        "height": Check(part("body", "z")),                      # the tilted handle rises above the rim
        "handle_length": Check(part("handle", "along"), **WALL_ROOT),
        "handle_width": Check(part("handle", "y")),
    },
    "pan": {
        "diameter": Check(part("body", "across")),
        "height": Check(part("body", "z")),
        "overall_length": Check(overall("x")),                   # handle tip to rim (or helper lug)
        "handle_length": Check(part("handle", "along", piece=True), **WALL_ROOT),  # not the helper lug
        "handle_width": Check(part("handle", "y", piece=True)),  # the widest, at the hanging hole
    },
    "pot": {
        "diameter": Check(part("body", "across")),               # the lid overhangs the body
        "height": Check(part("body", "z")),                      # without the lid and knob
        "side_handle_length": Check(part("handle", "along", piece=True), families=("side",), **WALL_ROOT),
        "knob_diameter": Check(part("knob", "across")),          # lidded variants only
    },
    "kettle": {
        "height": Check(overall("z")),                           # to the top of the lid knob or handle
        "body_diameter": Check(part("body", "across")),
        "handle_section": Check(part("handle", "y")),            # the loop lies in x-z: y is its section
    },
    # ------------------------------------------------------------------ cutlery (lying along x)
    "fork": {
        "length": Check(overall("x")),
        "head_width": Check(part("tines", "y")),
        "handle_width": Check(part("handle", "y")),              # widest point, between neck and end
        "carving_handle_height": Check(part("handle", "thick"), families=("serving",)),
    },
    "spoon": {
        "length": Check(overall("x")),
        "bowl_length": Check(part("bowl", "along")),
        "bowl_width": Check(part("bowl", "y")),
        "handle_width": Check(part("handle", "y"), families=("table", "tea")),
        "wooden_handle_diameter": Check(part("handle", "y"), families=("wooden",)),
    },
    "ladle": {
        "length": Check(overall("x")),
        "bowl_diameter": Check(part("bowl", "y")),
        "handle_width": Check(part("handle", "y")),
    },
    "spatula": {
        "length": Check(overall("x")),
        "handle_length": Check(part("handle", "along")),
        "handle_width": Check(part("handle", "y")),
        "handle_height": Check(part("handle", "thick")),
        "blade_width": Check(part("blade", "y")),                # the shank is narrower
    },
    "whisk": {
        "length": Check(overall("x")),
        "handle_length": Check(part("handle", "along")),
        "handle_diameter": Check(part("handle", "y", "thick")),  # both sides of its section
    },
    "tongs": {
        "length": Check(overall("x")),                           # from the outside of the hinge
        "arm_height": Check(part("handle", "thick")),            # the arms stand on edge
        "head_height": Check(part("jaws", "thick")),             # the heads are the jaws' tallest
    },
    "knife": {
        "length": Check(overall("x")),
        "blade_width": Check(part("blade", "y")),
        "handle_height": Check(part("handle", "z")),
        "blade_thickness": Check(part("blade", "z")),
    },
    # ------------------------------------------------------------------ drinkware (upright)
    "mug": {
        "height": Check(overall("z")),
        "diameter": Check(part("body", "across")),
        "handle_thickness": Check(part("handle", "y")),          # the loop lies in x-z
    },
    "cup": {
        "height": Check(overall("z")),
        "diameter": Check(overall("across")),
    },
    "teacup": {
        "height": Check(overall("z")),
        "diameter": Check(part("body", "across")),
        "handle_thickness": Check(part("handle", "y")),
    },
    "wine_glass": {
        "height": Check(overall("z")),
        "bowl_diameter": Check(part("body", "across")),
        "foot_diameter": Check(part("base", "across")),
    },
    "bottle": {
        "height": Check(overall("z")),                           # to the top of the cap
        "diameter": Check(part("body", "across")),
    },
    "jar": {
        "height": Check(overall("z")),                           # to the top of the lid
        "diameter": Check(part("body", "across")),
        "lid_diameter": Check(part("lid", "across")),
        "lid_height": Check(part("lid", "z")),
    },
    "pitcher": {
        "height": Check(overall("z")),
        "diameter": Check(part("body", "across")),
        "width_with_handle": Check(overall("x")),                # spout tip to the back of the handle
        "handle_thickness": Check(part("handle", "y")),
    },
    "teapot": {
        "height": Check(overall("z")),                           # to the top of the knob
        "body_diameter": Check(part("body", "across")),
        "handle_thickness": Check(part("handle", "y")),
    },
    "spray_bottle": {
        "height": Check(overall("z")),
        "diameter": Check(part("body", "across")),               # oval ones: the long side
        "neck_diameter": Check(part("neck", "across")),
        "neck_height": Check(part("neck", "z")),
        "head_height": Check(part("head", "z")),
    },
    # ------------------------------------------------------------------ workshop and household tools
    "hammer": {
        "length": Check(overall("x")),                           # butt to the top of the head
        "head_length": Check(part("head", "y")),                 # face to claw or peen
        "face_diameter": Check(part("head", "z")),               # the face is the head's thickest part
        "handle_width": Check(part("handle", "y")),
        "handle_thickness": Check(part("handle", "z")),
    },
    "mallet": {
        "length": Check(overall("x")),
        "rubber_head_diameter": Check(part("head", "z"), families=("rubber",)),
        "head_length": Check(part("head", "y")),
        "wooden_head_section": Check(part("head", "x", "z"), families=("wooden",)),
        "handle_width": Check(part("handle", "y")),
    },
    "screwdriver": {
        "length": Check(overall("x")),
        "handle_length": Check(part("handle", "x")),
        "handle_diameter": Check(part("handle", "round")),
        "shaft_length": Check(shaft_showing),
        "shaft_diameter": Check(part("shaft", "z")),             # a slotted tip is flat in z, wider in y
    },
    "wrench": {
        "length": Check(overall("x")),
        "head_thickness": Check(part("head", "z")),
        "shank_thickness": Check(part("handle", "z")),
    },
    "pliers": {
        "length": Check(overall("x")),
        "jaw_width": Check(part("jaws", "y", piece=True)),       # the jaw slab, not the pivot disc
        "jaw_thickness": Check(part("jaws", "z", piece=True)),   # the rivet stands proud of it
        "grip_thickness": Check(part("handle", "z")),
    },
    "scissors": {
        "length": Check(overall("x")),
        "blade_thickness": Check(part("blade", "z", piece=True)),  # one blade, not the closed pair
        "finger_loop": Check(part("handle", "x", piece=True)),     # the largest ring
        "ring_thickness": Check(part("handle", "z")),
    },
    "brush": {
        "dish_length": Check(overall("x"), families=("dish",)),
        "dish_head_diameter": Check(part("head", "y"), families=("dish",)),
        "scrub_length": Check(overall("x"), families=("scrub",)),
        "scrub_width": Check(overall("y"), families=("scrub",)),
        "scrub_height": Check(overall("z"), families=("scrub",)),  # bristles to the top of the loop
        "paint_length": Check(overall("x"), families=("paint",)),
        "paint_width": Check(part("bristles", "y"), families=("paint",)),  # tips drawn 2 % wider
    },
    "toothbrush": {
        "length": Check(overall("x")),
        "grip_width": Check(part("handle", "y")),
        "grip_thickness": Check(part("handle", "z")),
        "bristle_height": Check(bristles_standing),
    },
    "flashlight": {
        "length": Check(overall("x")),
        "penlight_diameter": Check(part("body", "round", piece=True), families=("penlight",)),  # not the clip
        "large_body_diameter": Check(part("body", "round"), families=("large",)),
        "large_head_across": Check(part("head", "y"), families=("large",)),  # across the corners
    },
    "drill": {
        "height": Check(overall("z")),
        "length": Check(overall("x")),
        "battery_length": Check(part("battery", "x")),
        "battery_height": Check(part("battery", "z")),
        "chuck_diameter": Check(part("chuck", "round")),
    },
}

# Built variants measured outside their stated range (numbers in each reason); the builders and
# the catalogue disagree here, and each case stays visible until one of them changes.
OUTSIDE = {
    ("ladle", "length"): "variant 0 (soup) is 353.3 mm long; stated 220-330 mm",
    ("whisk", "handle_diameter"): "variant 3 (flat) handle is 28.7 mm wide at its flared butt "
                                  "(taper -0.08 on a 26.6 mm handle); stated 20-28 mm",
    ("mallet", "head_length"): "variant 1 (wooden) head is 151.4 mm long with its flared faces; "
                               "stated 100-140 mm",
}


def _cases():
    for name, keys in CHECKS.items():
        for key in keys:
            marks = [pytest.mark.xfail(strict=True, reason=OUTSIDE[name, key])] if (name, key) in OUTSIDE else []
            yield pytest.param(name, key, marks=marks, id=f"{name}-{key}")


def _mm(x: float) -> str:
    return f"{x * 1000:.1f}"


@pytest.mark.parametrize("name, key", list(_cases()))
def test_built_variants_measure_inside_the_stated_range(name, key):
    cat = REGISTRY[name]
    low, high = cat.dims[key]
    check = CHECKS[name][key]
    lo, hi = low * (1 - TOL), high * (1 + TOL) + check.slack
    measured, outside = [], []
    for i in range(cat.variants):
        spec = variant(cat, i)
        if check.families is not None and spec.family not in check.families:
            continue
        value = check.measure(spec)
        if value is None:
            continue
        for v in np.atleast_1d(value):
            measured.append(float(v))
            if not lo <= v <= hi:
                outside.append(f"variant {i} ({spec.family}): {_mm(v)}")
    assert measured, f"{name}: no built variant has a {key!r} to measure"
    allowed = f" + {_mm(check.slack)} mm for the {check.why}" if check.slack else ""
    assert not outside, (f"{name}.{key}: stated {_mm(low)}-{_mm(high)} mm (+-{TOL:.0%}{allowed}); "
                         f"outside: {', '.join(outside)}; all measured: {', '.join(map(_mm, measured))}")


def test_every_category_has_a_checked_dimension():
    """Each registered category is in the table with at least one key, every key is one of its
    documented dims, and every family named in a check is one of its families."""
    assert set(CHECKS) == set(REGISTRY), sorted(set(CHECKS) ^ set(REGISTRY))
    for name, keys in CHECKS.items():
        cat = REGISTRY[name]
        assert keys, f"{name}: no dimension checked"
        assert set(keys) <= set(cat.dims), f"{name}: {sorted(set(keys) - set(cat.dims))} not in its dims"
        for key, check in keys.items():
            assert set(check.families or ()) <= set(cat.families), f"{name}.{key}: families {check.families}"
            assert not check.slack or check.why, f"{name}.{key}: a slack needs its reason"
