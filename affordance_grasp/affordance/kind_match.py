"""Whether an object in view is a kind the recognizer was never taught, from what the vocabulary
says of that kind.

A request may name a kind the vocabulary knows (its parts, what it is for, its sizes) that the
recognizer was never shown: pliers, a whisk. This is attribute-based zero-shot recognition
(Lampert et al., 2009): the kind is described by the vocabulary, the object by the recognizer's
probabilities over the taught kinds and by its seen sizes, and a logistic model of a few
features comparing the two gives the probability that the object is that kind.

The model is fitted on the taught kinds themselves, leave-kinds-out: each fold of them is held
out of a recognizer trained on the rest, so it learns how an untaught kind looks to a
recognizer that never saw it (unsure, or sure of a kin, and of the stated size) and how a kind
the recognizer knows looks (sure of itself). The threshold from which an object counts as the
kind is set on the same folds (`affordance-grasp train-recognizer`). This replaces hand-set
kinship and familiarity discounts with numbers the data set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from ..errors import InvalidInputError

SIDES = ("longest", "middle", "shortest")
FEATURE_NAMES = (["familiarity", "entropy", "log novelty", "kin likeness", "top kind's kinship"]
                 + [f"{s} side over" for s in SIDES] + [f"{s} side short" for s in SIDES] + ["no sizes"])
N_FEATURES = len(FEATURE_NAMES)


def match_features(probs: Mapping[str, float], novelty: float, sides: Sequence[float], kind: str,
                   vocab) -> np.ndarray:
    """(N_FEATURES,) comparison of one object with a vocabulary ``kind``: how sure the recognizer
    is of its most likely taught kind and the entropy of its probabilities (an untaught kind reads
    unsure), how far it lies from every taught kind (``novelty``,
    ShapeRecognizer.novelty), how much of its probability lies on kinds alike to ``kind`` (Vocabulary.kinship) and
    how alike its most likely kind is, and by how much each seen side (m) is longer than the
    kind's largest or shorter than its smallest (log ratios, 0 inside the range; the vocabulary's
    ``dimensions`` in cm). A camera sees part of an object, so a seen side may fall short of the
    true one; the model learns how much that counts."""
    if not probs:
        raise InvalidInputError("match_features needs the recognizer's category probabilities")
    cats = list(probs)
    p = np.clip(np.array([probs[c] for c in cats], float), 0.0, 1.0)
    p = p / max(p.sum(), 1e-9)
    top = int(p.argmax())
    entropy = float(-(p * np.log(np.maximum(p, 1e-12))).sum() / np.log(max(len(p), 2)))
    kin = np.array([vocab.kinship(kind, c) for c in cats])
    feats = [float(p[top]), entropy, float(np.log(max(float(novelty), 1e-3))), float(p @ kin), float(kin[top])]
    dims = vocab.dimensions.get(kind)
    if dims and len(sides) == 3:
        cm = sorted((100.0 * float(x) for x in sides), reverse=True)
        over = [max(0.0, np.log(max(s, 0.1) / float(hi))) for s, (_, hi) in zip(cm, dims)]
        short = [max(0.0, np.log(float(lo) / max(s, 0.1))) for s, (lo, _) in zip(cm, dims)]
        feats += over + short + [0.0]
    else:
        feats += [0.0] * 6 + [1.0]
    return np.asarray(feats, np.float32)


@dataclass
class KindMatcher:
    """P(object is a given untaught kind | its match features): a logistic model, and the
    probability from which an object counts as that kind."""

    weights: np.ndarray          # (N_FEATURES,) on standardised features
    bias: float
    threshold: float             # set leave-kinds-out (train_recognizer.FALSE_ACCEPT_COST)
    mean: np.ndarray             # (N_FEATURES,) the features' mean and spread on the fitting pairs
    scale: np.ndarray

    def probability(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, float).reshape(-1, N_FEATURES) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))

    @classmethod
    def fit(cls, features: np.ndarray, is_kind: np.ndarray) -> "KindMatcher":
        """Fitted to (M, N_FEATURES) features of object-kind pairs and whether each object is that
        kind; the threshold is left at 0.5 for the caller to set."""
        F = np.asarray(features, float)
        mean, scale = F.mean(0), F.std(0)
        scale = np.where(scale > 1e-6, scale, 1.0)     # a constant feature (no sizes) stays 0
        w, b = fit_logistic((F - mean) / scale, is_kind)
        return cls(w, b, 0.5, mean, scale)

    def match(self, probs: Mapping[str, float], novelty: float, sides: Sequence[float], kinds: Sequence[str],
              vocab) -> float:
        """The probability that an object is one of ``kinds`` (the most likely of them)."""
        return max(float(self.probability(match_features(probs, novelty, sides, k, vocab))[0]) for k in kinds)

    def to_dict(self) -> Dict:
        return {"weights": [float(w) for w in self.weights], "bias": float(self.bias),
                "threshold": float(self.threshold), "features": list(FEATURE_NAMES),
                "mean": [float(v) for v in self.mean], "scale": [float(v) for v in self.scale]}

    @classmethod
    def from_dict(cls, blob: Optional[Mapping]) -> Optional["KindMatcher"]:
        """None for none, or for one fitted on other features than these (it would read them wrong)."""
        if not blob or list(blob.get("features", [])) != list(FEATURE_NAMES):
            return None
        return cls(np.asarray(blob["weights"], float), float(blob["bias"]), float(blob["threshold"]),
                   np.asarray(blob["mean"], float), np.asarray(blob["scale"], float))


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> tuple:
    """(weights, bias) of an L2-regularised logistic regression, positives and negatives weighted
    equally (there are far more negatives)."""
    from scipy.optimize import minimize

    X = np.asarray(X, float)
    y = np.asarray(y, float)
    if y.min() == y.max():
        raise InvalidInputError("fit_logistic needs both positives and negatives")
    w_s = np.where(y > 0, 0.5 / y.sum(), 0.5 / (1 - y).sum())

    def loss(theta):
        z = X @ theta[:-1] + theta[-1]
        lp = -np.logaddexp(0.0, -z)            # log sigmoid
        ln = -np.logaddexp(0.0, z)             # log (1 - sigmoid)
        s = 1.0 / (1.0 + np.exp(-z))
        val = -(w_s * (y * lp + (1 - y) * ln)).sum() + l2 * (theta[:-1] @ theta[:-1])
        g = (w_s * (s - y))
        grad = np.concatenate([X.T @ g + 2 * l2 * theta[:-1], [g.sum()]])
        return val, grad

    res = minimize(loss, np.zeros(X.shape[1] + 1), jac=True, method="L-BFGS-B")
    return res.x[:-1], float(res.x[-1])
