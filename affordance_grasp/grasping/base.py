"""The grasp-source interface. The built-in antipodal sampler is one implementation; a learned
generator (Contact-GraspNet, AnyGrasp) publishing on a topic is another."""
from __future__ import annotations

import abc
from typing import List, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..types import Grasp
from .cloud import SceneCloud


class GraspGenerator(abc.ABC):
    @abc.abstractmethod
    def generate(self, cloud: SceneCloud, seed: int = 0) -> List[Grasp]:
        """Candidate grasps (base frame) whose contacts lie on ``cloud.target`` points."""


class PrecomputedGrasps(GraspGenerator):
    """Candidates produced elsewhere (another node, a file): only those whose grasp centre lies
    within ``max_distance`` of a target point are passed on."""

    def __init__(self, grasps: Sequence[Grasp], max_distance: float = 0.02):
        if any(not isinstance(g, Grasp) for g in grasps):
            raise InvalidInputError("PrecomputedGrasps takes Grasp objects")
        self.grasps = list(grasps)
        self.max_distance = max_distance

    def generate(self, cloud: SceneCloud, seed: int = 0) -> List[Grasp]:
        tgt = cloud.points[cloud.target]
        if len(tgt) == 0 or not self.grasps:
            return []
        from scipy.spatial import cKDTree
        d, _ = cKDTree(tgt).query(np.array([g.position for g in self.grasps]))
        return [g for g, di in zip(self.grasps, d) if di <= self.max_distance]
