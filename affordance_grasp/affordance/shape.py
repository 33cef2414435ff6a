"""Shape descriptors of one object's partial point cloud, in metres, for recognition.

A camera sees one side of an object, so every number here is measured from what is seen, the
way a real RealSense cloud would give it: the object's points in the robot's base frame (z up)
and the table height. Sizes in metres carry from the twin to real objects far better than
texture does (a hammer is 25-35 cm long and has a heavy end, whatever its colour).

The descriptor (``N_FEATURES`` numbers) is invariant to the object's position and yaw on the
table and to which of its two ends is nearer the camera:
- footprint length and width along its main horizontal axis, and its height above the table;
- their ratios, and how much of the footprint's box the footprint fills (a pan's round body
  with a handle fills less than a box does);
- the height profile along the main axis in 6 bins, tallest end first (a hammer's head, a
  saucepan's body beside its low handle), and the width profile the same way;
- how hollow it is seen from above: the share of columns whose top lies well below the
  object's height while columns around them are tall (a bowl's or a cup's inside);
- the spread of heights (quantiles of the points' heights over the object's height);
- the share of surface that faces up, and that faces sideways (normals).
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

N_BINS = 6
FEATURE_NAMES = (["length", "width", "height", "width/length", "height/length", "height/width",
                  "footprint fill", "log points"]
                 + [f"height profile {i}" for i in range(N_BINS)]
                 + [f"width profile {i}" for i in range(N_BINS)]
                 + ["hollow", "height q10", "height q50", "height q90", "faces up", "faces sideways",
                    "top centre offset"])
N_FEATURES = len(FEATURE_NAMES)


def footprint_frame(pts: np.ndarray, table_height: float):
    """(z, height, s, t, length, width, axes): each point's height above the table and the object's
    height, its coordinates along the footprint's main horizontal axis and across it (about the
    centroid), the footprint's length and width, all in metres, and the two axes (2, 2) as columns."""
    z = np.clip(pts[:, 2] - table_height, 0.0, None)
    height = max(float(z.max()), 1e-3)
    xy = pts[:, :2] - pts[:, :2].mean(0)
    _, evecs = np.linalg.eigh(xy.T @ xy)
    axes = evecs[:, ::-1]                           # the main axis first
    s, t = xy @ axes[:, 0], xy @ axes[:, 1]
    return z, height, s, t, max(float(np.ptp(s)), 1e-3), max(float(np.ptp(t)), 1e-3), axes


def _unique_cells(keys: np.ndarray):
    """``np.unique(keys, axis=0, return_inverse=True)`` for (N, 2) integer cells, through one
    integer per cell (row-major over the cells' box, so the order is the same): a fraction of the time."""
    lo = keys.min(0)
    k = keys - lo
    span = int(k[:, 1].max()) + 1
    flat, inv = np.unique(k[:, 0] * span + k[:, 1], return_inverse=True)
    cols = np.stack([flat // span, flat % span], 1) + lo
    return cols, inv.ravel()


def shape_descriptor(points: np.ndarray, table_height: float, normals: np.ndarray | None = None,
                     cell: float = 0.005) -> np.ndarray:
    """(N_FEATURES,) float32 descriptor of one object's points (N, 3) in the base frame."""
    pts = np.asarray(points, float)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InvalidInputError(f"shape_descriptor needs (N, 3) points, got shape {pts.shape}")
    if len(pts) < 5:
        raise InvalidInputError(f"shape_descriptor needs at least 5 points, got {len(pts)}")
    z, height, s, t, length, width, _ = footprint_frame(pts, table_height)

    # Footprint fill: occupied cells over the footprint box's cells.
    keys = np.floor(np.stack([s, t], 1) / cell).astype(np.int64)
    cols, inv = _unique_cells(keys)
    fill = len(cols) * cell * cell / (length * width + cell * (length + width) + cell * cell)

    # Profiles along the main axis, the tallest end first.
    b = np.clip(((s - s.min()) / length * N_BINS).astype(int), 0, N_BINS - 1)
    hprof = np.zeros(N_BINS)
    wprof = np.zeros(N_BINS)
    for i in range(N_BINS):
        sel = b == i
        if sel.any():
            hprof[i] = z[sel].max() / height
            wprof[i] = np.ptp(t[sel]) / width
    if hprof[: N_BINS // 2].sum() < hprof[N_BINS - N_BINS // 2:].sum():
        hprof, wprof = hprof[::-1], wprof[::-1]

    # Hollowness: columns whose top is below half the height, inside the footprint (a cup's
    # floor seen through its opening), over all columns.
    top = np.full(len(cols), -np.inf)
    np.maximum.at(top, inv, z)
    centre = cols.mean(0)
    radius = np.linalg.norm(cols - centre, axis=1)
    inner = radius < 0.6 * max(radius.max(), 1.0)
    hollow = float(np.mean(inner & (top < 0.5 * height))) if height > 0.02 else 0.0
    # Where the tallest columns are relative to the footprint's centre (0: centred, 1: at the edge).
    tall = top >= 0.8 * height
    top_offset = float(np.linalg.norm(cols[tall].mean(0) - centre) / max(radius.max(), 1.0)) if tall.any() else 0.0

    q10, q50, q90 = np.quantile(z / height, [0.1, 0.5, 0.9])
    if normals is not None and len(normals) == len(pts):
        nz = np.abs(np.asarray(normals, float)[:, 2])
        up, side = float(np.mean(nz > 0.9)), float(np.mean(nz < 0.3))
    else:
        up = side = 0.0
    feats = [length, width, height, width / length, height / length, height / width, fill,
             np.log(len(pts))] + list(hprof) + list(wprof) + [hollow, q10, q50, q90, up, side, top_offset]
    return np.asarray(feats, np.float32)
