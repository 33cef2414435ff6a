"""Parallel-jaw gripper geometry, loaded from config/gripper/*.yaml so it can be swapped."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..config import load_yaml
from ..errors import ConfigError
from ..resources import resource


@dataclass(frozen=True)
class FingerSegment:
    """One box of a finger in the TCP frame: a z range along the approach, a thickness outward
    (y) from the inner pad plane, and a half width across the pad (x)."""

    z_min: float
    z_max: float
    thickness: float
    half_width: float

    def __post_init__(self):
        if self.z_min >= self.z_max or self.thickness <= 0 or self.half_width <= 0:
            raise ConfigError("gripper finger box is empty (check z_min < z_max, thickness, half_width)")


@dataclass(frozen=True)
class GripperGeometry:
    name: str = "panda_hand"
    max_opening: float = 0.08
    pregrasp_clearance: float = 0.03
    finger_thickness: float = 0.016      # the pad segment, where contacts are made
    finger_half_width: float = 0.0095
    finger_z_min: float = -0.025
    finger_z_max: float = 0.009
    finger_base: Optional[FingerSegment] = FingerSegment(-0.045, -0.025, 0.026, 0.0105)
    palm_half_extents: tuple = (0.03, 0.105, 0.03)
    palm_center: tuple = (0.0, 0.0, -0.075)

    def __post_init__(self):
        if not 0 < self.max_opening < 0.5:
            raise ConfigError(f"gripper max_opening must be in (0, 0.5) m, got {self.max_opening}")
        FingerSegment(self.finger_z_min, self.finger_z_max, self.finger_thickness, self.finger_half_width)

    @property
    def pad(self) -> FingerSegment:
        return FingerSegment(self.finger_z_min, self.finger_z_max, self.finger_thickness, self.finger_half_width)

    def segments(self) -> Tuple[FingerSegment, ...]:
        return (self.pad,) + ((self.finger_base,) if self.finger_base is not None else ())

    def opening_for(self, width: float) -> float:
        return min(self.max_opening, width + self.pregrasp_clearance)

    @classmethod
    def from_yaml(cls, path=None) -> "GripperGeometry":
        path = path or resource("config", "gripper", "panda_hand.yaml")
        raw = load_yaml(path, "gripper geometry")
        try:
            f, p = raw["finger"], raw["palm"]
            base = raw.get("finger_base")
            return cls(raw.get("name", str(path)), float(raw["max_opening"]),
                       float(raw.get("pregrasp_clearance", 0.03)), float(f["thickness"]),
                       float(f["half_width"]), float(f["z_min"]), float(f["z_max"]),
                       None if base is None else FingerSegment(float(base["z_min"]), float(base["z_max"]),
                                                               float(base["thickness"]), float(base["half_width"])),
                       tuple(float(v) for v in p["half_extents"]), tuple(float(v) for v in p["center"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"cannot read gripper geometry {path}: {e!r}") from None

    def boxes(self, opening: float):
        """(centres (K, 3), half extents (K, 3)) of every hand box in the TCP frame: each finger
        segment on both sides (left first), then the palm."""
        centres, halves = [], []
        for seg in self.segments():
            fz, fh = (seg.z_min + seg.z_max) / 2, (seg.z_max - seg.z_min) / 2
            fy = opening / 2 + seg.thickness / 2
            for side in (-1, 1):
                centres.append([0.0, side * fy, fz])
                halves.append([seg.half_width, seg.thickness / 2, fh])
        centres.append(list(self.palm_center))
        halves.append(list(self.palm_half_extents))
        return np.array(centres), np.array(halves)
