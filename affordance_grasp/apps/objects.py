"""``affordance-grasp objects``: the twin's object categories as a table, users' object files
checked (they load, have a sane size and a part to grasp, rest on the table, are hollow when they
say so), and a picture grid of either."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..affordance.query import Vocabulary
from ..errors import AffordanceGraspError
from ..sim.camera import SimCamera
from ..sim.external import load_objects
from ..sim.objects import REGISTRY, ObjectSpec, local_aabb, make_object, variant
from ..sim.objects.check import check_physics
from ..sim.objects.spec import object_mass
from ..sim.world import CameraConfig, PlacedObject, SimWorld, WorldConfig
from ..visualize import save_rgb


def _dimension(key: str, lo: float, hi: float) -> str:
    """Lengths are in metres and shown in cm; a key with a unit suffix (capacity_l) is shown as is."""
    if key.endswith("_l"):
        return f"{key[:-2].replace('_', ' ')} {lo:.3g}-{hi:.3g} l"
    return f"{key.replace('_', ' ')} {lo * 100:.3g}-{hi * 100:.3g}"


def twin_mass_range(name: str, draws: int = 12) -> Tuple[float, float]:
    """The lightest and heaviest (kg) of ``draws`` instances of a category: sizes and materials vary."""
    masses = [object_mass(make_object(name, np.random.default_rng(seed))) for seed in range(draws)]
    return min(masses), max(masses)


def categories_markdown() -> str:
    """One row per category. The twin's mass (12 instances) stands beside the typical mass of real
    ones (the vocabulary's ``masses:``, from listed product weights), which the hold model assumes."""
    vocab = Vocabulary.load()
    lines = ["| category | domain | families | parts -> affordances | dimensions (cm) | twin mass (g) | "
             "real mass (g) | source |",
             "|---|---|---|---|---|---|---|---|"]
    for name in sorted(REGISTRY):
        cat = REGISTRY[name]
        spec = variant(cat, 0)
        parts = "; ".join(f"{'**' + p.name + '**' if {'grasp', 'hold'} & set(p.affordances) else p.name}"
                          f" -> {', '.join(p.affordances) or '-'}" for p in spec.parts)
        dims = ", ".join(_dimension(k, lo, hi) for k, (lo, hi) in cat.dims.items())
        lo, hi = twin_mass_range(name)
        real = vocab.mass_range(name)
        real = f"{real[0] * 1000:.0f}-{real[1] * 1000:.0f}" if real else "-"
        lines.append(f"| {name} | {cat.domain} | {', '.join(cat.families)} | {parts} | {dims} | "
                     f"{lo * 1000:.0f}-{hi * 1000:.0f} | {real} | {cat.source} |")
    return "\n".join(lines)


def thumbnail(spec: ObjectSpec, size: Tuple[int, int] = (160, 120), label: str = "") -> np.ndarray:
    """The object alone on a plain table, seen from the front and above, framed to fit."""
    lo, hi = local_aabb(spec)
    radius = float(np.linalg.norm(hi - lo)) / 2
    centre = np.array([0.5, 0.0, (hi[2] - lo[2]) / 2])
    w, h = size
    f = 1.8 * h
    dist = radius * f / (0.42 * h)
    eye = centre + dist * np.array([np.cos(np.radians(45)) * 1.0, 0.35, np.sin(np.radians(45))]) / np.linalg.norm([np.cos(np.radians(45)), 0.35, np.sin(np.radians(45))])
    cfg = WorldConfig(camera=CameraConfig(width=w, height=h, fy=f, eye=tuple(eye), target=tuple(centre), near=0.02),
                      table_rgba=(0.85, 0.85, 0.82, 1.0))
    world = SimWorld([PlacedObject("obj_0", spec, (0.5, 0.0, -lo[2] + 0.001), 0.6)], cfg)
    with SimCamera(world) as cam:
        img = cam.render().rgb.copy()
    if label:
        cv2.rectangle(img, (0, 0), (w, 14), (0, 0, 0), -1)
        cv2.putText(img, label, (3, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def grid(images: List[np.ndarray], columns: int = 8) -> np.ndarray:
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    out = np.full((rows * h, columns * w, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return out


def objects_command(objects: Sequence[Path] = (), grid_path: Optional[Path] = None, check: bool = False,
                    markdown: Optional[Path] = None) -> int:
    loaded = load_objects(objects) if objects else []
    if markdown is not None:
        markdown.write_text(categories_markdown() + "\n")
        print(f"wrote {markdown}")
    entries = ([(o.spec.category, make_object(o.spec.category, np.random.default_rng(1)), o.upright, o.hollow)
                for o in loaded] if loaded else
               [(n, make_object(n, np.random.default_rng(1)), REGISTRY[n].upright, REGISTRY[n].hollow)
                for n in sorted(REGISTRY)])
    if not loaded and markdown is None:
        print(categories_markdown())
    for obj in loaded:
        print(f"{obj.spec.category}: mass {obj.mass * 1000:.0f} g ({obj.mass_source})")
        for w in obj.warnings:
            print(f"{obj.spec.category}: warning: {w}")
    problems = 0
    if check or loaded:
        for name, spec, upright, hollow in entries:
            rep = check_physics(spec, upright, hollow)
            status = "ok" if rep.ok else "; ".join(rep.problems)
            problems += not rep.ok
            print(f"{name}: {len(spec.parts)} parts ({', '.join(p.name for p in spec.parts)}), "
                  f"{rep.extent[0] * 100:.1f} x {rep.extent[1] * 100:.1f} x {rep.extent[2] * 100:.1f} cm, "
                  f"{rep.mass * 1000:.0f} g, rests tilted {rep.tilt_deg:.0f} deg: {status}")
    if grid_path is not None:
        pics = [thumbnail(spec, label=name.replace("_", " ")) for name, spec, _, _ in entries]
        save_rgb(grid_path, grid(pics))
        print(f"wrote {grid_path} ({len(pics)} objects)")
    if problems:
        raise AffordanceGraspError(f"{problems} object(s) failed the check")
    return 0
