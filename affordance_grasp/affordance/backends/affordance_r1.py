"""Affordance-R1 as a predictor: a Qwen2.5-VL checkpoint reasons about the request and answers
with a box, a point and an action per part; SAM2 turns each (box, point) into a mask; the masks
become the heatmap the grasp scorer reads.

Facts from the released inference code, kept here:
- the image is resized to 840 x 840 (bilinear) and the answer's pixels are scaled back by the
  original size / 840;
- the question is lower-cased with a trailing "." stripped, inside a fixed instruction (PROMPT);
- greedy decoding, up to 1024 new tokens, bf16 on a GPU;
- SAM2 is prompted per part with its point (label 1) and its box; of the 3 masks the best
  scored is kept, and the parts' masks are OR-ed.

Everything loads from local paths (``from_pretrained(..., local_files_only=True)`` and SAM2's
``build_sam2(config, checkpoint)``); nothing is downloaded. A reply that cannot be read raises
:class:`PredictionError` and nothing moves.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np

from ...config import from_mapping, load_yaml, with_overrides
from ...errors import CheckpointError, ConfigError, InvalidInputError, PredictionError
from ...timing import StageTimes
from ...types import AffordanceMap, AffordanceQuery, RGBDFrame
from ..device import pick_device
from ..reasoned_answer import PartAnswer, ReasonedAnswer, parse_answer
from .base import Predictor

PROMPT = (
    'Please answer "{question}" with bboxs and points.'
    "Analyze the functional properties of specific parts of each object in the image and carefully find all the "
    "part(s) that matches the problem."
    "Output the thinking process in <think> </think>, rethinking process in <rethink> </rethink> and final answer "
    "in <answer> </answer> tags."
    "Output the bbox(es) and point(s) and affordance tpye(s) inside the interested object(s) in JSON format."
    "i.e., <think> thinking process here </think>,"
    "<rethink> rethinking process here </rethink>,"
    '<answer>[{{"bbox_2d": [10,100,200,210], "point_2d": [30,110], "affordance": "hold"}}]</answer>'
)


def question_prompt(question: str) -> str:
    """The released model's instruction around the user's question."""
    q = question.strip().lower()
    return PROMPT.format(question=q[:-1] if q.endswith(".") else q)


@dataclass
class AffordanceR1Config:
    backend: str = "affordance_r1"
    model_path: str = ""                  # local Qwen2.5-VL folder (the released Affordance-R1 weights)
    sam2_config: str = "configs/sam2.1/sam2.1_hiera_l.yaml"   # a config packaged with sam2, or a path
    sam2_checkpoint: str = ""             # local SAM2 weights (.pt) matching sam2_config
    device: Optional[str] = None          # cpu | cuda; None: cuda when available
    image_size: int = 840                 # the square the model sees
    max_new_tokens: int = 1024
    heat_sigma: float = 0.01              # the masks' heatmap is blurred by this x the image diagonal

    @classmethod
    def load(cls, path) -> "AffordanceR1Config":
        cfg = from_mapping(cls, load_yaml(path, "Affordance-R1 config"), str(path))
        if cfg.backend != "affordance_r1":
            raise ConfigError(f"{path}: backend must be affordance_r1, got {cfg.backend!r}")
        if cfg.image_size < 28 or cfg.max_new_tokens < 16 or not 0 <= cfg.heat_sigma < 0.2:
            raise ConfigError(f"{path}: image_size >= 28, max_new_tokens >= 16 and 0 <= heat_sigma < 0.2 are required")
        return cfg


class QwenReasoner:
    """A Qwen2.5-VL model and its processor: (image, prompt) -> the reply text."""

    def __init__(self, model, processor, max_new_tokens: int = 1024):
        self.model = model.eval()
        self.processor = processor
        self.max_new_tokens = max_new_tokens

    @classmethod
    def from_pretrained(cls, path, device: str = "cpu", max_new_tokens: int = 1024) -> "QwenReasoner":
        import torch
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        p = Path(path).expanduser()
        if not (p / "config.json").is_file():
            raise CheckpointError(f"no Qwen2.5-VL checkpoint folder at {p} (it needs config.json and the weights; "
                                  f"weights are never downloaded)")
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        try:
            model = Qwen2_5_VLForConditionalGeneration.from_pretrained(p, dtype=dtype, local_files_only=True)
            processor = AutoProcessor.from_pretrained(p, local_files_only=True)
        except (OSError, ValueError) as e:
            raise CheckpointError(f"cannot load Qwen2.5-VL from {p}: {str(e)[:300]}") from None
        return cls(model.to(device), processor, max_new_tokens)

    def reply(self, image: np.ndarray, prompt: str) -> str:
        import torch

        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = self.processor(text=[text], images=[image], return_tensors="pt").to(self.model.device)
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)[0]


class Sam2Segmenter:
    """SAM2's image predictor: one mask per (box, point) prompt."""

    def __init__(self, sam2_model):
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        self.predictor = SAM2ImagePredictor(sam2_model)

    @classmethod
    def from_checkpoint(cls, config: str, checkpoint, device: str = "cpu") -> "Sam2Segmenter":
        from sam2.build_sam import build_sam2

        p = Path(checkpoint).expanduser()
        if not p.is_file():
            raise CheckpointError(f"SAM2 checkpoint {p} does not exist (weights are never downloaded)")
        try:
            # build_sam2 loads the file with torch.load(weights_only=True) and checks the keys.
            return cls(build_sam2(config, str(p), device=device))
        except Exception as e:  # noqa: BLE001 - a missing config, another architecture, a corrupt file
            raise CheckpointError(f"cannot build SAM2 from {config} and {p}: {str(e)[:300]}") from None

    def masks(self, rgb: np.ndarray, parts: Sequence[PartAnswer]) -> List[np.ndarray]:
        self.predictor.set_image(rgb)
        out = []
        for p in parts:
            masks, scores, _ = self.predictor.predict(point_coords=np.array([p.point], np.float32),
                                                      point_labels=np.array([1], np.int64),
                                                      box=np.array(p.box, np.float32), multimask_output=True)
            out.append(np.asarray(masks[int(np.argmax(scores))]) > 0)
        return out


def clip_to_boxes(parts: Sequence[PartAnswer], masks: Sequence[np.ndarray], shape) -> List[np.ndarray]:
    """Each part's mask inside its own prompt box: a mask that spills past the box it was asked
    for is spill (a handle's mask running on into the body)."""
    vv, uu = np.mgrid[0:shape[0], 0:shape[1]]
    out = []
    for p, m in zip(parts, masks):
        x0, y0, x1, y1 = p.box
        out.append(np.asarray(m, bool) & (uu >= x0) & (uu <= x1) & (vv >= y0) & (vv <= y1))
    return out


def part_heat(shape, parts: Sequence[PartAnswer], masks: Sequence[np.ndarray], sigma_px: float) -> np.ndarray:
    """A smooth heatmap over the parts' (clipped) masks; a part whose mask is empty is a Gaussian
    at its point, as wide as a sixth of its box's shorter side."""
    h, w = shape
    heat = np.zeros((h, w), np.float32)
    vv, uu = np.mgrid[0:h, 0:w]
    for p, m in zip(parts, masks):
        if m.any():
            heat = np.maximum(heat, m.astype(np.float32))
        else:
            x0, y0, x1, y1 = p.box
            s = max(1.0, min(x1 - x0, y1 - y0) / 6.0)
            g = np.exp(-((uu - p.point[0]) ** 2 + (vv - p.point[1]) ** 2) / (2 * s * s)).astype(np.float32)
            heat = np.maximum(heat, g)
    if sigma_px > 0:
        heat = cv2.GaussianBlur(heat, (0, 0), sigma_px)
    return heat


class AffordanceR1Predictor(Predictor):
    """The reasoning model behind the :class:`~affordance_grasp.affordance.backends.base.Predictor`
    interface. It looks at the whole image and picks the object itself
    (``grounds_itself``): the planner then takes the object its parts fall on."""

    grounds_itself = True

    def __init__(self, reasoner: QwenReasoner, segmenter: Sam2Segmenter, cfg: Optional[AffordanceR1Config] = None,
                 model_id: str = "affordance_r1"):
        self.reasoner, self.segmenter = reasoner, segmenter
        self.cfg = cfg or AffordanceR1Config()
        self.model_id = model_id

    @classmethod
    def from_config(cls, path, **overrides) -> "AffordanceR1Predictor":
        cfg = with_overrides(AffordanceR1Config.load(path), overrides, f"Affordance-R1 config {path}")
        if not cfg.model_path or not cfg.sam2_checkpoint:
            raise ConfigError(f"{path}: set model_path (a local Qwen2.5-VL folder) and sam2_checkpoint (local SAM2 "
                              f"weights); nothing is downloaded")
        device = pick_device(cfg.device)
        reasoner = QwenReasoner.from_pretrained(cfg.model_path, device, cfg.max_new_tokens)
        segmenter = Sam2Segmenter.from_checkpoint(cfg.sam2_config, cfg.sam2_checkpoint, device)
        return cls(reasoner, segmenter, cfg, model_id=f"affordance_r1:{Path(cfg.model_path).name}")

    def answer(self, frame: RGBDFrame, query: AffordanceQuery, times: Optional[StageTimes] = None) -> ReasonedAnswer:
        """The model's parts for ``query`` in ``frame``'s pixels."""
        _check(frame, query)
        times = times or StageTimes()
        h, w = frame.rgb.shape[:2]
        s = self.cfg.image_size
        with times.stage("resize"):
            image = cv2.resize(frame.rgb, (s, s), interpolation=cv2.INTER_LINEAR)
        with times.stage("reason"):
            reply = self.reasoner.reply(image, question_prompt(query.text))
        answer = parse_answer(reply)
        if not answer.parts:
            raise PredictionError(f"the reasoning model found no part for {query.text!r}"
                                  + (f" ({answer.reasoning[:200]})" if answer.reasoning else ""))
        parts = [p.scaled(w / s, h / s) for p in answer.parts]
        return ReasonedAnswer(parts, answer.think, answer.rethink, reply)

    def predict(self, frame: RGBDFrame, query: AffordanceQuery, box=None) -> AffordanceMap:
        """The parts' heatmap over the whole frame. ``box`` (the object the planner chose) keeps
        the parts whose point lies in it, when any does."""
        times = StageTimes()
        answer = self.answer(frame, query, times)
        parts = answer.parts
        if box is not None:
            x0, y0, x1, y1 = np.asarray(box, float).reshape(4)
            on = [p for p in parts if x0 <= p.point[0] <= x1 and y0 <= p.point[1] <= y1]
            parts = on or parts
        h, w = frame.rgb.shape[:2]
        with times.stage("segment"):
            masks = clip_to_boxes(parts, self.segmenter.masks(frame.rgb, parts), (h, w))
        with times.stage("heatmap"):
            heat = part_heat((h, w), parts, masks, self.cfg.heat_sigma * float(np.hypot(h, w)))
        if heat.sum() <= 0:
            raise PredictionError("the reasoning model's parts give an empty heatmap")
        reasoning = ReasonedAnswer(parts, answer.think, answer.rethink, answer.raw).reasoning
        mask = np.zeros((h, w), bool)
        for m in masks:
            mask |= np.asarray(m, bool)
        return AffordanceMap.from_unnormalised(heat, query, model_id=self.model_id,
                                               boxes=np.array([p.box for p in parts], np.float32),
                                               points=np.array([p.point for p in parts], np.float32), mask=mask,
                                               times=times.seconds, reasoning=reasoning)
    # avoid_map: none (the base's); the reasoning model answers where to act, not where not to.


def _check(frame, query) -> None:
    if not isinstance(frame, RGBDFrame):
        raise InvalidInputError(f"expected an RGBDFrame, got {type(frame).__name__}")
    if not isinstance(query, AffordanceQuery):
        raise InvalidInputError(f"expected an AffordanceQuery, got {type(query).__name__}")
