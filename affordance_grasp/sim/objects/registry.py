"""The object categories of the twin, and how an instance is drawn from one.

A category builds the geometry of one *variant* of a shape family from a seeded generator.
Convex decomposition takes seconds, so each category has a fixed number of variants (built once
per process, their pieces cached on disk); an instance is a variant stretched by a few per cent
along its axes (pieces stay convex) and dressed in random materials, colours and textures. The
same generator state gives the same instance.
"""
from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ...errors import InvalidInputError
from ..materials import Appearance, MATERIALS, random_appearance
from .spec import ObjectSpec, QuerySpec, material_mass, normalised, scaled

Builder = Callable[[np.random.Generator, str], ObjectSpec]


@dataclass(frozen=True)
class Category:
    name: str
    build: Builder                                  # (rng, family) -> one variant's geometry
    families: Tuple[str, ...]
    dims: Dict[str, Tuple[float, float]]            # documented ranges, metres
    source: str                                     # where the ranges come from
    queries: Tuple[Tuple[str, str], ...] = ()       # (task-planner phrasing, part the fingers go on)
    variants: int = 6
    scale_jitter: float = 0.05                      # per-instance stretch, +- this fraction
    domain: str = "kitchen"                         # kitchen | workshop | household (for the docs)
    upright: bool = True                            # False: lies on the table (flat tools)
    hollow: bool = False                            # an open container: a ray down its opening reaches its floor


REGISTRY: Dict[str, Category] = {}
# Every samplable category by name: the procedural ones and users' objects (sim/external.py).
CATEGORIES: Dict[str, Callable[[np.random.Generator], ObjectSpec]] = {}
_VARIANTS: Dict[Tuple[str, int], ObjectSpec] = {}


def register(cat: Category) -> Category:
    if not cat.families:
        raise InvalidInputError(f"category {cat.name!r} needs at least one shape family")
    REGISTRY[cat.name] = cat
    CATEGORIES[cat.name] = lambda rng, _c=cat: instance(_c, rng)
    return cat


def variant(cat: Category, index: int) -> ObjectSpec:
    """The geometry of variant ``index`` (families take turns), built once per process."""
    key = (cat.name, int(index))
    if key not in _VARIANTS:
        family = cat.families[index % len(cat.families)]
        rng = np.random.default_rng([zlib.crc32(cat.name.encode()), index])
        spec = normalised(cat.build(rng, family))
        names = [p.name for p in spec.parts]
        for text, part in cat.queries:
            if part not in names:
                raise InvalidInputError(f"{cat.name}: query {text!r} names part {part!r}; parts: {names}")
        _VARIANTS[key] = replace(spec, category=cat.name, family=family, source=f"procedural:{cat.name}/{family}",
                                 queries=[QuerySpec(t, p) for t, p in cat.queries])
    return _VARIANTS[key]


def instance(cat: Category, rng: np.random.Generator) -> ObjectSpec:
    base = variant(cat, int(rng.integers(cat.variants)))
    j = cat.scale_jitter
    s_xy, s_z = rng.uniform(1 - j, 1 + j, 2)
    if not cat.upright:  # a flat tool: its length and width vary, its thickness a little
        s_z = 1 + (s_z - 1) / 2
    return within_real_mass(dress(normalised(scaled(base, s_xy, s_xy, s_z)), rng), real_mass_range(cat.name))


@lru_cache(maxsize=1)
def _vocabulary():
    from ...affordance.query import Vocabulary
    return Vocabulary.load()


def real_mass_range(category: str) -> Optional[Tuple[float, float]]:
    """The listed product weights of the kind (kg, low and high), from the vocabulary's
    ``masses:`` that the hold model also draws from; None for a kind it does not list."""
    return _vocabulary().mass_range(category)


def within_real_mass(spec: ObjectSpec, mass_range: Optional[Tuple[float, float]]) -> ObjectSpec:
    """The instance with every part's density scaled alike so that the whole weighs within
    ``mass_range``. Materials times volumes miss some real objects' hidden mass (an electric
    kettle's element and base plate made a 0.29 kg twin kettle, where listed ones weigh 0.8-1.6
    kg) and some overshoot (solid steel where a hammer's head is cast with a hollow eye); a
    uniform scale keeps the centre of mass. Parts given a ``mass:`` are left as they are, and an
    instance already within the range is unchanged."""
    if mass_range is None or any(p.mass is not None for p in spec.parts):
        return spec
    masses = [material_mass(p, spec.meshes) for p in spec.parts]
    total = float(sum(masses))
    target = min(max(total, mass_range[0]), mass_range[1])
    if total <= 0 or target == total:
        return spec
    for p, m in zip(spec.parts, masses):   # dress() gave the instance parts of its own
        p.mass = m * target / total
    return spec


def make_object(category: str, rng: np.random.Generator) -> ObjectSpec:
    try:
        factory = CATEGORIES[category]
    except KeyError:
        raise InvalidInputError(f"unknown object category {category!r}; known: {sorted(CATEGORIES)}") from None
    return factory(rng)


def dress(spec: ObjectSpec, rng: np.random.Generator, match_prob: float = 0.3) -> ObjectSpec:
    """Materials and looks for every part. Parts that share a ``look`` always look alike; with
    probability ``match_prob`` every part that may be made of one common material is (a knife whose
    handle is steel like its blade, a one-colour plastic brush), otherwise each look group draws its
    own. Parts that already have an appearance (a user's textured or coloured mesh) keep it."""
    spec = copy.copy(spec)
    spec.parts = [copy.copy(p) for p in spec.parts]
    shared: Optional[Tuple[str, Appearance]] = None
    if rng.random() < match_prob:
        options = sorted({m for p in spec.parts for m in p.materials})
        counts = [sum(m in p.materials for p in spec.parts) for m in options]
        best = [m for m, c in zip(options, counts) if c == max(counts)]
        name = best[int(rng.integers(len(best)))]
        shared = (name, random_appearance(MATERIALS[name], rng))
    groups: Dict[str, Tuple[str, Appearance]] = {}
    for p in spec.parts:
        if p.appearance is not None:
            continue
        key = p.look or p.name
        if key not in groups:
            if shared is not None and shared[0] in p.materials:
                groups[key] = shared
            else:
                name = p.materials[int(rng.integers(len(p.materials)))]
                groups[key] = (name, random_appearance(MATERIALS[name], rng))
        p.material, p.appearance = groups[key]
    return spec


def categories(domain: Optional[str] = None) -> List[str]:
    return sorted(c.name for c in REGISTRY.values() if domain is None or c.domain == domain)
