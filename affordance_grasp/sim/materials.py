"""What objects are made of: density and friction for the physics, texture and colour for the
renderer, and the per-instance randomisation of both.

Densities are handbook values (Engineering ToolBox, "Densities of Solids"): stoneware 2300,
soda-lime glass 2500, stainless steel 7900, aluminium 2700, beech/oak 700-750, ABS/PP 900-1050,
natural rubber 1100-1200 kg/m^3. Friction is the static coefficient of the material against
the gripper's rubber-like fingertip pads and the table (Engineering ToolBox, "Friction and
Friction Coefficients": rubber on hard dry surfaces 0.5-0.9; dry wood on wood 0.25-0.5). We take
the middle of each range; MuJoCo combines two geoms' friction by the larger one, so the fingers'
own coefficient is set below all of these and the object's value governs the grasp.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

RGB = Tuple[float, float, float]


@dataclass(frozen=True)
class Material:
    density: float                      # kg/m^3
    friction: float                     # static coefficient against rubber-like pads
    textures: Tuple[str, ...]           # procedural texture kinds it may wear
    palette: Tuple[RGB, ...]            # base colours it comes in
    specular: float = 0.3
    shininess: float = 0.3
    reflectance: float = 0.0
    hue_jitter: float = 0.08            # per-channel colour jitter (metals stay grey)


_METALS = ((0.75, 0.75, 0.77), (0.62, 0.63, 0.66), (0.82, 0.80, 0.76), (0.45, 0.46, 0.50))
_BRIGHT = ((0.85, 0.15, 0.12), (0.12, 0.35, 0.80), (0.10, 0.60, 0.30), (0.95, 0.75, 0.10), (0.95, 0.45, 0.10),
           (0.55, 0.20, 0.65), (0.10, 0.10, 0.10), (0.92, 0.92, 0.90), (0.20, 0.65, 0.75), (0.90, 0.45, 0.60))
_EARTH = ((0.55, 0.35, 0.18), (0.70, 0.50, 0.30), (0.40, 0.25, 0.12), (0.80, 0.65, 0.45))
_CERAMIC = ((0.93, 0.93, 0.90), (0.95, 0.92, 0.85), (0.20, 0.35, 0.65), (0.75, 0.25, 0.22), (0.30, 0.55, 0.40),
            (0.95, 0.80, 0.35), (0.15, 0.15, 0.17), (0.60, 0.75, 0.85))

MATERIALS: Dict[str, Material] = {
    "ceramic": Material(2300.0, 0.6, ("ceramic", "plain"), _CERAMIC, specular=0.6, shininess=0.8, reflectance=0.05),
    "glass": Material(2500.0, 0.6, ("plain",), ((0.80, 0.88, 0.90), (0.55, 0.75, 0.60), (0.85, 0.85, 0.85)),
                      specular=0.9, shininess=0.95, reflectance=0.15),
    "steel": Material(7900.0, 0.65, ("brushed", "plain"), _METALS, specular=0.8, shininess=0.7, reflectance=0.2,
                      hue_jitter=0.02),
    "aluminium": Material(2700.0, 0.6, ("brushed", "plain"), _METALS, specular=0.7, shininess=0.6, reflectance=0.15,
                          hue_jitter=0.02),
    "wood": Material(720.0, 0.65, ("wood",), _EARTH, specular=0.1, shininess=0.2),
    "plastic": Material(1000.0, 0.6, ("plastic", "plain"), _BRIGHT, specular=0.4, shininess=0.5),
    "rubber": Material(1150.0, 0.85, ("rubber", "plain"), ((0.08, 0.08, 0.09), (0.20, 0.20, 0.22), (0.55, 0.10, 0.10),
                                                           (0.10, 0.25, 0.55)), specular=0.05, shininess=0.1),
    "painted": Material(7900.0, 0.6, ("plain", "plastic"), _BRIGHT, specular=0.5, shininess=0.6),
    "cardboard": Material(700.0, 0.6, ("label",), ((0.85, 0.80, 0.70), (0.95, 0.95, 0.95)), specular=0.05),
    "bristle": Material(600.0, 0.7, ("plastic",), _BRIGHT + ((0.95, 0.95, 0.92),), specular=0.05, shininess=0.1),
}
PAD_FRICTION = 0.3       # below every material's value, so the object's coefficient governs
TABLE_FRICTION = 0.45    # a wooden or laminate table top against the objects' materials
CONTACT_RADIUS = 0.005   # m, a fingertip pad's contact patch: torsional friction = mu * 2/3 * radius


def material(name: str) -> Material:
    try:
        return MATERIALS[name]
    except KeyError:
        raise ValueError(f"unknown material {name!r}; known: {sorted(MATERIALS)}") from None


@dataclass
class Appearance:
    """How one part is drawn: a colour, and optionally a texture image (procedural or a user's)."""

    rgba: Tuple[float, float, float, float] = (0.6, 0.6, 0.6, 1.0)
    texture: Optional[np.ndarray] = field(default=None, repr=False)   # HxWx3 uint8
    specular: float = 0.3
    shininess: float = 0.3
    reflectance: float = 0.0


# --------------------------------------------------------------------------- procedural textures
def _noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Smooth value noise in [0, 1]: random values on a coarse grid, bicubically enlarged."""
    n = max(int(size / scale), 2)
    coarse = rng.random((n, n)).astype(np.float32)
    out = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0, 1)


def texture_image(kind: str, base: RGB, rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """A tileable-enough texture of ``kind`` around colour ``base`` (HxWx3 uint8)."""
    b = np.asarray(base, np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == "wood":
        warp = _noise(rng, size, 32) * 3.0
        rings = 0.5 + 0.5 * np.sin(2 * np.pi * (yy * rng.uniform(6, 14) + warp))
        fine = _noise(rng, size, 3)
        shade = 0.75 + 0.2 * rings + 0.08 * fine
        img = b[None, None] * shade[..., None]
    elif kind == "brushed":
        streak = cv2.blur(rng.random((size, size)).astype(np.float32), (size // 2, 1))
        img = b[None, None] * (0.85 + 0.3 * (streak - streak.mean()))[..., None] + 0.04 * _noise(rng, size, 16)[..., None]
    elif kind == "ceramic":
        mottle = _noise(rng, size, 24)
        img = b[None, None] * (0.92 + 0.1 * mottle)[..., None]
        if rng.random() < 0.4:  # a glazed band or stripes
            band = np.asarray(rng.choice(np.asarray(_CERAMIC)), np.float32)
            k = rng.integers(1, 4)
            stripes = (np.sin(2 * np.pi * yy * k * 2) > 0.7)
            img = np.where(stripes[..., None], band[None, None] * 0.95, img)
    elif kind == "label":
        img = np.ones((size, size, 3), np.float32) * b[None, None]
        for _ in range(int(rng.integers(2, 5))):
            c = np.asarray(rng.choice(np.asarray(_BRIGHT)), np.float32)
            y0 = rng.uniform(0, 0.9)
            img[(yy >= y0) & (yy < y0 + rng.uniform(0.05, 0.25))] = c
        for _ in range(int(rng.integers(3, 9))):  # "print": small dark blocks
            x0, y0 = rng.uniform(0, 0.85, 2)
            img[(xx >= x0) & (xx < x0 + rng.uniform(0.03, 0.15)) & (yy >= y0) & (yy < y0 + 0.03)] = 0.1
    elif kind == "rubber":
        img = b[None, None] * (0.9 + 0.15 * _noise(rng, size, 2))[..., None]
    elif kind == "plastic":
        img = b[None, None] * (0.95 + 0.06 * _noise(rng, size, 8))[..., None]
    elif kind == "plain":
        img = np.ones((size, size, 3), np.float32) * b[None, None]
    else:
        raise ValueError(f"unknown texture kind {kind!r}")
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def jitter(rgb: Sequence[float], rng: np.random.Generator, amount: float = 0.08) -> RGB:
    c = np.clip(np.asarray(rgb, float) + rng.uniform(-amount, amount, 3), 0.02, 0.98)
    return float(c[0]), float(c[1]), float(c[2])


def random_appearance(mat: Material, rng: np.random.Generator, base: Optional[RGB] = None,
                      kind: Optional[str] = None) -> Appearance:
    if base is None:
        base = mat.palette[int(rng.integers(len(mat.palette)))]
        if mat.hue_jitter < 0.05:  # a grey metal varies in brightness, not in hue
            base = tuple(np.clip(np.asarray(base) * rng.uniform(0.85, 1.1), 0.02, 0.98).tolist())
        else:
            base = jitter(base, rng, mat.hue_jitter)
    kind = kind or mat.textures[int(rng.integers(len(mat.textures)))]
    tex = None if kind == "plain" else texture_image(kind, base, rng)
    return Appearance((*base, 1.0), tex, mat.specular, mat.shininess, mat.reflectance)


TABLE_KINDS = ("wood", "plain", "plastic", "checker", "stone")


def table_texture(rng: np.random.Generator, size: int = 256) -> Tuple[np.ndarray, RGB]:
    """A table top: wood, laminate, cloth check or stone, in a random colour."""
    kind = TABLE_KINDS[int(rng.integers(len(TABLE_KINDS)))]
    if kind == "wood":
        base = jitter(_EARTH[int(rng.integers(len(_EARTH)))], rng, 0.1)
        return texture_image("wood", base, rng, size), base
    base = tuple(float(v) for v in rng.uniform(0.25, 0.85, 3))
    if kind == "checker":
        other = np.clip(np.asarray(base) * rng.uniform(0.5, 0.8), 0, 1)
        n = int(rng.integers(6, 16))
        yy, xx = np.mgrid[0:size, 0:size] * n // size
        img = np.where(((yy + xx) % 2 == 0)[..., None], np.asarray(base), other)
        return (img * 255).astype(np.uint8), base
    if kind == "stone":
        veins = _noise(rng, size, 48) * 0.25 + _noise(rng, size, 6) * 0.1
        img = np.asarray(base)[None, None] * (0.8 + veins)[..., None]
        return (np.clip(img, 0, 1) * 255).astype(np.uint8), base
    return texture_image("plastic" if kind == "plastic" else "plain", base, rng, size), base
