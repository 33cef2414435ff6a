"""Heatmap metrics as WSAG-PLSP computes them (KLD, SIM, NSS at 224x224) and mask metrics after
the Affordance-R1 protocol (gIoU, cIoU, P@50, P@50:95)."""
from __future__ import annotations

from typing import Dict, Iterable, List, Tuple

import numpy as np

EPS = 1e-12


def _normalise(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    s = a.sum()
    return a / s if s > 0 else np.full(a.shape, 1.0 / a.size)


def kld(pred: np.ndarray, gt: np.ndarray) -> float:
    """sum gt * log(gt / (pred + eps) + eps), both normalised to sum 1 (all-zero gt -> uniform)."""
    p, g = _normalise(pred), _normalise(gt)
    return float(np.sum(g * np.log(g / (p + EPS) + EPS)))


def sim(pred: np.ndarray, gt: np.ndarray) -> float:
    """Histogram intersection of the two normalised maps."""
    return float(np.minimum(_normalise(pred), _normalise(gt)).sum())


def nss(pred: np.ndarray, gt: np.ndarray, threshold: float = 0.1) -> float:
    """Mean of the z-scored prediction where the min-max-normalised gt is >= ``threshold``."""
    p = np.asarray(pred, np.float64)
    g = np.asarray(gt, np.float64)
    z = (p - p.mean()) / (p.std() + EPS)
    rng = g.max() - g.min()
    gn = (g - g.min()) / rng if rng > 0 else np.zeros_like(g)
    fix = gn >= threshold
    return float(z[fix].mean()) if fix.any() else 0.0


def heatmap_to_mask(heatmap: np.ndarray, rel_threshold: float = 0.5) -> np.ndarray:
    """Pixels at or above ``rel_threshold`` of the map's maximum (a flat map gives everything)."""
    h = np.asarray(heatmap, np.float64)
    return h >= rel_threshold * h.max() if h.max() > 0 else np.ones(h.shape, bool)


def intersection_union(pred_mask: np.ndarray, gt_mask: np.ndarray) -> Tuple[int, int]:
    p, g = np.asarray(pred_mask, bool), np.asarray(gt_mask, bool)
    return int((p & g).sum()), int((p | g).sum())


class MetricAccumulator:
    """Collects per-sample heatmap and mask metrics; ``summary()`` gives the dataset figures."""

    THRESHOLDS = np.arange(0.50, 0.951, 0.05)

    def __init__(self):
        self.rows: List[Dict[str, float]] = []

    def add(self, pred: np.ndarray, gt_heatmap: np.ndarray, gt_mask: np.ndarray, pred_mask=None,
            **labels) -> Dict[str, float]:
        pm = heatmap_to_mask(pred) if pred_mask is None else np.asarray(pred_mask, bool)
        i, u = intersection_union(pm, gt_mask)
        row = {"kld": kld(pred, gt_heatmap), "sim": sim(pred, gt_heatmap), "nss": nss(pred, gt_heatmap),
               "iou": i / u if u > 0 else 1.0, "inter": i, "union": u, **labels}
        self.rows.append(row)
        return row

    def summary(self, rows: Iterable[dict] = None) -> Dict[str, float]:
        rows = list(self.rows if rows is None else rows)
        if not rows:
            return {}
        ious = np.array([r["iou"] for r in rows])
        out = {k: float(np.mean([r[k] for r in rows])) for k in ("kld", "sim", "nss")}
        out["giou"] = float(ious.mean())
        union = sum(r["union"] for r in rows)
        out["ciou"] = sum(r["inter"] for r in rows) / union if union else None
        out["p50"] = float((ious >= 0.5).mean())
        out["p50_95"] = float(np.mean([(ious >= t).mean() for t in self.THRESHOLDS]))
        out["n"] = len(rows)
        return out

    def by(self, key: str) -> Dict[str, Dict[str, float]]:
        groups: Dict[str, list] = {}
        for r in self.rows:
            groups.setdefault(str(r.get(key)), []).append(r)
        out = {}
        for k, rs in sorted(groups.items()):
            out[k] = self.summary(rs)
        return out
