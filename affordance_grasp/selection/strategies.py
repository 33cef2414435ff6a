"""Selectable ways to rank candidates, for comparison in the bench.

- ``affordance``: heatmap from the AffordancePredictor (falls back to the oracle heatmap until a
  predictor is configured, so the code path is complete);
- ``oracle``: heatmap from the ground-truth mask of the queried part (upper bound of selection);
- ``quality``: geometric quality only;
- ``center``: nearest the target object's centroid;
- ``random``.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

import cv2
import numpy as np

from ..errors import InvalidInputError
from ..types import AffordanceMap, AffordanceQuery, Grasp, RGBDFrame
from .scoring import ScoringConfig, score_grasps

STRATEGIES = ("affordance", "oracle", "quality", "center", "random")


def heatmap_from_mask(mask: np.ndarray, query: AffordanceQuery, sigma_px: float = 3.0,
                      model_id: str = "oracle") -> AffordanceMap:
    """Gaussian-blurred, sum-normalised mask (the form the model is trained against)."""
    m = np.asarray(mask, np.float32)
    if sigma_px > 0:
        m = cv2.GaussianBlur(m, (0, 0), sigma_px)
    return AffordanceMap.from_unnormalised(m, query, model_id=model_id)


def rank(strategy: str, grasps: List[Grasp], frame: RGBDFrame, *, amap: Optional[AffordanceMap] = None,
         avoid: Optional[np.ndarray] = None, object_centroid: Optional[np.ndarray] = None,
         rng: Optional[np.random.Generator] = None, scoring: Optional[ScoringConfig] = None) -> List[Grasp]:
    if strategy not in STRATEGIES:
        raise InvalidInputError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    if not grasps:
        return []
    if strategy in ("affordance", "oracle"):
        if amap is None:
            raise InvalidInputError(f"strategy {strategy!r} needs an affordance map")
        return score_grasps(grasps, amap, frame, scoring, avoid)
    if strategy == "quality":
        return sorted(grasps, key=lambda g: -g.quality)
    if strategy == "center":
        if object_centroid is None:
            raise InvalidInputError("strategy 'center' needs the target object's centroid")
        c = np.asarray(object_centroid)
        return sorted(grasps, key=lambda g: float(np.linalg.norm(g.position - c)))
    order = (rng or np.random.default_rng(0)).permutation(len(grasps))
    return [grasps[i] for i in order]
