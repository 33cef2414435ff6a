"""``affordance-grasp demo``: the main job. Bring up the simulated graph, act as a task planner
that calls ``grasp_object`` for natural queries over seeded scenes, write summary.json and
overlay PNGs, print a table, shut everything down.

Each scene holds one object of the queried category plus up to two distractors of other
categories, so "the mug" names exactly one object; which cluster is the mug is for the
model's reasoning head to find, not told.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..affordance.datasets import SEEN_CATEGORIES, UNSEEN_CATEGORIES
from ..affordance.grounding import colour_shares
from ..affordance.query import QueryParser
from ..errors import AffordanceGraspError
from ..resources import resource
from ..sim.external import load_objects
from ..sim.objects import REGISTRY
from ..sim.scene import SceneConfig, sample_scene
from ..types import judge_grasp
from .bench import category_queries
from .bringup import Graph
from .report import machine_description


def _stats(xs: List[float]) -> dict:
    if not xs:
        return {"median": None, "p95": None}
    return {"median": round(float(np.median(xs)), 2), "p95": round(float(np.percentile(xs, 95)), 2)}


class TaskPlanner:
    """A client process's view of the graph: scene reset, grasp_object, camera statistics."""

    def __init__(self):
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from sensor_msgs.msg import CameraInfo, Image

        from affordance_grasp.srv import DetectGrasps, ExecuteGrasp, GraspObject, SampleScene

        from ..ros.common import COLOR_TOPIC, DEPTH_TOPIC, INFO_TOPIC, camera_qos, latched_qos

        self.node = Node("demo_task_planner")
        self.reset = self.node.create_client(SampleScene, "sim/sample_scene")
        self.grasp = self.node.create_client(GraspObject, "grasp_object")
        # The whole chain must be up, not just its front door.
        self.chain = [(self.node.create_client(DetectGrasps, "detect_grasps"), "detect_grasps"),
                      (self.node.create_client(ExecuteGrasp, "execute_grasp"), "execute_grasp")]
        self.lock = threading.Lock()
        self.arrivals: Dict[str, List[tuple]] = defaultdict(list)  # topic -> (receive time, stamp)
        self.last_info_stamp = 0.0
        self.overlay = None
        # Reliable, as the sim graph's planner subscribes (config/sim.yaml): the rates are what it
        # gets. A best-effort subscriber on the default transport loses most 640x480 colour frames
        # between processes (measured: 1 Hz of 10).
        for topic, typ in ((COLOR_TOPIC, Image), (DEPTH_TOPIC, Image), (INFO_TOPIC, CameraInfo)):
            self.node.create_subscription(typ, topic, lambda m, t=topic: self._arrive(t, m), camera_qos(reliable=True))
        self.node.create_subscription(Image, "grasp_planner_node/overlay", self._overlay, latched_qos())
        # One thread: it only completes futures and counts frames (a multi-threaded executor
        # would spend most of a core on the camera stream; see ros/camera_input.py).
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _arrive(self, topic: str, msg) -> None:
        t = self.now()
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self.lock:
            self.arrivals[topic].append((t, stamp))
            if topic.endswith("camera_info"):
                self.last_info_stamp = stamp

    def _overlay(self, msg) -> None:
        with self.lock:
            self.overlay = msg

    def wait_ready(self, graph=None, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        for client, name in [(self.reset, "sim/sample_scene"), (self.grasp, "grasp_object")] + self.chain:
            while not client.wait_for_service(timeout_sec=1.0):
                dead = graph.exited() if graph is not None else {}
                if dead:
                    raise AffordanceGraspError(f"{', '.join(dead)} exited during start-up (status "
                                               f"{', '.join(map(str, dead.values()))}); see {graph.log_dir}")
                if time.monotonic() > deadline:
                    seen = sorted(n for n, _ in self.node.get_service_names_and_types() if "parameter" not in n)
                    raise AffordanceGraspError(f"{name} did not come up within {timeout:.0f} s (services seen: "
                                               f"{', '.join(seen) or 'none'}); see the node logs")

    def wait_frames_after(self, t: float, n: int = 2, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                fresh = [s for _, s in self.arrivals.get("camera/color/camera_info", []) if s > t]
            if len(fresh) >= n:
                return
            time.sleep(0.02)
        raise AffordanceGraspError(f"no new camera frames within {timeout} s after the scene reset")

    def camera_stats(self, window: float = 5.0) -> dict:
        with self.lock:
            self.arrivals.clear()
        time.sleep(window)
        out = {}
        with self.lock:
            for topic, xs in self.arrivals.items():
                if len(xs) < 2:
                    continue
                recv = np.array([x[0] for x in xs])
                lat = [(r - s) * 1000 for r, s in xs]
                out[topic] = {"rate_hz": round((len(xs) - 1) / (recv[-1] - recv[0]), 2),
                              "latency_ms": _stats(lat), "messages": len(xs)}
        return out

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


KINDS = ("seen", "unseen", "same kind", "seen", "functional")
FUNCTIONAL = {"cut": "hand me something to cut with", "pour": "I want to pour some water",
              "pound": "give me something to pound a nail with", "scoop": "I need something to scoop soup with"}


def _instance_colour(spec) -> str:
    """The named colour nearest (CIELAB) to the colour of the object's largest part by surface
    (a kettle's body, not its finely meshed handle): what a person would call its colour."""
    biggest = max(spec.parts, key=lambda p: sum(m.trimesh.area for m in p.meshes)
                  + sum(g.trimesh(spec.meshes).area for g in p.geoms))
    rgba = biggest.appearance.rgba if biggest.appearance is not None else biggest.rgba
    img = np.asarray(rgba[:3])[None, None] * 255
    shares = colour_shares(img.astype(np.uint8), np.zeros((1, 2), int), QueryParser().vocab.colours)
    return max(shares, key=shares.get) if max(shares.values(), default=0) > 0 else ""


def demo_trials(n: int, seed: int, extra: Sequence[str] = ()) -> List[dict]:
    """Scene specs for the task planner, cycling through kinds of request:
    - seen: an object of a category the model was trained on, among 1-2 others;
    - unseen: an object of a category held out of training (config/dataset_splits.yaml);
    - same kind: two objects of one category and a word that tells them apart (colour or side);
    - functional: "something to cut with" among objects of which one fits.
    ``extra`` (users' object categories) join the seen ones as targets. Nothing tells the graph
    which object is meant: grounding finds it."""
    rng = np.random.default_rng(seed)
    seen = [c for c in SEEN_CATEGORIES if c in REGISTRY] + list(extra)
    unseen = [c for c in UNSEEN_CATEGORIES if c in REGISTRY]
    everything = sorted(set(REGISTRY) | set(extra))
    vocab = QueryParser().vocab
    trials = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        s = seed + i
        if kind == "functional":
            aff = list(FUNCTIONAL)[(i // len(KINDS)) % len(FUNCTIONAL)]
            fits = [c for c in seen if aff in vocab.part_map.get(c, {})]
            rest = [c for c in everything if aff not in vocab.part_map.get(c, {}) and c not in unseen]
            target = str(rng.choice(fits))
            cats = [target] + [str(c) for c in rng.choice(rest, int(rng.integers(1, 3)), replace=False)]
            trials.append({"kind": kind, "seed": s, "categories": cats, "target": f"{target}_0",
                           "part": vocab.part_map[target]["grasp"], "query": FUNCTIONAL[aff]})
            continue
        pool = unseen if kind == "unseen" else seen
        target = pool[(i // len(KINDS)) % len(pool)]
        qspec = category_queries(target)[int(rng.integers(len(category_queries(target))))]
        others = [c for c in everything if c != target]
        if kind == "same kind":
            cats = [target, target] + [str(c) for c in rng.choice(others, int(rng.integers(0, 2)), replace=False)]
            scene = sample_scene(s, SceneConfig(n_objects=(1, 4)), categories=cats)
            twins = [o for o in scene.objects if o.spec.category == target]
            if len(twins) < 2:
                kind, cats = "seen", [target] + cats[2:]
            else:
                pick = twins[int(rng.integers(2))]
                other = twins[0] if pick is twins[1] else twins[1]
                colour, other_colour = _instance_colour(pick.spec), _instance_colour(other.spec)
                noun = target.replace("_", " ")
                if colour and colour != other_colour:
                    words = f"the {colour} {noun}"
                else:
                    words = f"the {noun} on the {'left' if pick.position[1] > other.position[1] else 'right'}"
                trials.append({"kind": kind, "seed": s, "categories": cats, "target": pick.instance,
                               "part": qspec.part, "query": f"pick up {words} by its {qspec.part}"})
                continue
        if kind != "same kind":
            cats = [target] + [str(c) for c in rng.choice(others, int(rng.integers(1, 3)), replace=False)]
        trials.append({"kind": kind, "seed": s, "categories": cats, "target": f"{target}_0", "part": qspec.part,
                       "query": qspec.text})
    return trials


def demo(out: Path, trials: int = 40, seed: int = 0, config: Optional[Path] = None, max_attempts: int = 3,
         objects: Sequence[Path] = ()) -> dict:
    from ..visualize import save_rgb
    from ..ros.image_conversions import rgb_from_image

    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ROS_LOG_DIR", str(out / "ros_logs"))
    config = Path(config or resource("config", "sim.yaml"))
    extra = [o.spec.category for o in load_objects(objects)] if objects else []
    specs = demo_trials(trials, seed, extra)
    import rclpy

    t_start = time.perf_counter()
    files = json.dumps([str(Path(p).resolve()) for p in objects])
    extra_args = {"sim_node": ["-p", f"objects:={files}"]} if objects else None
    graph = Graph(config, log_dir=out / "logs", extra_args=extra_args).start()
    print(f"demo: started {', '.join(graph.procs)} (logs in {out / 'logs'})", flush=True)
    rclpy.init()
    planner = None
    rows = []
    try:
        planner = TaskPlanner()
        planner.wait_ready(graph)
        t_ready = time.perf_counter() - t_start
        camera = planner.camera_stats()
        # With nothing asked: what the graph costs a machine that only streams.
        idle = graph.usage(window=5.0)
        from affordance_grasp.ros.common import call_service
        from affordance_grasp.srv import GraspObject, SampleScene

        for i, spec in enumerate(specs):
            r = call_service(planner.node, planner.reset, SampleScene.Request(seed=spec["seed"], categories=spec["categories"]), 60)
            if not r.success:
                raise AffordanceGraspError(f"scene reset failed: {r.message}")
            planner.wait_frames_after(r.stamp.sec + r.stamp.nanosec * 1e-9)
            target = spec["target"]
            t0 = time.perf_counter()
            resp = call_service(planner.node, planner.grasp, GraspObject.Request(query=spec["query"], execute=True,
                                                                   max_attempts=max_attempts), 300)
            wall = time.perf_counter() - t0
            touched = set(resp.parts_touched)
            success, part_ok = judge_grasp(resp.success, touched, target, spec["part"])
            right_object = bool(touched) and all(p.startswith(target + "/") for p in touched)
            stages = {k: round(v * 1000, 1) for k, v in zip(resp.timing_stages, resp.timing_seconds)}
            stages["service_call"] = round(wall * 1000, 1)
            rows.append({"trial": i, "kind": spec["kind"], "seed": spec["seed"], "query": spec["query"],
                         "target": target, "scene": list(r.instances), "chosen_object": resp.chosen_object,
                         "choice_reason": resp.choice_reason, "right_object": right_object, "success": success,
                         "part_correct": part_ok,
                         "task_success": success and part_ok, "attempts": int(resp.attempts),
                         "message": resp.message, "parts_touched": sorted(touched), "latency_ms": stages})
            print(f"  [{i + 1}/{len(specs)}] ({spec['kind']}) {spec['query']!r}: {'OK' if success else 'FAIL'}"
                  f"{' part-ok' if part_ok else ''} ({resp.message})", flush=True)
            time.sleep(0.2)  # the latched overlay of this request
            with planner.lock:
                overlay = planner.overlay
            if overlay is not None:
                save_rgb(out / "overlays" / f"{i:03d}.png", rgb_from_image(overlay))
    finally:
        if planner is not None:
            planner.close()
        rclpy.try_shutdown()
        codes = graph.stop()
    summary = _summarise(rows, camera, t_ready, codes, config, idle)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(demo_table(summary))
    return summary


def _summarise(rows, camera, t_ready, codes, config, idle=None) -> dict:
    def rate(k):
        return round(float(np.mean([r[k] for r in rows])), 4) if rows else None

    per_cat, per_kind = defaultdict(list), defaultdict(list)
    for r in rows:
        per_cat[r["target"].rsplit("_", 1)[0]].append(r)
        per_kind[r["kind"]].append(r)
    stages = sorted({k for r in rows for k in r["latency_ms"]})
    return {"trials": rows, "n_trials": len(rows), "success_rate": rate("success"),
            "part_correct_rate": rate("part_correct"), "task_success_rate": rate("task_success"),
            "latency_ms": {s: _stats([r["latency_ms"][s] for r in rows if s in r["latency_ms"]]) for s in stages},
            "per_category": {c: {"n": len(rs), "task_success_rate": round(float(np.mean([x["task_success"] for x in rs])), 4)}
                             for c, rs in sorted(per_cat.items())},
            "per_kind": {k: {"n": len(rs), "task_success_rate": round(float(np.mean([x["task_success"] for x in rs])), 4),
                             "object_choice_accuracy": round(float(np.mean([x["right_object"] for x in rs])), 4)}
                         for k, rs in sorted(per_kind.items())},
            "camera_topics": camera, "graph_ready_s": round(t_ready, 1), "exit_codes": codes,
            "idle_usage": idle or {},
            "idle_cpu_percent_total": round(sum(u["cpu_percent"] or 0 for u in (idle or {}).values()), 1),
            "config": str(config), "machine": machine_description()}


def demo_table(s: dict) -> str:
    lines = ["| request kind | n | task success | right object |", "|---|---|---|---|"]
    lines += [f"| {k} | {r['n']} | {r['task_success_rate']:.2f} | {r['object_choice_accuracy']:.2f} |"
              for k, r in s["per_kind"].items()]
    lines += ["", "| category | n | task success |", "|---|---|---|"]
    lines += [f"| {c} | {r['n']} | {r['task_success_rate']:.2f} |" for c, r in s["per_category"].items()]
    lines.append(f"| **all** | {s['n_trials']} | {s['task_success_rate']:.2f} |")
    lat = s["latency_ms"]
    lines.append(f"\nsuccess {s['success_rate']:.2f}, part correct {s['part_correct_rate']:.2f}, task success "
                 f"{s['task_success_rate']:.2f}; grasp_object call median {lat['service_call']['median']} ms, "
                 f"p95 {lat['service_call']['p95']} ms")
    if s.get("idle_usage"):
        lines.append("idle graph (nothing asked, 5 s): " + ", ".join(
            f"{n} {u['cpu_percent']} % CPU {u['rss_mb']} MB" for n, u in s["idle_usage"].items())
            + f"; total {s['idle_cpu_percent_total']} % of one core")
    for topic, c in s["camera_topics"].items():
        lines.append(f"{topic}: {c['rate_hz']} Hz, latency median {c['latency_ms']['median']} ms, "
                     f"p95 {c['latency_ms']['p95']} ms")
    return "\n".join(lines)
