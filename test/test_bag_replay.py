"""Issue 6: record sim camera frames into an mcap rosbag2, replay them into grasp_planner_node, and
get the same best grasp as on the live frames; damaged bags fail clearly."""
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from waiting import wait_for

rclpy = pytest.importorskip("rclpy")
from affordance_grasp.apps.bag import read_bag, record, replay  # noqa: E402
from affordance_grasp.apps.bringup import Graph  # noqa: E402
from affordance_grasp.errors import InvalidInputError  # noqa: E402
from affordance_grasp.srv import DetectGrasps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUERY = "hold the hammer's handle"


@pytest.fixture(scope="module")
def graph(tmp_path_factory, ros_domain):
    logs = tmp_path_factory.mktemp("bag")
    with ros_domain(logs / "ros_log"):
        # Noise off: consecutive live frames are identical, so "same frames" is well defined.
        sim = Graph(ROOT / "config" / "sim.yaml", ["sim_node"], log_dir=logs / "sim", extra_args={"sim_node": [
            "-p", "depth_noise:=false", "-p", "categories:=['hammer', 'mug']", "-p", "seed:=21", "-p", "rate_hz:=5.0"]})
        planner = Graph(ROOT / "config" / "sim.yaml", ["grasp_planner_node"], log_dir=logs / "planner")
        sim.start()
        planner.start()
        rclpy.init()
        node = rclpy.create_node("bag_test_client")
        from rclpy.executors import SingleThreadedExecutor

        ex = SingleThreadedExecutor()
        ex.add_node(node)
        th = threading.Thread(target=ex.spin, daemon=True)
        th.start()
        detect = node.create_client(DetectGrasps, "detect_grasps")
        deadline = time.monotonic() + 180
        while not detect.wait_for_service(timeout_sec=1.0):
            assert not {**sim.exited(), **planner.exited()}, f"a node died; logs in {logs}"
            assert time.monotonic() < deadline
        yield {"sim": sim, "planner": planner, "detect": detect, "logs": logs}
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        planner.stop()
        sim.stop()


def _best(detect):
    def answer():
        r = detect.call(DetectGrasps.Request(query=QUERY, top_k=1), timeout_sec=60)
        assert r is not None
        # waiting only while frames have not arrived yet; any other failure is final
        return r if r.success or not ("no frame" in r.message or "stale" in r.message) else None

    r = wait_for(answer, 30, "frames reaching the planner", interval=0.3)
    assert r.success, r.message
    p, o = r.grasps[0].pose.pose.position, r.grasps[0].pose.pose.orientation
    return np.array([p.x, p.y, p.z]), np.array([o.w, o.x, o.y, o.z])


def _angle(q1, q2):
    return np.degrees(2 * np.arccos(min(1.0, abs(float(np.dot(q1, q2))))))


def test_record_replay_gives_the_same_best_grasp(graph, tmp_path):
    bag = tmp_path / "frames"
    r = record(bag, 2.0)
    assert all(n >= 3 for n in r["messages"].values()), r
    assert (bag / "metadata.yaml").exists() and list(bag.glob("*.mcap"))
    live_p, live_q = _best(graph["detect"])

    graph["sim"].stop()          # the camera is gone; only the bag speaks now
    # once older than max_frame_age, the last live frames are refused as stale
    stale = wait_for(lambda: (lambda r: r if not r.success else None)(
        graph["detect"].call(DetectGrasps.Request(query=QUERY, top_k=1), timeout_sec=60)),
        20, "the last live frames to go stale", interval=0.2)
    assert "stale" in stale.message

    stop = threading.Event()
    player = threading.Thread(target=replay, args=(bag,), kwargs={"loop": True, "stop_event": stop}, daemon=True)
    player.start()
    try:
        bag_p, bag_q = _best(graph["detect"])  # asks until replayed frames arrive
    finally:
        stop.set()
        player.join(timeout=10)
    assert np.linalg.norm(bag_p - live_p) <= 0.001
    assert _angle(bag_q, live_q) <= 1.0


def test_damaged_bags_fail_clearly(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    bag = tmp_path / "ok"
    w = Writer(bag, version=8, storage_plugin=StoragePlugin.MCAP)
    w.open()
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    conn = w.add_connection("/chatter", "std_msgs/msg/Header", typestore=store)
    for i in range(50):
        w.write(conn, i * 1000, store.serialize_cdr(Header(stamp=Time(sec=i, nanosec=0), frame_id="x" * 100), "std_msgs/msg/Header"))
    w.close()
    assert len(read_bag(bag)) == 50
    from affordance_grasp.apps import bag as bag_module
    limit, bag_module.MAX_BAG_BYTES = bag_module.MAX_BAG_BYTES, 1000   # a bag over the limit
    try:
        with pytest.raises(InvalidInputError, match="in memory and takes at most"):
            read_bag(bag)
    finally:
        bag_module.MAX_BAG_BYTES = limit

    mcap = next(bag.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) // 2])           # truncated
    with pytest.raises(InvalidInputError, match="truncated or corrupt"):
        read_bag(bag)
    mcap.write_bytes(b"\x00" * len(data))              # garbage
    with pytest.raises(InvalidInputError, match="truncated or corrupt"):
        replay(bag)
    with pytest.raises(InvalidInputError, match="not a rosbag2 folder"):
        replay(tmp_path / "nothing")
