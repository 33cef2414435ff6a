"""RGB-D frame + parsed query -> full-frame AffordanceMap (heatmap, boxes, points, mask).

The model sees an object-centric square crop (around a box, or the whole frame), the crop's
heatmap is pasted back into the frame. With several candidate object boxes and no ground truth,
the object reasoning head picks the box that shows the queried object (``locate``).
"""
from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..config import from_mapping, load_yaml, with_overrides
from ..errors import CheckpointError, ConfigError, InvalidInputError
from ..resources import resolve, resource
from ..timing import StageTimes
from ..types import AffordanceMap, AffordanceQuery, RGBDFrame
from .backends.base import Predictor
from .checkpoint import load_model
from .datasets import UNKNOWN
from .transforms import CropConfig, crop_matrix, normalise_depth, normalise_rgb, warp
from .encoders import query_prompt
from .device import autocast, pick_device
from .grounding import PRESENCE_THRESHOLD
from .query import Vocabulary
from .regions import regions_from_heatmap


def default_predictor_config() -> Path:
    return resource("config", "affordance_predictor.yaml")


@dataclass
class PredictorConfig:
    backend: str = "model"                # this class; see affordance/backends for the others
    checkpoint: str = "models/affordance_anneal.pt"    # absolute, or relative to the package's share folder
    device: Optional[str] = None          # cpu | cuda; None: cuda when available
    region_threshold: float = 0.5         # boxes/mask: heat >= this x the peak
    max_regions: int = 3
    sam_checkpoint: Optional[str] = None  # local segment-anything weights: refine the part mask
    sam_model_type: str = "vit_b"
    locate_flip: bool = True              # average the reasoning head over the crop and its mirror image
    presence_threshold: Optional[float] = None   # category probability that counts as "this is one";
                                                 # None: the checkpoint's calibrated value

    @classmethod
    def load(cls, path=None) -> "PredictorConfig":
        path = path or default_predictor_config()
        cfg = from_mapping(cls, load_yaml(path, "predictor config", allow_empty=True), str(path))
        if cfg.backend != "model":
            raise ConfigError(f"{path}: backend {cfg.backend!r} is not this predictor's (model); load it with "
                              f"affordance.backends.load_predictor")
        cfg.checkpoint = str(resolve(cfg.checkpoint))
        return cfg


def model_labels(query: AffordanceQuery, part: str, vocab: Optional[Vocabulary] = None) -> tuple:
    """(object, affordance, part) the model is asked for when the fingers should go on ``part``:
    the query's own affordance for its own part, otherwise the affordance that names that part.
    An object the request does not name, or names with a word the model was not taught, is
    ``<unk>``; so is an unknown part: the model then answers from what it was told."""
    obj = query.object if query.known_object and query.object else UNKNOWN
    part = part or UNKNOWN
    if part == (query.part or UNKNOWN):
        return obj, query.affordance, part
    vocab = vocab or Vocabulary.load()
    mapping = vocab.part_map.get(query.object, {}) if query.known_object else {}
    for aff in ("grasp", "hold", *mapping):
        if mapping.get(aff) == part:
            return obj, aff, part
    return obj, "grasp" if part == vocab.default_grasp_part else UNKNOWN, part


class _FrameCrops:
    """The object crops of one frame and what the encoder made of them, so that work a request
    repeats on the same crop (naming every object, then the part's heat on the chosen one, or
    each candidate's part for an unfamiliar noun) is done once per frame. Per crop (keyed by its
    crop matrix): the model inputs ``image`` (3, S, S) and ``depth`` (1, S, S), and once encoded
    ``cls`` (D,), ``patches`` (P, D) and, for the mirror image, ``cls_flip`` (D,)."""

    def __init__(self, key: tuple, depth: np.ndarray):
        self.key = key
        self.depth = depth            # the frame's depth with NaN as 0, as crops are warped from it
        self.crops: Dict[bytes, dict] = {}


def _rgb_table() -> np.ndarray:
    """(3, 256) float32: ``normalise_rgb`` of every byte value per channel (the same arithmetic,
    so a crop normalised by lookup is bit-for-bit the one normalised directly)."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], 3, axis=2)   # (256, 1, 3)
    return np.ascontiguousarray(normalise_rgb(ramp)[:, :, 0])


class AffordancePredictor(Predictor):
    """The learned model (affordance/model.py): names the objects in view with its reasoning head,
    then predicts the part's heat on the chosen object's crop."""

    def __init__(self, model, cfg: Optional[PredictorConfig] = None, sam_refiner=None, model_id: str = "model"):
        self.cfg = cfg or PredictorConfig()
        self.device = pick_device(self.cfg.device)
        self.model = model.to(self.device).eval()
        self.crop = CropConfig(**model.cfg.crop)
        self.crop.size = self.model.image_size
        self.sam = sam_refiner
        self.model_id = model_id
        self.words = Vocabulary.load()
        self._frame: Optional[_FrameCrops] = None
        self._lock = threading.Lock()
        self._rgb_lut = _rgb_table()
        self._params = list(self.model.parameters())

    @classmethod
    def from_config(cls, path=None, **overrides) -> "AffordancePredictor":
        """The predictor described by a YAML file; with no file, the shipped default checkpoint."""
        cfg = with_overrides(PredictorConfig.load(path), overrides, f"predictor config {path or default_predictor_config()}")
        if not Path(cfg.checkpoint).exists():
            raise CheckpointError(f"affordance checkpoint {cfg.checkpoint} does not exist; train one with "
                                  f"`affordance-grasp train` or set `checkpoint` in {path or default_predictor_config()}")
        model, blob = load_model(cfg.checkpoint, pick_device(cfg.device))
        sam = None
        if cfg.sam_checkpoint:
            from .sam_refine import SamRefiner
            sam = SamRefiner.from_checkpoint(cfg.sam_checkpoint, cfg.sam_model_type, pick_device(cfg.device))
        if cfg.presence_threshold is None:
            cfg.presence_threshold = float(blob.get("calibration", {}).get("presence_threshold", PRESENCE_THRESHOLD))
        return cls(model, cfg, sam, model_id=f"{blob['config'].get('name', 'model')}:{Path(cfg.checkpoint).name}")

    # ------------------------------------------------------------------ core
    def _frame_crops(self, frame: RGBDFrame) -> _FrameCrops:
        """The crops held for this frame's content (a new frame, or one changed in place, starts afresh)."""
        # The weights' in-place update count too: features from weights since changed are stale.
        key = (zlib.crc32(np.ascontiguousarray(frame.depth), zlib.crc32(np.ascontiguousarray(frame.rgb))),
               frame.rgb.shape[0] * frame.rgb.shape[1], sum(p._version for p in self._params))
        with self._lock:
            held = self._frame
            if held is None or held.key != key:
                held = self._frame = _FrameCrops(key, np.nan_to_num(frame.depth, nan=0.0))
            return held

    def forget_frame(self) -> None:
        """Drop the crops and features held for the last frame (they are dropped anyway when
        another frame comes, or the model's weights change in place)."""
        with self._lock:
            self._frame = None

    def _crops(self, frame: RGBDFrame, boxes: Sequence[Optional[Sequence[float]]]) -> Tuple[List[np.ndarray], List[dict]]:
        """Crop matrix and held crop entry (inputs made, features once encoded) for each box."""
        held = self._frame_crops(frame)
        with self._lock:
            return self._fill_crops(frame, held, boxes)

    def _fill_crops(self, frame: RGBDFrame, held: _FrameCrops, boxes) -> Tuple[List[np.ndarray], List[dict]]:
        S = self.crop.size
        hw = frame.rgb.shape[:2]
        mats, entries, todo = [], [], []
        for box in boxes:
            M = crop_matrix(box, hw, S, self.crop.context)
            key = M.tobytes()
            entry = held.crops.get(key)
            if entry is None:
                entry = held.crops[key] = {}
                todo.append((M, entry))
            mats.append(M)
            entries.append(entry)
        if todo:
            rgb = np.stack([warp(frame.rgb, M, S) for M, _ in todo])             # (n, S, S, 3) uint8
            lut = self._rgb_lut
            imgs = np.stack([lut[c][rgb[..., c]] for c in range(3)], axis=1)     # (n, 3, S, S): normalise_rgb
            for (M, entry), img in zip(todo, imgs):
                entry["image"] = torch.from_numpy(img).to(self.device)
                entry["depth"] = torch.from_numpy(normalise_depth(warp(held.depth, M, S, nearest=True))).to(self.device)
        return mats, entries

    def _inputs(self, frame: RGBDFrame, boxes: Sequence[Optional[Sequence[float]]]):
        mats, entries = self._crops(frame, boxes)
        return (mats, torch.stack([e["image"] for e in entries]), torch.stack([e["depth"] for e in entries]))

    def _encode(self, entries: Sequence[dict], flip: bool = False) -> None:
        """Encode the crops not encoded yet, in one batch: each crop for its class and patch
        tokens, and with ``flip`` its mirror image for its class token too."""
        plain = list({id(e): e for e in entries if "patches" not in e}.values())
        mirror = list({id(e): e for e in entries if flip and "cls_flip" not in e}.values())
        if not plain and not mirror:
            return
        img = torch.stack([e["image"] for e in plain] + [e["image"].flip(-1) for e in mirror])
        dep = torch.stack([e["depth"] for e in plain] + [e["depth"].flip(-1) for e in mirror])
        with torch.inference_mode(), autocast(self.device):
            cls, patches = self.model.encoder.encode(img, dep if self.model.cfg.use_depth else None,
                                                     patch_rows=len(plain))
        for i, e in enumerate(plain):
            e["cls"] = cls[i]
            e["patches"] = patches[i]      # last: an entry with patches is complete
        for i, e in enumerate(mirror):
            e["cls_flip"] = cls[len(plain) + i]

    def _run(self, images, depths, labels: List[tuple], texts: Optional[List[str]] = None,
             entries: Optional[Sequence[dict]] = None) -> dict:
        """The model on a batch of crops; ``entries``: their held crops, whose encoder features
        are used (encoded first where missing) instead of encoding ``images`` again."""
        ids = [self.model.vocab.encode(*l) for l in labels]
        o, a, p = (torch.tensor([i[k] for i in ids], device=self.device) for k in range(3))
        if texts is None:
            texts = [query_prompt(*l) for l in labels]
        if entries is not None:
            self._encode(entries)
            with torch.inference_mode(), autocast(self.device):
                cls = torch.stack([e["cls"] for e in entries])
                patches = torch.stack([e["patches"] for e in entries])
                with self.model.encoder.given(images, cls, patches):
                    out = self.model(images, o, a, p, depths, texts=texts)
        else:
            with torch.inference_mode(), autocast(self.device):
                out = self.model(images, o, a, p, depths, texts=texts)
        return {k: v.float().cpu() for k, v in out.items()}

    def _paste(self, heat: np.ndarray, M: np.ndarray, hw) -> np.ndarray:
        full = cv2.warpAffine(heat.astype(np.float32), M, (hw[1], hw[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return np.maximum(full, 0)

    def _check(self, frame, query):
        if not isinstance(frame, RGBDFrame):
            raise InvalidInputError(f"expected an RGBDFrame, got {type(frame).__name__}")
        if not isinstance(query, AffordanceQuery):
            raise InvalidInputError(f"expected an AffordanceQuery, got {type(query).__name__}")

    def part_heatmap(self, frame: RGBDFrame, query: AffordanceQuery, part: str, box=None,
                     times: Optional[StageTimes] = None) -> np.ndarray:
        """Full-frame, unnormalised heatmap of ``part`` of the queried object (0 outside the crop)."""
        self._check(frame, query)
        times = times or StageTimes()
        labels = model_labels(query, part, self.words)
        with times.stage("crop"):
            mats, entries = self._crops(frame, [box])
            img, dep = entries[0]["image"][None], entries[0]["depth"][None]
        # The text prompt keeps the user's own noun ("spork") where the labels can only say <unk>.
        text = query_prompt(query.object, labels[1], labels[2])
        with times.stage("model"):
            heat = self._run(img, dep, [labels], [text], entries)["log_heatmap"].exp()[0].numpy()
        with times.stage("paste"):
            return self._paste(heat, mats[0], frame.rgb.shape[:2])

    def predict(self, frame: RGBDFrame, query: AffordanceQuery, box=None) -> AffordanceMap:
        """Heatmap of the part the fingers should go on (``query.grasp_part``) over the whole frame,
        with boxes, peak points and a mask (SAM-refined when SAM weights are configured)."""
        if box is not None:
            box = np.asarray(box, float).reshape(4)
            h, w = frame.rgb.shape[:2]
            if not (np.all(np.isfinite(box)) and box[2] > box[0] and box[3] > box[1]
                    and box[2] >= 0 and box[3] >= 0 and box[0] < w and box[1] < h):
                raise InvalidInputError(f"object box {box.tolist()} is empty or outside the {w}x{h} frame")
        times = StageTimes()
        heat = self.part_heatmap(frame, query, query.grasp_part, box, times)
        if heat.sum() <= 0:
            raise InvalidInputError("the predicted heatmap is empty (crop outside the frame?)")
        with times.stage("regions"):
            boxes, points, mask = regions_from_heatmap(heat, self.cfg.region_threshold, self.cfg.max_regions)
            if self.sam is not None and len(boxes):
                mask = self.sam.refine(frame.rgb, boxes, points)
        return AffordanceMap.from_unnormalised(heat, query, model_id=self.model_id, boxes=boxes, points=points,
                                               mask=mask, times=times.seconds)

    def avoid_map(self, frame: RGBDFrame, query: AffordanceQuery, box=None) -> Optional[np.ndarray]:
        """Per-pixel weight in [0, 1] of the parts the query says not to touch (None if none)."""
        if not query.avoid_parts:
            return None
        out = np.zeros(frame.rgb.shape[:2], np.float32)
        for part in query.avoid_parts:
            h = self.part_heatmap(frame, query, part, box)
            out = np.maximum(out, h / h.max() if h.max() > 0 else h)
        return out

    def object_probabilities(self, frame: RGBDFrame, boxes: Sequence[Sequence[float]]) -> np.ndarray:
        """(N, n_objects) class probabilities of the reasoning head for each candidate box."""
        if self.model.object_head is None:
            raise ConfigError("this model has no reasoning head (reasoning_head: false); pass the object box")
        if len(boxes) == 0:
            raise InvalidInputError("no candidate object boxes")
        _, entries = self._crops(frame, list(boxes))
        flip = bool(self.cfg.locate_flip)
        # Training flips crops, so the mirror image is an equally valid view; averaging the two
        # steadies the long tools (knife / spatula / screwdriver) the head confuses most. Every
        # crop and mirror image not encoded yet for this frame goes through the encoder as one
        # batch; a mirror image only for its class token.
        self._encode(entries, flip)
        with torch.inference_mode(), autocast(self.device):
            cls = torch.stack([e["cls"] for e in entries] + ([e["cls_flip"] for e in entries] if flip else []))
            probs = torch.softmax(self.model.object_head(cls).float().cpu(), dim=1).numpy()
        n = len(entries)
        return 0.5 * (probs[:n] + probs[n:]) if flip else probs

    @property
    def presence_threshold(self) -> Optional[float]:
        return self.cfg.presence_threshold

    @property
    def categories(self) -> List[str]:
        """The categories the reasoning head was trained to name."""
        vocab = self.model.vocab
        return list(vocab.trained_objects) or [o for o in vocab.objects if o != UNKNOWN]

    def category_probabilities(self, frame: RGBDFrame, boxes: Sequence[Sequence[float]]) -> List[Dict[str, float]]:
        """Per box, the reasoning head's probability of each category the model was trained on."""
        probs = self.object_probabilities(frame, boxes)
        vocab = self.model.vocab
        cats = self.categories
        idx = [vocab.objects.index(c) for c in cats]
        return [{c: float(row[i]) for c, i in zip(cats, idx)} for row in probs]

    def locate(self, frame: RGBDFrame, query: AffordanceQuery, boxes: Sequence[Sequence[float]]) -> int:
        """Index of the box most likely to show ``query.object`` (a category the model knows)."""
        probs = self.category_probabilities(frame, boxes)
        return int(np.argmax([p.get(query.object, 0.0) for p in probs]))

    def part_scores(self, frame: RGBDFrame, query: AffordanceQuery, boxes: Sequence[Sequence[float]],
                    masks: Sequence[np.ndarray]) -> np.ndarray:
        """For each candidate object (its box and its pixels' mask), the share of the requested
        part's heat, predicted on its own crop, that falls on its own pixels: how clearly it has
        the part the request asks for."""
        self._check(frame, query)
        if len(boxes) == 0:
            return np.zeros(0)
        labels = [model_labels(query, query.grasp_part or query.part, self.words)] * len(boxes)
        mats, entries = self._crops(frame, list(boxes))
        img, dep = torch.stack([e["image"] for e in entries]), torch.stack([e["depth"] for e in entries])
        texts = [query_prompt(query.object, labels[0][1], labels[0][2])] * len(boxes)
        heat = self._run(img, dep, labels, texts, entries)["log_heatmap"].exp().numpy()
        out = np.zeros(len(boxes))
        for i, (M, h, m) in enumerate(zip(mats, heat, masks)):
            full = self._paste(h, M, frame.rgb.shape[:2])
            total = float(full.sum())
            out[i] = float(full[np.asarray(m, bool)].sum()) / total if total > 0 else 0.0
        return out
