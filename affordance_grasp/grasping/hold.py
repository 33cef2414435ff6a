"""Will the fingers hold the object against its weight once it is lifted?

A two-finger grasp off the centre of mass has to resist the gravity torque about the grasp
centre with friction alone. The torque about the closing axis is held only by the pads'
torsional friction, 2/3 * mu * F * r for each pad of contact radius r: with the Panda's 70 N,
mu 0.5 and r 5 mm that is about 0.23 N m for both, so a 0.75 kg mallet held 12 cm from its
centre of mass twists out (0.9 N m) and held 3 cm from it does not (in the twin, with its
materials' mu of 0.6-0.85, grasps held up to about 0.4 N m and slipped from 0.5 N m). The torque about the two other axes is held by the
friction couple of the two contacts a grasp width apart (mu * F * w), several times more.

The mass is unknown to a camera. Its order of magnitude comes from the object's column volume
(its top surface above the table, summed over a grid of cells) at a nominal density: hollow
vessels are seen hollow from above, so a pan weighs what its walls and floor enclose, and a
solid tool what its height covers. The estimate only sets how steeply grasps far from the
centre of mass lose: ranking among one object's candidates needs the lever arms most.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError

GRAVITY = 9.81


@dataclass
class HoldConfig:
    grip_force: float = 70.0        # N per finger: the Franka Hand's continuous force (datasheet)
    friction: float = 0.5           # pad-object static coefficient assumed when planning (rubber on
                                    # hard dry surfaces is 0.5-0.9: the low end, to plan safely)
    torsion_radius: float = 0.005   # m, a pad's contact patch radius (torsional friction 2/3 mu F r each)
    density: float = 1000.0         # kg/m^3 applied to the column volume: household objects are
                                    # within a factor of 2-3 of water (wood 700, plastic 1000, glass 2500)
    cell: float = 0.005             # m, grid of the column volume

    def validate(self) -> "HoldConfig":
        for name in ("grip_force", "friction", "torsion_radius", "density", "cell"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise InvalidInputError(f"hold.{name} must be > 0, got {v}")
        return self


@dataclass
class MassEstimate:
    mass: float          # kg
    com: np.ndarray      # (3,) m, the centre of the column volume


def column_volume(points: np.ndarray, table_height: float, cell: float = 0.005):
    """(m^3, (3,) centroid) of the volume under the highest point of every ``cell``-sized column
    of ``points`` (N, 3), down to the table. The centroid weights each column by its volume: the
    centroid of the visible points would weight a long thin handle by its many points, and put
    a hammer's centre of mass far down its handle from the head that carries its weight."""
    pts = np.asarray(points, float)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InvalidInputError(f"column_volume needs (N, 3) points, got shape {pts.shape}")
    if len(pts) == 0:
        return 0.0, np.full(3, np.nan)
    keys = np.floor(pts[:, :2] / cell).astype(np.int64)
    cols, inv = np.unique(keys, axis=0, return_inverse=True)
    top = np.full(len(cols), -np.inf)
    np.maximum.at(top, inv.ravel(), pts[:, 2])
    height = np.clip(top - table_height, 0, None)
    volume = float(height.sum() * cell * cell)
    if volume <= 0:
        return 0.0, pts.mean(0)
    xy = (cols + 0.5) * cell
    centre = np.append((xy * height[:, None]).sum(0) / height.sum(),
                       table_height + (height ** 2).sum() / (2 * height.sum()))
    return volume, centre


def estimate_mass(points: np.ndarray, table_height: float, cfg: HoldConfig | None = None) -> MassEstimate:
    """The object's mass and centre of mass as far as its visible top surface tells."""
    cfg = (cfg or HoldConfig()).validate()
    volume, centre = column_volume(points, table_height, cfg.cell)
    return MassEstimate(cfg.density * volume, centre)


def lever_arms(R: np.ndarray, tcp: np.ndarray, com: np.ndarray):
    """(torsion, bending) lever arms (N,) in metres of the weight at ``com`` about each grasp
    centre: the gravity torque per newton about the closing axis (y), and about the axes across it."""
    r = np.asarray(com, float)[None] - tcp
    y = R[:, :, 1]
    torque = np.cross(r, np.array([0.0, 0.0, -1.0]))              # per newton of weight
    torsion = np.abs(np.einsum("nc,nc->n", torque, y))
    bending = np.sqrt(np.clip((torque ** 2).sum(1) - torsion ** 2, 0, None))
    return torsion, bending


def hold_factor(R: np.ndarray, tcp: np.ndarray, width: np.ndarray, com: np.ndarray, mass: float,
                cfg: HoldConfig | None = None) -> np.ndarray:
    """(N,) in (0, 1]: 1 / (1 + load^2), where load is the gravity torque over what the pads'
    friction holds (torsion and bending combined): 0.5 when the grasp is at its limit."""
    cfg = (cfg or HoldConfig()).validate()
    if not (np.isfinite(mass) and mass >= 0):
        raise InvalidInputError(f"object mass must be a finite number >= 0, got {mass}")
    if mass == 0:
        return np.ones(len(tcp))
    torsion, bending = lever_arms(R, tcp, com)
    weight = mass * GRAVITY
    mu_f = cfg.friction * cfg.grip_force
    load_t = weight * torsion / (2 * mu_f * 2 / 3 * cfg.torsion_radius)
    load_b = weight * bending / (mu_f * np.maximum(np.asarray(width, float), 2 * cfg.torsion_radius))
    return 1.0 / (1.0 + load_t ** 2 + load_b ** 2)
