"""Flat kitchen tools that lie on the table: knives, forks, spoons, ladles, spatulas, whisks, tongs.

A tool lies as it would on a counter: the handle rests on its flattest side and the blade or bowl
joins it where the real one does, so after settling it may tilt until its tip touches the table.
"""
from __future__ import annotations

import numpy as np

from .. import shapes
from .build import bar, u
from .registry import Category, register
from .spec import ObjectSpec, part


# --------------------------------------------------------------------------- knife
def build_knife(rng: np.random.Generator, family: str) -> ObjectSpec:
    """family: chef (pointed, wide), table (round tip, slim, often one piece of steel), bread
    (long square-ended blade)."""
    if family == "chef":
        lb, wb, tb = u(rng, 0.15, 0.21), u(rng, 0.035, 0.050), u(rng, 0.0018, 0.0025)
        lh, wh, hh = u(rng, 0.105, 0.130), u(rng, 0.020, 0.026), u(rng, 0.014, 0.020)
        tip, handle_mats = "point", ("wood", "plastic", "steel")
    elif family == "table":
        lb, wb, tb = u(rng, 0.085, 0.110), u(rng, 0.016, 0.022), u(rng, 0.0020, 0.0030)
        lh, wh, hh = u(rng, 0.090, 0.115), u(rng, 0.013, 0.018), u(rng, 0.007, 0.011)
        tip, handle_mats = "round", ("steel", "plastic", "wood")
    else:  # bread
        lb, wb, tb = u(rng, 0.19, 0.25), u(rng, 0.025, 0.032), u(rng, 0.0015, 0.0022)
        lh, wh, hh = u(rng, 0.110, 0.130), u(rng, 0.020, 0.025), u(rng, 0.015, 0.020)
        tip, handle_mats = "square", ("wood", "plastic")
    handle = bar(lh, wh, hh, x0=-lh, section="rect" if family != "table" else "oval", taper=0.1)
    # The blade's spine sits on the handle's centre line, its flat at half the handle's height.
    outline = shapes.blade_outline(lb, wb, tip)
    blade = shapes.extrude(outline, tb, z0=hh / 2 - tb / 2)
    blade.apply_translation((-0.004, wb / 2 - 0.0, 0.0))  # overlap the handle; centre the blade on its axis
    return ObjectSpec("knife", [
        part("handle", ("grasp", "hold"), [handle], handle_mats),
        part("blade", ("cut",), [blade], ("steel",)),
    ])


register(Category(
    "knife", build_knife, families=("chef", "table", "bread"),
    dims={"length": (0.18, 0.38), "blade_width": (0.016, 0.050), "handle_height": (0.007, 0.020),
          "blade_thickness": (0.0015, 0.003)},
    source="retail cutlery: chef's knives 15-21 cm blade, 3.5-5 cm wide; table knives 21-23 cm overall, "
           "1.6-2.2 cm blade; bread knives 19-25 cm blade; handles 10-13 cm",
    queries=(("pick up the knife by the handle", "handle"), ("hand me the knife so I can cut", "handle"),
             ("grab the knife without touching the blade", "handle")),
    upright=False,
))
