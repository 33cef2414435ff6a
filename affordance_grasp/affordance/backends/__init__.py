"""Affordance predictors selected by the ``backend`` key of a predictor config.

- ``model`` (the default): the package's own WSAG-PLSP-style model
  (:class:`~affordance_grasp.affordance.predictor.AffordancePredictor`).
- ``affordance_r1``: Affordance-R1's released Qwen2.5-VL + SAM2 from local paths
  (:class:`~affordance_grasp.affordance.backends.affordance_r1.AffordanceR1Predictor`).
- ``ground_truth``: the twin's true parts, for ROS plumbing tests; it listens on a node, so
  grasp_planner_node builds it (``ros/truth_predictor.py``), not this function.
"""
from __future__ import annotations

from ...config import load_yaml
from ...errors import ConfigError

BACKENDS = ("model", "affordance_r1")


def backend_of(path=None) -> str:
    """The ``backend`` a predictor config names (none: the shipped model's)."""
    from ..predictor import default_predictor_config

    raw = load_yaml(path or default_predictor_config(), "predictor config", allow_empty=True) or {}
    return raw.get("backend", "model") if isinstance(raw, dict) else "model"   # from_config names a bad file


def load_predictor(path=None, **overrides):
    """The predictor a config file describes (none: the shipped model)."""
    from ..predictor import AffordancePredictor

    backend = backend_of(path)
    if backend == "model":
        return AffordancePredictor.from_config(path, **overrides)
    if backend == "affordance_r1":
        from .affordance_r1 import AffordanceR1Predictor

        return AffordanceR1Predictor.from_config(path, **overrides)
    raise ConfigError(f"{path}: unknown backend {backend!r}; one of {', '.join(BACKENDS)} (ground_truth: only in "
                      f"grasp_planner_node)")
