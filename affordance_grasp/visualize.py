"""PNG helpers: colourised depth, part-mask overlays, heatmap blends (OpenCV)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import cv2
import numpy as np


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
