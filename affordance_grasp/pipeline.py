"""Frame + free-text query -> ranked grasps: the one detection path that the ROS planner node,
the demo and the bench share.

    parse query ─▶ scene cloud (table, object clusters) ─▶ which cluster is the object?
    ─▶ affordance heatmap on its crop ─▶ grasp candidates on that object ─▶ affordance scoring

Which cluster is the queried object: an explicit box or mask (a task planner's hint, or ground
truth in the bench) wins; otherwise grounding (affordance/grounding.py) decides from the reasoning
head's category probabilities, the request's colour/position/size words and, for objects the model
does not know, how strongly the requested part shows on each; it refuses when nothing or several
things in view fit the request.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from .affordance.grounding import PRESENCE_THRESHOLD, Choice, GroundingError, SceneObject, choose, colour_profiles
from .affordance.part_geometry import PartGeometry
from .affordance.query import QueryParser
from .affordance.recognizer import ShapeRecognizer, fuse
from .affordance.shape import footprint_frame
from .errors import CannotHoldError, EmptyCloudError, InvalidInputError, NoGraspFoundError, PartNotReachedError
from .grasping.antipodal import AntipodalGenerator
from .grasping.base import Candidates, GraspGenerator
from .grasping.cloud import CloudConfig, SceneCloud, build_scene_cloud
from .grasping.segmentation import cluster_boxes, cluster_mask, mask_box, scene_model, split_pieces
from .grasping.hold import GRAVITY, HoldConfig, hold_load
from .selection.scoring import ScoringConfig, heat_at_points, score_grasps
from .timing import StageTimes
from .types import AffordanceMap, AffordanceQuery, Grasp, RGBDFrame, SceneModel


@dataclass
class Detection:
    query: AffordanceQuery                    # resolved for the chosen object
    amap: AffordanceMap
    grasps: List[Grasp]                       # best first
    cloud: SceneCloud
    object_box: np.ndarray                    # [x0 y0 x1 y1] of the chosen object
    avoid: Optional[np.ndarray] = None
    timings: Dict[str, float] = field(default_factory=dict)  # seconds per stage
    choice: Optional[Choice] = None           # how the object was chosen (None: the request gave it)
    scene: Optional[SceneModel] = None        # the table and every object as boxes, for a motion planner
    generation: Dict[str, dict] = field(default_factory=dict)  # the generator's per-filter counts

    @property
    def best(self) -> Grasp:
        return self.grasps[0]


def mark_hold_inputs(cloud: SceneCloud, query: AffordanceQuery, heat: np.ndarray, vocab) -> None:
    """What the request tells the grasp generator, set on ``cloud``: when the part the fingers go
    on is known, that part (the requested part's heat at each point, >= 0.5: a handle weighs
    less than what it carries) and the points clearly elsewhere (heat < ELSEWHERE: a pad that
    reaches them touches a part not asked for); and the kind's typical mass when it is known."""
    cloud.mass_range = vocab.mass_range(query.object) if query.known_object else None
    # The heat is of the part the fingers go on (the grasp part: a knife's handle when the blade
    # is to cut), whatever part the request names.
    on_part = bool(query.grasp_part)
    heat = np.asarray(heat)
    hot = heat >= 0.5
    cloud.grip = cloud.target & hot if on_part else None
    cloud.elsewhere = cloud.target & (heat < ELSEWHERE) if on_part and hot.any() else None


# Heat below this (the map's peak is 1) is taken as surely another part. Low, because heat fades
# over a part's own edges and flanks (a blurred map, a model's uneven cover of a handle's underside).
ELSEWHERE = 0.05


def refine_heat(amap: AffordanceMap, cloud: SceneCloud, query: AffordanceQuery,
                part_geometry: Optional[PartGeometry]) -> AffordanceMap:
    """The predictor's heatmap fused with the part model's reading of the target's shape (the
    map itself when there is no part model, or it was not taught the part)."""
    if part_geometry is None or not cloud.target.any():
        return amap
    sel = cloud.target
    out = part_geometry.refine(amap.heatmap, cloud.points[sel], cloud.normals[sel], cloud.pixels[sel],
                               cloud.table_height, query.grasp_part)
    if not out["used"]:
        return amap
    return AffordanceMap.from_unnormalised(out["heat"], amap.query, model_id=f"{amap.model_id}+shape",
                                           boxes=amap.boxes, points=amap.points, mask=amap.mask,
                                           times=amap.times, reasoning=amap.reasoning)


# A candidate is on the requested part when its affordance score reaches this; when every such
# candidate holds with a probability below MIN_HOLD, the request is refused with the numbers.
# MIN_HOLD comes from the hold calibration (512 grasps executed in the twin, sim-check --pick
# random, docs/grasping.md): predicted below 0.1, 10 of 56 held; from 0.1 to 0.3, 8 of 11 did.
ON_PART = 0.5
MIN_HOLD = ScoringConfig.min_hold


def check_request(ranked: List[Grasp], q: AffordanceQuery, physical: dict, cfg: Optional[HoldConfig] = None) -> None:
    """Refuse, and nothing moves, when no candidate can serve the request, saying why: the request
    names a part and no candidate lies on it (PartNotReachedError: the best of the rest would take
    the object by another part), or (CannotHoldError, with the numbers) every grasp on it presses
    another part of the object with its pads (a teacup's handle too close to its body for the
    fingers, a bottle's neck shorter than the pads), or none is likely to hold the object's weight.
    The hold is asked of every grasp on the part, those judged to reach another part too: that
    judgement keeps a margin, and a pan's handle taken next to its body often touches the handle
    alone after all. ``physical`` is the generator's estimate of the target
    (``GenerationReport.physical``)."""
    cfg = cfg or HoldConfig()
    on_part = [g for g in ranked if g.affordance_score >= ON_PART]
    thing = q.object.replace('_', ' ') or 'object'
    part = q.grasp_part or q.part or "part asked for"
    if not on_part:
        if ranked and q.grasp_part:
            raise PartNotReachedError(
                f"no grasp takes the {thing}'s {part}: none of the {len(ranked)} candidates lies on it (it may face "
                f"away from the camera, hide under another part, or leave the fingers no room)",
                {"candidates": len(ranked), "best_affordance": max(g.affordance_score for g in ranked)})
        return
    if not physical or max(g.hold for g in on_part) >= MIN_HOLD:
        # It may hold there: the pads must also be able to take the part alone.
        if not any(g.part_only >= 1.0 for g in on_part):
            raise CannotHoldError(
                f"the {thing}'s {part} cannot be taken alone: all {len(on_part)} grasps on it would also press "
                f"another part of the {thing} with the pads (the {part} leaves too little room for the pads and the "
                f"fingers' clearance)", {"physical": physical, "on_part": len(on_part), "part_alone": 0})
        return
    best = max(on_part, key=lambda g: (g.hold, g.score))
    weight = physical["mass_kg"] * GRAVITY
    needed, resisted = hold_load(best.pose[None, :3, :3], best.position[None], np.array([best.width]),
                                 np.asarray(physical["centre_of_mass"]), weight, cfg.friction, cfg)
    off = [g for g in ranked if g.affordance_score < ON_PART and g.hold >= MIN_HOLD]
    other = (f"; a grasp elsewhere on it would hold ({off[0].hold:.0%})" if off else "")
    raise CannotHoldError(
        f"the {thing} (about {physical['mass_kg']:.2f} kg seen) cannot be held by "
        f"its {part}: the best grasp there holds in {best.hold:.0%} of the friction, mass and centre-of-mass draws; "
        f"its weight needs {float(needed[0]):.2f} N m about the grasp, the pads resist {float(resisted[0]):.2f} "
        f"N m at friction {cfg.friction}{other}",
        {"physical": physical, "best_hold_on_part": best.hold})


class GraspPipeline:
    def __init__(self, predictor, generator: Optional[GraspGenerator] = None, parser: Optional[QueryParser] = None,
                 cloud_cfg: Optional[CloudConfig] = None, scoring: Optional[ScoringConfig] = None,
                 recognizer: Optional[ShapeRecognizer] = None, part_geometry: Optional[PartGeometry] = None):
        self.predictor = predictor
        self.generator = generator or AntipodalGenerator()
        self.parser = parser or QueryParser()
        self.cloud_cfg = cloud_cfg or CloudConfig()
        self.scoring = scoring
        # Sizes and proportions in metres, beside the reasoning head's reading of the crop.
        self.recognizer = recognizer
        # Which part each point is on, from the object's shape: fused with the predictor's heat.
        self.part_geometry = part_geometry

    def _check_request(self, ranked: List[Grasp], q: AffordanceQuery, report) -> None:
        # The hold model the generator judged the candidates with (the antipodal one's), else the default.
        cfg = self.generator.cfg.hold if isinstance(self.generator, AntipodalGenerator) else HoldConfig()
        check_request(ranked, q, report.physical, cfg)

    def recognisable(self) -> List[str]:
        """The categories the predictor's reasoning head was taught."""
        return list(self.predictor.categories)

    def scene_objects(self, frame: RGBDFrame, cloud: SceneCloud, query: AffordanceQuery,
                      boxes: Dict[int, np.ndarray]) -> List[SceneObject]:
        """Every object cluster with what grounding needs: category probabilities, colours,
        position, size, and (when the request names no known object) its part score."""
        ids = list(boxes)
        probs = self.predictor.category_probabilities(frame, [boxes[i] for i in ids])
        if self.recognizer is not None:
            shapes = self.recognizer.describe_clusters(cloud.points, cloud.normals, cloud.cluster, ids,
                                                       cloud.table_height)
            probs = [fuse(p, sp, self.recognizer.shape_weight) for p, sp in zip(probs, shapes)]
        presence = self.predictor.presence_threshold or PRESENCE_THRESHOLD
        if self.recognizer is not None and self.recognizer.presence_threshold is not None:
            presence = self.recognizer.presence_threshold      # set on the fused probabilities
        vocab = self.parser.vocab
        sels = [cloud.cluster == i for i in ids]
        profiles = colour_profiles(frame.rgb, [cloud.pixels[sel] for sel in sels], vocab.colours)
        objects = []
        for i, p, sel, (nearest, near) in zip(ids, probs, sels, profiles):
            pts = cloud.points[sel]
            _, height, _, _, length, width, _ = footprint_frame(pts, cloud.table_height)
            objects.append(SceneObject(i, boxes[i], pts.mean(0), float(np.ptp(pts, axis=0).max()),
                                       nearest, p, presence=presence, colours_near=near,
                                       sides=(length, width, height)))
        taught = self.recognisable()
        if not (query.object and query.known_object and any(k in taught for k in query.kin or (query.object,))):
            masks = [cluster_mask(cloud, i) for i in ids]
            for o, score in zip(objects, self.predictor.part_scores(frame, query, [boxes[i] for i in ids], masks)):
                o.part_score = float(score)
        return objects

    def locate(self, frame: RGBDFrame, cloud: SceneCloud, query: AffordanceQuery,
               pick_any: bool = False) -> Tuple[Choice, Dict[int, np.ndarray]]:
        """Which cluster ``query`` means (GroundingError when none or several), and every
        cluster's box. Clusters that are pieces of one object are joined in ``cloud`` first."""
        objects, boxes = self.objects_in_view(frame, cloud, query)
        return choose(query, objects, self.parser.vocab, pick_any, self.recognisable()), boxes

    def objects_in_view(self, frame: RGBDFrame, cloud: SceneCloud,
                        query: AffordanceQuery) -> Tuple[List[SceneObject], Dict[int, np.ndarray]]:
        """Every object as grounding sees it for ``query``, and every cluster's box (pieces of one
        object joined in ``cloud``)."""
        boxes = cluster_boxes(cloud)
        if not boxes:
            raise EmptyCloudError("no object on the table: the cloud has no object cluster")
        objects = self.scene_objects(frame, cloud, query, boxes)
        pieces = split_pieces(cloud, objects, recognizer=self.recognizer)
        if pieces:
            label: Dict[int, int] = {}          # where each joined cluster went
            for keep, merge in pieces:
                while keep in label:
                    keep = label[keep]
                while merge in label:
                    merge = label[merge]
                if keep != merge:
                    cloud.cluster[cloud.cluster == merge] = keep
                    label[merge] = keep
            boxes = cluster_boxes(cloud)
            # Only the joined objects changed: the head looks again at those alone.
            joined = set(label.values()) - set(label)
            objects = [o for o in objects if o.index not in label and o.index not in joined]
            objects += self.scene_objects(frame, cloud, query, {i: boxes[i] for i in joined if i in boxes})
        return objects, boxes

    def locate_by_map(self, cloud: SceneCloud, query: AffordanceQuery,
                      amap: AffordanceMap) -> Tuple[Choice, Dict[int, np.ndarray]]:
        """The cluster that holds most of a self-grounding predictor's heat (GroundingError when
        its heat falls on no object), and every cluster's box."""
        boxes = cluster_boxes(cloud)
        if not boxes:
            raise EmptyCloudError("no object on the table: the cloud has no object cluster")
        # The cloud samples the image sparsely: the heat is summed over each cluster's pixels.
        share = {i: float(amap.heatmap[cluster_mask(cloud, i)].sum()) for i in boxes}
        total = sum(share.values())
        if total <= 0.05:
            raise GroundingError(f"the predictor's parts for {query.text!r} fall on no object in view "
                                 f"({total:.0%} of its heat is on the objects)")
        ranked = sorted(share, key=lambda i: -share[i])
        best = ranked[0]
        margin = (share[best] - (share[ranked[1]] if len(ranked) > 1 else 0.0)) / total
        why = amap.reasoning
        reason = (f"the predictor pointed at it ({share[best] / total:.0%} of its heat on the objects)"
                  + (f": {why[:160]}" if why else ""))
        return Choice(best, query, reason, margin, [f"object {i}: {share[i] / total:.0%} of the heat" for i in ranked]), boxes

    def find_object(self, frame: RGBDFrame, cloud: SceneCloud, query: AffordanceQuery, pick_any: bool = False,
                    times: Optional[Dict[str, float]] = None) -> Tuple[Choice, Dict[int, np.ndarray], Optional[AffordanceMap]]:
        """Which cluster ``query`` means, every cluster's box, and the affordance map when the
        predictor made one on the way (None otherwise). A reasoning model reads the request and
        the whole image and points at the part itself: the object is the cluster its parts fall
        on (its prediction time goes in ``times["affordance"]``). Otherwise the reasoning head
        and grounding choose among the clusters."""
        if self.predictor.grounds_itself:
            t0 = time.perf_counter()
            amap = self.predictor.predict(frame, query)
            if times is not None:
                times["affordance"] = time.perf_counter() - t0
            return (*self.locate_by_map(cloud, query, amap), amap)
        return (*self.locate(frame, cloud, query, pick_any), None)

    def detect(self, frame: RGBDFrame, query: Union[str, AffordanceQuery], object_box=None,
               object_mask: Optional[np.ndarray] = None, seed: int = 0, pick_any: bool = False) -> Detection:
        """Raises QueryError (GroundingError when the request does not pick out one object in
        view), EmptyCloudError, NoGraspFoundError or InvalidInputError; never moves anything."""
        if not isinstance(frame, RGBDFrame):
            raise InvalidInputError(f"expected an RGBDFrame, got {type(frame).__name__}")
        t: Dict[str, float] = {}
        t0 = time.perf_counter()
        q = query if isinstance(query, AffordanceQuery) else self.parser.parse(query)
        t["parse"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        cloud = build_scene_cloud(frame, self.cloud_cfg, target_mask=object_mask)
        if object_mask is not None:
            box = mask_box(object_mask)
        elif object_box is not None:
            box = np.asarray(object_box, float).reshape(4)
            cloud.target &= ((cloud.pixels[:, 1] >= box[0]) & (cloud.pixels[:, 1] <= box[2]) &
                             (cloud.pixels[:, 0] >= box[1]) & (cloud.pixels[:, 0] <= box[3]))
        choice = amap = None
        if object_mask is None and object_box is None:
            t_loc = time.perf_counter()
            choice, boxes, amap = self.find_object(frame, cloud, q, pick_any, t)
            t["locate"] = time.perf_counter() - t_loc - t.get("affordance", 0.0)
            q = choice.query
            box = boxes[choice.index]
            cloud.target &= cloud.cluster == choice.index
        elif not q.part:
            raise InvalidInputError(f"{q.text!r} does not say which part to use on an object the model does not "
                                    f"know; name the part (e.g. 'by its handle')")
        t["cloud"] = time.perf_counter() - t0 - t.get("locate", 0.0)

        t0 = time.perf_counter()
        if amap is None:
            amap = self.predictor.predict(frame, q, box=box)
        avoid = self.predictor.avoid_map(frame, q, box=box)
        t_shape = time.perf_counter()
        amap = refine_heat(amap, cloud, q, self.part_geometry)
        t["part_geometry"] = time.perf_counter() - t_shape
        t["affordance"] = t.get("affordance", 0.0) + time.perf_counter() - t0

        t0 = time.perf_counter()
        # Half the seeds go where the requested part's heat is: a narrow part (a handle loop, a
        # bottle's neck) holds few of the object's points and would otherwise get few candidates.
        weights = heat_at_points(amap.heatmap, cloud.pixels, self.scoring)
        mark_hold_inputs(cloud, q, weights, self.parser.vocab)
        grasps = Candidates.of(self.generator.generate(cloud, seed=seed, seed_weights=weights))
        t["grasp_generation"] = time.perf_counter() - t0
        report = grasps.report
        if not grasps:
            raise NoGraspFoundError(f"no collision-free grasp candidate on the {q.object} ({report.summary()})",
                                    report.to_dict())
        t0 = time.perf_counter()
        ranked = score_grasps(grasps, amap, frame, self.scoring, avoid)
        t["selection"] = time.perf_counter() - t0
        self._check_request(ranked, q, report)
        # Where each stage's time went, for ``bench --profile``.
        stages = StageTimes().merge(cloud.times, "cloud.")
        stages.seconds.update({f"affordance.{k}": v for k, v in amap.times.items()})
        t.update(stages.merge(report.times, "generation.").seconds)
        return Detection(q, amap, ranked, cloud, box, avoid, t, choice, scene_model(cloud), report.to_dict())
