"""``affordance-grasp sim-check``: does the twin itself work? Sample scenes, render and save the
frame and part masks, then execute oracle grasps (from ground-truth geometry) on a part meant for
grasping, as the system does: the best reachable one, and the next after a try that leaves the
object where it was (an empty grasp, a slip caught in the slow first lift). Failures are listed
by cause."""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from tqdm import tqdm

from ..sim.ik import PandaIK
from ..sim.executor import SimExecutor
from ..errors import InvalidInputError
from ..grasping.antipodal import AntipodalGenerator
from ..sim.camera import DepthNoise, SimCamera
from ..sim.ground_truth import object_masks
from ..sim.external import load_objects
from ..sim.oracle import graspable_parts, oracle_grasps
from ..sim.scene import SceneConfig, sample_scene
from ..pipeline import MIN_HOLD
from ..execution.fallback import execute_with_fallback
from ..types import FailureReason, judge_grasp
from ..visualize import colourise_depth, overlay_masks, save_rgb
from .report import machine_description, rate_table

SLIPS = (FailureReason.SLIPPED.value, FailureReason.SLIP_CAUGHT.value)
MAX_CHECKED = 40  # reachability checks (no motion) spent finding the one executed oracle grasp


def run_trial(trial: int, seed: int, out: Path, ik: PandaIK, gen: AntipodalGenerator, depth_noise: bool = True,
              categories: Optional[Sequence[str]] = None, pick: str = "best", max_attempts: int = 3) -> dict:
    """One oracle trial. ``pick`` "best" executes the best reachable oracle grasp (then the next
    ones, up to ``max_attempts``); "random" one reachable grasp drawn at random, so the executed
    grasps spread over predicted hold probabilities (for the calibration)."""
    rng = np.random.default_rng(seed)
    scene = sample_scene(seed, SceneConfig(categories=categories))
    world = scene.build()
    with SimCamera(world) as cam:
        frame = cam.render(DepthNoise() if depth_noise else None, rng)
        masks = object_masks(world, cam.render_geom_ids())
    # The target: an object with a part meant for grasping, then one such part.
    instance = str(rng.choice(sorted(world.objects)))
    spec = world.objects[instance].spec
    part = str(rng.choice(graspable_parts(spec)))
    stem = out / "trials" / f"{trial:03d}"
    save_rgb(f"{stem}_rgb.png", frame.rgb)
    save_rgb(f"{stem}_depth.png", colourise_depth(frame.depth))
    part_masks = {f"{m.instance}/{p}": pm for m in masks for p, pm in m.parts.items()}
    save_rgb(f"{stem}_parts.png", overlay_masks(frame.rgb, part_masks))
    t0 = time.perf_counter()
    grasps = oracle_grasps(world, instance, part, gen, seed)
    executor = SimExecutor(world, ik=ik)
    order = grasps
    if pick == "random":
        order, max_attempts = [grasps[i] for i in rng.permutation(len(grasps))], 1
    # As a request is served: a grasp predicted to slip is not tried (the random pick, for the
    # calibration, tries whatever it draws).
    outcome = execute_with_fallback(executor, order, max_attempts, MAX_CHECKED, min_hold=MIN_HOLD if pick == "best" else 0.0)
    chosen = outcome.grasp
    row = {"trial": trial, "seed": seed, "category": spec.category, "family": spec.family, "instance": instance,
           "part": part, "objects": sorted(world.objects), "n_oracle_grasps": len(grasps),
           "oracle_checked": outcome.checked}
    if chosen is None:
        weak = outcome.failure_reason == FailureReason.WOULD_NOT_HOLD   # none tried: all predicted to slip
        cause = "no oracle grasp" if not grasps else outcome.failure_reason.value if weak else "none reachable"
        best = float(max((g.hold for g in grasps), default=0.0))
        why = (f"no grasp on the part may hold (best {best:.2f}, below {MIN_HOLD})" if best < MIN_HOLD
               else "what may hold is out of reach")
        extra = {"holdable_as_asked": False, "physical": grasps.report.physical, "why_not": why,
                 "best_hold_on_part": round(best, 3)} if weak else {}
        return {**row, "success": False, "part_correct": False, "failure_reason": cause, "parts_touched": [],
                "wall_s": round(time.perf_counter() - t0, 3), "generation": grasps.report.to_dict(), **extra}
    part_correct = judge_grasp(outcome.success, outcome.parts_touched, instance, part)[1]
    # What the hold model predicted for the executed grasp, and whether any candidate on the
    # part was likely to hold at all, and to touch the part alone (what a Panda cannot do as asked
    # is refused by the pipeline: pipeline.check_request).
    best_hold = max((g.hold for g in grasps), default=0.0)
    alone = any(g.part_only >= 1.0 for g in grasps)
    why_not = ("" if best_hold >= MIN_HOLD and alone else
               "no grasp takes the part alone" if not alone else f"best hold {best_hold:.2f}")
    return {**row, "part_correct": part_correct, "wall_s": round(time.perf_counter() - t0, 3),
            "hold_predicted": round(float(chosen.hold), 3), "best_hold_on_part": round(float(best_hold), 3),
            "holdable_as_asked": not why_not, "why_not": why_not, "physical": grasps.report.physical,
            **outcome.to_dict()}


def calibration(results: Sequence[dict], path: Optional[Path] = None, bins: int = 10) -> dict:
    """Predicted hold probability against the observed hold rate in ``bins`` bins, and the
    Brier score, over executed trials that lifted or slipped (a reach or approach failure says
    nothing about holding). Draws the reliability diagram when ``path`` is given."""
    rows = [r for r in results if "hold_predicted" in r and (r["success"] or r["failure_reason"] in SLIPS)]
    if not rows:
        return {"n": 0}
    p = np.array([r["hold_predicted"] for r in rows])
    y = np.array([float(r["success"]) for r in rows])
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    table = [{"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "n": int((idx == b).sum()),
              "predicted": round(float(p[idx == b].mean()), 3) if (idx == b).any() else None,
              "observed": round(float(y[idx == b].mean()), 3) if (idx == b).any() else None} for b in range(bins)]
    out = {"n": len(rows), "brier": round(float(np.mean((p - y) ** 2)), 4), "bins": table}
    if path is not None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(4.2, 4.2))
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
        pts = [(t["predicted"], t["observed"], t["n"]) for t in table if t["n"]]
        ax.scatter([a for a, _, _ in pts], [b for _, b, _ in pts], s=[12 + 4 * n for _, _, n in pts])
        ax.set_xlabel("predicted probability of holding")
        ax.set_ylabel("observed hold rate (twin)")
        ax.set_title(f"{len(rows)} grasps, Brier {out['brier']:.3f}", fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return out


class SimCheckWorker:
    """Runs whole trials (one process, or one Ray actor of ``--workers``): its own IK and generator,
    the user's objects loaded. Its PNGs go to a scratch folder and travel back with the rows."""

    def __init__(self, depth_noise: bool, categories: Optional[Sequence[str]], objects: Sequence[Path],
                 pick: str, max_attempts: int):
        from .parallel import worker_setup
        worker_setup()
        if objects:
            load_objects(objects)
        self.args = (depth_noise, categories, pick, max_attempts)
        self.ik, self.gen = PandaIK(), AntipodalGenerator()
        self.scratch = Path(tempfile.mkdtemp(prefix="ag-sim-check-"))

    def run_trial(self, i: int, seed: int):
        """Trial ``i``'s row and its PNGs (path under --out: bytes)."""
        from .parallel import take_files
        depth_noise, categories, pick, max_attempts = self.args
        row = run_trial(i, seed, self.scratch, self.ik, self.gen, depth_noise, categories, pick, max_attempts)
        return row, take_files(self.scratch)

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def sim_check(trials: int, seed: int, out: Path, depth_noise: bool = True,
              categories: Optional[Sequence[str]] = None, objects: Sequence[Path] = (), pick: str = "best",
              max_attempts: int = 3, workers: int = 1, ray_address: Optional[str] = None) -> dict:
    """Oracle grasps in ``trials`` seeded scenes of ``categories`` (default: every category, the
    ``objects`` files' included). ``workers`` above 1 runs the trials on Ray (each trial depends on
    its seed alone: the rows are the serial run's)."""
    from .parallel import put_files, worker_pool
    objects = tuple(Path(p).resolve() for p in objects)   # a worker's working folder is not this one
    if objects:
        names = [o.spec.category for o in load_objects(objects)]
        categories = categories or names
    out.mkdir(parents=True, exist_ok=True)
    if pick not in ("best", "random"):
        raise InvalidInputError(f"pick must be 'best' or 'random', got {pick!r}")
    results: list = [None] * trials
    init = (depth_noise, tuple(categories) if categories else None, objects, pick, max_attempts)
    with worker_pool(SimCheckWorker, init, workers, ray_address) as pool, \
            tqdm(total=trials, desc=f"sim-check ({workers} worker{'s' if workers > 1 else ''})", unit="trial") as bar:
        for i, (row, files) in pool.map("run_trial", [(i, seed + i) for i in range(trials)]):
            results[i] = row
            put_files(out, files)
            bar.update()
    per_cat = defaultdict(list)
    for r in results:
        per_cat[r["category"]].append(r)
    failures = Counter(r["failure_reason"] for r in results if not r["success"])
    holdable = [r for r in results if r.get("holdable_as_asked", True)]
    summary = {
        "n_trials": trials, "seed": seed, "depth_noise": depth_noise, "pick": pick,
        "max_attempts": max_attempts if pick == "best" else 1,
        "success_rate": float(np.mean([r["success"] for r in results])),
        "holdable_as_asked": {"n": len(holdable),
                              "success_rate": float(np.mean([r["success"] for r in holdable])) if holdable else None,
                              "part_correct_rate": float(np.mean([r["part_correct"] for r in holdable])) if holdable else None},
        "not_holdable_as_asked": [{k: r.get(k) for k in ("trial", "category", "part", "why_not", "best_hold_on_part",
                                                          "physical", "success", "part_correct")}
                                  for r in results if r not in holdable],
        "hold_calibration": calibration(results, out / "hold_calibration.png"),
        "part_correct_rate": float(np.mean([r["part_correct"] for r in results])),
        "failures_by_cause": dict(failures.most_common()),
        "failed_trials": [{k: r[k] for k in ("trial", "seed", "category", "family", "part", "failure_reason")}
                          for r in results if not r["success"]],
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
    if failures:
        print("failures by cause: " + ", ".join(f"{k}: {v}" for k, v in failures.most_common()))
    h = summary["holdable_as_asked"]
    if h["n"]:
        print(f"holdable as asked (a reachable candidate on the part may hold, p >= {MIN_HOLD}, and one takes it alone): "
              f"{h['n']} trials, "
              f"held {h['success_rate']:.2f}, part correct {h['part_correct_rate']:.2f}")
    for r in summary["not_holdable_as_asked"]:
        print(f"  not holdable as asked: {r['category']} by its {r['part']} ({r['why_not']}, "
              f"{(r['physical'] or {}).get('mass_kg')} kg seen){'; held anyway' if r['success'] else ''}"
              f"{', by the part alone' if r['part_correct'] else ''}")
    c = summary["hold_calibration"]
    if c["n"]:
        print(f"hold calibration: {c['n']} grasps, Brier {c['brier']:.3f} (hold_calibration.png)")
    return summary
