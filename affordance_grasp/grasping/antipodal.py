"""Antipodal sampling for a parallel-jaw gripper, vectorised over seeds, axes and approaches.

For each seed point on the target we look for the opposite surface along candidate closing axes:
the directions across the part's local long axis (from a PCA of the seed's neighbourhood, so a
handle at any angle, a standing bottle neck or a vertical loop are all crossed squarely) plus
evenly spaced horizontal ones. The contiguous run of object points along a thin line through the
seed gives both contacts and the width. A single view misses far faces, so a run only counts when
the space just past both of its ends was seen to be free (in front of the measured depth).

Each surviving axis gets approach directions rotated about it, from straight down to nearly
horizontal (side grasps on tall objects), and depths that take the fingertips as low as the
table allows (flat tools lying on the table). Candidates whose swept finger or palm volumes hold
scene points, that reach below the table, that come at the object from the robot's far side, or
that hold too few points between the fingers are rejected. What each filter removed is kept in
:class:`GenerationReport`, so "no grasp" always says why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, NamedTuple, Optional, Tuple

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..errors import EmptyCloudError, InvalidInputError
from ..types import GraspSet
from .base import Candidates, GenerationReport, GraspGenerator
from .cloud import SceneCloud
from .gripper import GripperGeometry
from .hold import HoldConfig, estimate_mass, hold_probability


@dataclass
class AntipodalConfig:
    n_seeds: int = 200
    n_axes: int = 6                    # horizontal closing axes per seed
    n_cross_axes: int = 6              # closing axes across the seed's local long axis
    approach_deg: Tuple[float, ...] = (0.0, 30.0, -30.0, 55.0, -55.0, 80.0, -80.0)  # rotation about the axis
    depths: Tuple[float, ...] = (0.006, 0.018)  # TCP past the contact line along the approach (m)
    min_depth: float = -0.008          # the contact line must stay between the pads
    line_radius: float = 0.005         # points this close to the axis line count
    bin_size: float = 0.004            # run detection resolution along the axis
    min_width: float = 0.004
    width_margin: float = 0.006        # opening must exceed the width by this much
    min_points_between: int = 5
    max_foreign_between: int = 2       # points of another object the pads may enclose (stray depth pixels)
    # The pads' contact patch (its equal-area radius sets the torsional friction): points within
    # the rubber's give of the outermost one, plus one sample spacing; at least an edge's strip.
    patch_depth: float = 0.002         # m: the Franka pad's rubber conforms by about this much
    patch_sample: float = 0.004        # m: the cloud's sample spacing (voxel), added to each extent
    min_patch_radius: float = 0.002    # m: an edge or a thin wire still presses a strip
    part_margin: float = 0.005         # m beyond the pads' width where another part of the object counts as touched
    other_part_factor: float = 0.3     # score kept by a grasp that would also touch a part not asked for
    # A lid, a rim or a cap is often shorter than the pads (3.4 cm on the Panda hand): pushed to the
    # nominal depth, the fingertips reach the jar or the cup below. Such a grasp is also tried with
    # the hand drawn back until the fingertips stop this far short of the other part.
    fingertip_clearance: float = 0.004  # one sample spacing of the cloud
    max_draw_back: float = 0.025       # m: the most a grasp is drawn back for it
    min_pad_coverage: float = 0.5      # the part must span this fraction of the pads' width
    table_clearance: float = 0.0015    # fingertips stay this far above the table plane
    # The fingers' sides and outer faces and the palm keep this far from any seen point off the
    # part they take: a surface sampled every few millimetres (or seen with a camera's millimetres
    # of noise) is otherwise grazed between two samples, and a grazed neighbour moves, or is a part
    # not asked for (in the twin, a fingertip's outer corner brushed a pitcher's body on the way
    # to its handle).
    finger_clearance: float = 0.003
    # The pads reach at least this far below the middle of a part resting on the table (a flat
    # tool's handle): the fingertips may stop as much higher than planned as they keep off the table.
    below_middle: float = 0.0015
    # The part may not go on wider than the contacts just past the fingertips: the pads would press
    # a taper, not its widest chord (a round handle pinched on its top, a cylinder taken on its near
    # side), and the squeeze pushes it out past the tips as it is lifted. The contacts are the
    # outermost of many points between the pads, so a straight wall past the tips is not seen
    # further out than them by more than a millimetre, depth noise included (bench, seen split:
    # the screwdriver grasps that slipped showed 2-5 such points, those that held none).
    # A thin wall (a bowl's or a cup's rim) is not a taper: past the tips it bends away whole, both
    # of its faces one way, and its two faces pressed by the pads cannot wedge apart.
    taper_margin: float = 0.001
    taper_points: int = 2              # seen points that show it (one may be depth noise)
    taper_min_width: float = 0.008     # m between the contacts: narrower is a wall, not a taper
    edge_quality: float = 0.3          # share of its quality kept by a grasp that does not
    edge_band: float = 0.004           # ... when the pads touch less than this of its height (one sample
                                       # spacing of the cloud: no flat side can be seen in less)
    pregrasp_offset: float = 0.10      # swept approach length checked for collisions
    max_candidates: int = 2500         # evaluated after the cheap filters (random subset)
    recentre_window: float = 0.025     # +- along the pad width searched for the widest chord (m)
    recentre_bin: float = 0.002
    friction_coef: float = 0.5
    pca_radius: float = 0.015          # neighbourhood of a seed for its local long axis
    max_back_approach: float = 0.5     # cos of the most an approach may point back at the robot base
    hold: HoldConfig = field(default_factory=HoldConfig)  # quality is scaled by the predicted hold

    def validate(self) -> "AntipodalConfig":
        if self.n_seeds < 1 or self.n_axes + self.n_cross_axes < 1 or not self.approach_deg or not self.depths:
            raise InvalidInputError("antipodal config needs seeds, axes, approaches and depths")
        if not 0 < self.friction_coef < 5:
            raise InvalidInputError(f"friction_coef must be in (0, 5), got {self.friction_coef}")
        self.hold.validate()
        return self


def _frames(axis: np.ndarray, approach: np.ndarray) -> np.ndarray:
    """Rotation matrices (N, 3, 3) with y = axis, z = approach."""
    x = np.cross(axis, approach)
    return np.stack([x, axis, approach], axis=2)


def _hand_boxes(g: GripperGeometry, opening: np.ndarray):
    """Centres (N, K, 3) and half extents (K, 3) of the hand's boxes for each candidate's opening."""
    c0, h0 = g.boxes(0.0)
    side = np.sign(c0[:, 1])                     # fingers move out with the opening; the palm does not
    centres = np.repeat(c0[None], len(opening), 0)
    centres[..., 1] += side[None] * np.asarray(opening)[:, None] / 2
    return centres, h0


def _lowest_offset(R: np.ndarray, centres: np.ndarray, halves: np.ndarray) -> np.ndarray:
    """(N,) the lowest world-z offset from the TCP of any box corner."""
    signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
    corners = centres[:, :, None] + signs[None, None] * halves[None, :, None]     # (N, K, 8, 3)
    return np.matmul(corners.reshape(len(R), -1, 3), R[:, 2, :, None])[..., 0].min(1)


def _swept_bounds(R: np.ndarray, tcp: np.ndarray, centres: np.ndarray, halves: np.ndarray,
                  sweep: float) -> Tuple[np.ndarray, np.ndarray]:
    """World-frame (lo, hi) (N, 3) around every hand box (centres (N, K, 3), half extents (K, 3)
    in the TCP frame) of each candidate, swept ``sweep`` back along its approach: no point
    outside can touch that candidate's hand."""
    c = centres - np.array([0.0, 0.0, sweep / 2])                  # the swept boxes
    h = halves + np.array([0.0, 0.0, sweep / 2])
    mid = tcp[:, None] + np.matmul(c, np.transpose(R, (0, 2, 1)))  # (N, K, 3) world centres
    ext = np.matmul(np.abs(R)[:, None], h[None, :, :, None])[..., 0]  # (N, K, 3) world half extents
    return (mid - ext).min(1), (mid + ext).max(1)


def _compact_chunks(keys: np.ndarray, size: int) -> List[np.ndarray]:
    """Indices in chunks of at most ``size`` whose ``keys`` lie close together (k-d tree leaf
    order), so that each chunk's candidates need only the points near them."""
    order = cKDTree(keys, leafsize=max(1, size // 2)).indices
    return [order[s:s + size] for s in range(0, len(order), size)]


class Sweep(NamedTuple):
    """What the hand meets, per candidate (AntipodalGenerator._collision_free): arrays of N."""
    hit: np.ndarray          # bool: a finger or the palm meets the scene
    low: np.ndarray          # bool: the hand reaches below the table
    between: np.ndarray      # the part's points between the pads
    foreign: np.ndarray      # other objects' points between the pads
    other_part: np.ndarray   # other parts' points within the pads' reach
    coverage: np.ndarray     # share of the pads' width the part fills
    contacts: np.ndarray     # (N, 2, 3) where the pads meet the part, TCP frame, -y side first
    patch: np.ndarray        # (N, 3) contact patch radius, its extents along x and z (m)
    ahead: np.ndarray        # how far along the approach the nearest other part lies (inf: none)
    taper: np.ndarray        # the part's points just past the fingertips further out than the contacts

    def take(self, index) -> "Sweep":
        return Sweep(*(a[index] for a in self))

    def join(self, other: "Sweep") -> "Sweep":
        return Sweep(*(np.concatenate([a, b]) for a, b in zip(self, other)))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


class AntipodalGenerator(GraspGenerator):
    def __init__(self, gripper: GripperGeometry | None = None, config: AntipodalConfig | None = None,
                 device: str | None = None):
        self.gripper = gripper or GripperGeometry.from_yaml()
        self.cfg = (config or AntipodalConfig()).validate()
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    # ------------------------------------------------------------------ closing axes
    def _long_axes(self, seeds: np.ndarray, obj_pts: np.ndarray, tree: cKDTree) -> np.ndarray:
        """(S, 3) the direction each seed's neighbourhood extends most (a bar's length)."""
        k = min(48, len(obj_pts))
        dist, idx = tree.query(seeds, k=k, distance_upper_bound=self.cfg.pca_radius)
        found = np.isfinite(dist)
        nb = obj_pts[np.minimum(idx, len(obj_pts) - 1)]
        w = found[..., None].astype(float)
        cnt = np.maximum(w.sum(1), 1.0)
        mean = (nb * w).sum(1) / cnt
        d = (nb - mean[:, None]) * w
        cov = np.matmul(np.transpose(d, (0, 2, 1)), d) / cnt[..., None]
        _, vecs = np.linalg.eigh(cov)
        return vecs[:, :, 2]

    def _axes(self, seeds: np.ndarray, normals: np.ndarray, obj_pts: np.ndarray, tree: cKDTree):
        """(S, L, 3) unit closing axes and (S, L, 3) the direction along which each axis's cross
        section lies (its band for the boundary normal): first ``n_cross_axes`` across the local
        long axis, then ``n_axes`` horizontal ones (the first the seed normal's horizontal part)."""
        cfg = self.cfg
        S = len(seeds)
        out, bands = [], []
        if cfg.n_cross_axes:
            e1 = self._long_axes(seeds, obj_pts, tree)
            ref = np.where(np.abs(e1[:, 2:3]) < 0.9, np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))
            a = _unit(np.cross(e1, ref))
            b = np.cross(e1, a)
            phi = np.arange(cfg.n_cross_axes) * np.pi / cfg.n_cross_axes
            out.append(np.cos(phi)[None, :, None] * a[:, None] + np.sin(phi)[None, :, None] * b[:, None])
            bands.append(np.repeat(e1[:, None], cfg.n_cross_axes, 1))
        if cfg.n_axes:
            ang = np.arange(cfg.n_axes) * np.pi / cfg.n_axes
            fixed = np.stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)], 1)
            nh = normals.copy()
            nh[:, 2] = 0
            norm = np.linalg.norm(nh, axis=1, keepdims=True)
            nh = np.where(norm > 0.5, nh / np.maximum(norm, 1e-9), fixed[0])  # top-facing: no own axis
            hor = np.concatenate([nh[:, None], np.broadcast_to(fixed[1:], (S,) + fixed[1:].shape)], 1)
            out.append(hor)
            bands.append(np.broadcast_to(np.array([0.0, 0.0, 1.0]), hor.shape))
        return np.concatenate(out, 1), np.concatenate(bands, 1)

    def _runs(self, seeds, axes, obj_pts, tree, cloud: SceneCloud):
        """Width of the contiguous object run through each seed along each axis.
        Returns t_min, t_max (S, L) along the axis, and per-reason rejection masks."""
        cfg, g = self.cfg, self.gripper
        reach = g.max_opening
        k = min(256, len(obj_pts))
        dist, idx = tree.query(seeds, k=k, distance_upper_bound=reach, workers=-1)
        found = np.isfinite(dist)
        nb = obj_pts[np.minimum(idx, len(obj_pts) - 1)]              # (S, K, 3)
        d = nb - seeds[:, None]                                      # (S, K, 3)
        t = np.matmul(axes, np.transpose(d, (0, 2, 1)))              # (S, L, K)
        perp2 = (d ** 2).sum(-1)[:, None] - t ** 2
        # Few neighbours lie on any one line: the rest works on those alone.
        s_i, l_i, k_i = np.nonzero(found[:, None] & (perp2 < cfg.line_radius ** 2))
        t = t[s_i, l_i, k_i]
        nbins = int(np.ceil(2 * reach / cfg.bin_size)) | 1
        c = nbins // 2
        b = np.clip(np.round(t / cfg.bin_size).astype(int) + c, 0, nbins - 1)
        occ = np.zeros(axes.shape[:2] + (nbins,), bool)
        occ[s_i, l_i, b] = True
        occ[..., c] = True                                           # the seed itself
        gap = occ.copy()                                             # bridge single-bin holes
        gap[..., 1:-1] |= occ[..., :-2] & occ[..., 2:]
        right = np.cumprod(gap[..., c:], axis=-1).sum(-1)            # bins incl. centre
        left = np.cumprod(gap[..., c::-1], axis=-1).sum(-1)
        open_ended = (right >= nbins - c) | (left >= c + 1)          # the run reaches the window edge
        lo_bin, hi_bin = c - left + 1, c + right - 1
        inrun = (b >= lo_bin[s_i, l_i]) & (b <= hi_bin[s_i, l_i])
        t_min, t_max = np.zeros(axes.shape[:2]), np.zeros(axes.shape[:2])   # the seed is in every run
        np.minimum.at(t_min, (s_i[inrun], l_i[inrun]), t[inrun])
        np.maximum.at(t_max, (s_i[inrun], l_i[inrun]), t[inrun])
        width = t_max - t_min
        bad_width = ~open_ended & ((width < cfg.min_width) | (width > g.max_opening - cfg.width_margin))
        # A run may end only because the camera saw nothing further (the far face of a seed on a
        # side wall is hidden): the space just past each end must be observed free.
        step = cfg.bin_size * 1.5
        past = np.concatenate([seeds[:, None] + axes * (t_max + step)[..., None],
                               seeds[:, None] + axes * (t_min - step)[..., None]], 1)
        free = cloud.observed_free(past.reshape(-1, 3)).reshape(past.shape[:2])
        L = axes.shape[1]
        unseen = ~open_ended & ~bad_width & ~(free[:, :L] & free[:, L:])
        return t_min, t_max, open_ended, bad_width, unseen

    # ------------------------------------------------------------------ approaches and depths
    def _approaches(self, axis: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """(N, A, 3) approach directions perpendicular to each closing axis, rotated about it from
        the most downward one. A vertical axis has no downward direction: it starts from the
        horizontal direction pointing away from the robot base (which stands at the origin)."""
        down = np.array([0.0, 0.0, -1.0])
        z0 = down - axis * (axis @ down)[:, None]
        flat = np.linalg.norm(z0, axis=1) < 0.2
        out = centre.copy()
        out[:, 2] = 0.0
        out = _unit(out - axis * (np.einsum("ij,ij->i", axis, out))[:, None])
        z0 = np.where(flat[:, None], out, _unit(z0))
        side = np.cross(axis, z0)
        th = np.deg2rad(np.asarray(self.cfg.approach_deg))
        return np.cos(th)[None, :, None] * z0[:, None] + np.sin(th)[None, :, None] * side[:, None]

    def _deepest(self, R: np.ndarray, contact: np.ndarray, opening: np.ndarray, table_height: float) -> np.ndarray:
        """The largest depth (TCP past the contact line along the approach) at which every corner of
        the fingers and palm stays ``table_clearance`` above the table."""
        centres, halves = _hand_boxes(self.gripper, opening)
        # 0.5 mm spare: re-centring slides the hand along its pad width, which may tilt it a little lower.
        room = contact[:, 2] + _lowest_offset(R, centres, halves) - table_height - self.cfg.table_clearance - 0.0005
        down = -R[:, 2, 2]                                                 # depth lowers the hand by this per metre
        return np.where(down > 1e-3, room / np.maximum(down, 1e-3), np.where(room >= 0, np.inf, -np.inf))

    # ------------------------------------------------------------------ generation
    def generate(self, cloud: SceneCloud, seed: int = 0, seed_weights: Optional[np.ndarray] = None) -> Candidates:
        """Candidates on ``cloud.target`` points, best quality first. ``seed_weights`` (one per cloud
        point, e.g. the affordance under it) draws half the seeds where the weight is: a narrow
        part (a teacup's handle, a bottle's neck) holds a few percent of an object's points and
        would otherwise get a few seeds, most of them filtered out."""
        cfg, g = self.cfg, self.gripper
        rep = GenerationReport()
        tgt_idx = np.nonzero(cloud.target & cloud.objects)[0]
        if len(tgt_idx) == 0:
            raise EmptyCloudError("no target points to grasp (empty mask, or everything was table)")
        rng = np.random.default_rng(seed)
        with rep.times.stage("seeds"):
            chosen = self._choose_seeds(tgt_idx, rng, seed_weights, len(cloud.points))
            rep.count("seeds", len(chosen))
            obj_pts = cloud.points[cloud.objects]
            tree = cKDTree(obj_pts)
            seeds, normals = cloud.points[chosen], cloud.normals[chosen]
        with rep.times.stage("closing axes"):
            axes, bands = self._axes(seeds, normals, obj_pts, tree)
        rep.count("closing axes", axes.shape[0] * axes.shape[1])
        with rep.times.stage("run search"):
            t_min, t_max, open_ended, bad_width, unseen = self._runs(seeds, axes, obj_pts, tree, cloud)
        rep.remove("run longer than the opening", int(open_ended.sum()))
        rep.remove("width outside the stroke", int(bad_width.sum()))
        rep.remove("far side not seen free", int(unseen.sum()))
        valid = ~(open_ended | bad_width | unseen)
        s_i, l_i = np.nonzero(valid)
        if len(s_i) == 0:
            return Candidates([], rep)
        axis = axes[s_i, l_i]
        # Friction cone at both run ends, with normals from the surface boundary around them.
        ends = np.stack([seeds[s_i] + axis * t_min[s_i, l_i][:, None], seeds[s_i] + axis * t_max[s_i, l_i][:, None]], 1)
        with rep.times.stage("friction cone"):
            align_pair = self._boundary_alignment(ends, axis, bands[s_i, l_i], obj_pts, tree)
        keep = np.all(align_pair >= np.cos(np.arctan(cfg.friction_coef)), axis=1)
        rep.remove("outside the friction cone", int((~keep).sum()))
        s_i, l_i, axis, align_pair = s_i[keep], l_i[keep], axis[keep], align_pair[keep]
        if len(s_i) == 0:
            return Candidates([], rep)
        centre = seeds[s_i] + axis * ((t_min + t_max) / 2)[s_i, l_i][:, None]
        width = (t_max - t_min)[s_i, l_i]

        with rep.times.stage("approaches and depths"):
            R, tcp, width, tilt, align = self._poses(axis, centre, width, align_pair, cloud, rng, rep)
        if len(tcp) == 0:
            return Candidates([], rep)
        with rep.times.stage("re-centring"):
            tcp, width = self._recentre(R, tcp, width, cloud)
        with rep.times.stage("collision sweep"):
            swept = self._collision_free(R, tcp, width, cloud)
        with rep.times.stage("fingertips short of other parts"):
            R, tcp, width, tilt, align, swept = self._draw_back(R, tcp, width, tilt, align, swept, cloud, rep)
        hit, low, between, foreign, coverage, touch, patch, taper = (
            swept.hit, swept.low, swept.between, swept.foreign, swept.coverage, swept.contacts, swept.patch, swept.taper)
        rep.remove("hand below the table", int(low.sum()))
        rep.remove("fingers or palm hit the scene", int((hit & ~low).sum()))
        other = ~hit & ~low & (foreign > cfg.max_foreign_between)
        rep.remove("another object between the pads", int(other.sum()))
        few = ~hit & ~low & ~other & ((between < cfg.min_points_between) | (coverage < cfg.min_pad_coverage))
        rep.remove("too little of the part between the pads", int(few.sum()))
        tapered = ~hit & ~low & ~other & ~few & (taper >= cfg.taper_points)
        rep.remove("part widens past the fingertips (a taper pinched)", int(tapered.sum()))
        # A part resting on the table pinched above its middle: the pads press on its top edge and
        # squeeze it out as it is lifted (a spoon's 4 mm handle under fingertips 3.6 mm up, in the
        # twin). A part whose contacts are lower than the pads are tall is taken to rest on the table.
        contact_z = tcp[:, 2, None] + np.einsum("nj,nkj->nk", R[:, 2, :], touch)
        top = contact_z.min(1) - cloud.table_height
        centres, halves = _hand_boxes(g, np.minimum(g.max_opening, width + g.pregrasp_clearance))
        tip = tcp[:, 2] + _lowest_offset(R, centres, halves) - cloud.table_height
        # Only a thin band of contact wedges the part out: a box-like handle pinched across the
        # upper half of its flat sides holds (random grasps in the twin: 86 % did).
        edge = ((top < g.finger_z_max - g.finger_z_min) & (tip + cfg.below_middle > 0.5 * top)
                & (top - tip < cfg.edge_band))
        ok = ~(hit | low | other | few | tapered)
        rep.count("pads above the middle of a part resting on the table (ranked down)", int((edge & ok).sum()))
        rep.count("kept", int(ok.sum()))
        if not ok.any():
            return Candidates([], rep)
        R, tcp, width, tilt, between, align = R[ok], tcp[ok], width[ok], tilt[ok], between[ok], align[ok]
        # Contacts where the part is outermost between the pads, on the pad faces: that is where
        # the fingers meet it, and what the affordance under the fingers is read from.
        touch = touch[ok]
        extent = np.clip(touch[:, 1, 1] - touch[:, 0, 1], cfg.min_width, g.max_opening - cfg.width_margin)
        # A closing axis skewed across a part sees its section stretched over the pads' width:
        # the chord across (after re-centring) over the extent between the pads says how square it is.
        square = np.clip(width / extent, 0.0, 1.0)
        width = extent
        contacts = tcp[:, None] + np.einsum("nij,nkj->nki", R, touch)
        # The whole object's weight acts at its centre of mass (the target may be one part of
        # it): a grasp far from it twists out when lifted, however good its contacts.
        with rep.times.stage("hold"):
            body = cloud.body_mask()
            grip = cloud.grip_mask()
            est = estimate_mass(cloud.points[body], cloud.table_height, cfg.hold,
                                None if grip is None else grip[body], cloud.mass_range)
            hold = hold_probability(R, tcp, width, est, cfg.hold, seed, radius=patch[ok, 0], extent=patch[ok, 1:])
        rep.count("predicted to twist out (hold < 0.5)", int((hold < 0.5).sum()))
        rep.physical = {"mass_kg": round(float(est.mass), 3),
                        "centre_of_mass": [round(float(c), 4) for c in est.com]}
        # The grasp serves the request when it holds and its pads touch only the part asked for
        # (a mug's handle, not its body beside it): both weigh on the quality, and grasps that
        # may fail either way are still told apart by their contacts.
        only_part = np.where(swept.other_part[ok] > 0, cfg.other_part_factor, 1.0)
        quality = self._quality(align * square[:, None], between, tilt, coverage[ok]) * (0.1 + 0.9 * hold)
        # A pinch on the top edge of a resting part is a worse grip than one that reaches below its
        # middle, so one that does is tried first. (Not a probability of holding: among random grasps
        # in the twin, 84 % of those pinches held, as many as the others.)
        quality = np.where(edge[ok], cfg.edge_quality * quality, quality)
        order = np.argsort(-quality * only_part, kind="stable")
        T = np.tile(np.eye(4), (len(order), 1, 1))
        T[:, :3, :3], T[:, :3, 3] = R[order], tcp[order]
        return Candidates(GraspSet(T, width[order], quality[order], contacts[order], hold=hold[order],
                                   part_only=only_part[order]), rep)

    def _poses(self, axis, centre, width, align_pair, cloud: SceneCloud, rng: np.random.Generator,
               rep: GenerationReport):
        """Approaches about each closing axis, then depths: the hand poses (R, TCP) to evaluate,
        with width, tilt from vertical and contact alignment of each."""
        cfg, g = self.cfg, self.gripper
        appr = self._approaches(axis, centre)                               # (N, A, 3)
        n_a = appr.shape[1]
        axis_r, centre_r = np.repeat(axis, n_a, 0), np.repeat(centre, n_a, 0)
        width_r, align_r = np.repeat(width, n_a), np.repeat(align_pair, n_a, 0)
        appr = appr.reshape(-1, 3)
        rep.count("poses", len(appr))
        radial = centre_r[:, :2] / np.maximum(np.linalg.norm(centre_r[:, :2], axis=1, keepdims=True), 1e-9)
        horiz = np.linalg.norm(appr[:, :2], axis=1)
        back = np.einsum("ij,ij->i", appr[:, :2], radial) < -cfg.max_back_approach * np.maximum(horiz, 1e-9)
        back &= horiz > 0.5
        rep.remove("approach from the robot's far side", int(back.sum()))
        keep = ~back
        axis_r, centre_r, width_r, align_r, appr = axis_r[keep], centre_r[keep], width_r[keep], align_r[keep], appr[keep]
        R0 = _frames(axis_r, appr)
        opening = np.minimum(g.max_opening, width_r + g.pregrasp_clearance)
        deepest = self._deepest(R0, centre_r, opening, cloud.table_height)
        depth = np.minimum(np.asarray(cfg.depths)[None, :], deepest[:, None])  # (N, D)
        ok_depth = depth >= cfg.min_depth
        # Two nominal depths may clip to the same one: keep each distinct depth once.
        dup = np.zeros_like(ok_depth)
        dup[:, 1:] = np.isclose(depth[:, 1:], depth[:, :-1])
        rep.remove("fingertips would reach the table", int((~ok_depth).sum()))
        keep = ok_depth & ~dup
        n_i, d_i = np.nonzero(keep)
        R = R0[n_i]
        tcp = centre_r[n_i] + appr[n_i] * depth[n_i, d_i][:, None]
        width, align = width_r[n_i], align_r[n_i]
        tilt = np.arccos(np.clip(-appr[n_i, 2], -1, 1))
        if len(tcp) > cfg.max_candidates:
            sub = np.sort(rng.choice(len(tcp), cfg.max_candidates, replace=False))
            rep.remove("not evaluated (random subset)", len(tcp) - len(sub))
            R, tcp, width, tilt, align = R[sub], tcp[sub], width[sub], tilt[sub], align[sub]
        return R, tcp, width, tilt, align

    def _draw_back(self, R, tcp, width, tilt, align, swept, cloud: SceneCloud, rep: GenerationReport):
        """Each grasp whose fingertips would reach another part of the object beyond the one asked
        for (between the pads, or in the fingers' way: a jar's shoulder wider than its lid) is also
        tried drawn back along its approach until they stop short of it (a jar's lid, a cup's rim
        above its body). The drawn-back grasps are swept again and join the rest: the hold model
        judges their smaller contact patch, the score their contacts."""
        cfg, g = self.cfg, self.gripper
        back = g.finger_z_max + cfg.fingertip_clearance - swept.ahead
        redo = ((swept.hit | (swept.other_part > 0)) & ~swept.low & np.isfinite(swept.ahead) & (back > 0)
                & (back <= cfg.max_draw_back))
        rep.count("drawn back short of another part", int(redo.sum()))
        if not redo.any():
            return R, tcp, width, tilt, align, swept
        R2 = R[redo]
        tcp2 = tcp[redo] - R2[:, :, 2] * back[redo][:, None]
        more = self._collision_free(R2, tcp2, width[redo], cloud)
        joined = swept.join(more)
        R, tcp = np.concatenate([R, R2]), np.concatenate([tcp, tcp2])
        # Drawn back by the step between two nominal depths, a grasp is one that is already there.
        key = np.round(np.hstack([R.reshape(len(R), -1), tcp]) / 1e-3).astype(np.int64)
        first = np.sort(np.unique(key, axis=0, return_index=True)[1])
        width, tilt, align = (np.concatenate([a, a[redo]]) for a in (width, tilt, align))
        return R[first], tcp[first], width[first], tilt[first], align[first], joined.take(first)

    def _choose_seeds(self, tgt_idx: np.ndarray, rng: np.random.Generator, weights: Optional[np.ndarray],
                      n_points: int) -> np.ndarray:
        n = min(self.cfg.n_seeds, len(tgt_idx))
        if weights is None:
            return rng.choice(tgt_idx, size=n, replace=False)
        weights = np.asarray(weights, float)
        if weights.shape != (n_points,):
            raise InvalidInputError(f"seed_weights must hold one weight per cloud point ({n_points}), "
                                    f"got shape {weights.shape}")
        w = np.clip(np.nan_to_num(weights[tgt_idx]), 0, None)
        if w.sum() <= 0:
            return rng.choice(tgt_idx, size=n, replace=False)
        n_w = min(n // 2, int((w > 0).sum()))
        weighted = rng.choice(tgt_idx, size=n_w, replace=False, p=w / w.sum())
        rest = np.setdiff1d(tgt_idx, weighted)
        uniform = rng.choice(rest, size=min(n - n_w, len(rest)), replace=False)
        return np.concatenate([weighted, uniform])

    def _collision_free(self, R, tcp, width, cloud: SceneCloud, chunk: int = 128):
        """Every hand box (finger segments and palm), swept back along the approach, vs object
        points; the lowest box corner vs the table plane; and what lies between the pads and just
        past the fingertips. Runs in torch (on the GPU if any). Returns a Sweep (one entry per
        candidate)."""
        g, cfg = self.gripper, self.cfg
        dev = self.device
        opening = np.minimum(g.max_opening, width + g.pregrasp_clearance)
        n = len(tcp)
        centres, halves = _hand_boxes(g, opening)
        low = tcp[:, 2] + _lowest_offset(R, centres, halves) <= cloud.table_height + cfg.table_clearance - 1e-6
        objects = cloud.objects
        pts = cloud.points[objects]
        tgt = (cloud.target & objects)[objects]
        body = cloud.body_mask()[objects]
        elsewhere = cloud.other_part_mask()[objects]
        # The part the fingers are to take (heat >= 0.5), and the rest of its object: heat fades
        # over a centimetre of a part's edge, so a pad overshooting a rim or a lid by a few
        # millimetres reaches points that are not clearly elsewhere, only not the part.
        grip = cloud.grip_mask()
        part = tgt if grip is None else grip[objects]
        off_part = elsewhere if grip is None else body & ~part
        # Only points inside a candidate's swept hand can touch it; each chunk of nearby, similarly
        # turned candidates is tested against the points inside its hands' bounds alone.
        lo, hi = _swept_bounds(R, tcp, centres, halves, cfg.pregrasp_offset)
        # ... and the space just past the fingertips, where another part is looked for.
        past = 3 * cfg.patch_sample
        tip_c = np.zeros((n, 1, 3))
        tip_c[..., 2] = g.finger_z_max + past / 2
        tip_h = np.array([[g.finger_half_width + cfg.part_margin, g.max_opening / 2, past / 2]])
        tip_lo, tip_hi = _swept_bounds(R, tcp, tip_c, tip_h, 0.0)
        lo, hi = np.minimum(lo, tip_lo) - cfg.finger_clearance, np.maximum(hi, tip_hi) + cfg.finger_clearance
        P = torch.as_tensor(pts, dtype=torch.float32, device=dev)
        T = torch.as_tensor(tgt, device=dev)
        B = torch.as_tensor(body, device=dev)
        E = torch.as_tensor(elsewhere, device=dev)
        G = torch.as_tensor(part, device=dev)
        O = torch.as_tensor(off_part, device=dev)
        Rt = torch.as_tensor(R, dtype=torch.float32, device=dev)
        tt = torch.as_tensor(tcp, dtype=torch.float32, device=dev)
        C = torch.as_tensor(centres, dtype=torch.float32, device=dev)          # (N, K, 3)
        H = torch.as_tensor(halves, dtype=torch.float32, device=dev)           # (K, 3)
        half = torch.as_tensor(opening / 2, dtype=torch.float32, device=dev)
        hit = torch.zeros(n, dtype=torch.bool, device=dev)
        between = torch.zeros(n, dtype=torch.long, device=dev)
        foreign = torch.zeros(n, dtype=torch.long, device=dev)
        other_part = torch.zeros(n, dtype=torch.long, device=dev)
        ahead = torch.full((n,), np.inf, dtype=torch.float32, device=dev)
        span = torch.zeros(n, dtype=torch.float32, device=dev)
        contact = torch.zeros((n, 2, 3), dtype=torch.float32, device=dev)   # TCP frame, -y side then +y side
        taper = torch.zeros(n, dtype=torch.long, device=dev)
        # The contact patch: its equal-area radius (torsion) and its extents along the pads' width (x)
        # and height (z) (what tilts it across the closing axis), m, the smaller of the two pads.
        patch = torch.full((n, 3), cfg.min_patch_radius, dtype=torch.float32, device=dev)
        patch[:, 1:] = 2 * cfg.min_patch_radius
        pad_height = g.finger_z_max - g.finger_z_min
        with torch.no_grad():
            # A hand below the table is rejected already: only the others are swept.
            todo = np.nonzero(~low)[0]
            for part in _compact_chunks(np.hstack([(lo + hi) / 2, R[:, :, 2] * 0.05])[todo], chunk):
                idx = todo[part]
                near = np.all((pts >= lo[idx].min(0)) & (pts <= hi[idx].max(0)), axis=1)
                if not near.any():
                    continue
                sel = torch.as_tensor(np.nonzero(near)[0], device=dev)
                i = torch.as_tensor(idx, device=dev)
                local = torch.matmul(P[sel][None] - tt[i, None], Rt[i])        # (c, P, 3) TCP frame
                x, y, z = local.unbind(-1)
                ax, ay = x.abs(), y.abs()
                o = half[i, None]
                # The fingers are mirror images across the closing plane: one test per segment
                # covers both, on |y| (the boxes of GripperGeometry.boxes, swept back).
                # Padded by the clearance against anything but the part the fingers take (grazing
                # it is harmless: it is squeezed next). The pad faces (|y| = o) are not padded,
                # what is between them is taken; nor are the fingertips, which the table and the
                # draw-back short of other parts keep apart.
                pad = torch.where(G[sel], 0.0, cfg.finger_clearance)[None]     # (1, P)
                fingers = torch.zeros_like(ax, dtype=torch.bool)
                for seg in g.segments():
                    fingers |= ((ax <= seg.half_width + pad) & (ay >= o) & (ay <= o + seg.thickness + pad)
                                & (z >= seg.z_min - cfg.pregrasp_offset) & (z <= seg.z_max))
                pc, ph = C[i, -1], H[-1]                                      # the palm
                palm = (((x - pc[:, 0:1]).abs() <= ph[0] + pad) & ((y - pc[:, 1:2]).abs() <= ph[1] + pad)
                        & (z >= pc[:, 2:3] - ph[2] - pad - cfg.pregrasp_offset)
                        & (z <= pc[:, 2:3] + ph[2] + pad)).any(1)
                hit[i] |= fingers.any(1) | palm
                # Fingers that reach only the rest of the part's own object, past the TCP (a jar's
                # shoulder flaring out below its lid, met by the fingertips): drawn back short of
                # the nearest such point, they may still take the part.
                rest_only = fingers.any(1) & ~palm & ~(fingers & ~O[sel][None]).any(1)
                first = torch.where(fingers & O[sel][None] & (z > 0), z, torch.full_like(z, np.inf)).min(1).values
                ahead[i] = torch.where(rest_only, first, ahead[i])
                # What lies between the pads matters only where the hand is free. The pads squeeze
                # whatever is there: another object (a neighbour) and another part of the target's
                # own object are counted apart, and only the target's points make the grasp.
                free = torch.nonzero(~hit[i]).squeeze(1)
                if len(free) == 0:
                    continue
                i, o, local = i[free], o[free], local[free]
                x, y, z = local.unbind(-1)
                inner = (x.abs() <= g.finger_half_width) & (y.abs() < o) & (z >= g.finger_z_min) & (z <= g.finger_z_max)
                foreign[i] = (inner & ~B[sel][None]).sum(1)
                # Another part of the same object within the pads' reach, or a pad's slide of
                # a few millimetres beside it while closing, is touched too.
                reach = ((x.abs() <= g.finger_half_width + cfg.part_margin) & (y.abs() < o)
                         & (z >= g.finger_z_min) & (z <= g.finger_z_max))
                # Beyond the part's own points between the pads (along the approach), toward the
                # fingertips, anything of the object that is not the part is another part: a rim's
                # cup below it, a lid's jar. Drawing back as far as the nearest one clears it.
                on_part = inner & G[sel][None]
                mid = torch.where(on_part, z, 0.0).sum(1) / on_part.sum(1).clamp(min=1)
                # One voxel's give past the fingertips too: a surface there is sampled that coarsely.
                tips = ((x.abs() <= g.finger_half_width + cfg.part_margin) & (y.abs() < o)
                        & (z > mid[:, None]) & (z <= g.finger_z_max + cfg.patch_sample))
                # Only where the rest of the object goes on past the fingertips (a cup's wall below
                # its rim): a tool lying on the table ends there, its flank's faded heat is its own.
                further = ((x.abs() <= g.finger_half_width + cfg.part_margin) & (y.abs() < o)
                           & (z > g.finger_z_max + cfg.patch_sample) & (z <= g.finger_z_max + past))
                goes_on = (further & O[sel][None]).any(1, keepdim=True)
                beyond = tips & O[sel][None] & on_part.any(1, keepdim=True) & goes_on
                other_part[i] = (reach & E[sel][None] | beyond).sum(1)
                ahead[i] = torch.where(beyond, z, torch.full_like(z, np.inf)).min(1).values
                cols = torch.nonzero(T[sel]).squeeze(1)
                if len(cols) == 0:
                    continue
                local, inner = local[:, cols], inner[:, cols]
                x, y, z = local.unbind(-1)
                between[i] = inner.sum(1)
                inf = torch.full_like(x, np.inf)
                span[i] = (torch.where(inner, x, -inf).max(1).values - torch.where(inner, x, inf).min(1).values).clamp(min=0)
                # Where the fingers will touch: the part's outermost points between the pads on
                # either side (a bottle's cap, if it is wider than the neck the pads were aimed at).
                lo_i = torch.where(inner, y, inf).argmin(1)
                hi_i = torch.where(inner, y, -inf).argmax(1)
                rows = torch.arange(len(i), device=dev)
                contact[i, 0] = local[rows, lo_i]
                contact[i, 1] = local[rows, hi_i]
                # The part just past the fingertips, further out than the contacts on their side.
                on_grip = G[sel][cols][None]
                past_tips = on_grip & (x.abs() <= g.finger_half_width) & (z > g.finger_z_max) & (z <= g.finger_z_max + past)
                wider = ((y < contact[i, 0, 1, None] - cfg.taper_margin) | (y > contact[i, 1, 1, None] + cfg.taper_margin))
                solid = (contact[i, 1, 1] - contact[i, 0, 1]) >= cfg.taper_min_width
                taper[i] = torch.where(solid, (past_tips & wider).sum(1), torch.zeros_like(taper[i]))
                # The contact patch on each pad: the part's points within the rubber's give of the
                # outermost one on that side, their extent along the pad's width (x) and height (z).
                # A flat-sided handle fills the pad; a thin round one touches a strip.
                radius = torch.full((len(i),), np.inf, device=dev)
                extent = torch.full((len(i), 2), np.inf, device=dev)
                for side, y0 in ((-1, local[rows, lo_i, 1]), (1, local[rows, hi_i, 1])):
                    near = inner & ((y - y0[:, None]) * side >= -cfg.patch_depth)
                    ext = []
                    for c, most in ((x, 2 * g.finger_half_width), (z, pad_height)):
                        ext.append(((torch.where(near, c, -inf).max(1).values
                                     - torch.where(near, c, inf).min(1).values).clamp(min=0)
                                    + cfg.patch_sample).clamp(max=most))
                    radius = torch.minimum(radius, torch.sqrt(ext[0] * ext[1] / np.pi))
                    extent = torch.minimum(extent, torch.stack(ext, 1))
                patch[i, 0] = radius.clamp(min=cfg.min_patch_radius)
                patch[i, 1:] = extent.clamp(min=2 * cfg.min_patch_radius)
        # How much of the pads' width the part fills: a grasp on the very end of a handle has the part
        # under one edge of the pads only, and twists out when lifted.
        coverage = np.clip(span.cpu().numpy() / (2 * g.finger_half_width), 0, 1)
        return Sweep(hit.cpu().numpy(), low, between.cpu().numpy(), foreign.cpu().numpy(), other_part.cpu().numpy(),
                     coverage, contact.cpu().numpy().astype(np.float64), patch.cpu().numpy().astype(np.float64),
                     ahead.cpu().numpy().astype(np.float64), taper.cpu().numpy())

    def _recentre(self, R, tcp, width, cloud: SceneCloud, chunk: int = 256):
        """Slide each grasp along the pad width (TCP x) onto the middle of its widest chord, and
        take that chord as the width. One view sees only the near half of a round part, so every
        measured run is a chord in front of the axis: the fingers would close on the part's flank
        and squeeze it out sideways (a bottle neck 1 cm off the pad centre slips). The widest chord
        lies at the axis for a round part and anywhere for a flat-sided one, so the middle of the
        chords within 90 % of the widest is right for both. A section whose points reach the edge
        of the searched band is something else beside the part (a mug's body next to its handle):
        it is neither a chord nor a place to slide to."""
        g, cfg = self.gripper, self.cfg
        dev = self.device
        if len(tcp) == 0:
            return tcp, width
        pts = cloud.points[cloud.objects]
        nb = int(round(2 * cfg.recentre_window / cfg.recentre_bin)) + 1
        centres = torch.linspace(-cfg.recentre_window, cfg.recentre_window, nb, device=dev)
        # The band searched across the pads: wide enough for chords wider than the measured run
        # (the hidden half of a round part), narrow enough to tell a neighbouring body apart.
        band = width / 2 + 2 * cfg.width_margin
        fz = (g.finger_z_min + g.finger_z_max) / 2
        box_c = np.tile([0.0, 0.0, fz], (len(tcp), 1, 1))
        box_h = np.array([[cfg.recentre_window, band.max(), (g.finger_z_max - g.finger_z_min) / 2]])
        lo, hi = _swept_bounds(R, tcp, box_c, box_h, 0.0)
        P = torch.as_tensor(pts, dtype=torch.float32, device=dev)
        Rt = torch.as_tensor(R, dtype=torch.float32, device=dev)
        tt = torch.as_tensor(tcp, dtype=torch.float32, device=dev)
        reach = torch.as_tensor(band, dtype=torch.float32, device=dev)
        edge = cfg.width_margin / 2
        shift, chord = np.zeros(len(tcp)), np.asarray(width, float).copy()
        with torch.no_grad():
            for idx in _compact_chunks(np.hstack([(lo + hi) / 2, R[:, :, 0] * 0.05]), chunk):
                near = np.nonzero(np.all((pts >= lo[idx].min(0)) & (pts <= hi[idx].max(0)), axis=1))[0]
                if len(near) == 0:
                    continue
                i = torch.as_tensor(idx, device=dev)
                x, y, z = torch.matmul(P[torch.as_tensor(near, device=dev)][None] - tt[i, None], Rt[i]).unbind(-1)
                sel = ((x.abs() <= cfg.recentre_window) & (y.abs() <= reach[i, None])
                       & (z >= g.finger_z_min) & (z <= g.finger_z_max))
                b = torch.round((x + cfg.recentre_window) / cfg.recentre_bin).long().clamp(0, nb - 1)
                b = torch.where(sel, b, torch.full_like(b, nb))                         # nb: discard bin
                hi_y = torch.full((len(idx), nb + 1), -np.inf, device=dev).scatter_reduce(1, b, y, "amax")[:, :nb]
                lo_y = torch.full((len(idx), nb + 1), np.inf, device=dev).scatter_reduce(1, b, y, "amin")[:, :nb]
                seen = torch.isfinite(hi_y) & torch.isfinite(lo_y)
                lim = reach[i, None] - edge
                inside = seen & (hi_y <= lim) & (lo_y >= -lim)
                w = torch.where(inside, hi_y - lo_y, torch.zeros_like(hi_y))
                best = w.max(1).values
                wide = inside & (w >= 0.9 * best[:, None]) & (best[:, None] > 0)
                xs = torch.where(wide, centres[None], torch.full_like(w, np.inf)).min(1).values
                xe = torch.where(wide, centres[None], torch.full_like(w, -np.inf)).max(1).values
                mid = torch.where(best > 0, (xs + xe) / 2, torch.zeros_like(best))
                shift[idx] = mid.clamp(-g.finger_half_width, g.finger_half_width).cpu().numpy()
                chord[idx] = np.maximum(chord[idx], best.cpu().numpy())
        return tcp + R[:, :, 0] * shift[:, None], np.minimum(chord, g.max_opening - cfg.width_margin)

    def _boundary_alignment(self, ends, axis, band, obj_pts, tree, radius: float = 0.010, width: float = 0.004):
        """|outward normal . closing axis| (N, 2) at the run ends. The outward normal in the plane
        of the cross section is the end minus the centroid of nearby points in that section (within
        ``width`` along ``band``): it needs only the surface the camera sees around the end, not the
        (often hidden) face."""
        flat = ends.reshape(-1, 3)
        bd = np.repeat(band, 2, axis=0)
        k = min(32, len(obj_pts))
        d, ix = tree.query(flat, k=k, distance_upper_bound=radius, workers=-1)
        found = np.isfinite(d)
        nb = obj_pts[np.minimum(ix, len(obj_pts) - 1)]
        off = nb - flat[:, None]
        same = found & (np.abs(np.matmul(off, bd[:, :, None])[..., 0]) < width)
        cnt = same.sum(1)
        centroid = (nb * same[..., None]).sum(1) / np.maximum(cnt, 1)[:, None]
        n = flat - centroid
        n -= bd * np.einsum("nc,nc->n", n, bd)[:, None]
        norm = np.linalg.norm(n, axis=1)
        ax = np.repeat(axis, 2, axis=0)
        a = np.abs((n * ax).sum(1)) / np.maximum(norm, 1e-9)
        # Too few neighbours or an end in the middle of the surface: no evidence of an edge.
        a[(cnt < 4) | (norm < 0.0015)] = 0.0
        return a.reshape(-1, 2)

    def _quality(self, align, between, tilt, coverage):
        """The contacts' quality in [0, 1], before the hold factor: 0.35 contact alignment with the
        closing axis (and squareness), 0.2 points between the pads, 0.2 of the pads' width covered
        by the part, 0.25 approach closeness to vertical."""
        a = align.mean(1)
        fill = np.clip(between / 30.0, 0, 1)
        return 0.35 * a + 0.2 * fill + 0.2 * coverage + 0.25 * np.cos(tilt)
