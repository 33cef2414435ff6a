"""Which kind of object a cluster is, from its shape in metres: a small MLP over
:func:`~affordance_grasp.affordance.shape.shape_descriptor`.

Why a separate recognizer: the affordance model's reasoning head reads an RGB crop and learnt
the twin's textures; sizes and proportions are what carry to objects it never saw. Its
probabilities are calibrated on a validation split by one temperature (Guo et al., 2017), so
grounding can treat them as probabilities. It is tiny (a few thousand weights), trains in
seconds on the CPU from the twin's renders (``affordance-grasp train-recognizer``), and loads
with ``torch.load(..., weights_only=True)`` from a configured local path.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..config import from_mapping, load_yaml
from ..errors import ConfigError, InvalidInputError
from ..resources import resolve, resource
from .shape import FEATURE_NAMES, N_FEATURES, shape_descriptor


class ShapeRecognizer(nn.Module):
    def __init__(self, categories: Sequence[str], hidden: int = 64, shape_weight: float = 0.5):
        super().__init__()
        if not categories:
            raise InvalidInputError("a recognizer needs at least one category")
        self.categories = list(categories)
        self.hidden = hidden
        self.shape_weight = float(shape_weight)   # its weight against the reasoning head (set on validation)
        # The fused probability from which an object counts as a kind (set on validation for at
        # most 1 % of requests for a kind not in view accepted); None: the predictor's own.
        self.presence_threshold: Optional[float] = None
        self.register_buffer("mean", torch.zeros(N_FEATURES))
        self.register_buffer("std", torch.ones(N_FEATURES))
        self.register_buffer("temperature", torch.ones(()))
        self.net = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.GELU(), nn.Dropout(0.1),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, len(self.categories)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (M, C) before the temperature."""
        return self.net((x - self.mean) / self.std)

    def probabilities(self, descriptors: np.ndarray) -> np.ndarray:
        """(M, C) calibrated category probabilities for (M, N_FEATURES) descriptors."""
        x = torch.as_tensor(np.asarray(descriptors, np.float32)).reshape(-1, N_FEATURES)
        self.eval()
        with torch.inference_mode():
            return torch.softmax(self(x) / self.temperature, -1).numpy()

    def category_probabilities(self, descriptors: np.ndarray) -> List[Dict[str, float]]:
        return [dict(zip(self.categories, map(float, row))) for row in self.probabilities(descriptors)]

    def save(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": self.state_dict(), "categories": self.categories, "hidden": self.hidden,
                    "features": list(FEATURE_NAMES), "shape_weight": self.shape_weight,
                    "presence_threshold": self.presence_threshold}, path)

    @classmethod
    def load(cls, path: Path) -> "ShapeRecognizer":
        from .checkpoint import load_feature_model
        blob = load_feature_model(path, FEATURE_NAMES, "recognizer", "train one with 'affordance-grasp "
                                  "train-recognizer' or unset shape_recognizer")
        model = cls(blob["categories"], int(blob["hidden"]), float(blob.get("shape_weight", 0.5)))
        model.load_state_dict(blob["state_dict"])
        presence = blob.get("presence_threshold")
        model.presence_threshold = None if presence is None else float(presence)
        return model.eval()


    def describe_clusters(self, points: np.ndarray, normals: np.ndarray, cluster: np.ndarray, ids: Sequence[int],
                          table_height: float) -> List[Dict[str, float]]:
        """Category probabilities of each cluster ``ids`` of a scene cloud (points, normals and
        cluster labels per point)."""
        if len(ids) == 0:
            return []
        X = np.stack([shape_descriptor(points[cluster == i], table_height, normals[cluster == i]) for i in ids])
        return self.category_probabilities(X)


@dataclass
class RecognizerConfig:
    checkpoint: str = ""                  # relative to the package root, or absolute; "" for none
    shape_weight: Optional[float] = None  # against the reasoning head; null: the checkpoint's own

    def validate(self, where: str) -> "RecognizerConfig":
        if self.shape_weight is not None and not 0.0 <= float(self.shape_weight) <= 1.0:
            raise ConfigError(f"{where}: shape_weight must be in [0, 1], got {self.shape_weight}")
        return self


def default_recognizer_config() -> Path:
    return resource("config", "recognizer.yaml")


def load_recognizer(path=None) -> Optional[ShapeRecognizer]:
    """The shape recognizer a config file names (none: config/recognizer.yaml), or None when it
    names no checkpoint."""
    where = str(path or default_recognizer_config())
    cfg = from_mapping(RecognizerConfig, load_yaml(where, "recognizer config", allow_empty=True), where).validate(where)
    if not cfg.checkpoint:
        return None
    model = ShapeRecognizer.load(resolve(cfg.checkpoint))
    if cfg.shape_weight is not None:
        model.shape_weight = float(cfg.shape_weight)
    return model


def fuse(head: Dict[str, float], shape: Dict[str, float], shape_weight: float) -> Dict[str, float]:
    """Product of experts over the categories both know: p ~ head^(1-w) * shape^w. The head
    sees colour and texture, the recognizer size and form; where they agree the product is
    sure, where they disagree it is unsure, which is what grounding's thresholds should see."""
    if not 0.0 <= shape_weight <= 1.0:
        raise InvalidInputError(f"shape_weight must be in [0, 1], got {shape_weight}")
    cats = [c for c in head if c in shape] or list(head)
    logp = np.array([(1 - shape_weight) * np.log(max(head.get(c, 0.0), 1e-9))
                     + shape_weight * np.log(max(shape.get(c, 1e-9), 1e-9)) for c in cats])
    p = np.exp(logp - logp.max())
    p /= p.sum()
    return dict(zip(cats, map(float, p)))
