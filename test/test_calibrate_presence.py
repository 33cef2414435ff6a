"""Grounding's thresholds set on validation records: the temperature, the presence threshold
chosen on replayed outcomes, and the config file grounding loads them from."""
import json

import pytest

from affordance_grasp.affordance.grounding import GroundingConfig, GroundingError, choose, load_grounding_config
from affordance_grasp.affordance.query import QueryParser
from affordance_grasp.apps.calibrate_presence import calibrate_presence, fit_temperature, replay, scene_objects


def seen(index, probs, instance="", kind="", y=0.0):
    return {"index": index, "box": [0, 0, 10, 10], "centroid": [0.5, y, 0.05], "extent": 0.1, "colours": {"white": 0.8},
            "probs": probs, "part_score": None, "presence": 0.2, "colours_near": {}, "sides": [],
            "instance": instance, "kind": kind}


def records():
    """A mug the head reads 0.7 mug, 0.3 knife: asked for, it is served; a knife asked for in
    the same scene (none in view) must be refused."""
    mug = seen(0, {"mug": 0.7, "knife": 0.3}, "mug_0", "mug")
    return {"recognisable": ["mug", "knife"], "calibrated_for": "stub head",
            "present": [{"kind": "seen", "seed": 1, "query": "hand me the mug", "target": "mug_0", "objects": [mug]}],
            "absent": [{"seed": 2, "query": "hand me the knife", "absent": "knife", "present": ["mug"],
                        "objects": [mug]}]}


def test_replay_counts_absent_refusals_and_present_choices():
    parser = QueryParser()
    loose = replay(records(), GroundingConfig(), parser.vocab, parser)       # each object's own 0.2
    assert loose["right"] == 1.0 and loose["absent_refused"] == 0.0
    strict = replay(records(), GroundingConfig(presence=0.4), parser.vocab, parser)
    assert strict["right"] == 1.0 and strict["absent_refused"] == 1.0 and strict["not_in_view_precision"] == 1.0


def test_temperature_fits_the_objects_own_kinds():
    sure = {"objects": [seen(0, {"mug": 0.6, "knife": 0.4}, kind="mug")] * 9 + [seen(0, {"mug": 0.6, "knife": 0.4},
                                                                                      kind="knife")]}
    # Right 9 times in 10 at 0.6: the probabilities are under-confident, the temperature sharpens.
    assert fit_temperature([sure], ["mug", "knife"]) < 1.0


def test_calibration_writes_a_threshold_that_refuses_the_absent_object(tmp_path):
    (tmp_path / "records.json").write_text(json.dumps(records()))
    out = tmp_path / "presence.yaml"
    summary = calibrate_presence(tmp_path, config_out=out, reuse=True)
    cfg = load_grounding_config(out)
    assert 0.3 < cfg.presence <= 0.7 and cfg.calibrated_for == "stub head"
    assert cfg.validation["absent_refused"] == 1.0 and cfg.validation["present_refused"] == 0.0
    assert summary["chosen"]["presence"] == cfg.presence
    parser = QueryParser()
    objs = scene_objects(records()["absent"][0])
    with pytest.raises(GroundingError, match="no knife in view"):
        choose(parser.parse("hand me the knife"), objs, parser.vocab, recognisable=["mug", "knife"], config=cfg)
    assert choose(parser.parse("hand me the mug"), objs, parser.vocab, recognisable=["mug", "knife"], config=cfg).index == 0
