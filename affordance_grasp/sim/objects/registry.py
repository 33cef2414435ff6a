"""The object categories of the twin, and how an instance is drawn from one.

A category builds the geometry of one *variant* of a shape family from a seeded generator.
Convex decomposition takes seconds, so each category has a fixed number of variants (built once
per process, their pieces cached on disk); an instance is a variant stretched by a few per cent
along its axes (pieces stay convex) and dressed in random materials, colours and textures. The
same generator state gives the same instance.

What a category is (its families, documented dimensions and their source, the phrasings a task
planner uses) is data, in ``config/object_catalogue.yaml``; how one variant is built is code, a
builder function that names its catalogue entry with ``@builder(name)``. ``register_catalogue``
joins the two once every builder module is imported.
"""
from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ...config import from_mapping, load_yaml
from ...errors import ConfigError, InvalidInputError
from ...resources import resource
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


# --------------------------------------------------------------------------- builders and the catalogue
CATALOGUE = ("config", "object_catalogue.yaml")
DOMAINS = ("kitchen", "workshop", "household")
_BUILDERS: Dict[str, Builder] = {}
# Everything a catalogue entry may give: Category's fields less those the code supplies.
ENTRY_KEYS = tuple(f.name for f in fields(Category) if f.name not in ("name", "build"))


def builder(name: str) -> Callable[[Builder], Builder]:
    """Decorator: the function builds the variants of category ``name`` (described in the catalogue)."""
    def add(build: Builder) -> Builder:
        if name in _BUILDERS:
            raise InvalidInputError(f"category {name!r} has two builders: {_BUILDERS[name].__qualname__} "
                                    f"and {build.__qualname__}")
        _BUILDERS[name] = build
        return build
    return add


def load_catalogue(path: Optional[Path] = None) -> Dict[str, Any]:
    """The catalogue's entries by category name (the shipped one unless ``path``)."""
    return load_yaml(path or resource(*CATALOGUE), "object catalogue")


def catalogue_categories(builders: Mapping[str, Builder], catalogue: Mapping[str, Any],
                         where: str = "object catalogue") -> List[Category]:
    """One Category per builder, in the builders' order, from its catalogue entry. A builder
    without an entry, an entry without a builder, or an entry with a key Category does not have
    is a ConfigError."""
    no_entry = [n for n in builders if n not in catalogue]
    if no_entry:
        raise ConfigError(f"{where}: no entry for the categories {no_entry}, which have builders")
    no_builder = [n for n in catalogue if n not in builders]
    if no_builder:
        raise ConfigError(f"{where}: entries {no_builder} have no builder; builders: {sorted(builders)}")
    return [_category(name, build, catalogue[name], f"{where}: {name}") for name, build in builders.items()]


def _category(name: str, build: Builder, entry: Any, where: str) -> Category:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {list(ENTRY_KEYS)}, got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {list(ENTRY_KEYS)}")
    values = dict(entry)
    for key, convert in _CONVERT.items():
        if key in values:
            values[key] = convert(values[key], f"{where}: {key}")
    return from_mapping(Category, {"name": name, "build": build, **values}, where)


def _strings(value: Any, where: str, n: Optional[int] = None) -> Tuple[str, ...]:
    """A YAML list of strings (``n`` of them when given) as a tuple."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or n not in (None, len(value)):
        size = f"{n} " if n else ""
        raise ConfigError(f"{where}: expected a list of {size}strings, got {value!r}")
    return tuple(value)


def _ranges(value: Any, where: str) -> Dict[str, Tuple[float, float]]:
    """``name: [low, high]`` lines as a dict of float pairs."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected name: [low, high] lines, got {value!r}")
    out = {}
    for k, pair in value.items():
        ok = (isinstance(pair, list) and len(pair) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair))
        if not ok or pair[0] > pair[1]:
            raise ConfigError(f"{where}: {k} must be [low, high] numbers, low <= high; got {pair!r}")
        out[str(k)] = (pair[0], pair[1])
    return out


def _queries(value: Any, where: str) -> Tuple[Tuple[str, str], ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of [phrasing, part] pairs, got {value!r}")
    return tuple(_strings(q, where, 2) for q in value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected some text, got {value!r}")
    return value


def _domain(value: Any, where: str) -> str:
    if value not in DOMAINS:
        raise ConfigError(f"{where}: expected one of {list(DOMAINS)}, got {value!r}")
    return value


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _count(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where}: expected a whole number >= 1, got {value!r}")
    return value


def _fraction(value: Any, where: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise ConfigError(f"{where}: expected a number in [0, 1), got {value!r}")
    return value


_CONVERT = {"families": _strings, "dims": _ranges, "source": _text, "queries": _queries, "domain": _domain,
            "upright": _flag, "hollow": _flag, "variants": _count, "scale_jitter": _fraction}


def register_catalogue(path: Optional[Path] = None) -> List[Category]:
    """Register every builder's category from the catalogue (called once the builder modules are
    imported, so that the check for entries without a builder sees them all)."""
    source = path or resource(*CATALOGUE)
    return [register(cat) for cat in catalogue_categories(_BUILDERS, load_catalogue(source), str(source))]


# --------------------------------------------------------------------------- variants and instances
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
