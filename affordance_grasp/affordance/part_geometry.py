"""Which part of an object a point is on, from the object's shape in metres.

Why: the affordance model reads an RGB-D crop and learnt the twin's looks; on an object it never
saw its heat often lands on the body or the head instead of the handle. A handle is a handle by
its shape: a thin, long piece at one end or the side of the bulk, at a height a hand reaches. This
module describes each point of an object's partial cloud by such numbers (``point_features``) and
a small per-point MLP (``PartGeometryModel``) turns them into the probability that the point lies
on each part it was taught (handle, rim, neck, lid, stem, blade, head, ...). Trained on the twin's
renders (``affordance-grasp train-part-geometry``), it is fused with the model's heatmap by a
product of experts (``fuse_heat``), so the heat the scorer reads follows both looks and shape.

Every number is measured from what a camera sees: the object's points in the robot's base frame
(z up) and the table's height. They are invariant to the object's position and yaw and to which
of its ends faces the camera.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from ..config import from_mapping, load_yaml
from ..errors import ConfigError, InvalidInputError
from ..resources import resolve, resource
from .shape import footprint_frame

SLICE = 0.01       # m: slices across the object's main axis, and columns seen from above
NEIGHBOURS = 16    # points in each point's neighbourhood for its local shape

PART_FEATURE_NAMES = (
    "length", "width", "height",                      # the whole object (m)
    "along", "along abs", "across abs",               # position on the main axis (-1..1, tallest end +) and across it
    "z", "z/height", "below top",                     # height above the table (m), its share, distance below the top (m)
    "slice width", "slice width share", "slice top", "slice top share", "slice bottom", "slice points share",
    "to widest slice", "to widest slice share",      # along the axis from the widest slice (m, share of length)
    "above", "radius", "radius share",                # what lies above the point (m); distance from the centroid
    "linearity", "planarity", "scattering", "verticality", "local extent",
    "normal up", "normal outward",
)
N_PART_FEATURES = len(PART_FEATURE_NAMES)


def _group_max(keys: np.ndarray, values: np.ndarray, n: int, fill: float) -> np.ndarray:
    out = np.full(n, fill)
    np.maximum.at(out, keys, values)
    return out


def point_features(points: np.ndarray, normals: np.ndarray, table_height: float) -> np.ndarray:
    """(N, N_PART_FEATURES) float32: the shape around each of one object's points (N, 3), base frame."""
    pts = np.asarray(points, float)
    nrm = np.asarray(normals, float)
    if pts.ndim != 2 or pts.shape[1] != 3 or nrm.shape != pts.shape:
        raise InvalidInputError(f"point_features needs (N, 3) points and normals, got {pts.shape} and {nrm.shape}")
    n = len(pts)
    if n < 5:
        raise InvalidInputError(f"point_features needs at least 5 points, got {n}")
    z, height, s, t, length, width, axes = footprint_frame(pts, table_height)
    s = s - 0.5 * (s.max() + s.min())
    # The tallest end is the + end, so the two ends of a hammer or a pan are told apart whichever
    # faces the camera.
    if z[s > 0].sum() < z[s < 0].sum():
        s, t = -s, -t
    along = s / (0.5 * length)

    # Slices across the main axis: a handle is a run of narrow, low slices.
    k = np.floor((s - s.min()) / SLICE).astype(np.int64)
    m = int(k.max()) + 1
    t_max, t_min = _group_max(k, t, m, -np.inf), -_group_max(k, -t, m, -np.inf)
    z_max, z_min = _group_max(k, z, m, -np.inf), -_group_max(k, -z, m, -np.inf)
    count = np.bincount(k, minlength=m)
    slice_width = (t_max - t_min)[k]
    # The bulk: the middle of the slices nearly as wide as the widest (several tie on a box).
    spans = np.where(count > 0, t_max - t_min, -1.0)
    widest = float(np.mean(np.flatnonzero(spans >= 0.9 * spans.max())))
    to_widest = np.abs(k - widest) * SLICE

    # Columns seen from above: how much of the object lies over a point (under a handle's loop,
    # inside a cup).
    cols = np.floor(np.stack([s, t], 1) / SLICE).astype(np.int64)
    cols -= cols.min(0)
    _, inv = np.unique(cols[:, 0] * (int(cols[:, 1].max()) + 1) + cols[:, 1], return_inverse=True)   # one key per column
    inv = inv.ravel()
    top = _group_max(inv, z, int(inv.max()) + 1, -np.inf)
    above = top[inv] - z
    radius = np.hypot(s, t)

    # The neighbourhood's shape: eigenvalues of its covariance (Weinmann et al., 2015).
    kk = min(NEIGHBOURS, n)
    _, idx = cKDTree(pts).query(pts, k=kk)
    nb = pts[idx]
    nb = nb - nb.mean(1, keepdims=True)
    cov = np.matmul(nb.transpose(0, 2, 1), nb) / kk
    w, v = np.linalg.eigh(cov)
    l3, l2, l1 = (np.clip(w[:, i], 0.0, None) for i in range(3))
    l1s = np.maximum(l1, 1e-12)
    outward = np.stack([s, t], 1) / np.maximum(radius, 1e-6)[:, None]
    n_xy = nrm[:, :2] @ axes
    if z[s > 0].sum() < z[s < 0].sum():   # the frame was flipped above
        n_xy = -n_xy
    feats = [np.full(n, length), np.full(n, width), np.full(n, height),
             along, np.abs(along), np.abs(t) / (0.5 * width),
             z, z / height, height - z,
             slice_width, slice_width / width, z_max[k], z_max[k] / height, z_min[k], count[k] / n * m,
             to_widest, to_widest / length,
             above, radius, radius / (0.5 * length),
             (l1 - l2) / l1s, (l2 - l3) / l1s, l3 / l1s, np.abs(v[:, 2, 2]), np.sqrt(l1),
             np.abs(nrm[:, 2]), np.sum(n_xy * outward, 1)]
    return np.stack(feats, 1).astype(np.float32)


class PartGeometryModel(nn.Module):
    """Per point, the probability of lying on each taught part (multi-label: a part is scored
    only on objects that have it, so the outputs are independent sigmoids)."""

    def __init__(self, parts: Sequence[str], hidden: int = 96):
        super().__init__()
        if not parts:
            raise InvalidInputError("a part model needs at least one part")
        self.parts = list(parts)
        self.hidden = hidden
        self.register_buffer("mean", torch.zeros(N_PART_FEATURES))
        self.register_buffer("std", torch.ones(N_PART_FEATURES))
        self.net = nn.Sequential(nn.Linear(N_PART_FEATURES, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, len(self.parts)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, P)."""
        return self.net((x - self.mean) / self.std)

    def knows(self, part: Optional[str]) -> bool:
        return bool(part) and part in self.parts

    def part_probabilities(self, features: np.ndarray, part: str) -> np.ndarray:
        """(N,) probability that each point lies on ``part``."""
        if part not in self.parts:
            raise InvalidInputError(f"the part model was not taught {part!r} (it knows {', '.join(self.parts)})")
        x = torch.as_tensor(np.asarray(features, np.float32)).reshape(-1, N_PART_FEATURES)
        self.eval()
        with torch.no_grad():
            return torch.sigmoid(self(x)[:, self.parts.index(part)]).numpy()

    def save(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": self.state_dict(), "parts": self.parts, "hidden": self.hidden,
                    "features": list(PART_FEATURE_NAMES)}, path)

    @classmethod
    def load(cls, path: Path) -> "PartGeometryModel":
        from .checkpoint import load_feature_model
        blob = load_feature_model(path, PART_FEATURE_NAMES, "part-geometry", "train one with 'affordance-grasp "
                                  "train-part-geometry' or set checkpoint: \"\"")
        model = cls(blob["parts"], int(blob["hidden"]))
        model.load_state_dict(blob["state_dict"])
        return model.eval()


def splat(pixels: np.ndarray, values: np.ndarray, shape, sigma_px: float = 3.0) -> np.ndarray:
    """A full-frame image of per-point values at their pixels (v, u), filled between the points by
    normalised convolution (the voxelised cloud samples the image sparsely); 0 where no point is near."""
    out = np.zeros(shape, np.float32)
    px = np.asarray(pixels, int)
    if len(px) == 0:
        return out
    # Only the points' bounding box (and the blur's reach around it) is worked on.
    k = int(2 * round(3 * sigma_px) + 1)
    v0, u0 = np.maximum(px.min(0) - k, 0)
    v1, u1 = np.minimum(px.max(0) + k + 1, shape)
    local = px - [v0, u0]
    num = np.zeros((v1 - v0, u1 - u0), np.float32)
    den = np.zeros_like(num)
    np.add.at(num, (local[:, 0], local[:, 1]), np.asarray(values, np.float32))
    np.add.at(den, (local[:, 0], local[:, 1]), 1.0)
    den_points = den.copy()
    num = cv2.GaussianBlur(num, (k, k), sigma_px)
    den = cv2.GaussianBlur(den, (k, k), sigma_px)
    # Only pixels within about a point spacing of a point: the blur's halo past the object's edge
    # is not the object.
    r = max(1, int(round(sigma_px)))
    occupied = cv2.dilate((den_points > 0).astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8))
    near = (den > 1e-6) & (occupied > 0)
    box = out[v0:v1, u0:u1]
    box[near] = num[near] / den[near]
    return out


FUSIONS = ("product", "mean")


def fuse_heat(heat: np.ndarray, geometry: np.ndarray, weight: float, floor: float = 0.02,
              fusion: str = "product") -> np.ndarray:
    """On each pixel, with both scaled to a peak of 1: a product of experts, ``heat^(1-w) *
    geometry^w`` (both must agree), or a mixture, ``(1-w) heat + w geometry`` (either may speak).
    Pixels the geometry does not cover keep the heat's own value. In the product the geometry alone
    cannot zero a pixel (``floor``): where it disagrees the heat is low, not gone; a pixel with no
    heat stays at none."""
    if not 0.0 <= weight <= 1.0:
        raise InvalidInputError(f"part geometry weight must be in [0, 1], got {weight}")
    if fusion not in FUSIONS:
        raise InvalidInputError(f"part geometry fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
    h = np.asarray(heat, np.float32)
    peak = float(h.max())
    if peak <= 0:
        return h
    h = h / peak
    if weight == 0.0:
        return h
    covered = geometry > 0
    out = h.copy()
    if fusion == "mean":
        out[covered] = (1.0 - weight) * h[covered] + weight * geometry[covered]
    else:
        out[covered] = h[covered] ** (1.0 - weight) * np.maximum(geometry[covered], floor) ** weight
    return out


@dataclass
class PartGeometryConfig:
    checkpoint: str = ""      # relative to the package root, or absolute; "" for none
    weight: float = 0.5       # the geometry's weight against the model's heat, in [0, 1]
    fusion: str = "product"   # product (both must agree) | mean (either may speak)
    min_points: int = 30      # objects with fewer points keep the model's heat alone

    def validate(self, where: str) -> "PartGeometryConfig":
        if not 0.0 <= float(self.weight) <= 1.0:
            raise ConfigError(f"{where}: weight must be in [0, 1], got {self.weight}")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"{where}: fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if int(self.min_points) < 5:
            raise ConfigError(f"{where}: min_points must be at least 5, got {self.min_points}")
        return self


def default_part_geometry_config() -> Path:
    return resource("config", "part_geometry.yaml")


class PartGeometry:
    """The part model and how much its word counts: refines a heatmap on one object's points."""

    def __init__(self, model: PartGeometryModel, cfg: Optional[PartGeometryConfig] = None):
        self.model = model
        self.cfg = cfg or PartGeometryConfig()

    @classmethod
    def load(cls, path=None) -> Optional["PartGeometry"]:
        """The part model a config file names (none: config/part_geometry.yaml), or None when it
        names no checkpoint."""
        where = str(path or default_part_geometry_config())
        cfg = from_mapping(PartGeometryConfig, load_yaml(where, "part geometry config", allow_empty=True),
                           where).validate(where)
        if not cfg.checkpoint:
            return None
        return cls(PartGeometryModel.load(resolve(cfg.checkpoint)), cfg)

    def point_probabilities(self, points: np.ndarray, normals: np.ndarray, table_height: float,
                            part: str) -> np.ndarray:
        return self.model.part_probabilities(point_features(points, normals, table_height), part)

    def refine(self, heat: np.ndarray, points: np.ndarray, normals: np.ndarray, pixels: np.ndarray,
               table_height: float, part: Optional[str]) -> Dict[str, object]:
        """The heatmap fused with the geometry's belief that each of the object's points is on
        ``part``; unchanged (``used`` False) for a part it was not taught or too few points."""
        if not self.model.knows(part) or len(points) < self.cfg.min_points:
            return {"heat": heat, "used": False, "points": None}
        p = self.point_probabilities(points, normals, table_height, part)
        geo = splat(pixels, p, np.asarray(heat).shape)
        return {"heat": fuse_heat(heat, geo, float(self.cfg.weight), fusion=self.cfg.fusion), "used": True,
                "points": p}
