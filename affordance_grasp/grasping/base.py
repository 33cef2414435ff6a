"""The grasp-source interface. The built-in antipodal sampler is one implementation; a learned
generator (Contact-GraspNet, AnyGrasp) publishing on a topic is another."""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..timing import StageTimes
from ..types import Grasp, GraspSet
from .cloud import SceneCloud


@dataclass
class GenerationReport:
    """How many candidates each stage made and each filter removed, in order: the answer to
    "why is there no grasp?"."""

    made: Dict[str, int] = field(default_factory=dict)
    removed: Dict[str, int] = field(default_factory=dict)
    times: StageTimes = field(default_factory=StageTimes)  # seconds per generation stage
    physical: Dict[str, object] = field(default_factory=dict)  # the target's estimated mass and centre of mass

    def count(self, stage: str, n: int) -> None:
        self.made[stage] = self.made.get(stage, 0) + int(n)

    def remove(self, reason: str, n: int) -> None:
        if n:
            self.removed[reason] = self.removed.get(reason, 0) + int(n)

    def to_dict(self) -> dict:
        return {"made": dict(self.made), "removed": dict(self.removed), "physical": dict(self.physical)}

    def summary(self) -> str:
        made = ", ".join(f"{v} {k}" for k, v in self.made.items())
        removed = "; ".join(f"{k}: {v}" for k, v in self.removed.items()) or "nothing"
        return f"made {made}; removed by {removed}"


class Candidates(GraspSet):
    """What a generator returns: its grasps as one GraspSet (best first where it ranks them) and
    its ``report`` (what each stage made and removed, the target's estimated mass)."""

    def __init__(self, grasps=(), report: Optional[GenerationReport] = None):
        if not isinstance(grasps, GraspSet):
            grasps = GraspSet.from_grasps(grasps)
        for name in GraspSet.ARRAYS:
            setattr(self, name, getattr(grasps, name))
        self.frame_id = grasps.frame_id
        self.report = report if report is not None else GenerationReport()

    @classmethod
    def of(cls, result) -> "Candidates":
        """``result`` as Candidates: a generator written against a plain list of Grasps (or a
        GraspSet) gets an empty report."""
        return result if isinstance(result, Candidates) else cls(result)


class GraspGenerator(abc.ABC):
    @abc.abstractmethod
    def generate(self, cloud: SceneCloud, seed: int = 0, seed_weights: Optional[np.ndarray] = None) -> Candidates:
        """Candidate grasps (base frame) whose contacts lie on ``cloud.target`` points, with the
        generator's report. ``seed_weights`` (one per cloud point, e.g. the requested part's
        affordance under it) says where candidates are most wanted; a generator that cannot steer
        its sampling ignores it."""


class PrecomputedGrasps(GraspGenerator):
    """Candidates produced elsewhere (another node, a file): only those whose grasp centre lies
    within ``max_distance`` of a target point are passed on."""

    def __init__(self, grasps: Sequence[Grasp], max_distance: float = 0.02):
        if any(not isinstance(g, Grasp) for g in grasps):
            raise InvalidInputError("PrecomputedGrasps takes Grasp objects")
        self.grasps = list(grasps)
        self.max_distance = max_distance

    def generate(self, cloud: SceneCloud, seed: int = 0, seed_weights: Optional[np.ndarray] = None) -> Candidates:
        rep = GenerationReport()
        rep.count("given", len(self.grasps))
        tgt = cloud.points[cloud.target]
        if len(tgt) == 0 or not self.grasps:
            return Candidates([], rep)
        from scipy.spatial import cKDTree
        d, _ = cKDTree(tgt).query(np.array([g.position for g in self.grasps]))
        near = [g for g, di in zip(self.grasps, d) if di <= self.max_distance]
        rep.remove(f"centre over {self.max_distance * 100:.0f} cm from the target", len(self.grasps) - len(near))
        return Candidates(near, rep)
