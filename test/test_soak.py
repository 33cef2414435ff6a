"""The soak subcommand, short: the whole sim graph as separate processes, ten task planners
asking at the same moment, then a request every few seconds (issue 17, load). The 30-minute
figures in the README come from the same code with its defaults."""
import json


def test_ten_planners_at_once_are_each_answered_once_and_the_graph_holds(tmp_path, ros_domain):
    from affordance_grasp.apps.soak import soak
    with ros_domain(tmp_path / "ros_log"):
        s = soak(tmp_path, minutes=0.35, period=3.0, clients=10, seed=3)
    load, run = s["load"], s["soak"]
    assert load["clients"] == 10 and load["answered"] == 10, load
    assert load["lost"] == 0 and load["answered_twice"] == 0, load
    # Served, or refused with a reason; never an internal error.
    assert load["served"] + sum(load["refused"].values()) == 10 and "internal error" not in load["refused"], load
    assert run["requests"] >= 5 and run["answered"] == run["requests"] and run["errors"] == 0, run
    assert not s["nodes_exited_early"] and all(c == 0 for c in s["exit_codes"].values()), s["exit_codes"]
    assert set(s["nodes"]) >= {"sim_node", "grasp_planner_node", "grasp_server_node"}
    assert all(u["rss_end_mb"] > 20 for u in s["nodes"].values()), s["nodes"]
    saved = json.loads((tmp_path / "soak.json").read_text())
    assert len(saved["load_requests"]) == 10 and len(saved["samples"]) == run["requests"] + 1
    assert (tmp_path / "soak.png").stat().st_size > 10_000


def test_replayed_bag_cycles_give_the_first_cycles_best_grasp(tmp_path, ros_domain):
    """soak --replay-cycles, short: a new publisher per cycle, a request per cycle, the same
    best grasp as the first cycle every time (noise off: every recorded frame is the same)."""
    from affordance_grasp.apps.replay_soak import replay_soak
    with ros_domain(tmp_path / "ros_log"):
        s = replay_soak(tmp_path, cycles=5)
    assert s["cycles"] == 5 and s["served"] == 5, s
    assert s["same_best_grasp"] == 5, s["largest_difference"]
    assert not s["planner_exited_early"] and s["exit_codes"]["grasp_planner_node"] == 0, s
    assert s["planner_rss_mb"]["end"] > 20
    saved = json.loads((tmp_path / "replay.json").read_text())
    assert len(saved["cycles_detail"]) == 5 and (tmp_path / "replay.png").stat().st_size > 5_000
