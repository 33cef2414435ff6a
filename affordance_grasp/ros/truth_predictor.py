"""A predictor that reads the twin's true parts (``ros/truth.py``) instead of running a model.

With ``predictor_config`` naming a file whose ``backend`` is ``ground_truth``, the planner takes
the heat of the requested part from the part labels sim_node publishes for the very frame it
plans on. Integration tests use it so that they test the ROS layer (wiring, messages, failures)
and not how good the learned model is: bench, choose and demo measure that. It grounds itself
like a reasoning model: its heat falls on the requested part of every object of the requested
kind (or its kin), and on nothing when no such object is in view, which grounding then refuses.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..config import from_mapping, load_yaml
from ..affordance.backends.base import Predictor
from ..affordance.grounding import GroundingError
from ..errors import InvalidInputError
from ..selection.strategies import heatmap_from_mask
from ..types import AffordanceMap, AffordanceQuery, RGBDFrame
from .common import SideNode, latched_qos
from .truth import LABELS_TOPIC, LEGEND_TOPIC, parse_legend

BACKEND = "ground_truth"


@dataclass
class GroundTruthConfig:
    backend: str = BACKEND
    wait_s: float = 2.0      # how long to wait for the labels of the frame being planned on
    keep: int = 30           # label images kept (3 s of a 10 Hz camera)


class GroundTruthPredictor(Predictor):
    """The twin's true parts (sim_node's label image), for ROS plumbing tests: the object is
    whichever cluster the true part falls on, and it names no objects."""

    grounds_itself = True
    model_id = "ground_truth"

    def __init__(self, node, cfg: Optional[GroundTruthConfig] = None):
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from .common import image_qos

        self.cfg = cfg or GroundTruthConfig()
        self.labels: "OrderedDict[int, Tuple[str, np.ndarray]]" = OrderedDict()   # stamp (ns) -> (scene, labels)
        self.legends: Dict[str, List[List[str]]] = {}
        self.arrived = threading.Condition()
        self.side = SideNode(node, "truth")
        self.side.node.create_subscription(Image, node.resolve_topic_name(LABELS_TOPIC), self._on_labels, image_qos())
        self.side.node.create_subscription(String, node.resolve_topic_name(LEGEND_TOPIC), self._on_legend,
                                           latched_qos())
        self.side.start()

    @classmethod
    def from_config(cls, node, path) -> "GroundTruthPredictor":
        return cls(node, from_mapping(GroundTruthConfig, load_yaml(path, "predictor config"), str(path)))

    def close(self) -> None:
        self.side.close()

    def _on_labels(self, msg) -> None:
        from .image_conversions import image_to_numpy

        key = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.arrived:
            self.labels[key] = (msg.header.frame_id.removeprefix("scene:"), image_to_numpy(msg))
            while len(self.labels) > self.cfg.keep:
                self.labels.popitem(last=False)
            self.arrived.notify_all()

    def _on_legend(self, msg) -> None:
        scene, parts = parse_legend(msg.data)
        with self.arrived:
            self.legends[str(scene)] = parts
            self.arrived.notify_all()

    def _truth(self, frame: RGBDFrame) -> Tuple[np.ndarray, List[List[str]]]:
        """The label image of ``frame`` (matched by stamp) and its scene's legend."""
        key = int(round(frame.stamp * 1e9))
        deadline = time.monotonic() + self.cfg.wait_s
        with self.arrived:
            while True:
                # stamps travel as (sec, nanosec); the frame's float stamp is within a microsecond
                near = [k for k in self.labels if abs(k - key) < 1000]
                if near and self.labels[near[0]][0] in self.legends:
                    scene, labels = self.labels[near[0]]
                    return labels, self.legends[scene]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InvalidInputError(f"no true part labels for the frame at {frame.stamp:.3f} s on "
                                            f"{LABELS_TOPIC} (is sim_node running with this planner?)")
                self.arrived.wait(left)

    @staticmethod
    def _kinds(query: AffordanceQuery) -> Optional[set]:
        """The categories the request names (with its kin); None when it names none."""
        return {query.object, *query.kin} if query.object else None

    def _mask(self, labels: np.ndarray, legend: List[List[str]], query: AffordanceQuery, parts) -> np.ndarray:
        kinds = self._kinds(query)
        ids = [i for i, (_, category, part) in enumerate(legend)
               if i and (kinds is None or category in kinds) and part in parts]
        return np.isin(labels, ids)

    def predict(self, frame: RGBDFrame, query: AffordanceQuery, box=None) -> AffordanceMap:
        labels, legend = self._truth(frame)
        if labels.shape != frame.depth.shape:
            raise InvalidInputError(f"true part labels are {labels.shape[1]}x{labels.shape[0]}, the frame is "
                                    f"{frame.depth.shape[1]}x{frame.depth.shape[0]}")
        mask = self._mask(labels, legend, query, {query.grasp_part or query.part})
        if box is not None:
            x0, y0, x1, y1 = (int(round(v)) for v in np.asarray(box, float).reshape(4))
            inside = np.zeros_like(mask)
            inside[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1] = True
            mask &= inside
        if not mask.any():
            kinds = self._kinds(query)
            seen = sorted({category for _, category, _ in legend[1:]})
            what = query.object.replace("_", " ") or "object"
            if kinds is not None and not kinds & set(seen):
                raise GroundingError(f"no {what} in view (the twin shows: {', '.join(seen) or 'nothing'})")
            raise GroundingError(f"no {what} in view shows its {query.grasp_part or query.part or 'part'}")
        return heatmap_from_mask(mask, query, model_id=self.model_id)

    def avoid_map(self, frame: RGBDFrame, query: AffordanceQuery, box=None) -> Optional[np.ndarray]:
        if not query.avoid_parts:
            return None
        labels, legend = self._truth(frame)
        return self._mask(labels, legend, query, set(query.avoid_parts)).astype(np.float32)
