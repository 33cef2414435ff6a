"""``affordance-grasp camera-rate``: a 1280x720 30 Hz stream published by a second process with
realsense-ros's QoS reaches the planner's own camera input as pairs. Plumbing only: how many pairs
arrive and how fresh they are is the benchmark's to measure (docs/real_robot.md), never asserted."""
import json

import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy")


def test_a_published_1280x720_stream_reaches_the_planner_as_matched_pairs(tmp_path, ros_domain):
    from affordance_grasp.cli import main

    with ros_domain(tmp_path / "ros_log"):
        # the planner's configured subscription, from a camera that keeps 10 frames (color_qos:=DEFAULT)
        assert main(["camera-rate", "--settings", "reliable:5", "--camera-qos", "DEFAULT", "--seconds", "2",
                     "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "camera_rate.json").read_text())
    assert summary["stream"] == {**summary["stream"], "width": 1280, "height": 720, "fps": 30.0}
    assert "| reliable depth 5 |" in (tmp_path / "camera_rate.md").read_text()
    [r] = summary["settings"]
    assert r["setting"] == "reliable depth 5" and r["reliability"] == "reliable" and r["depth"] == 5
    assert r["offered_image_qos"]["reliability"] == "reliable"
    assert r["offered_image_qos"]["durability"] == "volatile"
    # pairs arrived, and every pair the planner's buffer handed out had one stamp for colour and depth
    assert r["pairs_delivered"] > 0 and r["pairs_seen_by_reader"] > 0 and r["reads"] > 0
    assert r["mismatched_pairs_read"] == 0
    # the numbers agree with each other
    assert r["published"] + r["skipped_by_publisher"] == 60
    assert r["pairs_seen_by_reader"] <= r["pairs_delivered"] <= min(r["colour_received"], r["depth_received"])
    assert max(r["colour_received"], r["depth_received"]) <= r["published"]
    assert sum(r["pairs_per_s"]["windows"]) <= r["pairs_delivered"]
    assert r["pairs_per_s"]["overall"] == pytest.approx(r["pairs_delivered"] / r["span_s"], abs=0.01)
    for key in ("newest_pair_age_ms", "delivery_latency_ms"):
        ms = r[key]
        assert 0 <= ms["median"] <= ms["p95"] <= ms["max"]
    assert r["gap_ms"]["max"] is None or r["gap_ms"]["max"] >= r["gap_ms"]["median"] >= 0
    assert len(r["load_before"]) == len(r["load_after"]) == 3


def test_a_setting_it_cannot_read_is_refused_before_anything_starts(tmp_path, capsys):
    from affordance_grasp.cli import main

    assert main(["camera-rate", "--settings", "sometimes:1", "--out", str(tmp_path)]) == 2
    assert "write reliable:N or best_effort:N" in capsys.readouterr().err
    assert not (tmp_path / "camera_rate.json").exists()
