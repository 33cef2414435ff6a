"""Boxes and points from a heatmap, in the form Affordance-R1 outputs for the affordance part:
connected components above a threshold give boxes, each component's peak gives a point."""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

from ..errors import InvalidInputError


def regions_from_heatmap(heatmap: np.ndarray, rel_threshold: float = 0.5, max_regions: int = 3,
                         min_area: int = 4) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (boxes (N, 4) [x0 y0 x1 y1], points (N, 2) [u v], mask (H, W) bool), strongest
    region first (by heat mass). ``rel_threshold`` is relative to the map's maximum."""
    h = np.asarray(heatmap, np.float32)
    if h.ndim != 2 or not np.all(np.isfinite(h)):
        raise InvalidInputError("heatmap must be a finite 2-D array")
    if not 0 < rel_threshold < 1:
        raise InvalidInputError(f"rel_threshold must be in (0, 1), got {rel_threshold}")
    peak = float(h.max())
    if peak <= 0:
        return np.zeros((0, 4), np.float32), np.zeros((0, 2), np.float32), np.zeros(h.shape, bool)
    mask = h >= rel_threshold * peak
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    found = []
    for k in range(1, n):
        if stats[k, cv2.CC_STAT_AREA] < min_area:
            continue
        comp = labels == k
        mass = float(h[comp].sum())
        flat = np.where(comp, h, -np.inf)
        v, u = np.unravel_index(int(np.argmax(flat)), h.shape)
        x, y, w, hh = stats[k, :4]
        found.append((mass, [x, y, x + w - 1, y + hh - 1], [u, v]))
    found.sort(key=lambda f: -f[0])
    found = found[:max_regions]
    keep = np.zeros(h.shape, bool)
    for _, (x0, y0, x1, y1), _ in found:
        keep[y0:y1 + 1, x0:x1 + 1] |= mask[y0:y1 + 1, x0:x1 + 1]
    boxes = np.array([f[1] for f in found], np.float32).reshape(-1, 4)
    points = np.array([f[2] for f in found], np.float32).reshape(-1, 2)
    return boxes, points, keep
