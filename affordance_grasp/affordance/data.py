"""Affordance samples: the rendered sim splits, AGD20K's folder layout, and the one crop/augment
path that turns either into model inputs.

A sample is an image, an optional depth map, a ground-truth region (mask or heatmap in [0, 1])
for one (object, affordance), and optionally the object's box. The model sees an object-centric
square crop around that box (the whole image when there is no box), as AGD20K's images are.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..config import load_yaml
from ..errors import ConfigError, InvalidInputError
from ..resources import resource

SPLITS = ("train", "val", "test_seen", "test_unseen")


def _category_split() -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(seen, held-out) categories: the vocabulary's categories, minus those config/dataset_splits.yaml
    holds out of every training scene (as AGD20K's unseen split holds out categories)."""
    from .query import Vocabulary
    cats = Vocabulary.load().categories
    held = tuple(load_yaml(resource("config", "dataset_splits.yaml"), "dataset splits").get("held_out", ()))
    unknown = set(held) - set(cats)
    if unknown:
        raise ConfigError(f"config/dataset_splits.yaml holds out categories the vocabulary does not know: {sorted(unknown)}")
    return tuple(c for c in cats if c not in held), held


SEEN_CATEGORIES, UNSEEN_CATEGORIES = _category_split()
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
UNKNOWN = "<unk>"


def split_categories(split: str) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(target categories, distractor-only categories) of a split."""
    if split in ("train", "val", "test_seen"):
        return SEEN_CATEGORIES, ()
    if split == "test_unseen":
        return UNSEEN_CATEGORIES, SEEN_CATEGORIES
    raise InvalidInputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")


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


# --------------------------------------------------------------------------- sources
class SimAffordanceData:
    """A split rendered by ``affordance-grasp dataset``."""

    def __init__(self, root, load_depth: bool = False, raised_clearance: float = 0.0):
        self.root = Path(root)
        self.raised_clearance = raised_clearance  # > 0: samples carry raised_box (needs load_depth)
        manifest = self.root / "manifest.json"
        if not manifest.exists():
            raise InvalidInputError(f"{self.root} has no manifest.json; render it with "
                                    f"`affordance-grasp dataset --out {self.root} --split train --n 2000`")
        self.manifest = json.loads(manifest.read_text())
        self.load_depth = load_depth
        self.index: List[Tuple[str, dict]] = []
        self.metas: Dict[str, dict] = {}
        for scene in self.manifest["scenes"]:
            meta_path = self.root / scene / "meta.json"
            if not meta_path.exists():
                raise InvalidInputError(f"{meta_path} is missing: the dataset is incomplete; re-run the "
                                        f"dataset command with the same --out to resume")
            meta = self.metas[scene] = json.loads(meta_path.read_text())
            self.index += [(scene, s) for s in meta["samples"]]
        if not self.index:
            raise InvalidInputError(f"{self.root} holds no samples")

    def __len__(self) -> int:
        return len(self.index)

    def labels(self) -> List[Tuple[str, str, str]]:
        return [(s["category"], s["affordance"], s["parts"][0]) for _, s in self.index]

    def groups(self) -> List[str]:
        """Per sample, the object instance it shows: the samples of one object share a group."""
        return [f"{self.root}/{scene}/{s['instance']}" for scene, s in self.index]

    def scenes(self) -> List[Tuple[str, dict]]:
        """(scene folder name, meta.json) for every scene: the whole-image view that object
        localisation among several instances needs, rather than one sample per crop."""
        return list(self.metas.items())

    def _read(self, scene: str, name: str, flags=cv2.IMREAD_UNCHANGED) -> np.ndarray:
        img = cv2.imread(str(self.root / scene / name), flags)
        if img is None:
            raise InvalidInputError(f"cannot read {self.root / scene / name}")
        return img

    def _depth(self, scene: str) -> np.ndarray:
        """Metres, NaN where the renderer's noise model dropped the pixel (stored as 0)."""
        raw = self._read(scene, "depth.png")
        depth = raw.astype(np.float32) * float(self.metas[scene].get("depth_scale", 0.001))
        depth[raw == 0] = np.nan
        return depth

    def _camera(self, scene: str):
        from ..types import CameraIntrinsics
        meta = self.metas[scene]
        return CameraIntrinsics(**meta["intrinsics"]), np.asarray(meta["T_base_camera"], float)

    def frame(self, scene: str):
        """The scene's full RGB-D frame as the pipeline sees it (depth in metres, NaN = invalid)."""
        from ..types import RGBDFrame
        intrinsics, T = self._camera(scene)
        rgb = self._read(scene, "rgb.png", cv2.IMREAD_COLOR)[..., ::-1]
        return RGBDFrame(rgb=np.ascontiguousarray(rgb), depth=self._depth(scene), intrinsics=intrinsics,
                         T_base_camera=T)

    def __getitem__(self, i: int) -> AffordanceSample:
        scene, s = self.index[i]
        rgb = self._read(scene, "rgb.png", cv2.IMREAD_COLOR)[..., ::-1]
        depth = self._depth(scene) if self.load_depth else None
        object_mask = self._read(scene, s["object_mask"], cv2.IMREAD_GRAYSCALE) > 127
        raised = None
        if depth is not None and self.raised_clearance > 0:
            raised = raised_box(depth, object_mask, *self._camera(scene), self.raised_clearance)
        gt = self._read(scene, s["mask"], cv2.IMREAD_GRAYSCALE) / 255.0
        return AffordanceSample(rgb=np.ascontiguousarray(rgb), gt=gt,
                                category=s["category"], affordance=s["affordance"], part=s["parts"][0],
                                depth=depth, object_mask=object_mask, box=s["box"],
                                key=f"{scene}/{s['instance']}/{s['affordance']}", raised_box=raised)


class AGD20KData:
    """AGD20K's layout: ``ROOT/<Seen|Unseen>/testset/egocentric/<affordance>/<object>/<name>.jpg``
    with ground-truth heatmaps in ``ROOT/<Seen|Unseen>/testset/GT/<affordance>/<object>/<name>.png``.
    Only images with a ground-truth heatmap become samples (the dense-supervision subset). The part
    comes from the vocabulary's P(object, affordance) when it knows the pair."""

    def __init__(self, root, setting: str = "Seen", part_map: Optional[Dict[str, Dict[str, str]]] = None):
        self.root = Path(root) / setting / "testset"
        ego, gt = self.root / "egocentric", self.root / "GT"
        if not ego.is_dir() or not gt.is_dir():
            raise InvalidInputError(f"{self.root} is not in AGD20K's layout: expected egocentric/ and GT/ "
                                    f"folders of <affordance>/<object>/ images")
        self.items: List[Tuple[Path, Path, str, str]] = []
        for gt_file in sorted(gt.glob("*/*/*.png")):
            aff, obj = gt_file.parts[-3], gt_file.parts[-2]
            for ext in (".jpg", ".png", ".jpeg"):
                img = ego / aff / obj / (gt_file.stem + ext)
                if img.exists():
                    self.items.append((img, gt_file, obj, aff))
                    break
        if not self.items:
            raise InvalidInputError(f"no (egocentric image, GT heatmap) pairs under {self.root}")
        self.part_map = part_map or {}

    def __len__(self) -> int:
        return len(self.items)

    def labels(self) -> List[Tuple[str, str, str]]:
        return [(o, a, self.part_map.get(o, {}).get(a, UNKNOWN)) for _, _, o, a in self.items]

    def groups(self) -> List[str]:
        return [str(img) for img, _, _, _ in self.items]

    def __getitem__(self, i: int) -> AffordanceSample:
        img_path, gt_path, obj, aff = self.items[i]
        rgb = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        gt = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE)
        if rgb is None or gt is None:
            raise InvalidInputError(f"cannot read {img_path} or {gt_path}")
        if gt.shape != rgb.shape[:2]:
            gt = cv2.resize(gt, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        return AffordanceSample(rgb=np.ascontiguousarray(rgb[..., ::-1]), gt=gt.astype(np.float32) / 255.0,
                                category=obj, affordance=aff, part=self.part_map.get(obj, {}).get(aff, UNKNOWN),
                                key=f"{aff}/{obj}/{img_path.stem}")


class ConcatData:
    """Several sources read as one (e.g. two rendered training splits)."""

    def __init__(self, sources: Sequence):
        if not sources:
            raise InvalidInputError("no data sources given")
        self.sources = list(sources)
        self.starts = np.cumsum([0] + [len(s) for s in self.sources])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, i: int) -> AffordanceSample:
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = int(np.searchsorted(self.starts, i, side="right")) - 1
        return self.sources[k][i - int(self.starts[k])]

    def labels(self) -> List[Tuple[str, str, str]]:
        return [l for s in self.sources for l in s.labels()]

    def groups(self) -> List[str]:
        return [g for s in self.sources for g in s.groups()]


def open_data(path, load_depth: bool = False, part_map=None, raised_clearance: float = 0.0):
    """A rendered sim split, or an AGD20K root written as ``PATH`` (Seen) / ``PATH::Unseen``; a
    list of them reads as one source."""
    if isinstance(path, (list, tuple)):
        if len(path) == 1:
            return open_data(path[0], load_depth, part_map, raised_clearance)
        return ConcatData([open_data(p, load_depth, part_map, raised_clearance) for p in path])
    path = str(path)
    setting = "Seen"
    if "::" in path:
        path, setting = path.split("::", 1)
    p = Path(path)
    if (p / "manifest.json").exists():
        return SimAffordanceData(p, load_depth, raised_clearance)
    if (p / setting / "testset").is_dir():
        return AGD20KData(p, setting, part_map)
    raise InvalidInputError(f"{path} is neither a rendered split (manifest.json) nor an AGD20K root "
                            f"({setting}/testset/egocentric + GT)")


class TorchAffordanceDataset(torch.utils.data.Dataset):
    """Prepared samples as tensors; training mode draws random crops, flips and stitches."""

    def __init__(self, source, crop: CropConfig, vocab, train: bool = False, seed: int = 0,
                 stitch_prob: float = 0.0, raised_box_prob: float = 0.0):
        self.source, self.crop, self.vocab, self.train = source, crop, vocab, train
        self.seed, self.stitch_prob, self.raised_box_prob, self.epoch = seed, stitch_prob, raised_box_prob, 0

    def __len__(self) -> int:
        return len(self.source)

    def one_per_object(self, epoch: int) -> List[int]:
        """One random sample (affordance) of every object instance: an epoch that sees every object
        once, for large splits where each object carries several affordance samples."""
        by_group: Dict[str, List[int]] = {}
        for i, g in enumerate(self.source.groups()):
            by_group.setdefault(g, []).append(i)
        rng = np.random.default_rng([self.seed, epoch, 7])
        return sorted(int(rng.choice(ix)) for ix in by_group.values())

    def _item(self, i: int, rng) -> dict:
        sample = self.source[i]
        # Crop around what run time will see as often as around the true outline.
        use_raised = (rng is not None and self.raised_box_prob > 0 and sample.raised_box is not None
                      and rng.random() < self.raised_box_prob)
        return prepare(sample, self.crop, rng, box=sample.raised_box if use_raised else None)

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.train else None
        item = self._item(i, rng)
        if self.train and self.stitch_prob > 0 and rng.random() < self.stitch_prob:
            others = rng.choice(len(self.source), 3)
            item = stitch([item] + [self._item(int(j), rng) for j in others])
        ids = self.vocab.encode(item["category"], item["affordance"], item["part"])
        return {"image": torch.from_numpy(item["image"]), "depth": torch.from_numpy(item["depth"]),
                "heatmap": torch.from_numpy(item["heatmap"]), "mask": torch.from_numpy(item["mask"]),
                "object_mask": torch.from_numpy(item["object_mask"]),
                "object": torch.tensor(ids[0]), "affordance": torch.tensor(ids[1]), "part": torch.tensor(ids[2]),
                "index": torch.tensor(i)}
