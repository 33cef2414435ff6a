"""The one interface of an affordance backend, as :class:`~affordance_grasp.grasping.base.GraspGenerator`
is of a grasp generator: the pipeline, the nodes and the apps speak to every backend through it.

A backend turns a request and a frame into an :class:`~affordance_grasp.types.AffordanceMap` of the
part the fingers go on, and returns what it found with it (its stage times and, for a reasoning
model, its reasoning ride on the map); it keeps nothing from one call to the next. Two kinds:

- one that names the objects it sees (``categories``, ``category_probabilities``,
  ``part_scores``): the pipeline clusters the scene and grounding chooses the object, then the
  backend predicts on that object's box (the learned model);
- one that finds the object itself (``grounds_itself``): it reads the request and the whole image,
  and the object is the cluster its heat falls on (Affordance-R1, the twin's ground truth).
"""
from __future__ import annotations

import abc
from typing import Dict, List, Optional, Sequence

import numpy as np

from ...errors import ConfigError
from ...types import AffordanceMap, AffordanceQuery, RGBDFrame


class Predictor(abc.ABC):
    model_id: str = "unknown"
    grounds_itself: bool = False     # True: it finds the object in the whole image itself

    @abc.abstractmethod
    def predict(self, frame: RGBDFrame, query: AffordanceQuery, box=None) -> AffordanceMap:
        """The heatmap of the part the fingers go on (``query.grasp_part``) over the whole frame;
        ``box`` ([x0 y0 x1 y1] pixels) is the object the planner chose, when it chose one. The
        map carries the stage times (``times``) and any reasoning."""

    def avoid_map(self, frame: RGBDFrame, query: AffordanceQuery, box=None) -> Optional[np.ndarray]:
        """Per-pixel weight in [0, 1] of the parts the request says not to touch (None: none)."""
        return None

    @property
    def categories(self) -> List[str]:
        """The object kinds it was taught to name ([]: it names none)."""
        return []

    @property
    def presence_threshold(self) -> Optional[float]:
        """The category probability from which an object counts as that kind (None: grounding's own)."""
        return None

    def category_probabilities(self, frame: RGBDFrame, boxes: Sequence[Sequence[float]]) -> List[Dict[str, float]]:
        """Per box, the probability of each kind in ``categories``."""
        raise ConfigError(f"the {self.model_id} backend names no objects: it finds the object itself")

    def part_scores(self, frame: RGBDFrame, query: AffordanceQuery, boxes: Sequence[Sequence[float]],
                    masks: Sequence[np.ndarray]) -> np.ndarray:
        """Per object (its box and pixel mask), the share of the requested part's heat on it."""
        raise ConfigError(f"the {self.model_id} backend scores no parts per object: it finds the object itself")

    def close(self) -> None:
        """Release what it holds (subscriptions, devices)."""
