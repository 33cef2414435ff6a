import json

import numpy as np
import pytest


def test_grasp_msg_builds_and_serialises():
    from rclpy.serialization import deserialize_message, serialize_message
    from affordance_grasp.msg import Grasp
    m = Grasp()
    m.width = 0.04
    m.contacts[1].y = 0.02
    m.pose.header.frame_id = "panda_link0"
    back = deserialize_message(serialize_message(m), Grasp)
    assert back.width == 0.04 and back.contacts[1].y == 0.02 and back.pose.header.frame_id == "panda_link0"


def test_sim_check_cli_writes_summary_and_pngs(tmp_path):
    from affordance_grasp.cli import main
    assert main(["sim-check", "--trials", "2", "--seed", "0", "--out", str(tmp_path)]) == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["n_trials"] == 2 and len(s["trials"]) == 2
    assert set(s) >= {"success_rate", "part_correct_rate", "per_category", "machine"}
    assert 0.0 <= s["success_rate"] <= 1.0
    # what the hold model predicted for each executed grasp, and its calibration
    assert {"holdable_as_asked", "not_holdable_as_asked", "hold_calibration"} <= set(s)
    for t in s["trials"]:
        if "hold_predicted" in t:
            assert 0.0 <= t["hold_predicted"] <= 1.0 and t["physical"]["mass_kg"] > 0
    for t in s["trials"]:
        for kind in ("rgb", "depth", "parts"):
            assert (tmp_path / "trials" / f"{t['trial']:03d}_{kind}.png").stat().st_size > 1000


def test_cli_rejects_bad_arguments(capsys):
    import pytest
    from affordance_grasp.cli import main
    with pytest.raises(SystemExit):
        main(["sim-check", "--trials", "0"])
    assert "positive" in capsys.readouterr().err


def test_choose_cli_reports_object_choice_per_kind_of_request(tmp_path, capsys):
    from affordance_grasp.apps.choice import refusal_kind
    from affordance_grasp.cli import main
    assert main(["choose", "--trials", "5", "--seed", "0", "--out", str(tmp_path)]) == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["n"] == 5 and set(s["per_kind"]) == {"seen", "unseen", "same kind", "functional"}
    rows = s["trials"]
    assert [r["kind"] for r in rows] == ["seen", "unseen", "same kind", "seen", "functional"]
    assert s["right_object_rate"] == sum(r["right"] for r in rows) / 5
    # A refusal is never counted right, and is tallied by the rule that made it.
    assert all(not r["right"] and r["refused"] for r in rows if r["margin"] is None)
    assert sum(s["refused"].values()) == sum(bool(r["refused"]) for r in rows)
    assert "| **all** | 5 |" in capsys.readouterr().out
    assert refusal_kind("2 objects match 'the mug': ...") == "objects match"
    # --predictor compares checkpoints on the same requests; a bad one is named before any scene.
    bad = tmp_path / "predictor.yaml"
    bad.write_text(f"checkpoint: {tmp_path / 'missing.pt'}\n")
    assert main(["choose", "--trials", "1", "--out", str(tmp_path / "b"), "--predictor", str(bad)]) == 2
    assert "missing.pt does not exist" in capsys.readouterr().err
    assert refusal_kind("no knife in view (I see: mug 0.93)") == "not in view"


def test_choose_absent_asks_for_kinds_not_in_view(tmp_path, capsys):
    from affordance_grasp.cli import main
    assert main(["choose", "--absent", "--trials", "3", "--seed", "7", "--out", str(tmp_path)]) == 0
    s = json.loads((tmp_path / "absent.json").read_text())
    assert s["n"] == 3 and 0.0 <= s["refused_rate"] <= 1.0
    for r in s["trials"]:
        assert r["absent"] not in r["present"] and r["reason"]
    assert len(s["accepted"]) == sum(not r["refused"] for r in s["trials"])
    assert "for something not in view" in capsys.readouterr().out
    # the shape recognizer can be switched off for a comparison; a missing checkpoint is named
    off = tmp_path / "off.yaml"
    off.write_text("checkpoint: ''\n")
    assert main(["choose", "--absent", "--trials", "1", "--out", str(tmp_path / "o"), "--recognizer", str(off)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"checkpoint: {tmp_path / 'nope.pt'}\n")
    assert main(["choose", "--trials", "1", "--out", str(tmp_path / "b"), "--recognizer", str(bad)]) == 2
    assert "no recognizer checkpoint" in capsys.readouterr().err


def test_bench_cli_writes_results_comparison_and_overlays(tmp_path):
    from affordance_grasp.cli import main
    assert main(["bench", "--strategy", "all", "--trials", "2", "--seed", "5", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "comparison.md").read_text()
    for s in ("affordance", "oracle", "quality", "center", "random"):
        r = json.loads((tmp_path / s / "results.json").read_text())
        assert r["strategy"] == s and r["n_trials"] == 2 and r["split"] == "seen"
        assert set(r["latency_ms"]) == {"affordance", "grasp_generation", "selection", "total"}
        assert all(set(v) == {"median", "p95"} for v in r["latency_ms"].values())
        assert 0 <= r["task_success_rate"] <= min(r["success_rate"], r["part_correct_rate"])
        assert (tmp_path / s / "trials" / "000.png").stat().st_size > 1000
        assert f"| {s} |" in table
        # A refusal is tried anyway in a copy of the scene, as a measure of the refusal alone.
        for t in r["trials"]:
            assert t["refusal"] is not None or t["if_tried"] is None
            assert not t["task_success"] or t["refusal"] is None
    # Every strategy saw the same scenes and queries.
    queries = {s: [t["query"] for t in json.loads((tmp_path / s / "results.json").read_text())["trials"]]
               for s in ("oracle", "random")}
    assert queries["oracle"] == queries["random"]
    assert main(["bench", "--strategy", "best", "--trials", "1", "--out", str(tmp_path)]) == 2


def test_a_right_outcome_is_a_served_request_or_a_refusal_that_trying_proved_right():
    from affordance_grasp.apps.bench import right_outcome
    served = {"task_success": True, "refusal": None, "if_tried": None}
    dropped = {"task_success": False, "refusal": None, "if_tried": None}
    refused = lambda tried: {"task_success": False, "refusal": "cannot hold", "if_tried": tried}  # noqa: E731
    assert right_outcome(served) and not right_outcome(dropped)
    assert right_outcome(refused({"task_success": False}))       # it slipped when tried anyway
    assert not right_outcome(refused({"task_success": True}))    # it would have served
    assert not right_outcome(refused(None))                      # nothing to try: unproven


def test_graph_usage_reports_each_running_node_cpu_and_memory():
    """The demo's idle figures: a process that spins shows far more CPU than one that sleeps."""
    import subprocess
    import sys
    from affordance_grasp.apps.bringup import Graph
    from affordance_grasp.resources import resource
    graph = Graph(resource("config", "sim.yaml"), nodes=["sim_node"])
    spin = "import time\nt = time.time()\nwhile time.time() - t < 20: pass"
    graph.procs = {"spinning": subprocess.Popen([sys.executable, "-c", spin]),
                   "sleeping": subprocess.Popen([sys.executable, "-c", "import time; time.sleep(20)"]),
                   "gone": subprocess.Popen([sys.executable, "-c", "pass"])}
    try:
        graph.procs["gone"].wait()
        use = graph.usage(window=2.0)
        assert set(use) == {"spinning", "sleeping"}                      # exited nodes are not measured
        assert use["spinning"]["cpu_percent"] > use["sleeping"]["cpu_percent"] + 25, use
        assert use["sleeping"]["cpu_percent"] < 10 and all(u["rss_mb"] > 1 for u in use.values()), use
    finally:
        graph.stop(grace=1.0)


def test_the_grasp_pipeline_config_file_holds_every_setting_at_its_default(tmp_path):
    from affordance_grasp.errors import ConfigError
    from affordance_grasp.pipeline_config import PipelineConfig

    # The shipped file documents the defaults: it may not drift from the code.
    assert PipelineConfig.load() == PipelineConfig()
    # A subset overrides what it names; the rest stay at their defaults; lists become tuples.
    f = tmp_path / "p.yaml"
    f.write_text("cloud: {voxel: 0.005}\ncandidates: {n_seeds: 50, depths: [0.01], hold: {grip_force: 140.0}}\n"
                 "scoring: {w_aff: 0.5}\n")
    cfg = PipelineConfig.load(f)
    assert (cfg.cloud.voxel, cfg.candidates.n_seeds, cfg.candidates.depths) == (0.005, 50, (0.01,))
    assert cfg.candidates.hold.grip_force == 140.0 and cfg.candidates.hold.friction == 0.5
    assert cfg.scoring.w_aff == 0.5 and cfg.cloud.stride == 2
    # Typos and bad values name the file and section.
    for text, words in (("cloud: {voxl: 0.005}\n", "cloud: unknown keys \\['voxl'\\]"),
                        ("grasping: {}\n", "unknown sections"),
                        ("candidates: {hold: {grip_force: -1}}\n", "candidates.hold: hold.grip_force must be > 0"),
                        ("cloud: {voxel: 0}\n", "cloud: cloud.voxel must be > 0")):
        f.write_text(text)
        with pytest.raises(ConfigError, match=words):
            PipelineConfig.load(f)


def test_overrides_make_a_checked_copy_and_refuse_unknown_keys():
    """Overrides (a predictor's from_config keywords) are dataclasses.replace on the loaded config:
    the loaded one is left as it was, and a typo is a ConfigError naming the config."""
    from affordance_grasp.affordance.predictor import PredictorConfig
    from affordance_grasp.config import with_overrides
    from affordance_grasp.errors import ConfigError
    cfg = PredictorConfig.load()
    cpu = with_overrides(cfg, {"device": "cpu", "max_regions": 5}, "predictor config")
    assert (cpu.device, cpu.max_regions) == ("cpu", 5) and cfg.max_regions == 3
    with pytest.raises(ConfigError, match=r"predictor config: unknown overrides \['devcie'\]"):
        with_overrides(cfg, {"devcie": "cpu"}, "predictor config")
