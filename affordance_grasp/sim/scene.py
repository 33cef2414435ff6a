"""Seeded scene sampling: 1-4 objects at random positions and yaws on the table, footprints not
overlapping, every object visible to the camera, all settled under physics."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidInputError
from ..geometry import project_base_points
from .camera import SimCamera
from .materials import table_texture
from .objects import CATEGORIES, ObjectSpec, local_aabb, make_object
from .world import PlacedObject, SimWorld, WorldConfig


@dataclass
class SceneConfig:
    n_objects: Tuple[int, int] = (1, 4)
    region_x: Tuple[float, float] = (0.36, 0.68)
    region_y: Tuple[float, float] = (-0.26, 0.26)
    categories: Optional[Sequence[str]] = None  # None: every registered category (users' objects too)
    clearance: float = 0.03            # free space between footprints (m)
    min_visible_px: int = 150          # each object must show at least this many pixels
    randomize_appearance: bool = True  # table texture, light direction, colour and intensity
    max_tries: int = 50


@dataclass
class Scene:
    seed: int
    objects: List[PlacedObject]
    world_cfg: WorldConfig = field(default_factory=WorldConfig)

    def build(self) -> SimWorld:
        """A fresh, settled world for this scene (same seed -> same world)."""
        world = SimWorld(self.objects, self.world_cfg)
        world.settle(0.6)
        return world


def randomized_look(cfg: WorldConfig, rng: np.random.Generator) -> WorldConfig:
    """Table texture, and the key light's direction, colour temperature and intensity."""
    tex, base = table_texture(rng)
    tilt = rng.uniform(-1, 1, 2) * np.tan(0.45)
    warm = rng.uniform(-1, 1)  # -1 cool daylight .. +1 warm tungsten
    rgb = np.clip(1.0 + warm * np.array([0.12, 0.0, -0.18]), 0, 1.2)
    return replace(cfg, table_texture=tex, table_rgba=(*base, 1.0),
                   light_dir=(-0.3 + tilt[0], 0.2 + tilt[1], -1.0), light_rgb=tuple(rgb.tolist()),
                   light_intensity=float(rng.uniform(0.45, 0.95)), ambient=float(rng.uniform(0.15, 0.35)))


def _footprint(spec: ObjectSpec, pos, yaw) -> np.ndarray:
    """Corners (4, 2) of the rotated footprint rectangle in the base frame."""
    lo, hi = local_aabb(spec)
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    c, s = np.cos(yaw), np.sin(yaw)
    return corners @ np.array([[c, s], [-s, c]]) + np.asarray(pos[:2])


def _separated(a: np.ndarray, b: np.ndarray, gap: float) -> bool:
    """Separating-axis test for two convex quads, with a margin."""
    for poly in (a, b):
        for i in range(4):
            edge = poly[(i + 1) % 4] - poly[i]
            axis = np.array([-edge[1], edge[0]]) / np.linalg.norm(edge)
            pa, pb = a @ axis, b @ axis
            if pa.max() + gap <= pb.min() or pb.max() + gap <= pa.min():
                return True
    return False


def sample_scene(seed: int, cfg: Optional[SceneConfig] = None, world_cfg: Optional[WorldConfig] = None,
                 categories: Optional[Sequence[str]] = None) -> Scene:
    """Place objects without overlap and inside the camera view. ``categories`` forces the
    categories (in order) instead of drawing them."""
    cfg = cfg or SceneConfig()
    world_cfg = world_cfg or WorldConfig()
    pool = list(cfg.categories) if cfg.categories is not None else sorted(CATEGORIES)
    unknown = set(categories or pool) - set(CATEGORIES)
    if unknown:
        raise InvalidInputError(f"unknown categories {sorted(unknown)}; known: {sorted(CATEGORIES)}")
    rng = np.random.default_rng(seed)
    if cfg.randomize_appearance:
        world_cfg = randomized_look(world_cfg, rng)
    K, T = world_cfg.camera.intrinsics(), world_cfg.camera.T_base_camera()
    cats = list(categories) if categories else [str(c) for c in rng.choice(
        pool, size=int(rng.integers(cfg.n_objects[0], cfg.n_objects[1] + 1)))]
    placed: List[PlacedObject] = []
    feet: List[np.ndarray] = []
    counts: dict = {}
    for cat in cats:
        spec = make_object(cat, rng)
        lo, hi = local_aabb(spec)
        for _ in range(cfg.max_tries):
            yaw = float(rng.uniform(-np.pi, np.pi))
            pos = np.array([rng.uniform(*cfg.region_x), rng.uniform(*cfg.region_y), 0.0])
            foot = _footprint(spec, pos, yaw)
            # Footprint centre inside the region, and its whole box inside the image.
            centre = foot.mean(0)
            if not (cfg.region_x[0] - 0.05 <= centre[0] <= cfg.region_x[1] + 0.05 and
                    cfg.region_y[0] - 0.05 <= centre[1] <= cfg.region_y[1] + 0.05):
                continue
            box3 = np.concatenate([np.c_[foot, np.zeros(4)], np.c_[foot, np.full(4, hi[2])]])
            uv, z = project_base_points(box3, T, K)
            if not (np.all(z > 0) and np.all(uv[:, 0] > 8) and np.all(uv[:, 0] < K.width - 8)
                    and np.all(uv[:, 1] > 8) and np.all(uv[:, 1] < K.height - 8)):
                continue
            if all(_separated(foot, f, cfg.clearance) for f in feet):
                break
        else:
            continue  # no room left for this one: keep the scene smaller rather than overlap
        k = counts.get(cat, 0)
        counts[cat] = k + 1
        pos[2] = -lo[2] + 0.001
        placed.append(PlacedObject(f"{cat}_{k}", spec, tuple(pos), yaw))
        feet.append(foot)
    if not placed:
        raise InvalidInputError(f"could not place any object for seed {seed}")
    return Scene(seed, placed, world_cfg)


def visible_pixels(world: SimWorld, camera: SimCamera) -> dict:
    ids = camera.render_geom_ids()
    out = {}
    for inst in world.objects:
        gids = [g for g, (i, _) in world.geom_part.items() if i == inst]
        out[inst] = int(np.isin(ids, gids).sum())
    return out
