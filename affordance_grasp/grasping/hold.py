"""Will the fingers hold the object against its weight once it is lifted?

A two-finger grasp off the centre of mass has to resist the gravity torque about the grasp
centre with friction alone. The torque about the closing axis is held only by the pads'
torsional friction, 2/3 * mu * F * r for each pad of contact radius r: with the Panda's 70 N,
mu 0.5 and r 5 mm that is about 0.23 N m for both, so a 0.75 kg mallet held 12 cm from its
centre of mass twists out (0.9 N m) and held 3 cm from it does not (in the twin, with its
materials' mu of 0.6-0.85, grasps held up to about 0.4 N m and slipped from 0.5 N m, measured
before its friction constraints were stiffened to impratio 100; how the model and the twin agree
now: the calibration in docs/grasping.md). The torque about the two other axes is held by the
friction couple of the two contacts a grasp width apart (mu * F * w), several times more, and by
the pads' pressure shifting across their patches (F * extent / 3, within the patch's middle third).

The mass is unknown to a camera. Its order of magnitude comes from the object's column volume
(its top surface above the table, summed over a grid of cells) at a nominal density: hollow
vessels are seen hollow from above, so a pan weighs what its walls and floor enclose, and a
solid tool what its height covers. Where the part the fingers take is known (the requested
part's heat, or the part itself), it and the rest of the object are two bodies of their own
densities: a handle is wood or plastic, what it carries may be anything from hollow plastic to
steel. Their volumes are known better than their densities, so the densities are drawn within
their ranges and the probability of holding counts the draws that hold: a hammer's heavy head
or a pan's body pulls the grasps that hold along the handle toward itself, as a person holds
them. A known kind's typical mass binds the two: the rest weighs what that mass leaves after the
part held, so a 1 kg pan's body is not drawn as hollow plastic beside its handle.
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
    # Two bodies, when the part the fingers take is known. Handles: softwood 350-500, hardwood
    # 600-900, plastics 900-1400 kg/m^3 (Engineering ToolBox, densities of wood and of plastics).
    # The rest: hollow plastic (effective 500) to solid steel (7850, ibid., metals).
    grip_density_range: tuple = (400.0, 1200.0)
    rest_density_range: tuple = (500.0, 7850.0)
    # The robust probability of holding (Dex-Net 2.0's robust wrench resistance, Mahler et al.
    # 2017, for this load case): friction, mass and centre of mass are drawn within their
    # uncertainty and the probability is the share of draws whose load the pads resist.
    friction_range: tuple = (0.5, 0.9)    # rubber-like pads on hard dry household surfaces
    density_range: tuple = (0.5, 2.0)     # x density: wood and hollow plastic .. glass, ceramics, steel parts
    com_sigma: float = 0.01               # m, the seen centre of mass against the true one (one side seen)
    lift_acceleration: float = 2.0        # m/s^2 added to gravity while the lift starts
    samples: int = 32

    def validate(self) -> "HoldConfig":
        for name in ("grip_force", "friction", "torsion_radius", "density", "cell", "samples"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise InvalidInputError(f"hold.{name} must be > 0, got {v}")
        for name in ("friction_range", "density_range", "grip_density_range", "rest_density_range"):
            lo, hi = getattr(self, name)
            if not (0 < lo <= hi and np.isfinite(hi)):
                raise InvalidInputError(f"hold.{name} must be 0 < low <= high, got {getattr(self, name)}")
        if not (self.com_sigma >= 0 and self.lift_acceleration >= 0):
            raise InvalidInputError("hold.com_sigma and hold.lift_acceleration must be >= 0")
        return self


@dataclass(frozen=True)
class Body:
    """One body of an object seen from above: its column volume, centroid and density range."""
    volume: float             # m^3
    centroid: np.ndarray      # (3,) m
    density_range: tuple      # (low, high) kg/m^3
    # With the object's total mass known, this body weighs what the others leave: a pan's steel
    # body is what a 1 kg pan weighs less its handle, not any density from hollow plastic to steel.
    remainder: bool = False


@dataclass
class MassEstimate:
    mass: float          # kg, at the nominal densities
    com: np.ndarray      # (3,) m, the centre of mass at the nominal densities
    # The part the fingers take and the rest (a remainder), each a Body; empty when the object
    # is one body of the nominal density.
    bodies: tuple = ()
    # The kind's typical mass (low, high) kg when it is known: the draws take the mass from it
    # (the bodies' densities then only place the centre of mass).
    mass_range: tuple | None = None


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


def estimate_mass(points: np.ndarray, table_height: float, cfg: HoldConfig | None = None,
                  grip: np.ndarray | None = None, mass_range: tuple | None = None) -> MassEstimate:
    """The object's mass and centre of mass as far as its visible top surface tells. ``grip``
    (N,) bool marks the part the fingers take: it and the rest are then two bodies, each with
    its density range (the nominal mass and centre use the middle of each range). A known
    kind's ``mass_range`` (kg) replaces the volume's mass: a closed kettle seen from above looks
    solid, and weighs what its thin walls do."""
    est = _estimate_from_volume(points, table_height, cfg, grip)
    if mass_range is None:
        return est
    lo, hi = (float(x) for x in mass_range)
    if not (0 < lo <= hi and np.isfinite(hi)):
        raise InvalidInputError(f"mass_range must be 0 < low <= high kg, got {mass_range}")
    mass = float(np.sqrt(lo * hi))
    com = est.com
    if est.bodies:
        masses = _body_masses(est.bodies, np.array([[np.sqrt(r[0] * r[1]) for r in
                                                     (b.density_range for b in est.bodies)]]), np.array([mass]))
        com = (masses @ np.stack([b.centroid for b in est.bodies]) / masses.sum())[0]
    return MassEstimate(mass, com, est.bodies, (lo, hi))


def _body_masses(bodies, densities: np.ndarray, total: np.ndarray | None = None) -> np.ndarray:
    """(K, B) masses of ``bodies`` at ``densities`` (K, B) kg/m^3; with ``total`` (K,) kg known,
    the remainder bodies share what the others leave of it (none when they weigh it all)."""
    volumes = np.array([b.volume for b in bodies])
    masses = densities * volumes[None]
    rem = np.array([b.remainder for b in bodies])
    if total is None or not rem.any():
        return masses
    left = np.clip(total - masses[:, ~rem].sum(1), 0.0, None)
    share = masses[:, rem] / np.maximum(masses[:, rem].sum(1, keepdims=True), 1e-12)
    masses[:, rem] = left[:, None] * share
    return masses


def _estimate_from_volume(points, table_height, cfg, grip) -> MassEstimate:
    cfg = (cfg or HoldConfig()).validate()
    pts = np.asarray(points, float)
    volume, centre = column_volume(pts, table_height, cfg.cell)
    if grip is None:
        return MassEstimate(cfg.density * volume, centre)
    grip = np.asarray(grip, bool)
    if grip.shape != (len(pts),):
        raise InvalidInputError(f"grip mask has shape {grip.shape}, the points {len(pts)}")
    if grip.sum() < 5 or (~grip).sum() < 5:
        return MassEstimate(cfg.density * volume, centre)
    bodies = []
    for sel, rng_, rest in ((grip, cfg.grip_density_range, False), (~grip, cfg.rest_density_range, True)):
        v, c = column_volume(pts[sel], table_height, cfg.cell)
        if v > 0:
            bodies.append(Body(v, c, tuple(rng_), rest))
    if not bodies:
        return MassEstimate(0.0, centre)
    nominal = [b.volume * np.sqrt(b.density_range[0] * b.density_range[1]) for b in bodies]   # geometric middles
    com = sum(m * b.centroid for m, b in zip(nominal, bodies)) / sum(nominal)
    return MassEstimate(float(sum(nominal)), com, tuple(bodies))


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
    (load_t, load_b), _ = _loads(R, tcp, width, com, mass * GRAVITY, cfg.friction, cfg)
    return 1.0 / (1.0 + load_t ** 2 + load_b ** 2)


# The pads' pressure may shift off their patch's centre to resist a torque across the closing
# axis while it stays compressive everywhere: for an elastic pad on a rectangular patch, while the
# load's eccentricity is within the middle third of the patch (its kern, ext / 6 each side; the
# "middle-third rule" of elastic bearing pressure). Two pads shifting opposite ways then make a
# couple of F x ext / 3.
KERN = 1.0 / 3.0


def _loads(R, tcp, width, com, weight, friction, cfg: HoldConfig, radius=None, extent=None):
    """((torsion share, across share), (torsion arm, across arm, torsion capacity, across
    capacity)) for each grasp: the weight's torque about the closing axis over the pads'
    torsional friction (2 x 2/3 mu F r); across it, per axis of the pads' plane, over the
    contacts' friction couple (mu F w) plus the pads' pressure couple (F x the patch's extent
    along the other axis x KERN)."""
    n = len(tcp)
    r = np.asarray(com, float)[None] - tcp
    # The weight's torque per newton, in the grasp frame (x across the pads, y closing, z approach).
    local = np.einsum("nji,nj->ni", R, np.cross(r, np.array([0.0, 0.0, -1.0])))
    torsion = np.abs(local[:, 1])
    bending = np.hypot(local[:, 0], local[:, 2])
    radius = _radius(radius, n, cfg)
    ext = np.tile(2 * radius[:, None], (1, 2)) if extent is None else np.asarray(extent, float).reshape(n, 2)
    mu_f = friction * cfg.grip_force
    cap_t = 2 * mu_f * 2 / 3 * radius
    couple = mu_f * np.maximum(np.asarray(width, float), 2 * cfg.torsion_radius)
    cap_x = couple + KERN * cfg.grip_force * ext[:, 1]     # about x: the pressure shifts along z
    cap_z = couple + KERN * cfg.grip_force * ext[:, 0]     # about z: along x
    share_b = weight * np.hypot(local[:, 0] / cap_x, local[:, 2] / cap_z)
    cap_b = np.where(share_b > 0, weight * bending / np.maximum(share_b, 1e-12), np.minimum(cap_x, cap_z))
    return (weight * torsion / cap_t, share_b), (torsion, bending, cap_t, cap_b)


def hold_load(R: np.ndarray, tcp: np.ndarray, width: np.ndarray, com: np.ndarray, weight: float,
              friction: float, cfg: HoldConfig, radius=None, extent=None) -> tuple:
    """(needed, resisted) torques (N,) in N m about the grasp, on the axis loaded most against
    what holds it: about the closing axis the pads' torsional friction, across it their couples."""
    (share_t, share_b), (torsion, bending, cap_t, cap_b) = _loads(R, tcp, width, com, weight, friction, cfg,
                                                                  radius, extent)
    torsion_rules = share_t >= share_b
    needed = np.where(torsion_rules, weight * torsion, weight * bending)
    resisted = np.where(torsion_rules, cap_t, cap_b)
    return needed, resisted


def _radius(radius, n: int, cfg: HoldConfig) -> np.ndarray:
    """(N,) contact patch radius of each grasp: measured (``radius``), else the configured one."""
    if radius is None:
        return np.full(n, cfg.torsion_radius)
    r = np.asarray(radius, float).reshape(-1)
    if r.shape != (n,) or not (np.isfinite(r).all() and (r > 0).all()):
        raise InvalidInputError(f"contact patch radius must be {n} positive numbers")
    return r


def hold_probability(R: np.ndarray, tcp: np.ndarray, width: np.ndarray, est: MassEstimate,
                     cfg: HoldConfig | None = None, seed: int = 0, radius=None, extent=None) -> np.ndarray:
    """(N,) probability that each grasp holds the object through the lift: the share of
    ``cfg.samples`` draws of friction, density and centre of mass (within their uncertainty) in
    which the gravity-plus-lift torque about the grasp stays within the pads' friction (torsion
    about the closing axis, the contacts' couple across it). Vectorised: draws x grasps."""
    cfg = (cfg or HoldConfig()).validate()
    n = len(tcp)
    if not (np.isfinite(est.mass) and est.mass >= 0):
        raise InvalidInputError(f"object mass must be a finite number >= 0, got {est.mass}")
    if est.mass == 0 or n == 0:
        return np.ones(n)
    rng = np.random.default_rng(seed)
    k = int(cfg.samples)
    mu = rng.uniform(*cfg.friction_range, k)
    # Log-uniform: a density is known to a factor, not to a number of kg/m^3.
    total = None if est.mass_range is None else np.exp(rng.uniform(*np.log(est.mass_range), k))
    if est.bodies:
        densities = np.stack([np.exp(rng.uniform(*np.log(b.density_range), k)) for b in est.bodies], 1)  # (k, B)
        masses = _body_masses(est.bodies, densities, total)
        centres = np.stack([b.centroid for b in est.bodies])                                             # (B, 3)
        mass = masses.sum(1)
        com = masses @ centres / np.maximum(mass, 1e-12)[:, None]
    else:
        mass = est.mass * np.exp(rng.uniform(*np.log(cfg.density_range), k))
        com = np.tile(np.asarray(est.com, float), (k, 1))
    if total is not None:
        mass = total
    com = com + rng.normal(0, cfg.com_sigma, (k, 3)) * [1, 1, 0]
    weight = mass * (GRAVITY + cfg.lift_acceleration)
    r = _radius(radius, n, cfg)
    if extent is not None:
        extent = np.asarray(extent, float).reshape(n, 2)
        if not (np.isfinite(extent).all() and (extent > 0).all()):
            raise InvalidInputError(f"contact patch extents must be {n} pairs of positive numbers")
    held = np.zeros(n)
    for j in range(k):
        (load_t, load_b), _ = _loads(R, tcp, width, com[j], weight[j], mu[j], cfg, r, extent)
        held += (load_t ** 2 + load_b ** 2) <= 1.0
    return held / k
