"""Flat kitchen tools that lie on the table: knives, forks, spoons, ladles, spatulas, whisks, tongs.

A tool lies as it would on a counter: the handle rests on its flattest side and the blade or bowl
joins it where the real one does, so after settling it may tilt until its tip touches the table.
"""
from __future__ import annotations

import numpy as np

from .. import shapes
from .build import bar, u
from .registry import builder
from .spec import ObjectSpec, part


# --------------------------------------------------------------------------- knife
@builder("knife")
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
