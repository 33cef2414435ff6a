"""Antipodal sampling for a parallel-jaw gripper, vectorised over seeds, axes and approaches.

For each seed point on the target we look for the opposite surface along candidate closing axes
(the seed's own normal when it faces sideways, plus evenly spaced horizontal directions): the
contiguous run of object points along a thin line through the seed gives both contacts and the
width. A single view misses far faces, so a run only counts when the space just past both of its
ends was seen to be free (in front of the measured depth). Each axis gets several approach directions
around it and two depths. Candidates whose swept finger or palm volumes contain scene points,
that reach below the table, or that hold too few points between the fingers, are rejected.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..errors import EmptyCloudError
from ..types import Grasp
from .base import GraspGenerator
from .cloud import SceneCloud
from .gripper import GripperGeometry


@dataclass
class AntipodalConfig:
    n_seeds: int = 200
    n_axes: int = 6                    # horizontal closing axes per seed (plus the normal's)
    approach_deg: Tuple[float, ...] = (0.0, 30.0, -30.0, 50.0, -50.0)  # tilt around the axis
    depths: Tuple[float, ...] = (0.006, 0.016)  # TCP below the seed along the approach (m)
    line_radius: float = 0.005         # points this close to the axis line count
    bin_size: float = 0.004            # run detection resolution along the axis
    min_width: float = 0.004
    width_margin: float = 0.006        # opening must exceed the width by this much
    min_points_between: int = 5
    table_clearance: float = 0.002
    pregrasp_offset: float = 0.10      # swept approach length checked for collisions
    max_candidates: int = 1500         # evaluated after the width test (random subset)
    recentre_window: float = 0.025     # +- along the pad width searched for the widest chord (m)
    recentre_bin: float = 0.002
    friction_coef: float = 0.5


def _within_reach(points: np.ndarray, tcp: np.ndarray, reach: float) -> np.ndarray:
    """Points inside the box around all TCPs grown by ``reach``: only these can matter to the
    candidates, so the per-candidate tensors stay small."""
    lo, hi = tcp.min(0) - reach, tcp.max(0) + reach
    return np.all((points >= lo) & (points <= hi), axis=1)


def _frames(axis: np.ndarray, approach: np.ndarray) -> np.ndarray:
    """Rotation matrices (N, 3, 3) with y = axis, z = approach."""
    x = np.cross(axis, approach)
    return np.stack([x, axis, approach], axis=2)


class AntipodalGenerator(GraspGenerator):
    def __init__(self, gripper: GripperGeometry | None = None, config: AntipodalConfig | None = None,
                 device: str | None = None):
        self.gripper = gripper or GripperGeometry.from_yaml()
        self.cfg = config or AntipodalConfig()
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    # ------------------------------------------------------------------ contacts and widths
    def _axes(self, normals: np.ndarray) -> np.ndarray:
        """(S, A+1, 3) horizontal unit closing axes; the first is the seed normal's horizontal part."""
        ang = np.arange(self.cfg.n_axes) * np.pi / self.cfg.n_axes
        fixed = np.stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)], 1)
        nh = normals.copy()
        nh[:, 2] = 0
        norm = np.linalg.norm(nh, axis=1, keepdims=True)
        nh = np.where(norm > 0.5, nh / np.maximum(norm, 1e-9), fixed[0])  # top-facing: no own axis
        return np.concatenate([nh[:, None], np.broadcast_to(fixed, (len(normals),) + fixed.shape)], 1)

    def _runs(self, seeds, axes, obj_pts, tree, cloud: SceneCloud):
        """Width of the contiguous object run through each seed along each axis.
        Returns t_min, t_max (S, L) along the axis, and validity."""
        cfg, g = self.cfg, self.gripper
        reach = g.max_opening
        k = min(256, len(obj_pts))
        dist, idx = tree.query(seeds, k=k, distance_upper_bound=reach)
        found = np.isfinite(dist)
        nb = obj_pts[np.minimum(idx, len(obj_pts) - 1)]              # (S, K, 3)
        d = nb - seeds[:, None]                                      # (S, K, 3)
        t = np.einsum("slc,skc->slk", axes, d)                       # (S, L, K)
        perp2 = (d ** 2).sum(-1)[:, None] - t ** 2
        near = found[:, None] & (perp2 < cfg.line_radius ** 2)
        nbins = int(np.ceil(2 * reach / cfg.bin_size)) | 1
        c = nbins // 2
        b = np.clip(np.round(t / cfg.bin_size).astype(int) + c, 0, nbins - 1)
        occ = np.zeros(t.shape[:2] + (nbins,), bool)
        s_i, l_i, k_i = np.nonzero(near)
        occ[s_i, l_i, b[s_i, l_i, k_i]] = True
        occ[..., c] = True                                           # the seed itself
        gap = occ.copy()                                             # bridge single-bin holes
        gap[..., 1:-1] |= occ[..., :-2] & occ[..., 2:]
        right = np.cumprod(gap[..., c:], axis=-1).sum(-1)            # bins incl. centre
        left = np.cumprod(gap[..., c::-1], axis=-1).sum(-1)
        open_ended = (right >= nbins - c) | (left >= c + 1)          # the run reaches the window edge
        lo_bin, hi_bin = c - left + 1, c + right - 1
        inrun = near & (b >= lo_bin[..., None]) & (b <= hi_bin[..., None])
        t_min = np.where(inrun, t, np.inf).min(-1)
        t_max = np.where(inrun, t, -np.inf).max(-1)
        t_min, t_max = np.minimum(t_min, 0.0), np.maximum(t_max, 0.0)
        width = t_max - t_min
        valid = ~open_ended & (width >= cfg.min_width) & (width <= g.max_opening - cfg.width_margin)
        # A run may end only because the camera saw nothing further (the far face of a seed on a
        # side wall is hidden): the space just past each end must be observed free.
        step = cfg.bin_size * 1.5
        past = np.concatenate([seeds[:, None] + axes * (t_max + step)[..., None],
                               seeds[:, None] + axes * (t_min - step)[..., None]], 1)
        free = cloud.observed_free(past.reshape(-1, 3)).reshape(past.shape[:2])
        L = axes.shape[1]
        valid &= free[:, :L] & free[:, L:]
        return t_min, t_max, valid

    # ------------------------------------------------------------------ generation
    def generate(self, cloud: SceneCloud, seed: int = 0) -> List[Grasp]:
        cfg, g = self.cfg, self.gripper
        tgt_idx = np.nonzero(cloud.target & cloud.objects)[0]
        if len(tgt_idx) == 0:
            raise EmptyCloudError("no target points to grasp (empty mask, or everything was table)")
        rng = np.random.default_rng(seed)
        chosen = rng.choice(tgt_idx, size=min(cfg.n_seeds, len(tgt_idx)), replace=False)
        obj_mask = cloud.objects
        obj_pts = cloud.points[obj_mask]
        tree = cKDTree(obj_pts)
        seeds, normals = cloud.points[chosen], cloud.normals[chosen]
        axes = self._axes(normals)
        t_min, t_max, valid = self._runs(seeds, axes, obj_pts, tree, cloud)
        s_i, l_i = np.nonzero(valid)
        if len(s_i) == 0:
            return []
        axis = axes[s_i, l_i]
        # Friction cone at both run ends, with normals from the surface boundary around them.
        ends = np.stack([seeds[s_i] + axis * t_min[s_i, l_i][:, None], seeds[s_i] + axis * t_max[s_i, l_i][:, None]], 1)
        align_pair = self._boundary_alignment(ends, axis, obj_pts, tree)
        cone = np.cos(np.arctan(cfg.friction_coef))
        keep = np.all(align_pair >= cone, axis=1)
        s_i, l_i, axis, align_pair = s_i[keep], l_i[keep], axis[keep], align_pair[keep]
        if len(s_i) == 0:
            return []
        centre = seeds[s_i] + axis * ((t_min + t_max) / 2)[s_i, l_i][:, None]
        width = (t_max - t_min)[s_i, l_i]

        # Approaches around each axis, then depths: (M, 3) each.
        down = np.array([0.0, 0.0, -1.0])
        side = np.cross(axis, down)
        th = np.deg2rad(np.asarray(cfg.approach_deg))
        appr = (np.cos(th)[None, :, None] * down + np.sin(th)[None, :, None] * side[:, None, :])
        n_a, n_d = len(th), len(cfg.depths)
        appr = np.repeat(appr.reshape(-1, 3), n_d, axis=0)
        depth = np.tile(np.asarray(cfg.depths), len(axis) * n_a)
        rep = n_a * n_d
        axis, centre, width = np.repeat(axis, rep, 0), np.repeat(centre, rep, 0), np.repeat(width, rep)
        align_pair = np.repeat(align_pair, rep, 0)
        tilt = np.tile(np.repeat(np.abs(th), n_d), len(s_i))
        # Straight down by the depth whatever the tilt, so the contacts stay under the measured run.
        tcp = centre - np.array([0.0, 0.0, 1.0]) * depth[:, None]
        if len(tcp) > cfg.max_candidates:
            keep = np.sort(rng.choice(len(tcp), cfg.max_candidates, replace=False))
            axis, appr, tcp, width, tilt = axis[keep], appr[keep], tcp[keep], width[keep], tilt[keep]
            align_pair = align_pair[keep]
        R = _frames(axis, appr)
        tcp, width = self._recentre(R, tcp, width, cloud)
        ok, between = self._collision_free(R, tcp, width, cloud)
        if not ok.any():
            return []
        R, tcp, width, tilt, between, align = R[ok], tcp[ok], width[ok], tilt[ok], between[ok], align_pair[ok]
        contacts = np.stack([tcp - R[:, :, 1] * width[:, None] / 2, tcp + R[:, :, 1] * width[:, None] / 2], 1)
        quality = self._quality(align, between, tilt)
        out = []
        for i in np.argsort(-quality, kind="stable"):
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = R[i], tcp[i]
            out.append(Grasp(T, float(width[i]), quality=float(quality[i]), score=float(quality[i]),
                             contacts=contacts[i]))
        return out

    def _collision_free(self, R, tcp, width, cloud: SceneCloud, chunk: int = 512):
        """Swept finger/palm boxes vs object points, the lowest box corner vs the table plane,
        and the count of target points between the pads. Runs in torch (on the GPU if any)."""
        g, cfg = self.gripper, self.cfg
        dev = self.device
        opening = np.minimum(g.max_opening, width + g.pregrasp_clearance)
        n = len(tcp)
        # Table: the lowest corner of every (swept) box must clear the plane. Box centres and
        # half extents depend on the opening only through the finger y offset.
        ok = np.ones(n, bool)
        signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
        c0, h0 = g.boxes(0.0)
        for box in range(3):
            c = np.repeat(c0[box][None], n, 0)
            if box < 2:
                c[:, 1] += (-1 if box == 0 else 1) * opening / 2
            corners = c[:, None] + signs[None] * h0[box]
            world_z = np.einsum("nj,nkj->nk", R[:, 2], corners) + tcp[:, None, 2]
            ok &= world_z.min(1) > cloud.table_height + cfg.table_clearance
        # Only object points near the candidates can touch the hand.
        objects = cloud.objects
        pts = cloud.points[objects]
        tgt = (cloud.target & objects)[objects]
        reach = np.linalg.norm(np.asarray(g.palm_half_extents)) + abs(g.palm_center[2]) + cfg.pregrasp_offset
        near = _within_reach(pts, tcp, reach)
        P = torch.as_tensor(pts[near], dtype=torch.float32, device=dev)
        T = torch.as_tensor(tgt[near], device=dev)
        Rt = torch.as_tensor(R, dtype=torch.float32, device=dev)
        tt = torch.as_tensor(tcp, dtype=torch.float32, device=dev)
        half = torch.as_tensor(opening / 2, dtype=torch.float32, device=dev)
        pc, ph = g.palm_center, g.palm_half_extents
        fz0, fz1 = g.finger_z_min - cfg.pregrasp_offset, g.finger_z_max
        hit = torch.zeros(n, dtype=torch.bool, device=dev)
        between = torch.zeros(n, dtype=torch.long, device=dev)
        with torch.no_grad():
            for s in range(0, n, chunk):
                e = min(n, s + chunk)
                local = torch.matmul(P[None] - tt[s:e, None], Rt[s:e])       # (c, P, 3) TCP frame
                x, y, z = local.unbind(-1)
                ay, ho = y.abs(), half[s:e, None]
                in_x = x.abs() <= g.finger_half_width
                fingers = in_x & (ay >= ho) & (ay <= ho + g.finger_thickness) & (z >= fz0) & (z <= fz1)
                palm = ((x - pc[0]).abs() <= ph[0]) & ((y - pc[1]).abs() <= ph[1]) \
                    & (z >= pc[2] - ph[2] - cfg.pregrasp_offset) & (z <= pc[2] + ph[2])
                hit[s:e] = (fingers | palm).any(1)
                between[s:e] = (in_x & (ay < ho) & (z >= g.finger_z_min) & (z <= fz1) & T).sum(1)
        ok &= ~hit.cpu().numpy()
        between = between.cpu().numpy()
        ok &= between >= cfg.min_points_between
        return ok, between

    def _recentre(self, R, tcp, width, cloud: SceneCloud, chunk: int = 512):
        """Slide each grasp along the pad width (TCP x) onto the middle of its widest chord, and
        take that chord as the width. One view sees only the near half of a round part, so every
        measured run is a chord in front of the axis: the fingers would close on the part's flank
        and squeeze it out sideways (a bottle neck 1 cm off the pad centre slips). The widest chord
        lies at the axis for a round part and anywhere for a flat-sided one, so the middle of the
        chords within 90 % of the widest is right for both."""
        g, cfg = self.gripper, self.cfg
        dev = self.device
        if len(tcp) == 0:
            return tcp, width
        pts = cloud.points[cloud.objects]
        pts = pts[_within_reach(pts, tcp, cfg.recentre_window + g.max_opening / 2 + cfg.width_margin
                                + max(abs(g.finger_z_min), abs(g.finger_z_max)))]
        if len(pts) == 0:
            return tcp, width
        pts = torch.as_tensor(pts, dtype=torch.float32, device=dev)
        nb = int(round(2 * cfg.recentre_window / cfg.recentre_bin)) + 1
        centres = torch.linspace(-cfg.recentre_window, cfg.recentre_window, nb, device=dev)
        Rt = torch.as_tensor(R, dtype=torch.float32, device=dev)
        tt = torch.as_tensor(tcp, dtype=torch.float32, device=dev)
        reach = torch.as_tensor(width / 2 + cfg.width_margin, dtype=torch.float32, device=dev)
        shift, chord = np.zeros(len(tcp)), np.asarray(width, float).copy()
        with torch.no_grad():
            for s in range(0, len(tcp), chunk):
                e = min(len(tcp), s + chunk)
                x, y, z = torch.matmul(pts[None] - tt[s:e, None], Rt[s:e]).unbind(-1)   # (c, P)
                sel = ((x.abs() <= cfg.recentre_window) & (y.abs() <= reach[s:e, None])
                       & (z >= g.finger_z_min) & (z <= g.finger_z_max))
                b = torch.round((x + cfg.recentre_window) / cfg.recentre_bin).long().clamp(0, nb - 1)
                b = torch.where(sel, b, torch.full_like(b, nb))                         # nb: discard bin
                hi = torch.full((e - s, nb + 1), -np.inf, device=dev).scatter_reduce(1, b, y, "amax")[:, :nb]
                lo = torch.full((e - s, nb + 1), np.inf, device=dev).scatter_reduce(1, b, y, "amin")[:, :nb]
                w = torch.where(torch.isfinite(hi) & torch.isfinite(lo), hi - lo, torch.zeros_like(hi))
                best = w.max(1).values
                wide = (w >= 0.9 * best[:, None]) & (best[:, None] > 0)
                xs = torch.where(wide, centres[None], torch.full_like(w, np.inf)).min(1).values
                xe = torch.where(wide, centres[None], torch.full_like(w, -np.inf)).max(1).values
                mid = torch.where(best > 0, (xs + xe) / 2, torch.zeros_like(best))
                shift[s:e] = mid.clamp(-g.finger_half_width, g.finger_half_width).cpu().numpy()
                chord[s:e] = np.maximum(chord[s:e], best.cpu().numpy())
        return tcp + R[:, :, 0] * shift[:, None], np.minimum(chord, g.max_opening - cfg.width_margin)

    def _boundary_alignment(self, ends, axis, obj_pts, tree, radius: float = 0.010, band: float = 0.004):
        """|outward normal . closing axis| (N, 2) at the run ends. The outward normal in the
        horizontal plane is the end minus the centroid of nearby points at the same height: it
        needs only the surface the camera sees around the end, not the (often hidden) face."""
        flat = ends.reshape(-1, 3)
        k = min(32, len(obj_pts))
        d, ix = tree.query(flat, k=k, distance_upper_bound=radius)
        found = np.isfinite(d)
        nb = obj_pts[np.minimum(ix, len(obj_pts) - 1)]
        same = found & (np.abs(nb[..., 2] - flat[:, None, 2]) < band)
        cnt = same.sum(1)
        centroid = (nb * same[..., None]).sum(1) / np.maximum(cnt, 1)[:, None]
        n = flat - centroid
        n[:, 2] = 0
        norm = np.linalg.norm(n, axis=1)
        ax = np.repeat(axis, 2, axis=0)
        a = np.abs((n * ax).sum(1)) / np.maximum(norm, 1e-9)
        # Too few neighbours or an end in the middle of the surface: no evidence of an edge.
        a[(cnt < 4) | (norm < 0.0015)] = 0.0
        return a.reshape(-1, 2)

    def _quality(self, align, between, tilt):
        """0.4 contact alignment with the closing axis, 0.3 points between the pads, 0.3 approach
        closeness to vertical: all in [0, 1]."""
        a = align.mean(1)
        fill = np.clip(between / 30.0, 0, 1)
        return 0.4 * a + 0.3 * fill + 0.3 * np.cos(tilt)
