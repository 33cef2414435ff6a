"""Affordance datasets: the rendered sim splits, AGD20K's folder layout, and the torch dataset
that turns either into model inputs through the crop/augment path of ``transforms``.

A sample (``transforms.AffordanceSample``) is an image, an optional depth map, a ground-truth
region (mask or heatmap in [0, 1]) for one (object, affordance), and optionally the object's box.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..config import load_yaml
from ..errors import ConfigError, InvalidInputError
from ..resources import resource
from .transforms import AffordanceSample, CropConfig, prepare, raised_box, stitch

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
UNKNOWN = "<unk>"


def split_categories(split: str) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(target categories, distractor-only categories) of a split."""
    if split in ("train", "val", "test_seen"):
        return SEEN_CATEGORIES, ()
    if split == "test_unseen":
        return UNSEEN_CATEGORIES, SEEN_CATEGORIES
    raise InvalidInputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")


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
