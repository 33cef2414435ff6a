"""``affordance-grasp bench``: the whole perception-to-grasp pipeline in the twin, per strategy,
on the same seeded scenes. Speed and success are measured here, not in tests."""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from ..affordance.datasets import SEEN_CATEGORIES, UNSEEN_CATEGORIES
from ..affordance.part_geometry import PartGeometry
from ..affordance.recognizer import load_recognizer
from ..affordance.query import QueryParser
from ..sim.ik import PandaIK
from ..sim.executor import SimExecutor
from ..grasping.antipodal import AntipodalGenerator
from ..grasping.base import Candidates
from ..grasping.cloud import build_scene_cloud
from ..grasping.segmentation import mask_box, scene_model
from ..pipeline import MIN_HOLD, GraspPipeline, check_request, mark_hold_inputs, refine_heat
from ..timing import StageTimes
from ..errors import AffordanceGraspError, CannotHoldError, EmptyCloudError, PartNotReachedError
from ..execution.fallback import execute_with_fallback, would_not_hold
from ..selection.scoring import heat_at_points, project_grasps
from ..selection.strategies import STRATEGIES, heatmap_from_mask, rank
from ..sim.camera import DepthNoise, SimCamera
from ..sim.ground_truth import object_masks
from ..sim.external import USER_OBJECTS, load_objects
from ..sim.objects import REGISTRY, QuerySpec, make_object
from ..sim.oracle import graspable_parts
from ..sim.scene import SceneConfig, sample_scene
from ..types import FailureReason, GraspOutcome, judge_grasp
from ..visualize import draw_trial, save_rgb
from .report import machine_description

# sim: the twin's own executor. moveit-double: the MoveIt backend (execution/moveit.py) over a
# moveit_py contract-test double backed by the twin (sim/moveit_twin.py), judged by the twin.
EXECUTORS = ("sim", "moveit-double")
CANNOT_HOLD = "refused: cannot hold as asked"
NOT_ON_PART = "refused: no grasp on the part"   # none lies on it (or, to the oracle, it is not in view)

MIN_PART_PX = 40  # a target part with fewer visible pixels cannot be asked to be seen
MIN_AFFORDANCE_RATIO = 0.75  # as grasp_server_node: grasps well off the requested part are not tried


def split_categories(split: str) -> List[str]:
    """Target categories of a bench split: the model's seen or held-out categories (procedural),
    or ``objects``: every user object loaded with ``--objects``."""
    if split == "seen":
        return [c for c in SEEN_CATEGORIES if c in REGISTRY]
    if split == "unseen":
        return [c for c in UNSEEN_CATEGORIES if c in REGISTRY]
    if split == "objects":
        if not USER_OBJECTS:
            raise AffordanceGraspError("--split objects needs object files: pass --objects PATH ...")
        return sorted(USER_OBJECTS)
    raise AffordanceGraspError(f"unknown split {split!r}; use seen, unseen or objects")


def category_queries(category: str) -> List[QuerySpec]:
    """The phrasings a task planner would use for a category, with the part each means: from the
    object file or the category, else one made from the vocabulary's grasp part."""
    if category in USER_OBJECTS and USER_OBJECTS[category].spec.queries:
        return list(USER_OBJECTS[category].spec.queries)
    if category in REGISTRY and REGISTRY[category].queries:
        return [QuerySpec(t, p) for t, p in REGISTRY[category].queries]
    spec = make_object(category, np.random.default_rng(0))
    part = graspable_parts(spec)[0]
    return [QuerySpec(f"pick up the {category.replace('_', ' ')} by its {part}", part)]


def _ms(xs: Sequence[float]) -> Dict[str, float]:
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"median": None, "p95": None}
    return {"median": round(float(np.median(xs)) * 1000, 2), "p95": round(float(np.percentile(xs, 95)) * 1000, 2)}


def right_outcome(row: dict) -> bool:
    """The request was served, or refused (nothing moved) where trying anyway in a copy of the
    scene did not serve it either: a Panda that cannot hold a pot by one side handle is right to
    say so. A refusal with nothing to try proves nothing and is not counted right."""
    if row["task_success"]:
        return True
    tried = row.get("if_tried")
    return row.get("refusal") is not None and tried is not None and not tried["task_success"]


def candidates_on(grasps, frame, mask: np.ndarray) -> int:
    """How many candidates have both finger contacts on ``mask`` (the target part)."""
    if not grasps:
        return 0
    proj = project_grasps(grasps, frame)
    on = proj.inside[:, :2].all(1)
    u, v = proj.uv[:, :2, 0].astype(int), proj.uv[:, :2, 1].astype(int)
    u, v = np.clip(u, 0, mask.shape[1] - 1), np.clip(v, 0, mask.shape[0] - 1)
    return int((on & mask[v, u].all(1)).sum())


class Bench:
    def __init__(self, strategies: Sequence[str], split: str, out: Path, max_attempts: int = 3,
                 depth_noise: bool = True, predictor=None, categories: Optional[Sequence[str]] = None,
                 profile_predictor=None, part_geometry=None, executor: str = "sim"):
        if executor not in EXECUTORS:
            raise AffordanceGraspError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
        self.executor = executor
        self.strategies = list(strategies)
        self.split, self.out = split, out
        self.cats = split_categories(split)
        if categories:
            unknown = sorted(set(categories) - set(self.cats))
            if unknown:
                raise AffordanceGraspError(f"--categories {unknown} are not in split {split!r}: {self.cats}")
            self.cats = [c for c in self.cats if c in categories]
        # Clutter: any category of the twin, the user's objects included.
        self.clutter = sorted(set(REGISTRY) | set(USER_OBJECTS))
        self.parser = QueryParser()
        self.generator = AntipodalGenerator()
        self.ik = PandaIK()
        self.max_attempts = max_attempts
        self.depth_noise = depth_noise
        self.predictor = predictor
        self.part_geometry = part_geometry   # fused with the predictor's heat, as the pipeline does
        # With a predictor to profile, every trial also runs the request with no hint, as a task
        # planner would send it (GraspPipeline.detect), and keeps the time of each stage.
        self.pipeline = None if profile_predictor is None else GraspPipeline(
            profile_predictor, generator=self.generator, parser=self.parser, recognizer=load_recognizer(),
            part_geometry=part_geometry)
        self.profiles: List[dict] = []

    def perceive(self, trial: int, seed: int) -> dict:
        """Everything shared by the strategies: scene, frame, query, heatmaps, candidates."""
        rng = np.random.default_rng(seed)
        # The target's category comes from the split; the other objects are any categories.
        target_cat = self.cats[trial % len(self.cats)]
        n_more = int(rng.integers(0, 3))
        others = [str(c) for c in rng.choice(self.clutter, n_more)]
        target = f"{target_cat}_0"
        # Placement keeps objects apart but not out of each other's sight: a target hidden behind
        # a pitcher cannot be asked for, so the scene is drawn again (same categories).
        cfg = SceneConfig()
        for redraw in range(10):
            scene = sample_scene(seed + 1_000_003 * redraw, cfg, categories=[target_cat] + others)
            world = scene.build()
            with SimCamera(world) as cam:
                frame = cam.render(DepthNoise() if self.depth_noise else None, rng)
                masks = {m.instance: m for m in object_masks(world, cam.render_geom_ids())}
            if target in masks and masks[target].object_mask.sum() >= cfg.min_visible_px:
                break
        else:
            raise AffordanceGraspError(f"trial {trial}: the {target_cat} stays hidden in 10 scene draws from seed {seed}")
        qspecs = category_queries(target_cat)
        qspec = qspecs[int(rng.integers(len(qspecs)))]
        # The parser reads the request as the planner would; the object's own part map says what
        # was meant, and that is what the ground truth and success are measured against.
        query = self.parser.parse(qspec.text)
        if not query.known_object or query.object != target_cat:
            query = replace(query, object=target_cat, known_object=False, part=qspec.part if not query.part else
                            query.part, grasp_part=qspec.part)
        m = masks[target]
        part_mask = m.parts.get(qspec.part, np.zeros(frame.depth.shape, bool))
        avoid = None
        if query.avoid_parts:
            avoid = np.zeros(part_mask.shape, np.float32)
            for p in query.avoid_parts:
                avoid += m.parts.get(p, np.zeros(avoid.shape, bool))
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
        t_cloud = time.perf_counter() - t0
        if self.predictor is not None:
            t1 = time.perf_counter()
            amap = refine_heat(amap, cloud, query, self.part_geometry)
            t_aff += time.perf_counter() - t1
        # Each strategy ranks the candidates it would have when deployed: the heat-guided ones
        # (affordance, oracle) from seeds drawn where their own heatmap is, as the pipeline draws
        # them; the request-blind baselines from uniform seeds. One set per seed source.
        sources = {"affordance": amap, "oracle": oracle_map}
        candidates, reports, t_gen = {}, {}, {}
        for source in sorted({s if s in sources else "uniform" for s in self.strategies}):
            t1 = time.perf_counter()
            weights = heat_at_points(sources[source].heatmap, cloud.pixels) if source in sources else None
            # As the pipeline does: the part to hold from this source's heat, the kind's mass.
            mark_hold_inputs(cloud, query, weights if weights is not None else np.zeros(len(cloud)),
                             self.parser.vocab)
            try:
                candidates[source] = self.generator.generate(cloud, seed=seed, seed_weights=weights)
            except EmptyCloudError:
                candidates[source] = Candidates()
            t_gen[source] = t_cloud + time.perf_counter() - t1
            reports[source] = candidates[source].report.to_dict()
        if self.pipeline is not None:   # the times of the last source generated
            self.profiles.append(self.profile(frame, qspec.text, seed, cloud, t_cloud, t_gen[source],
                                              candidates[source].report))
        centroid = cloud.points[cloud.target].mean(0) if cloud.target.any() else None
        extra = {}
        if self.executor == "moveit-double":   # the planning scene the pipeline gives MoveIt: boxes from the cloud
            extra["scene_model"] = scene_model(cloud)
        return dict(**extra, trial=trial, seed=seed, scene=scene, frame=frame, query=query, target=target,
                    category=target_cat, family=scene.objects[0].spec.family, part=qspec.part, amap=amap,
                    oracle_map=oracle_map, avoid=avoid, avoid_pred=avoid_pred, candidates=candidates,
                    centroid=centroid, t_aff=t_aff, t_gen=t_gen, n_objects=len(scene.objects),
                    part_px=int(part_mask.sum()), part_mask=part_mask, generation=reports)

    def profile(self, frame, text: str, seed: int, cloud, t_cloud: float, t_gen: float, report) -> dict:
        """Stage times of this trial: generation on the given object (what the strategies use),
        then the whole request from text with no hint. ``grasp_generation`` is cloud + candidates
        in both."""
        masked = StageTimes().merge(cloud.times, "cloud.").merge(report.times, "generation.")
        masked.seconds.update(cloud=t_cloud, candidates=t_gen - t_cloud, grasp_generation=t_gen)
        row = {"given_object": masked.seconds, "query": None, "error": None}
        t0 = time.perf_counter()
        try:
            det = self.pipeline.detect(frame, text, seed=seed)
            q = {**det.timings, "total": time.perf_counter() - t0}
            q["candidates"] = q.pop("grasp_generation")
            q["grasp_generation"] = q["cloud"] + q["candidates"]
            row["query"] = q
        except AffordanceGraspError as e:   # refused or no grasp: its stages are not comparable
            row["error"] = type(e).__name__
        return row

    def run_strategy(self, p: dict, strategy: str) -> dict:
        source = strategy if strategy in p["candidates"] else "uniform"
        grasps = p["candidates"][source]
        amap = p["amap"] if strategy == "affordance" else p["oracle_map"]
        avoid = p["avoid_pred"] if strategy == "affordance" else p["avoid"]
        t0 = time.perf_counter()
        ranked = rank(strategy, grasps, p["frame"], amap=amap, avoid=avoid,
                      object_centroid=p["centroid"], rng=np.random.default_rng(p["seed"]))
        t_sel = time.perf_counter() - t0
        ratio = MIN_AFFORDANCE_RATIO if strategy in ("affordance", "oracle") else 0.0
        refusal, cause = None, CANNOT_HOLD
        if strategy == "oracle" and not p["part_px"]:
            # The true part map of a part facing away is empty: the oracle knows it is not in view
            # (as the ground-truth predictor says), where an empty map would read as heat everywhere.
            refusal, cause = f"no {p['category'].replace('_', ' ')} in view shows its {p['part']}", NOT_ON_PART
        elif strategy in ("affordance", "oracle"):
            try:   # as the pipeline refuses: no grasp lies on the part asked for, or none there can hold
                check_request(ranked, p["query"], p["generation"][source].get("physical") or {})
            except PartNotReachedError as e:
                refusal, cause = str(e), NOT_ON_PART
            except CannotHoldError as e:
                refusal = str(e)
        if refusal is None:
            outcome = self.execute(p, ranked, ratio, MIN_HOLD if ratio else 0.0)
            if outcome.failure_reason == FailureReason.WOULD_NOT_HOLD:   # nothing moved, for that reason
                refusal = would_not_hold(MIN_HOLD)
        else:
            outcome = GraspOutcome(False, failure_reason=FailureReason.NO_CANDIDATES, attempts=0)
        if_tried = self.try_refused(p, ranked, ratio) if refusal is not None else None
        intended = f"{p['target']}/{p['part']}"
        touched = set(outcome.parts_touched)
        success, part_correct = judge_grasp(outcome.success, touched, p["target"], p["part"])
        t_aff = p["t_aff"] if strategy in ("affordance", "oracle") else 0.0
        chosen = outcome.grasp
        title = (f"{strategy} | {p['query'].text} | {'OK' if success else outcome.failure_reason.value or 'fail'}"
                 f"{' part-ok' if part_correct else ''}")
        save_rgb(self.out / strategy / "trials" / f"{p['trial']:03d}.png",
                 draw_trial(p["frame"], amap if strategy in ("affordance", "oracle") else None, ranked, chosen, title,
                            physical=p["generation"][source].get("physical")))
        return {"trial": p["trial"], "seed": p["seed"], "category": p["category"], "family": p["family"],
                "query": p["query"].text, "target": p["target"], "intended_part": intended,
                "n_objects": p["n_objects"], "part_visible_px": p["part_px"], "n_candidates": len(grasps),
                "n_candidates_on_part": candidates_on(grasps, p["frame"], p["part_mask"]),
                "generation": p["generation"][source],
                "success": success, "part_correct": part_correct,
                "task_success": success and part_correct, "attempts": outcome.attempts,
                "failure_reason": cause if refusal else outcome.failure_reason.value, "refusal": refusal,
                "if_tried": if_tried,
                "parts_touched": sorted(touched),
                "chosen_score": None if chosen is None else round(chosen.score, 4),
                "chosen_affordance": None if chosen is None else round(chosen.affordance_score, 4),
                "latency_s": {"affordance": t_aff, "grasp_generation": p["t_gen"][source], "selection": t_sel,
                              "total": t_aff + p["t_gen"][source] + t_sel}}

    def execute(self, p: dict, ranked, ratio: float, min_hold: float) -> GraspOutcome:
        """``ranked`` tried as the server tries them, in a fresh build of the trial's scene."""
        if self.executor == "moveit-double":
            from ..sim.moveit_twin import TwinMoveItExecutor
            executor = TwinMoveItExecutor(p["scene"].build(), p["scene_model"])   # its own, tighter IK
        else:
            executor = SimExecutor(p["scene"].build(), ik=self.ik)
        return execute_with_fallback(executor, ranked, self.max_attempts, min_affordance_ratio=ratio,
                                     min_hold=min_hold)

    def try_refused(self, p: dict, ranked, ratio: float) -> Optional[dict]:
        """What a refused request would have done had it been tried anyway (in a fresh copy of
        the scene, the same grasps in the same order, no holding floor): whether the refusal was
        right is a measure of its own, never part of task success."""
        if not ranked:
            return None
        outcome = self.execute(p, ranked, ratio, 0.0)
        success, part_correct = judge_grasp(outcome.success, set(outcome.parts_touched), p["target"], p["part"])
        return {"task_success": success and part_correct, "success": success, "part_correct": part_correct,
                "failure_reason": outcome.failure_reason.value, "parts_touched": sorted(outcome.parts_touched)}

    def trial(self, i: int, seed: int) -> Dict[str, dict]:
        """Trial ``i`` on the scene of ``seed``: its row per strategy. It depends on (i, seed) alone,
        so any worker may run any trial."""
        p = self.perceive(i, seed)
        return {s: self.run_strategy(p, s) for s in self.strategies}

    def run(self, trials: int, seed: int, trial_rows: Optional[Iterable[Dict[str, dict]]] = None) -> Dict[str, dict]:
        """Summaries per strategy of ``trials`` trials from ``seed``, run here one after another, or
        of ``trial_rows`` (each trial's rows, in trial order) when workers ran them."""
        if trial_rows is None:
            trial_rows = (self.trial(i, seed + i) for i in tqdm(range(trials), desc=f"bench {self.split}", unit="trial"))
        rows: Dict[str, List[dict]] = defaultdict(list)
        for by_strategy in trial_rows:
            for s in self.strategies:
                rows[s].append(by_strategy[s])
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
        visible = [r for r in rows if r["part_visible_px"] >= MIN_PART_PX]
        res = {"strategy": strategy, "split": self.split, "n_trials": len(rows), "seed": seed,
               **({"executor": self.executor} if self.executor != "sim" else {}),
               "success_rate": rate(rows, "success"), "part_correct_rate": rate(rows, "part_correct"),
               "task_success_rate": rate(rows, "task_success"),
               # the trials the pipeline would not refuse as impossible to hold as asked
               "refused_cannot_hold": sum(r["failure_reason"] == CANNOT_HOLD for r in rows),
               "refused_not_on_part": sum(r["failure_reason"] == NOT_ON_PART for r in rows),
               "task_success_rate_holdable": rate([r for r in rows if r["failure_reason"] != CANNOT_HOLD],
                                                  "task_success"),
               # served, or refused where trying anyway did not serve either
               "right_outcome_rate": round(float(np.mean([right_outcome(r) for r in rows])), 4) if rows else None,
               # Refusals tried anyway in a copy of the scene: how many would have served the request.
               "refused_would_have_served": {
                   cause: f"{sum(r['if_tried']['task_success'] for r in rs if r['if_tried'])} of {len(rs)}"
                   for cause in (CANNOT_HOLD, NOT_ON_PART)
                   for rs in [[r for r in rows if r["failure_reason"] == cause]] if rs},
               "part_visible_trials": len(visible), "task_success_rate_part_visible": rate(visible, "task_success"),
               "no_candidate_on_visible_part": [{k: r[k] for k in ("trial", "seed", "category", "family", "query",
                                                                    "part_visible_px", "n_candidates")}
                                                for r in visible if r["n_candidates_on_part"] == 0],
               "failures_by_cause": dict(Counter(r["failure_reason"] for r in rows if not r["task_success"]
                                                 and r["failure_reason"]).most_common()),
               "latency_ms": lat,
               "affordance_source": (getattr(self.predictor, "model_id", "predictor") if self.predictor is not None
                                     else "oracle heatmap (no predictor configured)") if strategy == "affordance" else None,
               "per_category": {c: {"n": len(rs), "success_rate": rate(rs, "success"),
                                    "part_correct_rate": rate(rs, "part_correct"),
                                    "task_success_rate": rate(rs, "task_success"),
                                    "right_outcome_rate": round(float(np.mean([right_outcome(r) for r in rs])), 4)}
                            for c, rs in sorted(per_cat.items())},
               "machine": machine_description(), "trials": rows}
        return res


# Stages in the order they run, with what each covers; sub-stages are indented in the table.
PROFILE_STAGES = [
    ("parse", "query parse"),
    ("cloud", "scene cloud"), ("cloud.crop", "deproject + workspace crop"), ("cloud.voxel", "voxel grid"),
    ("cloud.plane", "table plane (RANSAC)"), ("cloud.normals", "normals"), ("cloud.cluster", "clustering (DBSCAN)"),
    ("cloud.join clusters", "joining touching clusters and fragments"),
    ("locate", "which object (reasoning head, grounding)"),
    ("affordance", "affordance heatmap"), ("affordance.crop", "crop"), ("affordance.model", "model"),
    ("affordance.paste", "paste into the frame"), ("affordance.regions", "boxes and points"),
    ("candidates", "grasp candidates"), ("generation.seeds", "seeds + k-d tree"),
    ("generation.closing axes", "closing axes"), ("generation.run search", "run search"),
    ("generation.friction cone", "friction cone"), ("generation.approaches and depths", "approaches and depths"),
    ("generation.re-centring", "re-centring"), ("generation.collision sweep", "collision sweep"),
    ("generation.fingertips short of other parts", "drawn back short of other parts (swept again)"),
    ("generation.hold", "holding probability"),
    ("grasp_generation", "grasp generation (cloud + candidates)"),
    ("selection", "affordance scoring"), ("total", "query to ranked grasps"),
]


def profile_summary(rows: List[dict]) -> dict:
    """Median and p95 (ms) of every stage over the trials, for generation on the given object and
    for whole requests with no hint (requests that were refused are counted, not timed)."""
    def stats(dicts):
        names = [k for k, _ in PROFILE_STAGES if any(k in d for d in dicts)]
        names += sorted({k for d in dicts for k in d} - set(names))
        return {k: {**_ms([d[k] for d in dicts if k in d]), "n": sum(k in d for d in dicts)} for k in names}

    queries = [r["query"] for r in rows if r["query"] is not None]
    return {"n_trials": len(rows), "given_object": stats([r["given_object"] for r in rows]),
            "query": stats(queries), "query_refused": dict(Counter(r["error"] for r in rows if r["error"])),
            "machine": machine_description()}


def profile_table(summary: dict) -> str:
    label = dict(PROFILE_STAGES)
    lines = ["| stage | given object: median / p95 ms | whole request: median / p95 ms |", "|---|---|---|"]
    g, q = summary["given_object"], summary["query"]
    for k in [k for k, _ in PROFILE_STAGES if k in g or k in q] + sorted((set(g) | set(q)) - set(label)):
        name = label.get(k, k)
        if "." in k:
            name = "&nbsp;&nbsp;" + name
        cell = lambda d: f"{d[k]['median']} / {d[k]['p95']}" if k in d else "-"  # noqa: E731
        lines.append(f"| {name} | {cell(g)} | {cell(q)} |")
    return "\n".join(lines)


def comparison_table(results: Dict[str, dict]) -> str:
    lines = ["| strategy | n | success | part correct | task success | refused: cannot hold | refused: no grasp on "
             "the part | refused that would have served | task success of the rest | right outcome (served, or refused "
             "where trying failed) | generation ms (median / p95) | total ms (median / p95) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s, r in results.items():
        g, t = r["latency_ms"]["grasp_generation"], r["latency_ms"]["total"]
        rest = r["task_success_rate_holdable"]
        lines.append(f"| {s} | {r['n_trials']} | {r['success_rate']:.2f} | {r['part_correct_rate']:.2f} | "
                     f"{r['task_success_rate']:.2f} | {r['refused_cannot_hold']} | {r.get('refused_not_on_part', 0)} | "
                     f"{', '.join(r.get('refused_would_have_served', {}).values()) or '-'} | "
                     f"{'-' if rest is None else f'{rest:.2f}'} | {r['right_outcome_rate']:.2f} | "
                     f"{g['median']} / {g['p95']} | "
                     f"{t['median']} / {t['p95']} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class BenchSettings:
    """What a Bench is built from, as plain values: each ``--workers`` worker builds its own."""
    strategies: Tuple[str, ...]
    split: str
    max_attempts: int = 3
    depth_noise: bool = True
    predictor_config: Optional[Path] = None
    oracle_affordance: bool = False
    objects: Tuple[Path, ...] = ()
    categories: Optional[Tuple[str, ...]] = None
    profile: bool = False
    part_geometry_config: Optional[Path] = None
    executor: str = "sim"


def make_bench(st: BenchSettings, out: Path) -> Bench:
    """A Bench writing its PNGs under ``out``: the user's objects loaded, the model and the part
    model loaded when a strategy or the profile needs them."""
    if st.objects:
        load_objects(st.objects)
    model = None
    if st.profile or ("affordance" in st.strategies and not st.oracle_affordance):
        from ..affordance.backends import load_predictor
        model = load_predictor(st.predictor_config)
    predictor = model if "affordance" in st.strategies and not st.oracle_affordance else None
    # The part model refines a learned predictor's heat (none for the oracle heatmap).
    part_geometry = PartGeometry.load(st.part_geometry_config) if model is not None else None
    return Bench(st.strategies, st.split, out, st.max_attempts, st.depth_noise, predictor, st.categories,
                 profile_predictor=model if st.profile else None, part_geometry=part_geometry,
                 executor=st.executor)


class BenchWorker:
    """A ``bench --workers`` worker (a Ray actor): its own Bench, built once, runs whole trials.
    Its PNGs go to a scratch folder and travel back with the rows, for the driver to write."""

    def __init__(self, settings: BenchSettings):
        from .parallel import worker_setup
        worker_setup()
        self.scratch = Path(tempfile.mkdtemp(prefix="ag-bench-"))
        self.runner = make_bench(settings, self.scratch)

    def run_trial(self, i: int, seed: int) -> Tuple[Dict[str, dict], List[dict], Dict[str, bytes]]:
        """Trial ``i``: its rows per strategy, its profile rows and its PNGs (path under --out: bytes)."""
        from .parallel import take_files
        n = len(self.runner.profiles)
        rows = self.runner.trial(i, seed)
        return rows, self.runner.profiles[n:], take_files(self.scratch)

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def run_on_ray(runner: Bench, settings: BenchSettings, trials: int, seed: int, workers: int,
               ray_address: Optional[str]) -> List[Dict[str, dict]]:
    """Each trial's rows, in trial order, from ``workers`` BenchWorkers. Their PNGs are written under
    ``runner.out`` as they arrive and their profile rows added to ``runner.profiles`` in trial
    order, as the serial loop does."""
    from .parallel import put_files, ray_cluster, run_on_workers
    rows: List[Optional[Dict[str, dict]]] = [None] * trials
    profiles: List[List[dict]] = [[] for _ in range(trials)]
    jobs = [(i, seed + i) for i in range(trials)]
    with ray_cluster(workers, ray_address) as ray, \
            tqdm(total=trials, desc=f"bench {runner.split} ({workers} workers)", unit="trial") as bar:
        for i, (trial_rows, trial_profiles, files) in run_on_workers(ray, BenchWorker, (settings,), "run_trial",
                                                                     jobs, workers):
            rows[i], profiles[i] = trial_rows, trial_profiles
            put_files(runner.out, files)
            bar.update()
    runner.profiles.extend(p for trial_profiles in profiles for p in trial_profiles)
    return rows


def bench(strategy: str, trials: int, seed: int, split: str, out: Path, max_attempts: int = 3,
          depth_noise: bool = True, predictor_config: Optional[Path] = None,
          oracle_affordance: bool = False, objects: Sequence[Path] = (),
          categories: Optional[Sequence[str]] = None, profile: bool = False,
          part_geometry_config: Optional[Path] = None, workers: int = 1,
          ray_address: Optional[str] = None, executor: str = "sim") -> Dict[str, dict]:
    """``executor`` runs the ranked grasps with the twin's executor (sim) or with the MoveIt
    backend over the twin-backed moveit_py double (moveit-double). ``workers`` above 1 runs the trials on Ray, on a local cluster or the one at ``ray_address``
    (where one worker is enough to use it); the rows, PNGs and summaries are the serial run's."""
    strategies = list(STRATEGIES) if strategy == "all" else [x.strip() for x in strategy.split(",") if x.strip()]
    if any(s not in STRATEGIES for s in strategies):
        raise AffordanceGraspError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)} or all")
    if workers < 1:
        raise AffordanceGraspError(f"--workers must be at least 1, got {workers}")
    # Absolute paths: a worker's working folder is not the driver's.
    resolve = lambda p: None if p is None else Path(p).resolve()  # noqa: E731
    settings = BenchSettings(tuple(strategies), split, max_attempts, depth_noise, resolve(predictor_config),
                             oracle_affordance, tuple(resolve(p) for p in objects),
                             tuple(categories) if categories else None, profile, resolve(part_geometry_config),
                             executor)
    out.mkdir(parents=True, exist_ok=True)
    # Built here in every case: it checks the settings before any worker starts, and summarises.
    runner = make_bench(settings, out)
    if workers > 1 or ray_address:
        results = runner.run(trials, seed, run_on_ray(runner, settings, trials, seed, workers, ray_address))
    else:
        results = runner.run(trials, seed)
    if profile:
        summary = profile_summary(runner.profiles)
        (out / "profile.json").write_text(json.dumps({**summary, "trials": runner.profiles}, indent=2))
        print(f"profile over {trials} trials ({summary['machine']}); refused requests: "
              f"{summary['query_refused'] or 'none'}\n{profile_table(summary)}\n")
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
