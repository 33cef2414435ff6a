"""Parallel-jaw gripper geometry, loaded from config/gripper/*.yaml so it can be swapped."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "gripper"


@dataclass(frozen=True)
class GripperGeometry:
    name: str = "panda_hand"
    max_opening: float = 0.08
    pregrasp_clearance: float = 0.03
    finger_thickness: float = 0.03
    finger_half_width: float = 0.012
    finger_z_min: float = -0.035
    finger_z_max: float = 0.009
    palm_half_extents: tuple = (0.03, 0.105, 0.03)
    palm_center: tuple = (0.0, 0.0, -0.075)

    def __post_init__(self):
        if not 0 < self.max_opening < 0.5:
            raise ConfigError(f"gripper max_opening must be in (0, 0.5) m, got {self.max_opening}")
        if self.finger_z_min >= self.finger_z_max or self.finger_thickness <= 0 or self.finger_half_width <= 0:
            raise ConfigError("gripper finger box is empty (check z_min < z_max, thickness, half_width)")

    def opening_for(self, width: float) -> float:
        return min(self.max_opening, width + self.pregrasp_clearance)

    @classmethod
    def from_yaml(cls, path=CONFIG_DIR / "panda_hand.yaml") -> "GripperGeometry":
        try:
            raw = yaml.safe_load(Path(path).read_text())
            f, p = raw["finger"], raw["palm"]
            return cls(raw.get("name", Path(path).stem), float(raw["max_opening"]),
                       float(raw.get("pregrasp_clearance", 0.03)), float(f["thickness"]),
                       float(f["half_width"]), float(f["z_min"]), float(f["z_max"]),
                       tuple(float(v) for v in p["half_extents"]), tuple(float(v) for v in p["center"]))
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"cannot read gripper geometry {path}: {e}") from None

    def boxes(self, opening: float):
        """(centres (3, 3), half extents (3, 3)) of left finger, right finger, palm in the TCP frame."""
        fz = (self.finger_z_min + self.finger_z_max) / 2
        fh = (self.finger_z_max - self.finger_z_min) / 2
        fy = opening / 2 + self.finger_thickness / 2
        centres = np.array([[0, -fy, fz], [0, fy, fz], list(self.palm_center)])
        halves = np.array([[self.finger_half_width, self.finger_thickness / 2, fh],
                           [self.finger_half_width, self.finger_thickness / 2, fh], list(self.palm_half_extents)])
        return centres, halves
