"""``affordance-grasp soak --replay-cycles N``: the bag-replay determinism check, repeated.

Records a couple of seconds of a still sim scene (depth noise off, so every frame is the same),
stops the camera, then N times: replays the bag into grasp_planner_node (a new publisher each
cycle, as a user replaying a bag again and again would), asks ``detect_grasps`` for a frame of
that cycle, and compares the best grasp with the first cycle's. Memory and CPU of the planner are
sampled every cycle. Writes ``replay.json`` and ``replay.png``.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from ..errors import AffordanceGraspError
from ..resources import resource
from .bag import record, replay
from .bringup import Graph
from .report import machine_description
from .soak import stats_ms, NodeUsage

SAME_POSITION_M = 0.001   # what "the same best grasp" means, as in the replay determinism test
SAME_ANGLE_DEG = 1.0


def _best_pose(resp) -> np.ndarray:
    p, o = resp.grasps[0].pose.pose.position, resp.grasps[0].pose.pose.orientation
    return np.array([p.x, p.y, p.z, o.w, o.x, o.y, o.z])


def _difference(a: np.ndarray, b: np.ndarray):
    """(metres, degrees) between two [x y z qw qx qy qz] poses."""
    angle = np.degrees(2 * np.arccos(min(1.0, abs(float(np.dot(a[3:], b[3:]))))))
    return float(np.linalg.norm(a[:3] - b[:3])), float(angle)


def replay_soak(out: Path, cycles: int = 1000, config: Optional[Path] = None, seed: int = 21,
                rate: float = 4.0) -> dict:
    if cycles < 1 or not rate > 0:
        raise AffordanceGraspError("soak --replay-cycles needs at least one cycle and a positive --replay-rate")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ROS_LOG_DIR", str(out / "ros_logs"))
    config = Path(config or resource("config", "sim.yaml"))
    bag = out / "frames"
    if bag.exists():
        import shutil
        shutil.rmtree(bag)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from ..ros.common import call_service
    from ..srv import DetectGrasps, SampleScene
    from .bench import category_queries

    sim = Graph(config, ["sim_node"], log_dir=out / "logs" / "sim", extra_args={"sim_node": [
        "-p", "depth_noise:=false", "-p", f"seed:={seed}", "-p", "rate_hz:=5.0"]}).start()
    planner = Graph(config, ["grasp_planner_node"], log_dir=out / "logs" / "planner").start()
    rclpy.init()
    node = rclpy.create_node("replay_soak_task_planner")
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    threading.Thread(target=ex.spin, daemon=True).start()
    rows, samples = [], []
    try:
        detect = node.create_client(DetectGrasps, "detect_grasps")
        if not detect.wait_for_service(timeout_sec=180):
            raise AffordanceGraspError(f"detect_grasps did not come up; see {out / 'logs'}")
        reset = node.create_client(SampleScene, "sim/sample_scene")
        scene = call_service(node, reset, SampleScene.Request(seed=seed), 60)
        if not scene.success:
            raise AffordanceGraspError(f"scene reset failed: {scene.message}")
        query = category_queries(scene.categories[0])[0].text
        time.sleep(2.0)
        record(bag, 2.0)
        sim.stop()
        usage = NodeUsage(planner)
        first = None
        for i in tqdm(range(cycles), desc="replay cycles", unit="cycle"):
            t_start = node.get_clock().now()
            replay(bag, rate=rate)
            t0 = time.perf_counter()
            resp = call_service(node, detect, DetectGrasps.Request(query=query, top_k=1, not_before=t_start.to_msg()),
                                60)
            row = {"cycle": i, "latency_s": time.perf_counter() - t0, "success": bool(resp.success),
                   "message": resp.message}
            if resp.success:
                pose = _best_pose(resp)
                first = pose if first is None else first
                row["position_m"], row["angle_deg"] = _difference(pose, first)
            rows.append(row)
            if i % 10 == 0 or i == cycles - 1:
                samples.append({"cycle": i, "t": time.time(), "nodes": usage.sample()})
            if planner.exited():
                break
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        sim.stop()
        exited = planner.exited()
        codes = planner.stop()
    summary = _summarise(rows, samples, query, exited, codes, rate)
    (out / "replay.json").write_text(json.dumps({**summary, "cycles_detail": rows, "samples": samples}, indent=2))
    _plot(out / "replay.png", rows, samples)
    print(replay_table(summary))
    return summary


def _summarise(rows, samples, query, exited, codes, rate) -> dict:
    served = [r for r in rows if r["success"]]
    same = [r for r in served if r["position_m"] <= SAME_POSITION_M and r["angle_deg"] <= SAME_ANGLE_DEG]
    rss = [s["nodes"]["grasp_planner_node"]["rss_mb"] for s in samples
           if s["nodes"]["grasp_planner_node"]["rss_mb"] is not None]
    return {
        "query": query, "machine": machine_description(), "replay_rate": rate, "cycles": len(rows),
        "served": len(served), "same_best_grasp": len(same),
        "largest_difference": {"position_mm": round(max((r["position_m"] for r in served), default=0) * 1000, 2),
                               "angle_deg": round(max((r["angle_deg"] for r in served), default=0), 2)},
        "refused": dict(Counter(r["message"].split(":")[0][:60] for r in rows if not r["success"])),
        "latency_ms": stats_ms([r["latency_s"] for r in rows]),
        "planner_rss_mb": {"start": rss[0] if rss else None, "end": rss[-1] if rss else None,
                           "growth": round(rss[-1] - rss[0], 1) if rss else None},
        "planner_exited_early": exited, "exit_codes": codes,
    }


def replay_table(s: dict) -> str:
    r = s["planner_rss_mb"]
    growth = f"{r['growth']:+}" if r["growth"] is not None else "?"
    return (f"replay: {s['cycles']} cycles: {s['served']} served, {s['same_best_grasp']} with the first cycle's best "
            f"grasp (largest difference {s['largest_difference']['position_mm']} mm, "
            f"{s['largest_difference']['angle_deg']} deg); refused {s['refused'] or 'none'}; latency median "
            f"{s['latency_ms']['median']} ms, p95 {s['latency_ms']['p95']} ms; planner RSS {r['start']} -> "
            f"{r['end']} MB ({growth} MB)")


def _plot(path: Path, rows, samples) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    a.plot([s["cycle"] for s in samples], [s["nodes"]["grasp_planner_node"]["rss_mb"] for s in samples])
    a.set_ylabel("planner RSS (MB)")
    b.plot([r["cycle"] for r in rows], [r["latency_s"] * 1000 for r in rows], ".", ms=2)
    b.set_ylabel("detect_grasps latency (ms)")
    b.set_xlabel("replay cycle")
    fig.suptitle("bag replay cycles")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
