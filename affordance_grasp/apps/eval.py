"""``affordance-grasp eval``: KLD/SIM/NSS (WSAG-PLSP) and gIoU/cIoU/P@50/P@50:95 (Affordance-R1)
of a checkpoint and of three baselines on the same samples; per-category tables; a PNG grid."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from ..affordance.checkpoint import load_model
from ..affordance.datasets import SimAffordanceData, TorchAffordanceDataset, open_data
from ..affordance.transforms import CLIP_MEAN, CLIP_STD, CropConfig
from ..affordance.device import pick_device
from ..affordance.evaluation import BASELINES, evaluate, locate_accuracy, presence_calibration
from ..affordance.predictor import AffordancePredictor, PredictorConfig
from ..affordance.query import Vocabulary
from ..visualize import heat_overlay, save_rgb
from .report import machine_description

COLUMNS = ("kld", "sim", "nss", "giou", "ciou", "p50", "p50_95")


def _rgb(item: dict) -> np.ndarray:
    img = item["image"].transpose(1, 2, 0) * CLIP_STD + CLIP_MEAN
    return (img.clip(0, 1) * 255).astype(np.uint8)


def _tile(item: dict, heat: np.ndarray, label: str) -> np.ndarray:
    rgb = _rgb(item)
    gt = heat_overlay(rgb, item["heatmap"])
    pred = heat_overlay(rgb, heat)
    tile = np.concatenate([gt, pred], axis=1)
    tile = np.ascontiguousarray(tile)
    cv2.putText(tile, label[:40], (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(tile, "GT", (3, rgb.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(tile, "pred", (rgb.shape[1] + 3, rgb.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                cv2.LINE_AA)
    return tile


def table(rows: dict, first: str) -> str:
    lines = [f"| {first} | n | " + " | ".join(COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 2)]
    for name, r in rows.items():
        cells = [("-" if r.get(c) is None else f"{r[c]:.3f}") for c in COLUMNS]
        lines.append(f"| {name} | {r.get('n', '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_eval(data: Path, out: Path, checkpoint: Optional[Path] = None, device: Optional[str] = None,
             grid: int = 24, batch_size: int = 32) -> dict:
    checkpoint = Path(checkpoint or PredictorConfig.load().checkpoint)
    device = pick_device(device)
    model, blob = load_model(checkpoint, device)
    crop = CropConfig(**model.cfg.crop)
    source = open_data(data, load_depth=model.cfg.use_depth, part_map=Vocabulary.load().part_map)
    dataset = TorchAffordanceDataset(source, crop, model.vocab)
    out.mkdir(parents=True, exist_ok=True)
    # An even spread of samples for the picture, not just the first scene's.
    pick = set(np.linspace(0, len(dataset) - 1, min(grid, len(dataset))).astype(int).tolist())
    labels = source.labels()
    tiles = []

    def keep(k, item, heat):
        if k in pick:
            c, a, p = labels[int(item["index"])]
            tiles.append(_tile(item, heat, f"{c} / {a} ({p})"))

    t0 = time.perf_counter()
    acc = evaluate(model, dataset, batch_size, device, BASELINES, on_sample=keep)
    seconds = time.perf_counter() - t0
    summary = {name: a.summary() for name, a in acc.items()}
    result = {"checkpoint": str(checkpoint), "model_id": blob["config"].get("name"), "data": str(data),
              "n_samples": len(dataset), "device": device, "machine": machine_description(),
              "seconds": round(seconds, 1), "protocol": {
                  "resolution": crop.size, "heatmap_metrics": "WSAG-PLSP: KLD, SIM, NSS on sum-normalised maps",
                  "mask_metrics": "Affordance-R1: heatmap >= 0.5 x peak vs the GT mask; gIoU mean per image, "
                                  "cIoU sum I / sum U, P@50, P@50:95"},
              "results": summary,
              "per_category": {name: a.by("category") for name, a in acc.items()},
              "per_affordance": {"model": acc["model"].by("affordance")}}
    if isinstance(source, SimAffordanceData) and model.object_head is not None:
        # Which object the robot grasps hangs on this, so it is measured on whole scenes too.
        predictor = AffordancePredictor(model, PredictorConfig(checkpoint=str(checkpoint), device=device))
        result["locate"] = locate_accuracy(predictor, source)
        # The threshold grounding uses to say "this is a knife" or "no knife in view", on these scenes.
        result["presence"] = presence_calibration(predictor, source)
        result["presence"]["checkpoint_threshold"] = blob.get("calibration", {}).get("presence_threshold")
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    md = [f"# eval {data}\n", f"checkpoint `{checkpoint}`, {len(dataset)} samples, {result['machine']}\n",
          table(summary, "method"), "\n## model per category\n", table(result["per_category"]["model"], "category"),
          "\n## whole-object baseline per category\n", table(result["per_category"].get("whole_object", {}), "category")]
    if "locate" in result:
        loc = result["locate"]
        md += ["\n## locate: the queried object among all objects of a scene (GT boxes)\n",
               f"accuracy {loc['accuracy']} over {loc['n']} queries in {loc['scenes']} scenes with 2+ objects\n",
               "| category | n | accuracy |", "|---|---|---|"]
        md += [f"| {c} | {r['n']} | {r['accuracy']:.3f} |" for c, r in loc["per_category"].items()]
    (out / "metrics.md").write_text("\n".join(md) + "\n")
    if tiles:
        cols = 4
        while len(tiles) % cols:
            tiles.append(np.zeros_like(tiles[0]))
        rows = [np.concatenate(tiles[i:i + cols], axis=1) for i in range(0, len(tiles), cols)]
        save_rgb(out / "grid.png", np.concatenate(rows, axis=0))
    print(table(summary, "method"))
    if result.get("locate", {}).get("n"):
        print(f"locate accuracy {result['locate']['accuracy']} ({result['locate']['n']} queries)")
    return result
