"""The structured answer of a reasoning (language-model) affordance predictor, as Affordance-R1
writes it, and its parser.

The model reasons in ``<think>``, checks itself in ``<rethink>`` and answers in ``<answer>`` with
a JSON list, one item per part: ``{"bbox_2d": [x0, y0, x1, y1], "point_2d": [x, y],
"affordance": "hold"}``, in the pixels of the image it was shown. A malformed answer is a
:class:`PredictionError` naming what is wrong: it must never become a motion.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

import numpy as np

from ..errors import PredictionError

ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)
THINK = re.compile(r"<think>\s*(.*?)\s*</think>", re.DOTALL)
RETHINK = re.compile(r"<rethink>\s*(.*?)\s*</rethink>", re.DOTALL)
# The whole reply is the three stages in order, with nothing else around them.
STRUCTURE = re.compile(r"\s*<think>.*?</think>\s*<rethink>.*?</rethink>\s*<answer>.*?</answer>\s*", re.DOTALL)


@dataclass(frozen=True)
class PartAnswer:
    """One part the model points at: its box and a point on it (pixels), and the action."""

    box: Tuple[float, float, float, float]
    point: Tuple[float, float]
    affordance: str = ""

    def scaled(self, sx: float, sy: float) -> "PartAnswer":
        """The same answer in an image ``sx`` times as wide and ``sy`` times as tall."""
        x0, y0, x1, y1 = self.box
        return PartAnswer((x0 * sx, y0 * sy, x1 * sx, y1 * sy), (self.point[0] * sx, self.point[1] * sy),
                          self.affordance)


@dataclass(frozen=True)
class ReasonedAnswer:
    parts: List[PartAnswer]
    think: str = ""
    rethink: str = ""
    raw: str = field(default="", repr=False)

    @property
    def reasoning(self) -> str:
        """The reasoning, for the response and the overlay."""
        return " | ".join(t for t in (self.think, self.rethink) if t)


def _numbers(value, n: int, what: str, index: int) -> Tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise PredictionError(f"answer item {index}: {what} must be a list of {n} numbers, got {value!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise PredictionError(f"answer item {index}: {what} must hold finite numbers, got {value!r}")
    return tuple(float(v) for v in value)


def answer_items(text: str) -> list:
    """The JSON list inside ``<answer>``; PredictionError when there is none or it is not JSON."""
    if not isinstance(text, str):
        raise PredictionError(f"the model's reply must be text, got {type(text).__name__}")
    m = ANSWER.search(text)
    if m is None:
        raise PredictionError("the model's reply has no <answer>...</answer>: " + _excerpt(text))
    try:
        data = json.loads(m.group(1))
    except json.JSONDecodeError as e:
        raise PredictionError(f"the model's <answer> is not JSON ({e.msg} at character {e.pos}): "
                              + _excerpt(m.group(1))) from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise PredictionError("the model's <answer> must be a JSON list of objects: " + _excerpt(m.group(1)))
    return data


def parse_answer(text: str) -> ReasonedAnswer:
    """The parts a reply names, checked: every box has positive width and height, every number is
    finite. An empty list is an answer ("nothing here"); the caller decides what that means."""
    parts = []
    for i, item in enumerate(answer_items(text)):
        if "bbox_2d" not in item or "point_2d" not in item:
            raise PredictionError(f"answer item {i} needs bbox_2d and point_2d, has {sorted(item)}")
        box = _numbers(item["bbox_2d"], 4, "bbox_2d", i)
        point = _numbers(item["point_2d"], 2, "point_2d", i)
        if not (box[2] > box[0] and box[3] > box[1]):
            raise PredictionError(f"answer item {i}: bbox_2d {list(box)} is not [x0, y0, x1, y1] with x1 > x0 "
                                  f"and y1 > y0")
        aff = item.get("affordance", "")
        parts.append(PartAnswer(box, point, aff if isinstance(aff, str) else str(aff)))
    think, rethink = THINK.search(text), RETHINK.search(text)
    return ReasonedAnswer(parts, think.group(1) if think else "", rethink.group(1) if rethink else "", text)


def has_structure(text: str) -> bool:
    """Whether the reply is exactly think, rethink, answer, in that order."""
    return isinstance(text, str) and STRUCTURE.fullmatch(text) is not None


def boxes_of(parts: Sequence[PartAnswer]) -> np.ndarray:
    return np.asarray([p.box for p in parts], float).reshape(-1, 4)


def points_of(parts: Sequence[PartAnswer]) -> np.ndarray:
    return np.asarray([p.point for p in parts], float).reshape(-1, 2)


def _excerpt(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= n else text[:n] + "...")
