"""Twin rollouts for ``train-rl``'s physical reward (``held``): the policy points, the twin grasps.

A step with the held reward runs in three rounds of jobs, each job on one worker (in this process
with ``--workers 1``, else Ray actors, ``parallel.worker_pool``), each depending on its own
arguments alone, so a step's rewards are the same for any number of workers:

1. ``perceive`` (a job per query): a twin scene drawn from the query's seed as ``bench`` draws
   one (``sim/scene.py``: the split's target category, cycled, and 0-2 other objects of any
   category), rendered with depth noise (``sim/camera.py``), and a request for it from the
   category's phrasings. Its ground truth: the target's object mask, whose box is the crop the
   model sees (as ``bench`` gives the predictor the box), and the requested part's mask. Scenes
   where the part does not show are drawn again, up to 10 times.
2. The driver runs the policy on the crops and draws G points per query from its heatmap
   (``affordance/grpo.py``); each crop pixel is mapped back to its frame pixel.
3. ``ground`` (a job per query) turns each point into the grasp it asks for; ``execute`` (a job
   per distinct grasp) runs it once, with the twin's executor, in a fresh build of the scene, and
   scores it with ``rewards.held_reward``: 1 when held and by the requested part alone.

How a point becomes a grasp (``ground``). The scene cloud is built from the frame as the pipeline
builds it, restricted to the target's mask as ``bench`` restricts it. Candidates are generated
once per query, with ``seed_weights`` a narrow blob (``seed_spread``) around each drawn point's
3-D position (the frame's depth under it): the generator draws half its seeds there and half over
the whole object, so every point has candidates near it. Each point then takes the candidate
whose finger contacts close on it: the one whose segment between the two contacts passes nearest
the point, if within ``reach``; ties go to the better candidate (they come best first). A point
with no candidate within reach (off the object, on a pixel without depth, or where no grasp
passes the generator's checks) gets no grasp and reward 0: the pipeline would find nothing there.

Why this and not a narrow blob per point through the whole pipeline (generate on the blob, rank,
execute the best): that needs G generations per query where this needs one, and with a blob a
few pixels wide the ranking is decided by which pads lie under the blob, which is the nearest
contacts again. The generator is not told the requested part (``mark_hold_inputs`` with the part
unknown; the kind's mass is kept): the part a grasp lands on must come from the point, or the
reward would credit the generator's knowledge of the part instead of the policy's.

One attempt per point, no fallback: the reward is about the grasp the point chose.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import ConfigError, InvalidInputError

SPLITS = ("seen", "unseen")
MIN_PART_PX = 40   # as bench and the rendered splits: a part needs this many pixels in view to be asked for
REDRAWS = 10


@dataclass(frozen=True)
class TwinConfig:
    """The twin scenes and the point-to-grasp rule of the held reward (``twin:`` in
    config/train_rl.yaml)."""

    split: str = "seen"            # target categories: the model's seen (trained) ones, or the held-out ones
    depth_noise: bool = True       # the camera's depth noise model, as bench renders
    # A point takes a grasp whose contact segment passes within this of it: about the width of
    # a Panda finger pad (21 mm, config/gripper/panda_hand.yaml).
    reach: float = 0.02
    # The seed blob around each drawn point (standard deviation, m): half a pad width.
    seed_spread: float = 0.01

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ConfigError(f"twin.split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if not 0 < self.reach < 0.2 or not 0 < self.seed_spread < 0.2:
            raise ConfigError(f"twin.reach and twin.seed_spread must be in (0, 0.2) m, got {self.reach}, "
                              f"{self.seed_spread}")


def query_seed(seed: int, step: int, index: int) -> int:
    """The seed of query ``index`` of step ``step`` (0-based) of a run seeded ``seed``."""
    return int(np.random.SeedSequence([seed, step, index]).generate_state(1)[0])


@dataclass
class TwinQuery:
    """One query of a rollout: its scene, frame, request and ground truth."""

    index: int
    seed: int
    category: str
    target: str                # the target's instance name
    part: str                  # the part the request means (success is judged on it)
    query: object              # the parsed AffordanceQuery
    frame: object              # RGBDFrame
    scene: object              # sim.scene.Scene: built afresh for every execution
    object_mask: np.ndarray    # (H, W) bool
    part_mask: np.ndarray      # (H, W) bool

    @property
    def box(self) -> np.ndarray:
        from ..grasping.segmentation import mask_box
        return mask_box(self.object_mask)


class TwinWorker:
    """Runs the twin's side of a rollout: ``perceive``, ``ground``, ``execute``. Built once per
    worker (IK, grasp generator, query parser), then given one job after another."""

    def __init__(self, cfg: TwinConfig, in_ray: bool = False):
        if in_ray:
            from .parallel import worker_setup
            worker_setup()
        from ..affordance.query import QueryParser
        from ..grasping.antipodal import AntipodalGenerator
        from ..sim.ik import PandaIK
        from ..sim.objects import REGISTRY
        from .bench import split_categories

        self.cfg = cfg
        self.cats = split_categories(cfg.split)
        # Clutter: any procedural category (bench adds the user's loaded objects; train-rl loads none).
        self.clutter = sorted(REGISTRY)
        self.parser = QueryParser()
        self.generator = AntipodalGenerator()
        self.ik = PandaIK()

    def perceive(self, index: int, seed: int) -> TwinQuery:
        """Query ``index``'s scene, frame and request, from ``seed`` alone."""
        from ..sim.camera import DepthNoise, SimCamera
        from ..sim.ground_truth import object_masks
        from ..sim.scene import SceneConfig, sample_scene
        from .bench import category_queries

        rng = np.random.default_rng(seed)
        category = self.cats[index % len(self.cats)]
        others = [str(c) for c in rng.choice(self.clutter, int(rng.integers(0, 3)))]
        target = f"{category}_0"
        specs = category_queries(category)
        spec = specs[int(rng.integers(len(specs)))]
        scfg = SceneConfig()
        best = None
        for redraw in range(REDRAWS):
            scene = sample_scene(seed + 1_000_003 * redraw, scfg, categories=[category] + others)
            world = scene.build()
            with SimCamera(world) as cam:
                frame = cam.render(DepthNoise() if self.cfg.depth_noise else None, rng)
                masks = {m.instance: m for m in object_masks(world, cam.render_geom_ids())}
            m = masks.get(target)
            if m is None or m.object_mask.sum() < scfg.min_visible_px:
                continue
            part_mask = m.parts.get(spec.part, np.zeros(frame.depth.shape, bool))
            best = (scene, frame, m.object_mask, part_mask)
            if part_mask.sum() >= MIN_PART_PX:
                break
        if best is None:
            raise InvalidInputError(f"query {index}: the {category} stays hidden in {REDRAWS} scene draws from "
                                    f"seed {seed}")
        scene, frame, object_mask, part_mask = best
        # The request as the planner sends it; the object's own part map says what was meant.
        query = self.parser.parse(spec.text)
        if not query.known_object or query.object != category:
            query = replace(query, object=category, known_object=False, part=query.part or spec.part,
                            grasp_part=spec.part)
        return TwinQuery(index, seed, category, target, spec.part, query, frame, scene,
                         np.asarray(object_mask, bool), np.asarray(part_mask, bool))

    def ground(self, q: TwinQuery, uv: np.ndarray) -> Tuple[List[int], Dict[int, object]]:
        """The grasp each of the frame points ``uv`` (G, 2) [u, v] asks for (module text): per
        point the index of its candidate or -1, and the chosen candidates by index."""
        from ..errors import EmptyCloudError
        from ..grasping.base import Candidates
        from ..grasping.cloud import build_scene_cloud
        from ..pipeline import mark_hold_inputs

        points, ok = points_at(q.frame, uv)
        cloud = build_scene_cloud(q.frame, target_mask=q.object_mask)
        mark_hold_inputs(cloud, replace(q.query, grasp_part=""), np.zeros(len(cloud)), self.parser.vocab)
        weights = seed_blobs(cloud.points, points[ok], self.cfg.seed_spread)
        try:
            cands = self.generator.generate(cloud, seed=q.seed, seed_weights=weights if weights.any() else None)
        except EmptyCloudError:
            cands = Candidates()
        choice = nearest_grasps(cands.contacts if len(cands) else np.zeros((0, 2, 3)), points, ok, self.cfg.reach)
        return choice.tolist(), {int(i): cands[int(i)] for i in sorted(set(choice.tolist()) - {-1})}

    def execute(self, scene, grasp, target: str, part: str) -> dict:
        """``grasp`` tried once in a fresh build of ``scene``; its held reward for ``target``'s
        ``part``, and how it ended."""
        from ..affordance.rewards import held_reward
        from ..sim.executor import SimExecutor

        outcome = SimExecutor(scene.build(), ik=self.ik).execute(grasp)
        return {"held": held_reward(outcome, target, part), "success": bool(outcome.success),
                "failure_reason": outcome.failure_reason.value, "parts_touched": list(outcome.parts_touched)}


def points_at(frame, uv: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Frame pixels (G, 2) [u, v] -> (base-frame points (G, 3), whether each has one): a pixel
    outside the frame or without depth has none."""
    from ..geometry import camera_to_base, deproject_pixels, pixel_indices

    uv = np.asarray(uv, float).reshape(-1, 2)
    inside, ui, vi = pixel_indices(uv, *frame.depth.shape)
    z = frame.depth[vi, ui].astype(float)
    ok = inside & np.isfinite(z) & (z > 0)
    pts = camera_to_base(deproject_pixels(np.stack([ui, vi], 1), np.where(ok, z, 1.0), frame.intrinsics),
                         frame.T_base_camera)
    return np.where(ok[:, None], pts, np.nan), ok


def seed_blobs(cloud_points: np.ndarray, centres: np.ndarray, spread: float) -> np.ndarray:
    """(N,) seed weights: a Gaussian of ``spread`` around each of ``centres`` (K, 3), the largest."""
    if len(centres) == 0 or len(cloud_points) == 0:
        return np.zeros(len(cloud_points))
    d2 = ((cloud_points[:, None, :] - centres[None]) ** 2).sum(-1)
    w = np.exp(-0.5 * d2.min(1) / spread ** 2)
    return np.where(w > 1e-3, w, 0.0)


def segment_distances(points: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """(G, N) distance of each point (G, 3) to each candidate's contact segment (N, 2, 3)."""
    a, b = contacts[None, :, 0], contacts[None, :, 1]
    ab = b - a
    t = np.clip(((points[:, None] - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points[:, None] - (a + t[..., None] * ab), axis=-1)


def nearest_grasps(contacts: np.ndarray, points: np.ndarray, ok: np.ndarray, reach: float) -> np.ndarray:
    """(G,) per point the candidate whose contact segment passes nearest it, -1 when none is
    within ``reach`` or the point has no position. Ties go to the lower index (the better one)."""
    out = np.full(len(points), -1, int)
    if len(contacts) == 0 or not ok.any():
        return out
    d = segment_distances(np.nan_to_num(points[ok]), np.asarray(contacts, float))
    best = d.argmin(1)
    out[np.nonzero(ok)[0]] = np.where(d[np.arange(len(best)), best] <= reach, best, -1)
    return out


# ---------------------------------------------------------------- the driver's side
def perceive_batch(pool, seed: int, step: int, size: int) -> List[TwinQuery]:
    """The ``size`` queries of step ``step`` (0-based), in order, perceived on the pool's workers."""
    jobs = [(step * size + i, query_seed(seed, step, i)) for i in range(size)]
    out: List[Optional[TwinQuery]] = [None] * size
    for i, q in pool.map("perceive", jobs):
        out[i] = q
    return out  # type: ignore[return-value]


def model_inputs(model, queries: Sequence[TwinQuery]) -> Tuple[dict, np.ndarray]:
    """The model's batch for the queries (the crop around each target's box, as the predictor
    crops it, and the labels it asks for) and the (B, 2, 3) crop matrices."""
    from ..affordance.predictor import model_labels
    from ..affordance.query import Vocabulary
    from ..affordance.transforms import CropConfig, crop_matrix, normalise_depth, normalise_rgb, warp

    words = Vocabulary.load()
    size, context = int(model.image_size), CropConfig(**model.cfg.crop).context
    mats, imgs, depths, ids = [], [], [], []
    for q in queries:
        M = crop_matrix(q.box, q.frame.rgb.shape[:2], size, context)
        mats.append(M)
        imgs.append(normalise_rgb(warp(q.frame.rgb, M, size)))
        depths.append(normalise_depth(warp(np.nan_to_num(q.frame.depth, nan=0.0), M, size, nearest=True)))
        ids.append(model.vocab.encode(*model_labels(q.query, q.query.grasp_part, words)))
    ids_t = torch.tensor(ids, dtype=torch.long).reshape(-1, 3)
    batch = {"image": torch.from_numpy(np.stack(imgs)), "depth": torch.from_numpy(np.stack(depths)),
             "object": ids_t[:, 0], "affordance": ids_t[:, 1], "part": ids_t[:, 2]}
    return batch, np.stack(mats)


def crop_to_frame(pixels: torch.Tensor, mats: np.ndarray, size: int) -> np.ndarray:
    """(B, G) flat crop pixel indices -> (B, G, 2) frame pixels [u, v] (float)."""
    p = pixels.cpu().numpy()
    row, col = p // size, p % size
    s = mats[:, 0, 0][:, None]
    return np.stack([(col - mats[:, 0, 2][:, None]) / s, (row - mats[:, 1, 2][:, None]) / s], -1)


def point_rewards(queries: Sequence[TwinQuery], uv: np.ndarray) -> np.ndarray:
    """(B, G): 1 where the point lies on the requested part's rendered mask."""
    from ..geometry import pixel_indices

    out = np.zeros(uv.shape[:2])
    for b, q in enumerate(queries):
        inside, ui, vi = pixel_indices(uv[b], *q.part_mask.shape)
        out[b] = inside & q.part_mask[vi, ui]
    return out


def held_rewards(pool, queries: Sequence[TwinQuery], uv: np.ndarray, bar=None) -> Tuple[np.ndarray, dict]:
    """(B, G) held rewards of the points ``uv`` (B, G, 2), and counts: points given no grasp,
    distinct grasps executed, and how they ended. ``bar`` (tqdm) advances per execution."""
    choices: List[List[int]] = [[] for _ in queries]
    grasps: List[Dict[int, object]] = [{} for _ in queries]
    for b, (choice, chosen) in pool.map("ground", [(q, uv[b]) for b, q in enumerate(queries)]):
        choices[b], grasps[b] = choice, chosen
    keys = [(b, i) for b in range(len(queries)) for i in sorted(grasps[b])]
    if bar is not None:
        bar.reset(total=len(keys))
    results: Dict[Tuple[int, int], dict] = {}
    jobs = [(queries[b].scene, grasps[b][i], queries[b].target, queries[b].part) for b, i in keys]
    for k, res in pool.map("execute", jobs):
        results[keys[k]] = res
        if bar is not None:
            bar.update()
    out = np.zeros(uv.shape[:2])
    for b, choice in enumerate(choices):
        for g, i in enumerate(choice):
            if i >= 0:
                out[b, g] = results[(b, i)]["held"]
    ends: Dict[str, int] = {}
    for r in results.values():
        key = "held by the part" if r["held"] else ("held, not by the part alone" if r["success"]
                                                     else r["failure_reason"])
        ends[key] = ends.get(key, 0) + 1
    return out, {"no_grasp": int(sum(i < 0 for c in choices for i in c)), "executed": len(keys), "ends": ends}
