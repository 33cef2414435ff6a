"""``affordance-grasp train-recognizer``: the shape recognizer from the twin's renders.

1. **Collect** (resumable, in chunks of scenes written as ``chunk_*.npz``): scenes of 1-4 objects
   with randomised looks are rendered with depth noise as the camera node renders them; every
   object cluster the pipeline's cloud builds is labelled by the ground-truth mask that covers
   most of its pixels (clusters less than 70 % one object are skipped) and described by
   :func:`shape_descriptor`. The reasoning head's probabilities for the same clusters are kept,
   so the fusion weight is set on data.
2. **Train** a small MLP on the taught categories (scenes whose seed is 0 mod 5 are validation:
   new variants of the taught kinds), then fit the temperature on validation.
3. **Report** validation top-1 for the head, the recognizer and their fusion at each weight; the
   shipped weight is the best on validation. The held-out categories' confusion against the
   taught ones (which kin they map to) is drawn as a PNG.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from ..affordance.datasets import SEEN_CATEGORIES
from ..affordance.recognizer import ShapeRecognizer, fuse
from ..affordance.shape import shape_descriptor
from ..errors import InvalidInputError
from .chunks import collect_in_chunks, load_chunks, owner, rendered_scenes
from .report import machine_description

CHUNK = 50                 # scenes per saved chunk
MIN_PURITY = 0.7           # a cluster must be at least this much one object to be labelled
WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


def _collect_chunk(seeds: List[int], predictor) -> Dict[str, np.ndarray]:
    X, y, seed_of, head = [], [], [], []
    for s, frame, cloud, boxes, masks in rendered_scenes(seeds):
        ids = list(boxes)
        probs = predictor.category_probabilities(frame, [boxes[i] for i in ids]) if predictor is not None else None
        for k, c in enumerate(ids):
            sel = cloud.cluster == c
            m = owner(cloud.pixels[sel], masks, MIN_PURITY)
            if m is None:
                continue
            X.append(shape_descriptor(cloud.points[sel], cloud.table_height, cloud.normals[sel]))
            y.append(m.category)
            seed_of.append(s)
            if probs is not None:
                head.append(json.dumps(probs[k]))
    return {"X": np.asarray(X, np.float32).reshape(-1, len(X[0]) if X else 1), "y": np.asarray(y, str),
            "seed": np.asarray(seed_of, int), "head": np.asarray(head, str)}


def collect(out: Path, scenes: int, seed: int, with_head: bool = True) -> Path:
    """Render and describe ``scenes`` scenes from ``seed`` into ``out/data``; chunks already
    there are kept (a stopped run resumes)."""
    predictor = None
    if with_head:
        from ..affordance.predictor import AffordancePredictor
        predictor = AffordancePredictor.from_config()
    return collect_in_chunks(Path(out) / "data", scenes, seed, CHUNK, lambda seeds: _collect_chunk(seeds, predictor))


def load_data(data: Path) -> Dict[str, np.ndarray]:
    parts = load_chunks(data, "y", "train-recognizer")
    return {k: np.concatenate([p[k] for p in parts]) for k in ("X", "y", "seed", "head")}


def _fit(model: ShapeRecognizer, X: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> None:
    torch.manual_seed(seed)
    x = torch.as_tensor(X)
    t = torch.as_tensor(y)
    model.mean.copy_(x.mean(0))
    model.std.copy_(x.std(0).clamp(min=1e-4))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for idx in perm.split(256):
            loss = torch.nn.functional.cross_entropy(model(x[idx]), t[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()


def _fit_temperature(model: ShapeRecognizer, X: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises validation NLL (one scalar, so accuracy is unchanged)."""
    with torch.no_grad():
        logits = model(torch.as_tensor(X))
    t = torch.as_tensor(y)
    log_t = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), t)
        loss.backward()
        return loss

    opt.step(step)
    t_val = float(log_t.detach().exp())
    model.temperature.fill_(t_val)
    return t_val


THRESHOLDS = (0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
MAX_FALSE_ACCEPT = 0.01    # of requests for a kind not in view, in scenes like the validation ones


def _presence_threshold(model: ShapeRecognizer, heads, shapes, d, va) -> dict:
    """The lowest fused probability at which an object counts as a kind, such that a request
    for a kind not in view is accepted in at most ``MAX_FALSE_ACCEPT`` of scenes (each of the
    validation scenes' size, every wrong kind of every object a possible false accept), with the
    share of present objects it would refuse."""
    idx = np.nonzero(va)[0]
    pos, wrong = [], []
    for i in idx:
        f = fuse(heads[i], shapes[i], model.shape_weight)
        pos.append(f.get(str(d["y"][i]), 0.0))
        wrong += [v for c, v in f.items() if c != d["y"][i]]
    pos, wrong = np.array(pos), np.array(wrong)
    per_scene = float(np.mean(np.unique(d["seed"][idx], return_counts=True)[1]))
    table = []
    for t in THRESHOLDS:
        fa = 1 - (1 - float(np.mean(wrong >= t))) ** per_scene
        table.append({"threshold": t, "false_accept": round(fa, 4), "present_refused": round(float(np.mean(pos < t)), 4)})
    ok = [r for r in table if r["false_accept"] <= MAX_FALSE_ACCEPT]
    pick = ok[0] if ok else table[-1]
    return {**pick, "objects_per_scene": round(per_scene, 2), "table": table}


def _confusion_png(path: Path, true: List[str], pred: List[str], rows: List[str], cols: List[str], title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    M = np.zeros((len(rows), len(cols)))
    for a, b in zip(true, pred):
        if a in rows and b in cols:
            M[rows.index(a), cols.index(b)] += 1
    M = M / np.maximum(M.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(0.32 * len(cols) + 3, 0.32 * len(rows) + 2))
    ax.imshow(M, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train_recognizer(out: Path, scenes: int = 0, seed: int = 100000, epochs: int = 300,
                     checkpoint: Optional[Path] = None) -> dict:
    """Collect ``scenes`` more scenes (0: use what ``out/data`` holds), train, calibrate, report."""
    out = Path(out)
    if scenes:
        collect(out, scenes, seed)
    d = load_data(out / "data")
    taught = sorted(set(SEEN_CATEGORIES))
    is_taught = np.isin(d["y"], taught)
    val = (d["seed"] % 5 == 0)
    tr, va = is_taught & ~val, is_taught & val
    if tr.sum() < 10 or va.sum() < 5:
        raise InvalidInputError(f"too few labelled clusters to train ({int(tr.sum())} train, {int(va.sum())} val)")
    cats = sorted({str(c) for c in d["y"][is_taught]})
    lab = np.array([cats.index(c) if c in cats else -1 for c in d["y"]])
    model = ShapeRecognizer(cats)
    t0 = time.perf_counter()
    _fit(model, d["X"][tr], lab[tr], epochs, seed)
    train_s = time.perf_counter() - t0
    temperature = _fit_temperature(model, d["X"][va], lab[va])
    p_shape = model.probabilities(d["X"])
    pred_shape = np.array([cats[i] for i in p_shape.argmax(1)])
    summary = {"clusters": int(len(d["y"])), "train": int(tr.sum()), "val": int(va.sum()), "categories": cats,
               "temperature": round(temperature, 3), "train_seconds": round(train_s, 1),
               "val_top1_shape": round(float(np.mean(pred_shape[va] == d["y"][va])), 4)}
    # Fusion with the reasoning head, weight chosen on validation.
    if len(d["head"]) == len(d["y"]):
        heads = [json.loads(h) for h in d["head"]]
        shape = [dict(zip(cats, map(float, row))) for row in p_shape]
        fusion = {}
        for w in WEIGHTS:
            pred = [max(f, key=f.get) for f in (fuse(h, s, w) for h, s in zip(np.array(heads)[va], np.array(shape)[va]))]
            fusion[w] = round(float(np.mean(np.array(pred) == d["y"][va])), 4)
        summary["val_top1_by_shape_weight"] = {str(k): v for k, v in fusion.items()}
        # The best on validation; among weights within a point of it, the one nearest an even
        # split: the twin's validation shares its textures with training, real objects do not.
        best = max(fusion.values())
        summary["shape_weight"] = min((w for w in fusion if fusion[w] >= best - 0.01), key=lambda w: abs(w - 0.5))
        model.shape_weight = float(summary["shape_weight"])
        summary["presence"] = _presence_threshold(model, heads, shape, d, va)
        model.presence_threshold = summary["presence"]["threshold"]
    unseen = ~is_taught
    if unseen.any():
        held = sorted(set(d["y"][unseen]))
        summary["held_out_mapped_to"] = {c: dict(sorted(
            ((k, int(n)) for k, n in zip(*np.unique(pred_shape[d["y"] == c], return_counts=True))),
            key=lambda kv: -kv[1])[:3]) for c in held}
        _confusion_png(out / "held_out_confusion.png", list(d["y"][unseen]), list(pred_shape[unseen]), held, cats,
                       "held-out categories -> taught kin (shape recognizer)")
    _confusion_png(out / "confusion.png", list(d["y"][va]), list(pred_shape[va]), cats, cats,
                   f"shape recognizer, validation (new variants): top-1 {summary['val_top1_shape']:.2f}")
    # Latency: descriptors and forward pass for a 4-object scene.
    ckpt = Path(checkpoint) if checkpoint else out / "recognizer.pt"
    model.save(ckpt)
    summary["checkpoint"] = str(ckpt)
    summary["machine"] = machine_description()
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
