"""Run a model over a dataset and score it, with the baselines on the same crops.

Used by training (validation each epoch) and by ``affordance-grasp eval``."""
from __future__ import annotations

from typing import Callable, Dict, Iterator, Optional, Tuple

import numpy as np
import torch
from tqdm import tqdm

from .datasets import TorchAffordanceDataset
from .device import autocast

from .transforms import gt_heatmap
from .metrics import MetricAccumulator

BASELINES = ("uniform", "centre_gaussian", "whole_object")


def iterate_predictions(model, dataset: TorchAffordanceDataset, batch_size: int = 32, device: str = "cpu",
                        progress: bool = True, desc: str = "eval") -> Iterator[Tuple[dict, np.ndarray]]:
    """Yields (batch item as numpy, predicted heatmap (S, S) summing to 1) for every sample."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    model.eval()
    with torch.no_grad():
        for batch in tqdm(loader, desc=desc, unit="batch", disable=not progress, leave=False):
            with autocast(device):
                out = model(batch["image"].to(device), batch["object"].to(device), batch["affordance"].to(device),
                            batch["part"].to(device), batch["depth"].to(device))
            heat = out["log_heatmap"].float().exp().cpu().numpy()
            for j in range(len(heat)):
                yield {k: v[j].numpy() for k, v in batch.items()}, heat[j]


def baseline_heatmap(name: str, item: dict, sigma: float) -> Optional[np.ndarray]:
    S = item["heatmap"].shape[-1]
    if name == "uniform":
        return np.full((S, S), 1.0 / (S * S), np.float32)
    if name == "centre_gaussian":
        y, x = np.mgrid[0:S, 0:S]
        g = np.exp(-(((x - (S - 1) / 2) ** 2 + (y - (S - 1) / 2) ** 2) / (2 * (S / 6) ** 2)))
        return (g / g.sum()).astype(np.float32)
    if name == "whole_object":
        obj = item["object_mask"]
        return gt_heatmap(obj, sigma) if obj.any() else None
    raise ValueError(name)


def evaluate(model, dataset: TorchAffordanceDataset, batch_size: int = 32, device: str = "cpu",
             baselines: Tuple[str, ...] = BASELINES, progress: bool = True,
             on_sample: Optional[Callable[[int, dict, np.ndarray], None]] = None) -> Dict[str, MetricAccumulator]:
    """Metrics of the model and of each baseline on exactly the same samples and crops."""
    sigma = dataset.crop.heatmap_sigma
    acc = {"model": MetricAccumulator(), **{b: MetricAccumulator() for b in baselines}}
    source_labels = dataset.source.labels()
    for k, (item, heat) in enumerate(iterate_predictions(model, dataset, batch_size, device, progress)):
        category, affordance, _ = source_labels[int(item["index"])]
        labels = {"category": category, "affordance": affordance}
        acc["model"].add(heat, item["heatmap"], item["mask"], **labels)
        for b in baselines:
            h = baseline_heatmap(b, item, sigma)
            if h is not None:
                acc[b].add(h, item["heatmap"], item["mask"], **labels)
        if on_sample is not None:
            on_sample(k, item, heat)
    return acc


def locate_accuracy(predictor, source, progress: bool = True) -> dict:
    """How often ``predictor.locate`` picks the queried instance among all instances of a scene
    (ground-truth boxes), over every scene with two or more objects. This is the step that decides
    *which* object the robot grasps, so it is reported next to the heatmap metrics."""
    from ..types import AffordanceQuery
    decisions, confusion = [], {}
    taught = set(getattr(predictor, "categories", None) or [])   # any object with locate() will do
    scenes = [(s, m) for s, m in source.scenes() if len(m["objects"]) >= 2]
    for scene, meta in tqdm(scenes, desc="locate", unit="scene", disable=not progress):
        frame = source.frame(scene)
        boxes = [o["box"] for o in meta["objects"]]
        for target in meta["objects"]:
            if taught and target["category"] not in taught:
                continue  # a held-out category cannot be named by the classifier: grounding finds it by part
            query = AffordanceQuery(text=f"the {target['category']}", object=target["category"],
                                    affordance="grasp", part="handle")
            pick = predictor.locate(frame, query, boxes)
            chosen = meta["objects"][pick]["category"]
            # Two instances of the queried category are equally right answers.
            decisions.append((target["category"], chosen == target["category"]))
            confusion.setdefault(target["category"], {}).setdefault(chosen, 0)
            confusion[target["category"]][chosen] += 1
    if not decisions:
        return {"n": 0, "accuracy": None, "per_category": {}, "confusion": {}}
    per = {}
    for category, ok in decisions:
        per.setdefault(category, []).append(ok)
    return {"n": len(decisions), "scenes": len(scenes), "accuracy": round(float(np.mean([ok for _, ok in decisions])), 4),
            "per_category": {c: {"n": len(v), "accuracy": round(float(np.mean(v)), 4)} for c, v in sorted(per.items())},
            "confusion": confusion}


def presence_calibration(predictor, source, max_scenes: int = 300, progress: bool = True, seed: int = 0) -> dict:
    """The category-probability threshold from which grounding counts an object as "a mug".
    Positives: each object's probability of its own category. Negatives: its probability of the
    other categories in its scene and of two categories not there (what "no knife in view" must
    refuse). The threshold maximises balanced accuracy over a rendered split's scenes."""
    rng = np.random.default_rng(seed)
    pos, neg = [], []
    scenes = source.scenes()[:max_scenes]
    for scene, meta in tqdm(scenes, desc="calibrate", unit="scene", disable=not progress):
        if not meta["objects"]:
            continue
        frame = source.frame(scene)
        probs = predictor.category_probabilities(frame, [o["box"] for o in meta["objects"]])
        present = {o["category"] for o in meta["objects"]}
        for o, p in zip(meta["objects"], probs):
            if o["category"] in p:
                pos.append(p[o["category"]])
            absent = [c for c in p if c not in present]
            others = [c for c in present if c != o["category"] and c in p]
            picks = others + [str(c) for c in rng.choice(absent, min(2, len(absent)), replace=False)]
            neg += [p[c] for c in picks]
    if not pos or not neg:
        return {"presence_threshold": None, "n_pos": len(pos), "n_neg": len(neg)}
    pos, neg = np.asarray(pos), np.asarray(neg)
    ts = np.linspace(0.02, 0.95, 94)
    bal = np.array([(np.mean(pos >= t) + np.mean(neg < t)) / 2 for t in ts])
    k = int(np.argmax(bal))
    return {"presence_threshold": round(float(ts[k]), 3), "balanced_accuracy": round(float(bal[k]), 4),
            "true_positive_rate": round(float(np.mean(pos >= ts[k])), 4),
            "true_negative_rate": round(float(np.mean(neg < ts[k])), 4), "n_pos": int(len(pos)), "n_neg": int(len(neg))}
