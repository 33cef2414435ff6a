"""``affordance-grasp bench``: the whole perception-to-grasp pipeline in the twin, per strategy,
on the same seeded scenes. Speed and success are measured here, not in tests."""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from tqdm import tqdm

from ..affordance.query import QueryParser
from ..execution.ik import PandaIK
from ..execution.sim_executor import SimExecutor
from ..grasping.antipodal import AntipodalGenerator
from ..grasping.cloud import build_scene_cloud
from ..pipeline import mask_box
from ..errors import AffordanceGraspError
from ..selection.fallback import execute_with_fallback
from ..selection.strategies import STRATEGIES, heatmap_from_mask, rank
from ..sim.camera import DepthNoise, SimCamera
from ..sim.ground_truth import object_masks
from ..sim.objects import CATEGORIES
from ..sim.scene import SceneConfig, sample_scene
from ..visualize import save_rgb
from .overlay import draw_trial
from .queries import QUERIES, UNSEEN_CATEGORIES
from .report import machine_description


def split_categories(split: str) -> List[str]:
    if split == "seen":
        return [c for c in QUERIES if c not in UNSEEN_CATEGORIES]
    if split == "unseen":
        return list(UNSEEN_CATEGORIES)
    raise AffordanceGraspError(f"unknown split {split!r}; use seen or unseen")


def _ms(xs: Sequence[float]) -> Dict[str, float]:
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"median": None, "p95": None}
    return {"median": round(float(np.median(xs)) * 1000, 2), "p95": round(float(np.percentile(xs, 95)) * 1000, 2)}


class Bench:
    def __init__(self, strategies: Sequence[str], split: str, out: Path, max_attempts: int = 3,
                 depth_noise: bool = True, predictor=None):
        self.strategies = list(strategies)
        self.split, self.out = split, out
        self.cats = split_categories(split)
        self.parser = QueryParser()
        self.generator = AntipodalGenerator()
        self.ik = PandaIK()
        self.max_attempts = max_attempts
        self.depth_noise = depth_noise
        self.predictor = predictor

    def perceive(self, trial: int, seed: int) -> dict:
        """Everything shared by the strategies: scene, frame, query, heatmaps, candidates."""
        rng = np.random.default_rng(seed)
        # The target's category comes from the split; the other objects are any categories.
        target_cat = self.cats[trial % len(self.cats)]
        n_more = int(rng.integers(0, 3))
        others = [str(c) for c in rng.choice([c for c in CATEGORIES if c in QUERIES], n_more)]
        scene = sample_scene(seed, SceneConfig(), categories=[target_cat] + others)
        world = scene.build()
        with SimCamera(world) as cam:
            frame = cam.render(DepthNoise() if self.depth_noise else None, rng)
            masks = {m.instance: m for m in object_masks(world, cam.render_geom_ids())}
        target = f"{target_cat}_0"
        text = str(rng.choice(QUERIES[target_cat]))
        query = self.parser.parse(text)
        m = masks[target]
        part_mask = m.parts[query.grasp_part]
        avoid = None
        if query.avoid_parts:
            avoid = np.zeros(part_mask.shape, np.float32)
            for p in query.avoid_parts:
                avoid += m.parts[p]
        t0 = time.perf_counter()
        avoid_pred = avoid
        if self.predictor is not None:
            # The object's box comes from the same ground-truth object mask that restricts the
            # candidates for every strategy; the part within it is the model's call.
            box = mask_box(m.object_mask)
            amap = self.predictor.predict(frame, query, box=box)
            avoid_pred = self.predictor.avoid_map(frame, query, box=box)
        else:  # no predictor configured: the oracle heatmap stands in (see strategies.py)
            amap = heatmap_from_mask(part_mask, query)
        t_aff = time.perf_counter() - t0
        oracle_map = heatmap_from_mask(part_mask, query)
        t0 = time.perf_counter()
        cloud = build_scene_cloud(frame, target_mask=m.object_mask)
        grasps = self.generator.generate(cloud, seed=seed)
        t_gen = time.perf_counter() - t0
        centroid = cloud.points[cloud.target].mean(0) if cloud.target.any() else None
        return dict(trial=trial, seed=seed, scene=scene, frame=frame, query=query, target=target,
                    category=target_cat, amap=amap, oracle_map=oracle_map, avoid=avoid, avoid_pred=avoid_pred,
                    grasps=grasps,
                    centroid=centroid, t_aff=t_aff, t_gen=t_gen, n_objects=len(scene.objects))

    def run_strategy(self, p: dict, strategy: str) -> dict:
        amap = p["amap"] if strategy == "affordance" else p["oracle_map"]
        avoid = p["avoid_pred"] if strategy == "affordance" else p["avoid"]
        t0 = time.perf_counter()
        ranked = rank(strategy, p["grasps"], p["frame"], amap=amap, avoid=avoid,
                      object_centroid=p["centroid"], rng=np.random.default_rng(p["seed"]))
        t_sel = time.perf_counter() - t0
        world = p["scene"].build()
        outcome = execute_with_fallback(SimExecutor(world, ik=self.ik), ranked, self.max_attempts)
        intended = f"{p['target']}/{p['query'].grasp_part}"
        touched = set(outcome.parts_touched)
        held_target = any(t.startswith(p["target"] + "/") for t in touched)
        success = bool(outcome.success and held_target)
        part_correct = bool(touched) and touched == {intended}
        t_aff = p["t_aff"] if strategy in ("affordance", "oracle") else 0.0
        chosen = outcome.grasp
        title = (f"{strategy} | {p['query'].text} | {'OK' if success else outcome.failure_reason.value or 'fail'}"
                 f"{' part-ok' if part_correct else ''}")
        save_rgb(self.out / strategy / "trials" / f"{p['trial']:03d}.png",
                 draw_trial(p["frame"], amap if strategy in ("affordance", "oracle") else None, ranked, chosen, title))
        return {"trial": p["trial"], "seed": p["seed"], "category": p["category"], "query": p["query"].text,
                "target": p["target"], "intended_part": intended, "n_objects": p["n_objects"],
                "n_candidates": len(p["grasps"]), "success": success, "part_correct": part_correct,
                "task_success": success and part_correct, "attempts": outcome.attempts,
                "failure_reason": outcome.failure_reason.value, "parts_touched": sorted(touched),
                "chosen_score": None if chosen is None else round(chosen.score, 4),
                "chosen_affordance": None if chosen is None else round(chosen.affordance_score, 4),
                "latency_s": {"affordance": t_aff, "grasp_generation": p["t_gen"], "selection": t_sel,
                              "total": t_aff + p["t_gen"] + t_sel}}

    def run(self, trials: int, seed: int) -> Dict[str, dict]:
        rows: Dict[str, List[dict]] = defaultdict(list)
        for i in tqdm(range(trials), desc=f"bench {self.split}", unit="trial"):
            p = self.perceive(i, seed + i)
            for s in self.strategies:
                rows[s].append(self.run_strategy(p, s))
        return {s: self.summarise(s, rows[s], seed) for s in self.strategies}

    def summarise(self, strategy: str, rows: List[dict], seed: int) -> dict:
        def rate(rs, k):
            return round(float(np.mean([r[k] for r in rs])), 4) if rs else None

        per_cat = defaultdict(list)
        for r in rows:
            per_cat[r["category"]].append(r)
        lat = {k: _ms([r["latency_s"][k] for r in rows]) for k in ("affordance", "grasp_generation", "selection", "total")}
        if strategy not in ("affordance", "oracle"):
            lat["affordance"] = {"median": 0.0, "p95": 0.0}
        res = {"strategy": strategy, "split": self.split, "n_trials": len(rows), "seed": seed,
               "success_rate": rate(rows, "success"), "part_correct_rate": rate(rows, "part_correct"),
               "task_success_rate": rate(rows, "task_success"), "latency_ms": lat,
               "affordance_source": (getattr(self.predictor, "model_id", "predictor") if self.predictor is not None
                                     else "oracle heatmap (no predictor configured)") if strategy == "affordance" else None,
               "per_category": {c: {"n": len(rs), "success_rate": rate(rs, "success"),
                                    "part_correct_rate": rate(rs, "part_correct"),
                                    "task_success_rate": rate(rs, "task_success")} for c, rs in sorted(per_cat.items())},
               "machine": machine_description(), "trials": rows}
        return res


def comparison_table(results: Dict[str, dict]) -> str:
    lines = ["| strategy | n | success | part correct | task success | generation ms (median / p95) | total ms (median / p95) |",
             "|---|---|---|---|---|---|---|"]
    for s, r in results.items():
        g, t = r["latency_ms"]["grasp_generation"], r["latency_ms"]["total"]
        lines.append(f"| {s} | {r['n_trials']} | {r['success_rate']:.2f} | {r['part_correct_rate']:.2f} | "
                     f"{r['task_success_rate']:.2f} | {g['median']} / {g['p95']} | {t['median']} / {t['p95']} |")
    return "\n".join(lines)


def bench(strategy: str, trials: int, seed: int, split: str, out: Path, max_attempts: int = 3,
          depth_noise: bool = True, predictor_config: Optional[Path] = None,
          oracle_affordance: bool = False) -> Dict[str, dict]:
    strategies = list(STRATEGIES) if strategy == "all" else [strategy]
    if any(s not in STRATEGIES for s in strategies):
        raise AffordanceGraspError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)} or all")
    out.mkdir(parents=True, exist_ok=True)
    predictor = None
    if "affordance" in strategies and not oracle_affordance:
        from ..affordance.predictor import AffordancePredictor
        predictor = AffordancePredictor.from_config(predictor_config)
    results = Bench(strategies, split, out, max_attempts, depth_noise, predictor).run(trials, seed)
    for s, r in results.items():
        target = out / "results.json" if len(results) == 1 else out / s / "results.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(r, indent=2))
    table = comparison_table(results)
    if len(results) > 1:
        machine = next(iter(results.values()))["machine"]
        (out / "comparison.md").write_text(
            f"# bench --strategy all --trials {trials} --seed {seed} --split {split}\n\nMachine: {machine}. "
            f"Same scenes, frames and candidates for every strategy.\n\n{table}\n")
    print(table)
    return results
