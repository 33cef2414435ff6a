"""Project grasps into the image and score them by the affordance under their contacts.

A contact's affordance is the heatmap (scaled so its maximum is 1) averaged over a small disc
around its projection. A contact whose projected depth lies well behind the measured depth is
occluded: what the camera saw there is something in front of it, so it gets a reduced weight,
and the score is divided by the full weight so an occluded contact can never carry it alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np

from ..errors import InvalidInputError
from ..geometry import pixel_indices, project_base_points
from ..types import AffordanceMap, Grasp, GraspSet, RGBDFrame


@dataclass
class ScoringConfig:
    w_aff: float = 0.7
    w_q: float = 0.3
    disc_radius_px: int = 4
    occlusion_tol: float = 0.015     # m behind the measured surface counts as occluded
    occluded_weight: float = 0.3
    w_avoid: float = 1.0             # penalty weight of the avoid heatmap
    hold_floor: float = 0.2          # what a grasp sure to slip keeps of its score: the rank is the part
                                     # asked for and the grasp's quality, times its chance of holding
    # A grasp predicted to hold less often than this ranks after every one that may hold, however
    # well it sits on the part: a pan taken at the end of its handle (hold 0 %) is not tried while
    # one near the pan may hold. The request's refusal uses the same bound (pipeline.check_request;
    # from the hold calibration: below 0.1, 10 of 56 random grasps held in the twin).
    min_hold: float = 0.1

    def validate(self) -> "ScoringConfig":
        if self.w_aff < 0 or self.w_q < 0 or self.w_aff + self.w_q <= 0:
            raise InvalidInputError("scoring weights w_aff and w_q must be >= 0 and not both 0")
        if not 0 <= self.hold_floor <= 1 or not 0 <= self.min_hold <= 1:
            raise InvalidInputError(f"scoring: hold_floor and min_hold must be in [0, 1], got {self.hold_floor}, "
                                    f"{self.min_hold}")
        if self.disc_radius_px < 0 or not 0 <= self.occluded_weight <= 1 or self.occlusion_tol <= 0:
            raise InvalidInputError("scoring: disc_radius_px >= 0, occluded_weight in [0, 1], occlusion_tol > 0")
        return self


@dataclass
class Projection:
    """Pixels (N, 3, 2) of [contact 0, contact 1, TCP] and their visibility (N, 2) for contacts."""

    uv: np.ndarray
    depth: np.ndarray
    visible: np.ndarray
    inside: np.ndarray


def _as_set(grasps: Union[GraspSet, Sequence[Grasp]]) -> GraspSet:
    return grasps if isinstance(grasps, GraspSet) else GraspSet.from_grasps(grasps)


def project_grasps(grasps: Union[GraspSet, Sequence[Grasp]], frame: RGBDFrame, tol: float = 0.015) -> Projection:
    gs = _as_set(grasps)
    pts = np.concatenate([gs.contacts, gs.positions[:, None]], axis=1).reshape(-1, 3)
    uv, z = project_base_points(pts, frame.T_base_camera, frame.intrinsics)
    uv, z = uv.reshape(-1, 3, 2), z.reshape(-1, 3)
    inside, ui, vi = pixel_indices(uv, *frame.depth.shape)
    measured = frame.depth[vi, ui]
    # Unknown depth (NaN) gives no evidence of occlusion.
    visible = ~(np.isfinite(measured) & (z > measured + tol)) & inside
    return Projection(uv, z, visible[:, :2], inside)


def _disc_mean(image: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return image
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)).astype(np.float32)
    return cv2.filter2D(image, -1, k / k.sum(), borderType=cv2.BORDER_CONSTANT)


def sample_heat(heat: np.ndarray, proj: Projection) -> np.ndarray:
    """Heat (N, 3) at the projected contacts and TCP; 0 outside the image."""
    _, ui, vi = pixel_indices(proj.uv, *heat.shape)
    return np.where(proj.inside, heat[vi, ui], 0.0)


def contact_affordance(heat_at: np.ndarray, visible: np.ndarray, occluded_weight: float) -> np.ndarray:
    """(N,) in [0, 1]: contacts weighted by visibility, the TCP at full weight, over the full weight."""
    wts = np.where(visible, 1.0, occluded_weight)
    return (wts[:, 0] * heat_at[:, 0] + wts[:, 1] * heat_at[:, 1] + heat_at[:, 2]) / 3.0


def normalised_heat(heatmap: np.ndarray, radius: int) -> np.ndarray:
    smooth = _disc_mean(heatmap.astype(np.float32), radius)
    m = float(smooth.max())
    return smooth / m if m > 0 else smooth


def heat_at_points(heatmap: np.ndarray, pixels: np.ndarray, cfg: Optional[ScoringConfig] = None) -> np.ndarray:
    """(N,) the heat under each cloud point (``pixels`` [v, u], e.g. ``SceneCloud.pixels``), read as
    the scorer reads it at a contact: over its disc, scaled so the map's maximum is 1. Used as the
    generator's seed weights, so candidates are made where they will be scored."""
    cfg = (cfg or ScoringConfig()).validate()
    heat = normalised_heat(np.asarray(heatmap, np.float32), cfg.disc_radius_px)
    v, u = np.asarray(pixels, int).T
    if len(v) and (v.min() < 0 or u.min() < 0 or v.max() >= heat.shape[0] or u.max() >= heat.shape[1]):
        raise InvalidInputError(f"cloud pixels fall outside the {heat.shape} heatmap: not the same frame")
    return heat[v, u].astype(np.float64)


def score_grasps(grasps: Union[GraspSet, Sequence[Grasp]], amap: AffordanceMap, frame: RGBDFrame,
                 cfg: Optional[ScoringConfig] = None, avoid: Optional[np.ndarray] = None) -> List[Grasp]:
    """Ranked copies of ``grasps`` with ``affordance_score`` and ``score`` filled in, best first.
    ``avoid`` is an optional non-negative map (H, W) of regions the contacts must not touch."""
    cfg = (cfg or ScoringConfig()).validate()
    if amap.heatmap.shape != frame.depth.shape:
        raise InvalidInputError(f"heatmap {amap.heatmap.shape} and frame {frame.depth.shape} differ in size")
    gs = _as_set(grasps)
    if not len(gs):
        return []
    proj = project_grasps(gs, frame, cfg.occlusion_tol)
    heat = normalised_heat(amap.heatmap, cfg.disc_radius_px)
    aff = contact_affordance(sample_heat(heat, proj), proj.visible, cfg.occluded_weight)
    total = cfg.w_aff * aff + cfg.w_q * gs.quality
    # A grasp on the right part that will turn in the fingers serves the request less than one a
    # little off its centre that holds (Grasp.hold: 1 where the generator does not predict it).
    total = total * (cfg.hold_floor + (1 - cfg.hold_floor) * gs.hold)
    # One whose pads would also touch a part not asked for (a teacup's body beside its handle)
    # fails the request however well it holds (Grasp.part_only: 1 where not judged).
    total = total * gs.part_only
    if avoid is not None:
        av = sample_heat(normalised_heat(np.asarray(avoid, np.float32), cfg.disc_radius_px), proj)
        total = total - cfg.w_avoid * av[:, :2].max(1)
    order = np.lexsort((-total, gs.hold < cfg.min_hold))       # those that may hold first, each group by score
    return gs.rescored(aff, total)[order].grasps()
