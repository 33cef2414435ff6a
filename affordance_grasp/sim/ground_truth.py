"""Exact per-part and per-affordance masks from the segmentation render."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from .world import SimWorld


@dataclass
class ObjectMasks:
    instance: str
    category: str
    object_mask: np.ndarray              # bool HxW, every visible part
    parts: Dict[str, np.ndarray]         # part -> bool HxW
    affordances: Dict[str, np.ndarray]   # affordance -> bool HxW (union of its parts)

    def part_pixels(self) -> Dict[str, int]:
        return {p: int(m.sum()) for p, m in self.parts.items()}


def object_masks(world: SimWorld, geom_ids: np.ndarray) -> List[ObjectMasks]:
    """Split a geom-id image into masks for every object instance in the world."""
    out = []
    for instance, placed in world.objects.items():
        parts = {}
        for part in placed.spec.parts:
            ids = [g for g, (inst, p) in world.geom_part.items() if inst == instance and p == part.name]
            parts[part.name] = np.isin(geom_ids, ids)
        affs: Dict[str, np.ndarray] = {}
        for part in placed.spec.parts:
            for a in part.affordances:
                affs[a] = affs.get(a, np.zeros(geom_ids.shape, bool)) | parts[part.name]
        obj = np.zeros(geom_ids.shape, bool)
        for m in parts.values():
            obj |= m
        out.append(ObjectMasks(instance, placed.spec.category, obj, parts, affs))
    return out
