"""PNG helpers: colourised depth, part-mask overlays, heatmap blends, and the picture of a
trial (heatmap over the RGB frame, every candidate projected, the chosen grasp drawn thick)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np

from .geometry import project_base_points
from .selection.scoring import project_grasps
from .types import AffordanceMap, Grasp, RGBDFrame


def colourise_depth(depth: np.ndarray, near: float = 0.3, far: float = 1.6) -> np.ndarray:
    """RGB uint8 image of a metric depth map; invalid pixels are black."""
    d = np.nan_to_num(depth, nan=0.0)
    scaled = np.clip((d - near) / (far - near), 0, 1)
    rgb = cv2.applyColorMap((255 * (1 - scaled)).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1].copy()
    rgb[~(np.isfinite(depth) & (depth > 0))] = 0
    return rgb


def overlay_masks(rgb: np.ndarray, masks: Dict[str, np.ndarray], alpha: float = 0.55) -> np.ndarray:
    """Blend one distinct colour per mask onto the image and label each mask at its centroid."""
    out = rgb.astype(np.float32).copy()
    rng = np.random.default_rng(7)
    labels = []
    for name, m in masks.items():
        if not m.any():
            continue
        colour = rng.uniform(40, 255, 3)
        out[m] = (1 - alpha) * out[m] + alpha * colour
        vs, us = np.nonzero(m)
        labels.append((name, int(us.mean()), int(vs.mean())))
    out = out.clip(0, 255).astype(np.uint8)
    for name, u, v in labels:
        cv2.putText(out, name, (u - 20, v), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def save_rgb(path, rgb: np.ndarray) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def heat_overlay(rgb: np.ndarray, heatmap: Optional[np.ndarray], alpha: float = 0.45) -> np.ndarray:
    if heatmap is None:
        return rgb.copy()
    h = heatmap / max(float(heatmap.max()), 1e-12)
    colour = cv2.applyColorMap((255 * h).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    a = (alpha * np.clip(h * 3, 0, 1))[..., None]
    return (rgb * (1 - a) + colour * a).astype(np.uint8)


def draw_trial(frame: RGBDFrame, amap: Optional[AffordanceMap], ranked: List[Grasp], chosen: Optional[Grasp],
               title: str, max_drawn: int = 300, physical: Optional[dict] = None) -> np.ndarray:
    """The heat over the image, the candidates coloured by score, the chosen one in magenta; with
    ``physical`` (the generator's mass estimate), the centre of mass as a cross and a line under
    the title: the mass seen and the chosen grasp's chance of holding."""
    img = heat_overlay(frame.rgb, None if amap is None else amap.heatmap)
    img = np.ascontiguousarray(img)
    shown = ranked[:max_drawn]
    if shown:
        proj = project_grasps(shown, frame)
        scores = np.array([g.score for g in shown])
        lo, hi = scores.min(), scores.max()
        norm = (scores - lo) / (hi - lo) if hi > lo else np.ones_like(scores)
        cmap = cv2.applyColorMap((255 * norm).astype(np.uint8).reshape(-1, 1), cv2.COLORMAP_VIRIDIS)[:, 0, ::-1]
        for i in np.argsort(norm):  # best drawn last, on top
            if not proj.inside[i, :2].all():
                continue
            p0, p1 = (tuple(int(v) for v in proj.uv[i, k]) for k in (0, 1))
            cv2.line(img, p0, p1, tuple(int(c) for c in cmap[i]), 1, cv2.LINE_AA)
    if chosen is not None:
        proj = project_grasps([chosen], frame)
        if proj.inside[0].all():
            p0, p1, c = (tuple(int(v) for v in proj.uv[0, k]) for k in (0, 1, 2))
            cv2.line(img, p0, p1, (255, 0, 255), 3, cv2.LINE_AA)
            for p in (p0, p1):
                cv2.circle(img, p, 4, (255, 255, 255), -1)
            cv2.circle(img, c, 3, (255, 0, 255), -1)
    cv2.rectangle(img, (0, 0), (img.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(img, title[:95], (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    if physical and physical.get("centre_of_mass") is not None:
        uv, _ = project_base_points(np.asarray(physical["centre_of_mass"], float)[None], frame.T_base_camera,
                                    frame.intrinsics)
        u, v = (int(round(x)) for x in uv[0])
        if 0 <= u < img.shape[1] and 0 <= v < img.shape[0]:
            cv2.drawMarker(img, (u, v), (255, 165, 0), cv2.MARKER_TILTED_CROSS, 14, 2, cv2.LINE_AA)
        line = f"about {float(physical['mass_kg']):.2f} kg seen; centre of mass: orange cross"
        if chosen is not None:
            line += f"; chosen grasp holds in {chosen.hold:.0%} of draws"
        cv2.rectangle(img, (0, 22), (img.shape[1], 40), (0, 0, 0), -1)
        cv2.putText(img, line, (4, 35), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 200, 120), 1, cv2.LINE_AA)
    return img
