"""Where the objects are in a scene cloud, as the image and the planning scene need them: each
cluster's image box and pixels, a box per cluster for MoveIt's planning scene, and which pairs of
clusters are one object that a depth edge cut in two."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from scipy.spatial import cKDTree

from ..affordance.grounding import SceneObject
from ..affordance.recognizer import ShapeRecognizer
from ..errors import InvalidInputError
from ..types import SceneBox, SceneModel
from .cloud import SceneCloud


def cluster_boxes(cloud: SceneCloud, min_points: int = 15, pad: int = 4) -> Dict[int, np.ndarray]:
    """Image box [x0 y0 x1 y1] of each object cluster with enough points."""
    boxes = {}
    h = cloud.frame.intrinsics.height if cloud.frame is not None else None
    w = cloud.frame.intrinsics.width if cloud.frame is not None else None
    for c in np.unique(cloud.cluster[cloud.cluster >= 0]):
        sel = cloud.cluster == c
        if sel.sum() < min_points:
            continue
        v, u = cloud.pixels[sel, 0], cloud.pixels[sel, 1]
        box = np.array([u.min() - pad, v.min() - pad, u.max() + pad, v.max() + pad], float)
        if w is not None:
            box = np.clip(box, 0, [w - 1, h - 1, w - 1, h - 1])
        boxes[int(c)] = box
    return boxes


def scene_model(cloud: SceneCloud, min_points: int = 15) -> SceneModel:
    """The table plane and a box per object cluster (turned to the cluster's main horizontal
    axis, from the table up to its top); clusters holding target points are the target."""
    boxes = []
    for c in np.unique(cloud.cluster[cloud.cluster >= 0]):
        sel = cloud.cluster == c
        if sel.sum() < min_points:
            continue
        pts = cloud.points[sel]
        xy = pts[:, :2] - pts[:, :2].mean(0)
        evals, evecs = np.linalg.eigh(xy.T @ xy)
        axis = evecs[:, 1]
        yaw = float(np.arctan2(axis[1], axis[0]))
        R = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
        local = pts[:, :2] @ R.T
        lo, hi = local.min(0), local.max(0)
        mid = R.T @ ((lo + hi) / 2)
        z0, z1 = cloud.table_height, float(pts[:, 2].max())
        size = np.r_[np.maximum(hi - lo, 0.005), max(z1 - z0, 0.005)]
        boxes.append(SceneBox(f"object_{int(c)}", np.r_[mid, (z0 + z1) / 2], size, yaw,
                              bool((cloud.target[sel]).any())))
    return SceneModel(float(cloud.table_height), boxes)


def cluster_mask(cloud: SceneCloud, cluster: int, radius: int = 3) -> np.ndarray:
    """The image pixels of a cluster: its points' pixels, grown to cover the gaps between samples."""
    h, w = cloud.frame.depth.shape
    m = np.zeros((h, w), np.uint8)
    px = cloud.pixels[cloud.cluster == cluster]
    m[px[:, 0], px[:, 1]] = 1
    return cv2.dilate(m, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)).astype(bool)


def box_containment(a: np.ndarray, b: np.ndarray) -> float:
    """Overlap of two image boxes over the smaller one's area (1: one lies inside the other)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(iw * ih / area) if area > 0 else 0.0


def _xy_span(points: np.ndarray) -> float:
    """Longest side of the points' bounding box on the table."""
    return float(np.ptp(points[:, :2], axis=0).max())


def split_pieces(cloud: SceneCloud, objects: Sequence[SceneObject], max_gap: float = 0.05,
                 min_containment: float = 0.15, max_growth: float = 1.5,
                 recognizer: Optional[ShapeRecognizer] = None, shape_gap: float = 0.08) -> List[Tuple[int, int]]:
    """Pairs of clusters that are one object the depth edge cut in two: a bowl's inside and its
    near outer wall lose the rim between them (its pixels drop out at the depth step), and come
    out as two clusters a few centimetres apart, one box inside the other, both looking like the
    same kind of thing, and together no wider than the larger piece. Geometry alone cannot tell
    them from a cup standing in front of a pot; the reasoning head naming both the same kind,
    and the span, are what decide. The boxes need only overlap a little: a cup's or a teacup's
    near wall and its inside overlap by 0.2-0.45 of the smaller box (measured on 240 rendered
    requests), and a saucepan's handle cut from its body by 0.3. With the shape ``recognizer``,
    pieces up to ``shape_gap`` apart that lie side by side, or span more together, are one object
    when together they are shaped most like that kind: two whole objects side by side are not."""
    pairs = []
    for i, a in enumerate(objects):
        for b in objects[i + 1:]:
            kind = a.most_likely()
            if not kind or kind != b.most_likely():
                continue
            nested = box_containment(a.box, b.box) >= min_containment
            if not nested and recognizer is None:
                continue
            sa, sb = cloud.cluster == a.index, cloud.cluster == b.index
            pa, pb = cloud.points[sa], cloud.points[sb]
            reach = max_gap if recognizer is None else shape_gap
            if float(cKDTree(pa).query(pb, distance_upper_bound=reach)[0].min()) > reach:
                continue
            if recognizer is not None and not (nested and _xy_span(np.vstack([pa, pb])) <= max_growth * max(
                    _xy_span(pa), _xy_span(pb))):
                # Side by side, or wider together (a pan's handle cut from its body at the depth
                # step of its rim, a kettle's handle above it): one object when the two together
                # are shaped most like that kind. Two whole objects side by side are twice its size.
                joined = recognizer.describe_clusters(cloud.points, cloud.normals, (sa | sb).astype(int), [1],
                                                      cloud.table_height)[0]
                if max(joined, key=joined.get) == kind and joined[kind] >= 0.5:
                    pairs.append((a.index, b.index))
                continue
            # Pieces of one object span it together no wider than the larger piece does alone
            # (a bowl's inside and its near wall are both about its diameter); two objects side
            # by side, or one behind the other, span about the sum of their sizes.
            if _xy_span(np.vstack([pa, pb])) <= max_growth * max(_xy_span(pa), _xy_span(pb)):
                pairs.append((a.index, b.index))
    return pairs


def mask_box(mask: np.ndarray) -> np.ndarray:
    vs, us = np.nonzero(mask)
    if len(vs) == 0:
        raise InvalidInputError("the object mask is empty")
    return np.array([us.min(), vs.min(), us.max(), vs.max()], float)
