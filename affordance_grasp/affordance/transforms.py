"""The one crop/augment path that turns an affordance sample (rendered or AGD20K) into model
inputs: an object-centric square crop around its box (the whole image when there is none), as
AGD20K's images are; CLIP's colour normalisation; depth scaled for the encoder; the blurred,
normalised ground-truth heatmap; WSAG-PLSP's 2x2 stitching."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


@dataclass
class AffordanceSample:
    rgb: np.ndarray                    # (H, W, 3) uint8
    gt: np.ndarray                     # (H, W) float32 in [0, 1]: mask or heatmap of the region
    category: str
    affordance: str
    part: str
    depth: Optional[np.ndarray] = None        # (H, W) float32 metres, NaN invalid
    object_mask: Optional[np.ndarray] = None  # (H, W) bool
    box: Optional[Sequence[float]] = None     # object box x0 y0 x1 y1 (pixels); None: whole image
    key: str = ""
    # Box of the object's pixels that stand clear of the table: what a depth cluster sees at run
    # time, where flat parts (a knife blade) vanish into the table plane. None: not computed.
    raised_box: Optional[Sequence[float]] = None


def raised_box(depth: np.ndarray, object_mask: np.ndarray, intrinsics, T_base_camera: np.ndarray,
               clearance: float, pad: int = 4, min_pixels: int = 20) -> Optional[np.ndarray]:
    """[x0 y0 x1 y1] of the object pixels more than ``clearance`` m above the table (whose height
    is the median of the other valid pixels, base frame z up); None if too few of them."""
    from ..geometry import camera_to_base, deproject_pixels

    valid = np.isfinite(depth) & (depth > 0)
    # Every 4th pixel is plenty for the table's height; the object's pixels are all needed.
    table = valid & ~object_mask
    table[1::4, :] = table[2::4, :] = table[3::4, :] = False
    v_obj, u_obj = np.nonzero(valid & object_mask)
    v_tab, u_tab = np.nonzero(table)
    if len(v_obj) < min_pixels or len(v_tab) == 0:
        return None
    height = lambda v, u: camera_to_base(deproject_pixels(np.stack([u, v], 1), depth[v, u], intrinsics),  # noqa: E731
                                         T_base_camera)[:, 2]
    raised = height(v_obj, u_obj) > np.median(height(v_tab, u_tab)) + clearance
    if raised.sum() < min_pixels:
        return None
    v, u = v_obj[raised], u_obj[raised]
    h, w = depth.shape
    return np.clip([u.min() - pad, v.min() - pad, u.max() + pad, v.max() + pad], 0, [w - 1, h - 1, w - 1, h - 1])


# --------------------------------------------------------------------------- crops
@dataclass
class CropConfig:
    size: int = 224
    context: float = 1.5                      # crop side / longest box side at evaluation
    train_context: Tuple[float, float] = (1.2, 1.9)
    train_shift: float = 0.12                 # centre jitter, fraction of the crop side
    flip: bool = True
    heatmap_sigma: float = 4.0                # px at crop size: the Gaussian blur of the GT mask


def crop_matrix(box: Optional[Sequence[float]], hw: Tuple[int, int], size: int, context: float,
                shift: Tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """2x3 affine map from image pixels to a size x size square crop around ``box``."""
    h, w = hw
    if box is None:
        x0, y0, x1, y1 = 0.0, 0.0, w - 1.0, h - 1.0
        side = float(max(w, h))
    else:
        x0, y0, x1, y1 = (float(v) for v in box)
        side = max(x1 - x0 + 1, y1 - y0 + 1, 8.0) * context
    cx, cy = (x0 + x1) / 2 + shift[0] * side, (y0 + y1) / 2 + shift[1] * side
    s = size / side
    return np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float32)


def crop_box(M: np.ndarray, size: int) -> np.ndarray:
    """The image-pixel box [x0 y0 x1 y1] that a crop matrix covers."""
    s = M[0, 0]
    x0, y0 = -M[0, 2] / s, -M[1, 2] / s
    return np.array([x0, y0, x0 + size / s, y0 + size / s])


def warp(img: np.ndarray, M: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    return cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def normalise_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 (S, S, 3) -> float32 (3, S, S) with CLIP's mean and std."""
    return ((rgb.astype(np.float32) / 255.0 - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1)


def normalise_depth(depth: np.ndarray) -> np.ndarray:
    """Metres -> (1, S, S): relative to the crop's median depth in 10 cm units; 0 where invalid."""
    d = depth.astype(np.float32)
    valid = np.isfinite(d) & (d > 0)
    med = float(np.median(d[valid])) if valid.any() else 0.0
    out = np.where(valid, (d - med) / 0.1, 0.0).clip(-3, 3)
    return out[None].astype(np.float32)


def gt_heatmap(region: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-blurred, sum-normalised region; an empty region becomes uniform."""
    g = region.astype(np.float32)
    if sigma > 0:
        g = cv2.GaussianBlur(g, (0, 0), sigma)
    total = float(g.sum())
    return g / total if total > 0 else np.full(g.shape, 1.0 / g.size, np.float32)


def prepare(sample: AffordanceSample, crop: CropConfig, rng: Optional[np.random.Generator] = None,
            box: Optional[Sequence[float]] = None) -> dict:
    """Crop (randomly when ``rng`` is given: scale, shift, flip) and convert to model arrays.
    ``box`` replaces the sample's object box as the crop's centre (e.g. its raised_box)."""
    S = crop.size
    hw = sample.rgb.shape[:2]
    box = sample.box if box is None else box
    if rng is None:
        M = crop_matrix(box, hw, S, crop.context)
        flip = False
    else:
        M = crop_matrix(box, hw, S, float(rng.uniform(*crop.train_context)),
                        tuple(rng.uniform(-crop.train_shift, crop.train_shift, 2)))
        flip = crop.flip and bool(rng.random() < 0.5)
    rgb = warp(sample.rgb, M, S)
    region = warp(sample.gt.astype(np.float32), M, S)
    obj = warp(sample.object_mask.astype(np.uint8), M, S, nearest=True).astype(bool) \
        if sample.object_mask is not None else np.zeros((S, S), bool)
    depth = warp(np.nan_to_num(sample.depth, nan=0.0), M, S, nearest=True) if sample.depth is not None \
        else np.zeros((S, S), np.float32)
    if flip:
        rgb, region, obj, depth = rgb[:, ::-1], region[:, ::-1], obj[:, ::-1], depth[:, ::-1]
    return {"image": normalise_rgb(np.ascontiguousarray(rgb)), "depth": normalise_depth(depth),
            "heatmap": gt_heatmap(region, crop.heatmap_sigma), "mask": region >= 0.5,
            "object_mask": np.ascontiguousarray(obj), "rgb": np.ascontiguousarray(rgb),
            "category": sample.category, "affordance": sample.affordance, "part": sample.part,
            "key": sample.key}


def stitch(items: List[dict]) -> dict:
    """2x2 mosaic of four prepared samples at half size; only the first one's region is the target
    (WSAG-PLSP's stitching augmentation: the model must find the queried object among others)."""
    S = items[0]["image"].shape[-1]
    h = S // 2
    out = dict(items[0])

    def half(a, nearest=False):
        a = np.asarray(a)
        if a.ndim == 3 and a.shape[0] in (1, 3):  # channel-first
            return np.stack([cv2.resize(c, (h, h), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA) for c in a])
        return cv2.resize(a.astype(np.float32), (h, h), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)

    corners = [(0, 0), (0, h), (h, 0), (h, h)]
    for key, nearest in (("image", False), ("depth", True)):
        canvas = np.zeros_like(items[0][key])
        for it, (r, c) in zip(items, corners):
            canvas[:, r:r + h, c:c + h] = half(it[key], nearest)
        out[key] = canvas
    region = np.zeros((S, S), np.float32)
    region[:h, :h] = half(items[0]["mask"].astype(np.float32), True)
    obj = np.zeros((S, S), bool)
    obj[:h, :h] = half(items[0]["object_mask"].astype(np.float32), True) > 0.5
    rgb = np.zeros_like(items[0]["rgb"])
    for it, (r, c) in zip(items, corners):
        rgb[r:r + h, c:c + h] = cv2.resize(it["rgb"], (h, h), interpolation=cv2.INTER_AREA)
    sigma = 2.0
    out.update(heatmap=gt_heatmap(region, sigma), mask=region >= 0.5, object_mask=obj, rgb=rgb)
    return out
