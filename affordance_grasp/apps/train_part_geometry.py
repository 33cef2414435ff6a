"""``affordance-grasp train-part-geometry``: the per-point part model from the twin's renders.

1. **Collect** (resumable, chunks of scenes as ``chunk_*.npz``): scenes of 1-4 objects with
   randomised looks, rendered with depth noise as the camera node renders them. Each cluster the
   pipeline's cloud builds that is at least 70 % one object is described point by point
   (:func:`point_features`, on the whole cluster) and each point labelled with the part its pixel
   shows; up to ``POINTS_PER_CLUSTER`` points per cluster are kept.
2. **Train** the MLP on the taught categories (scenes whose seed is 0 mod 5 are validation: new
   variants of the taught kinds). Each part's output is trained only on objects that have it.
3. **Report** per part, on validation and on the held-out categories (never trained on): the
   ROC AUC over the points of objects that have the part, the share of objects whose
   highest-scoring point is on it, and the share of the probability that falls on it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from tqdm import tqdm

from ..affordance.datasets import SEEN_CATEGORIES
from ..affordance.part_geometry import PartGeometryModel, point_features
from ..affordance.shape import footprint_frame
from ..errors import InvalidInputError
from .chunks import collect_in_chunks, load_chunks, owner, rendered_scenes
from .report import machine_description

CHUNK = 50
MIN_PURITY = 0.7
POINTS_PER_CLUSTER = 400


def stretched(points: np.ndarray, normals: np.ndarray, table_height: float,
              factors: np.ndarray) -> tuple:
    """(points, normals) of one object stretched by ``factors`` (3,) along its footprint's main
    axis, across it and in height above the table, about its footprint's centre: a new object of
    other proportions (a squat teapot from a tall kettle), parts where they were. Normals follow
    the inverse transpose."""
    _, _, _, _, _, _, axes = footprint_frame(points, table_height)
    frame = np.eye(3)
    frame[:2, :2] = axes
    centre = np.array([*points[:, :2].mean(0), table_height])
    local = (points - centre) @ frame
    n_local = normals @ frame
    local = local * factors
    n_local = n_local / factors
    n_local /= np.maximum(np.linalg.norm(n_local, axis=1, keepdims=True), 1e-12)
    return local @ frame.T + centre, n_local @ frame.T


def _collect_chunk(seeds: List[int], stretch: float = 0.0) -> Dict[str, np.ndarray]:
    X, part, parts_of, cat, seed_of, obj_id, extra = [], [], [], [], [], [], []
    n_obj = 0
    taught = set(SEEN_CATEGORIES)
    for s, _, cloud, boxes, masks in rendered_scenes(seeds):
        rng = np.random.default_rng(s)
        for c in boxes:
            sel = cloud.cluster == c
            px = cloud.pixels[sel]
            m = owner(px, masks, MIN_PURITY)
            if m is None or sel.sum() < 30:
                continue
            label = np.full(len(px), "", dtype=object)
            for name, pm in m.parts.items():
                label[pm[px[:, 0], px[:, 1]]] = name
            keep = np.flatnonzero(label != "")
            keep = rng.choice(keep, min(len(keep), POINTS_PER_CLUSTER), replace=False)
            versions = [(cloud.points[sel], cloud.normals[sel])]
            # Training objects also once more at other proportions, so that a part is learnt by
            # where it lies and how it is shaped rather than by the taught kinds' exact ratios
            # (validation and the held-out kinds are described as seen).
            if stretch > 0 and s % 5 != 0 and m.category in taught:
                factors = np.exp(rng.uniform(-np.log1p(stretch), np.log1p(stretch), 3))
                versions.append(stretched(cloud.points[sel], cloud.normals[sel], cloud.table_height, factors))
            for k, (pts, nrm) in enumerate(versions):
                f = point_features(pts, nrm, cloud.table_height)
                X.append(f[keep])
                part += list(label[keep])
                n = len(keep)
                parts_of += [",".join(sorted(m.parts))] * n
                cat += [m.category] * n
                seed_of += [s] * n
                obj_id += [n_obj] * n
                extra += [k > 0] * n
                n_obj += 1
    return {"X": np.concatenate(X) if X else np.zeros((0, 1), np.float32), "part": np.asarray(part, str),
            "parts_of": np.asarray(parts_of, str), "category": np.asarray(cat, str),
            "seed": np.asarray(seed_of, int), "object": np.asarray(obj_id, int),
            "stretched": np.asarray(extra, bool)}


def collect(out: Path, scenes: int, seed: int, stretch: float = 0.0) -> Path:
    """Render and describe ``scenes`` scenes from ``seed`` into ``out/data``; chunks already
    there are kept (a stopped run resumes). ``stretch`` > 0 adds each training object once more,
    stretched by up to 1 + ``stretch`` (or shrunk by as much) along each axis independently."""
    if not 0.0 <= stretch < 1.0:
        raise InvalidInputError(f"stretch must be in [0, 1), got {stretch}")
    return collect_in_chunks(Path(out) / "data", scenes, seed, CHUNK, lambda seeds: _collect_chunk(seeds, stretch))


def load_data(data: Path) -> Dict[str, np.ndarray]:
    parts = load_chunks(data, "part", "train-part-geometry")
    d = {k: np.concatenate([p[k] for p in parts]) for k in ("X", "part", "parts_of", "category", "seed")}
    # Chunks collected without stretching have no such rows.
    d["stretched"] = np.concatenate([p.get("stretched", np.zeros(len(p["part"]), bool)) for p in parts])
    # Object ids are per chunk; make them global.
    offset, ids = 0, []
    for p in parts:
        ids.append(p["object"] + offset)
        offset += int(p["object"].max()) + 1
    d["object"] = np.concatenate(ids)
    return d


def targets(d: Dict[str, np.ndarray], parts: List[str]):
    """(labels, mask): per row and part, whether the point is on it, and whether the object has it."""
    has = np.stack([np.char.find(np.char.add(np.char.add(",", d["parts_of"]), ","), f",{p},") >= 0 for p in parts], 1)
    on = np.stack([d["part"] == p for p in parts], 1)
    return on.astype(np.float32), has.astype(np.float32)


def _fit(model: PartGeometryModel, X, y, has, epochs: int, seed: int) -> None:
    torch.manual_seed(seed)
    x, t, w = (torch.as_tensor(a) for a in (X, y, has))
    model.mean.copy_(x.mean(0))
    model.std.copy_(x.std(0).clamp(min=1e-4))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    steps = epochs * ((len(x) + 1023) // 1024)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    model.train()
    for _ in tqdm(range(epochs), desc="train", unit="epoch"):
        for idx in torch.randperm(len(x)).split(1024):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[idx]), t[idx], weight=w[idx],
                                                                        reduction="sum") / w[idx].sum().clamp(min=1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()


def _auc(score: np.ndarray, label: np.ndarray) -> Optional[float]:
    pos, neg = score[label > 0], score[label == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def evaluate(model: PartGeometryModel, d: Dict[str, np.ndarray], rows: np.ndarray) -> Dict[str, dict]:
    """Per part: ROC AUC over the points of objects that have it, the share of objects whose
    highest-scoring point lies on it (what the grasp scorer's peak would pick), and the mean
    share of each object's probability that lies on it (as "heat on the part" is measured)."""
    with torch.no_grad():
        prob = torch.sigmoid(model(torch.as_tensor(d["X"][rows]))).numpy()
    y, has = targets({k: v[rows] for k, v in d.items()}, model.parts)
    obj = d["object"][rows]
    out = {}
    for j, p in enumerate(model.parts):
        sel = has[:, j] > 0
        if not sel.any():
            continue
        peaks, shares = [], []
        for o in np.unique(obj[sel]):
            r = np.flatnonzero(sel & (obj == o))
            peaks.append(float(y[r[np.argmax(prob[r, j])], j]))
            shares.append(float(prob[r, j] @ y[r, j] / max(prob[r, j].sum(), 1e-9)))
        auc = _auc(prob[sel, j], y[sel, j])
        out[p] = {"auc": None if auc is None else round(auc, 3), "peak_on_part": round(float(np.mean(peaks)), 3),
                  "share_on_part": round(float(np.mean(shares)), 3), "objects": len(peaks)}
    return out


def train_part_geometry(out: Path, scenes: int = 0, seed: int = 200000, epochs: int = 30,
                        checkpoint: Optional[Path] = None, stretch: float = 0.0) -> dict:
    """Collect ``scenes`` more scenes (0: use what ``out/data`` holds), train, report."""
    out = Path(out)
    if scenes:
        collect(out, scenes, seed, stretch)
    d = load_data(out / "data")
    taught = np.isin(d["category"], sorted(SEEN_CATEGORIES))
    val = d["seed"] % 5 == 0
    tr, va, held = taught & ~val, taught & val, ~taught
    if tr.sum() < 100 or va.sum() < 20:
        raise InvalidInputError(f"too few labelled points to train ({int(tr.sum())} train, {int(va.sum())} val)")
    parts = sorted({str(p) for p in d["part"][tr]})
    model = PartGeometryModel(parts)
    y, has = targets(d, parts)
    t0 = time.perf_counter()
    _fit(model, d["X"][tr], y[tr], has[tr], epochs, seed)
    summary = {"points": int(len(d["part"])), "train": int(tr.sum()), "val": int(va.sum()),
               "held_out": int(held.sum()), "parts": parts, "train_seconds": round(time.perf_counter() - t0, 1),
               "val": evaluate(model, d, np.flatnonzero(va)),
               "held_out_by_category": {c: evaluate(model, d, np.flatnonzero(d["category"] == c))
                                        for c in sorted(set(d["category"][held]))}}
    ckpt = Path(checkpoint) if checkpoint else out / "part_geometry.pt"
    model.save(ckpt)
    summary["checkpoint"] = str(ckpt)
    summary["machine"] = machine_description()
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
