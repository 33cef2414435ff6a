"""``affordance-grasp sim-check``: does the twin itself work? Sample scenes, render and save the
frame and part masks, then execute an oracle grasp on a part meant for grasping."""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..execution.ik import PandaIK
from ..execution.sim_executor import SimExecutor
from ..sim.camera import DepthNoise, SimCamera
from ..sim.ground_truth import object_masks
from ..sim.oracle import oracle_grasp
from ..sim.scene import sample_scene
from ..visualize import colourise_depth, overlay_masks, save_rgb
from .report import machine_description, rate_table


def run_trial(trial: int, seed: int, out: Path, ik: PandaIK, depth_noise: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    scene = sample_scene(seed)
    world = scene.build()
    with SimCamera(world) as cam:
        frame = cam.render(DepthNoise() if depth_noise else None, rng)
        masks = object_masks(world, cam.render_geom_ids())
    # The target: an object with a part meant for grasping, then one such part.
    instance = str(rng.choice(sorted(world.objects)))
    spec = world.objects[instance].spec
    part = str(rng.choice([p.name for p in spec.parts if p.grasp]))
    stem = out / "trials" / f"{trial:03d}"
    save_rgb(f"{stem}_rgb.png", frame.rgb)
    save_rgb(f"{stem}_depth.png", colourise_depth(frame.depth))
    part_masks = {f"{m.instance}/{p}": pm for m in masks for p, pm in m.parts.items()}
    save_rgb(f"{stem}_parts.png", overlay_masks(frame.rgb, part_masks))
    executor = SimExecutor(world, ik=ik)
    t0 = time.perf_counter()
    outcome = executor.execute(oracle_grasp(world, instance, part))
    wall = time.perf_counter() - t0
    intended = f"{instance}/{part}"
    part_correct = bool(outcome.parts_touched) and set(outcome.parts_touched) == {intended}
    return {"trial": trial, "seed": seed, "category": spec.category, "instance": instance, "part": part,
            "objects": sorted(world.objects), "part_correct": part_correct, "wall_s": round(wall, 3),
            **outcome.to_dict()}


def sim_check(trials: int, seed: int, out: Path, depth_noise: bool = True) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    ik = PandaIK()
    results = [run_trial(i, seed + i, out, ik, depth_noise) for i in tqdm(range(trials), desc="sim-check", unit="trial")]
    per_cat = defaultdict(list)
    for r in results:
        per_cat[r["category"]].append(r)
    summary = {
        "n_trials": trials, "seed": seed, "depth_noise": depth_noise,
        "success_rate": float(np.mean([r["success"] for r in results])),
        "part_correct_rate": float(np.mean([r["part_correct"] for r in results])),
        "per_category": {c: {"n": len(rs), "success_rate": float(np.mean([r["success"] for r in rs])),
                             "part_correct_rate": float(np.mean([r["part_correct"] for r in rs]))}
                         for c, rs in sorted(per_cat.items())},
        "machine": machine_description(),
        "trials": results,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(rate_table(summary["per_category"], ("success_rate", "part_correct_rate"),
                     total={"n": trials, "success_rate": summary["success_rate"],
                            "part_correct_rate": summary["part_correct_rate"]}))
    return summary
