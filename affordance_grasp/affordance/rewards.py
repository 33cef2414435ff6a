"""Verifiable rewards for reinforcement fine-tuning (GRPO), as the seed works define them, plus a
physical one that none of them has.

Every reward lies in [0, 1], so the weights in a training config compare directly. (Affordance-R1
sums unnormalised terms: its format reward runs to 4 and its accuracy reward to 3; the shapes of
the terms are kept and only their scale differs.)

- :func:`format_reward`: the reply is ``<think>``, ``<rethink>``, ``<answer>`` in that order
  (1 of 4), and each answer item has a 4-number ``bbox_2d``, a 2-number ``point_2d`` and an
  ``affordance`` (1 each, averaged over items: 3 of 4). For a language-model backend's replies.
- :func:`box_point_reward`: Affordance-R1's accuracy reward. Predicted and true parts are
  matched one to one (Hungarian, scipy) on the cost 3 - [IoU > 0.65] - [mean L1 of the box
  coordinates < 10 px] - [point within 30 px of the true point and inside its own box]; the
  reward is (3 x matches - matched cost) / (3 x max(M, N)), so extra and missing parts cost. The
  IoU counts end pixels (+1 on widths and heights); an empty prediction or truth scores 0.
- :func:`box_count_reward`: 1 when as many parts are named as there are.
- :func:`recognition_reward`: Affordance-R1's: 1 when the answer's one affordance is more similar
  than 0.8 to the true one (the similarity is passed in; exact words by default).
- :func:`non_repeat_reward`: Affordance-R1's: 0 once two sentences of the reply repeat earlier ones.
- :func:`precision_recall_rewards`: Vision-R1's. Boxes matched one to one on L1 + class - GIoU;
  a matched GIoU under the low threshold counts 0, over the high one 1, between them itself;
  precision is the mean of that over the matched pairs; recall is the matched GIoUs over the low
  threshold over the true count, thresholded again at (0.5, 0.75). The GIoU thresholds tighten
  from (0.5, 0.75) to (0.75, 0.9) at a configurable step, so boxes that were good enough early
  must become better later.
- :func:`point_in_part_reward`: the share of points that land on the true part's mask.
- :func:`physical_reward`: the twin executed the grasp the prediction chose: 1 when the object was
  lifted and held by the requested part alone, half for each of the two otherwise.
- :func:`held_reward`: the same execution scored as the benchmarks score a task: 1 when held and
  by the requested part alone, else 0 (``train-rl``'s ``held`` reward).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import InvalidInputError, PredictionError
from ..types import GraspOutcome, judge_grasp
from .reasoned_answer import PartAnswer, answer_items, boxes_of, has_structure, points_of

IOU_HIT = 0.65        # Affordance-R1: a box counts when its IoU exceeds this
L1_HIT_PX = 10.0      # ... or its coordinates are off by less than this on average
POINT_HIT_PX = 30.0   # a point counts within this distance of the true one (and inside its own box)
FORMAT_MAX = 4.0      # Affordance-R1's format reward: 1 for the structure + up to 3 for the fields
RECOGNITION_SIMILARITY = 0.8   # Affordance-R1: the answer's affordance counts above this similarity
NON_REPEAT_LIMIT = 2  # Affordance-R1: the non-repeat reward is 0 once this many sentences repeat


@dataclass(frozen=True)
class ThresholdSchedule:
    """Vision-R1's progressive rule refinement: (low, high) GIoU thresholds before and after
    ``switch_step``, and the (low, high) thresholds its recall passes through once more.

    Values from jefferyZhan/Griffon, Vision-R1/vision_r1/visionr1_qwen.py (``precision_reward``,
    ``recall_reward``): (0.5, 0.75) then (0.75, 0.9) from step 1500; recall (0.5, 0.75) always."""

    early: Tuple[float, float] = (0.5, 0.75)
    late: Tuple[float, float] = (0.75, 0.9)
    switch_step: int = 1500
    recall: Tuple[float, float] = (0.5, 0.75)

    def __post_init__(self):
        for lo, hi in (self.early, self.late):
            if not -1.0 <= lo <= hi <= 1.0:
                raise InvalidInputError(f"GIoU thresholds must satisfy -1 <= low <= high <= 1, got {(lo, hi)}")
        if not 0.0 <= self.recall[0] <= self.recall[1] <= 1.0:
            raise InvalidInputError(f"recall thresholds must satisfy 0 <= low <= high <= 1, got {self.recall}")
        if self.switch_step < 0:
            raise InvalidInputError(f"switch_step must be >= 0, got {self.switch_step}")

    def at(self, step: int) -> Tuple[float, float]:
        return self.early if step < self.switch_step else self.late


def thresholded(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Under ``low`` 0, over ``high`` 1, else itself (Vision-R1's ``modify_tensor``/``modify_list``:
    a value exactly at a threshold keeps itself)."""
    x = np.asarray(x, float)
    return np.where(x < low, 0.0, np.where(x > high, 1.0, x))


def _boxes(b, name: str) -> np.ndarray:
    a = np.asarray(b, float).reshape(-1, 4) if len(b) else np.zeros((0, 4))
    if not np.isfinite(a).all():
        raise InvalidInputError(f"{name} must be finite")
    if (a[:, 2] < a[:, 0]).any() or (a[:, 3] < a[:, 1]).any():
        raise InvalidInputError(f"{name} must be [x0, y0, x1, y1] with x1 >= x0 and y1 >= y0")
    return a


def pairwise_iou(a: np.ndarray, b: np.ndarray, plus_one: bool = False) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b`` (M x N).

    ``plus_one``: corners are inclusive pixel indices, so a box [x0, x1] is x1 - x0 + 1 pixels wide,
    as Affordance-R1's ``batch_iou`` (hq-King/Affordance-R1, verl/utils/reward_score/aff_r1.py)
    counts them; its accuracy reward's 0.65 threshold was set on that IoU. Without it, continuous
    coordinates, as GIoU (Vision-R1) uses them."""
    px = 1.0 if plus_one else 0.0
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt + px, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2] + px).prod(-1)
    area_b = (b[:, 2:] - b[:, :2] + px).prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def pairwise_giou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Generalised IoU: IoU minus the share of the enclosing box that neither box covers."""
    iou = pairwise_iou(a, b)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    union = (a[:, 2:] - a[:, :2]).prod(-1)[:, None] + (b[:, 2:] - b[:, :2]).prod(-1)[None] - inter
    hull = (np.maximum(a[:, None, 2:], b[None, :, 2:]) - np.minimum(a[:, None, :2], b[None, :, :2])).prod(-1)
    return iou - np.divide(hull - union, hull, out=np.zeros_like(hull), where=hull > 0)


def _field_count(item: dict) -> int:
    """0 to 3: a 4-number ``bbox_2d``, a 2-number ``point_2d``, an ``affordance`` key."""
    box, point = item.get("bbox_2d"), item.get("point_2d")
    return (int(isinstance(box, list) and len(box) == 4) + int(isinstance(point, list) and len(point) == 2)
            + int("affordance" in item))


def format_reward(text: str) -> float:
    """Affordance-R1's format reward scaled to [0, 1]: (structure + mean field count) / 4.

    Definition from hq-King/Affordance-R1, verl/utils/reward_score/aff_r1.py
    (``aff_r1_score_format_reward``): 1 when the reply is think, rethink, answer in that order, plus
    the item fields averaged over the items (0 to 3), so the structure weighs 1 and the fields 3 of
    the 4. An answer that is not JSON, or an empty list, scores no fields."""
    structure = 1.0 if has_structure(text) else 0.0
    try:
        items = answer_items(text)
    except PredictionError:
        items = []
    fields = float(np.mean([_field_count(i) for i in items])) if items else 0.0
    return (structure + fields) / FORMAT_MAX


def box_point_reward(pred: Sequence[PartAnswer], truth: Sequence[PartAnswer]) -> float:
    """Affordance-R1's accuracy reward, scaled to [0, 1] (see the module text).

    From hq-King/Affordance-R1, verl/utils/reward_score/aff_r1.py (``aff_r1_score_accuracy_reward``):
    the IoU counts end pixels (+1), and an empty prediction or truth scores 0, two empty lists
    included (the released function fails on the empty arrays and keeps its 0)."""
    m, n = len(pred), len(truth)
    if m == 0 or n == 0:
        return 0.0
    pb, tb = _boxes(boxes_of(pred), "predicted boxes"), _boxes(boxes_of(truth), "true boxes")
    pp, tp = points_of(pred), points_of(truth)
    iou_hit = pairwise_iou(pb, tb, plus_one=True) > IOU_HIT
    l1_hit = np.abs(pb[:, None] - tb[None]).mean(-1) < L1_HIT_PX
    inside = ((pp[:, 0] >= pb[:, 0]) & (pp[:, 0] <= pb[:, 2]) & (pp[:, 1] >= pb[:, 1]) & (pp[:, 1] <= pb[:, 3]))
    point_hit = (np.linalg.norm(pp[:, None] - tp[None], axis=-1) < POINT_HIT_PX) & inside[:, None]
    cost = 3.0 - (iou_hit.astype(float) + l1_hit + point_hit)
    rows, cols = linear_sum_assignment(cost)
    return float((3.0 * len(rows) - cost[rows, cols].sum()) / (3.0 * max(m, n)))


def box_count_reward(pred: Sequence, truth: Sequence) -> float:
    return 1.0 if len(pred) == len(truth) else 0.0


def exact_words(a: str, b: str) -> float:
    """1.0 for the same words (case and surrounding space aside), else 0.0: the default similarity
    of :func:`recognition_reward`, which needs no word vectors."""
    return float(a.strip().casefold() == b.strip().casefold())


def recognition_reward(text: str, true_affordance: str, similarity: Callable[[str, str], float] = exact_words,
                       threshold: float = RECOGNITION_SIMILARITY) -> float:
    """Affordance-R1's recognition reward: 1 when the answer's ``affordance`` is more similar than
    ``threshold`` to the true one, else 0.

    From hq-King/Affordance-R1, verl/utils/reward_score/aff_r1.py (``aff_reward_compute_score``). The
    release scores similarity with word2vec vectors (GoogleNews, 300-d, gensim) loaded in
    verl/workers/reward/custom.py; weights are never downloaded here, so ``similarity`` is passed in
    (e.g. a locally loaded ``KeyedVectors.similarity``) and defaults to :func:`exact_words`. The
    release compares the list of the answer's affordances with the true one, which yields a number
    for a one-item answer only: an answer with no item or several, an item without an affordance,
    or a reply without a JSON answer scores 0, as there."""
    try:
        items = answer_items(text)
    except PredictionError:
        return 0.0
    if len(items) != 1 or not isinstance(items[0].get("affordance"), str):
        return 0.0
    return float(similarity(items[0]["affordance"], true_affordance) > threshold)


def non_repeat_reward(text: str) -> float:
    """Affordance-R1's non-repeat reward: the reply split on '.', each piece stripped and blank ones
    dropped; 0 once two pieces repeat earlier ones, else 1 (one repeat is allowed).

    From hq-King/Affordance-R1, verl/utils/reward_score/aff_r1.py (``aff_r1_score_non_repeat_reward``).
    The whole reply is split, the JSON answer included, as there."""
    seen, repeats = set(), 0
    for piece in (p.strip() for p in str(text).split(".")):
        if not piece:
            continue
        repeats += piece in seen
        if repeats >= NON_REPEAT_LIMIT:
            return 0.0
        seen.add(piece)
    return 1.0


def _labels(labels: Optional[Sequence[str]], n: int, name: str) -> List[str]:
    if labels is None:
        return [""] * n       # no labels: one class for all, so the class term is the same everywhere
    if len(labels) != n:
        raise InvalidInputError(f"{name} labels: expected {n}, one per box, got {len(labels)}")
    return [str(label).strip().casefold() for label in labels]


def match_boxes(pb: np.ndarray, tb: np.ndarray, pred_labels: Optional[Sequence[str]] = None,
                true_labels: Optional[Sequence[str]] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vision-R1's one-to-one matching: (predicted rows, true columns, their GIoU).

    From jefferyZhan/Griffon, Vision-R1/vision_r1/visionr1_qwen.py (``BoxPriorMatcher``): the cost is
    the L1 distance of the corners in pixels (not normalised) + the class cost (minus the one-hot
    probability of the true class: -1 for the same label, 0 otherwise) - GIoU, solved by Hungarian
    matching (scipy). min(M, N) pairs come out."""
    pl, tl = _labels(pred_labels, len(pb), "predicted"), _labels(true_labels, len(tb), "true")
    giou = pairwise_giou(pb, tb)
    l1 = np.abs(pb[:, None] - tb[None]).sum(-1)
    same_class = np.array([[float(p == t) for t in tl] for p in pl]).reshape(len(pb), len(tb))
    rows, cols = linear_sum_assignment(l1 - same_class - giou)
    return rows, cols, giou[rows, cols]


def precision_recall_rewards(pred_boxes, true_boxes, step: int = 0,
                             schedule: ThresholdSchedule = ThresholdSchedule(),
                             pred_labels: Optional[Sequence[str]] = None,
                             true_labels: Optional[Sequence[str]] = None) -> Tuple[float, float]:
    """Vision-R1's precision and recall rewards at training ``step``.

    From jefferyZhan/Griffon, Vision-R1/vision_r1/visionr1_qwen.py (``precision_reward``,
    ``recall_reward``), on the pairs of :func:`match_boxes`:
    - precision: each matched GIoU thresholded at the step's (low, high), averaged over the matched
      pairs (so a prediction left unmatched costs nothing here);
    - recall: matched GIoUs thresholded at (low, low), i.e. over it 1, summed over the true count,
      and that recall thresholded again at ``schedule.recall`` (0.5, 0.75).
    No prediction scores (1, 1) when there was nothing to find and (0, 0) otherwise, as released;
    predictions where nothing is (which the release does not handle) score (0, 0)."""
    pb, tb = _boxes(pred_boxes, "predicted boxes"), _boxes(true_boxes, "true boxes")
    if len(pb) == 0 or len(tb) == 0:
        both_empty = float(len(pb) == len(tb))
        return both_empty, both_empty
    lo, hi = schedule.at(step)
    _, _, g = match_boxes(pb, tb, pred_labels, true_labels)
    precision = float(thresholded(g, lo, hi).mean())
    recall = float(thresholded(g, lo, lo).sum()) / len(tb)
    return precision, float(thresholded(recall, *schedule.recall))


def point_in_part_reward(points, part_mask: np.ndarray) -> float:
    """Share of ``points`` ([x, y] pixels) on the true part's mask; off the image counts as off."""
    mask = np.asarray(part_mask, bool)
    if mask.ndim != 2:
        raise InvalidInputError(f"the part mask must be H x W, got shape {mask.shape}")
    pts = np.asarray(points, float).reshape(-1, 2)
    if len(pts) == 0:
        return 0.0
    if not np.isfinite(pts).all():
        raise InvalidInputError("points must be finite")
    u, v = np.round(pts[:, 0]).astype(int), np.round(pts[:, 1]).astype(int)
    ok = (u >= 0) & (u < mask.shape[1]) & (v >= 0) & (v < mask.shape[0])
    hits = np.zeros(len(pts), bool)
    hits[ok] = mask[v[ok], u[ok]]
    return float(hits.mean())


def physical_reward(outcome: GraspOutcome, target: str, part: str) -> float:
    """1 when lifted and held by the requested part alone; 0.5 for each of the two otherwise."""
    held, by_part = judge_grasp(outcome.success, outcome.parts_touched, target, part)
    return 0.5 * held + 0.5 * by_part


def held_reward(outcome: GraspOutcome, target: str, part: str) -> float:
    """1 when the twin lifted and held ``target`` and the fingers touched its ``part`` and nothing
    else, else 0: the benchmarks' task success (``types.judge_grasp``).

    ``train-rl``'s ``held`` reward. It is not :func:`physical_reward`'s half credit: within a group
    of points, a grasp that holds the object by another part would then beat one that misses, and
    the policy would be taught to aim at whichever part holds best rather than the part asked for."""
    if not isinstance(outcome, GraspOutcome):
        raise InvalidInputError(f"expected a GraspOutcome, got {type(outcome).__name__}")
    held, by_part = judge_grasp(outcome.success, outcome.parts_touched, target, part)
    return float(held and by_part)
