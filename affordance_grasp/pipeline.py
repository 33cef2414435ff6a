"""Frame + free-text query -> ranked grasps: the one detection path that the ROS planner node,
the demo and the bench share.

    parse query ─▶ scene cloud (table, object clusters) ─▶ which cluster is the object?
    ─▶ affordance heatmap on its crop ─▶ grasp candidates on that object ─▶ affordance scoring

Which cluster is the queried object: an explicit box or mask (a task planner's hint, or ground
truth in the bench) wins; otherwise the model's reasoning head ranks the clusters' boxes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

import numpy as np

from .affordance.query import QueryParser
from .errors import EmptyCloudError, InvalidInputError, NoGraspFoundError
from .grasping.antipodal import AntipodalGenerator
from .grasping.base import GraspGenerator
from .grasping.cloud import CloudConfig, SceneCloud, build_scene_cloud
from .selection.scoring import ScoringConfig, score_grasps
from .types import AffordanceMap, AffordanceQuery, Grasp, RGBDFrame


@dataclass
class Detection:
    query: AffordanceQuery
    amap: AffordanceMap
    grasps: List[Grasp]                       # best first
    cloud: SceneCloud
    object_box: np.ndarray                    # [x0 y0 x1 y1] of the chosen object
    avoid: Optional[np.ndarray] = None
    timings: Dict[str, float] = field(default_factory=dict)  # seconds per stage

    @property
    def best(self) -> Grasp:
        return self.grasps[0]


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


def mask_box(mask: np.ndarray) -> np.ndarray:
    vs, us = np.nonzero(mask)
    if len(vs) == 0:
        raise InvalidInputError("the object mask is empty")
    return np.array([us.min(), vs.min(), us.max(), vs.max()], float)


class GraspPipeline:
    def __init__(self, predictor, generator: Optional[GraspGenerator] = None, parser: Optional[QueryParser] = None,
                 cloud_cfg: Optional[CloudConfig] = None, scoring: Optional[ScoringConfig] = None):
        self.predictor = predictor
        self.generator = generator or AntipodalGenerator()
        self.parser = parser or QueryParser()
        self.cloud_cfg = cloud_cfg or CloudConfig()
        self.scoring = scoring

    def detect(self, frame: RGBDFrame, query: Union[str, AffordanceQuery], object_box=None,
               object_mask: Optional[np.ndarray] = None, seed: int = 0) -> Detection:
        """Raises QueryError, EmptyCloudError, NoGraspFoundError or InvalidInputError; never moves
        anything."""
        if not isinstance(frame, RGBDFrame):
            raise InvalidInputError(f"expected an RGBDFrame, got {type(frame).__name__}")
        t: Dict[str, float] = {}
        t0 = time.perf_counter()
        q = query if isinstance(query, AffordanceQuery) else self.parser.parse(query)
        t["parse"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        cloud = build_scene_cloud(frame, self.cloud_cfg, target_mask=object_mask)
        if object_mask is not None:
            box = mask_box(object_mask)
        elif object_box is not None:
            box = np.asarray(object_box, float).reshape(4)
            cloud.target &= ((cloud.pixels[:, 1] >= box[0]) & (cloud.pixels[:, 1] <= box[2]) &
                             (cloud.pixels[:, 0] >= box[1]) & (cloud.pixels[:, 0] <= box[3]))
        else:
            boxes = cluster_boxes(cloud)
            if not boxes:
                raise EmptyCloudError("no object on the table: the cloud has no object cluster")
            ids = list(boxes)
            t_loc = time.perf_counter()
            pick = ids[self.predictor.locate(frame, q, [boxes[i] for i in ids])]
            t["locate"] = time.perf_counter() - t_loc
            box = boxes[pick]
            cloud.target &= cloud.cluster == pick
        t["cloud"] = time.perf_counter() - t0 - t.get("locate", 0.0)

        t0 = time.perf_counter()
        amap = self.predictor.predict(frame, q, box=box)
        avoid = self.predictor.avoid_map(frame, q, box=box)
        t["affordance"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        grasps = self.generator.generate(cloud, seed=seed)
        t["grasp_generation"] = time.perf_counter() - t0
        if not grasps:
            raise NoGraspFoundError(f"no collision-free grasp candidate on the {q.object}")
        t0 = time.perf_counter()
        ranked = score_grasps(grasps, amap, frame, self.scoring, avoid)
        t["selection"] = time.perf_counter() - t0
        return Detection(q, amap, ranked, cloud, box, avoid, t)
