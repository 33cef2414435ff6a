"""``affordance-grasp soak``: the simulated graph under load and over time, with nothing moved.

- **Load**: ``clients`` task planners call ``detect_grasps`` at the same moment. Every call must
  be answered exactly once (served, or refused with a reason); none may be lost.
- **Soak**: then one request every ``period`` seconds for ``minutes``, while each node's memory
  and CPU are sampled. An error is a request with no answer in time, an "internal error"
  answer, or a node that exits.

Writes ``soak.json`` and ``soak.png`` (memory per node and latency over time).
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from tqdm import tqdm

from ..errors import AffordanceGraspError
from ..resources import resource
from .bench import category_queries
from .bringup import Graph
from .report import machine_description

ANSWER_TIMEOUT = 120.0   # s a single request may take before it counts as lost


def stats_ms(xs: List[float]) -> dict:
    if not xs:
        return {"median": None, "p95": None}
    return {"median": round(float(np.median(xs)) * 1000, 1), "p95": round(float(np.percentile(xs, 95)) * 1000, 1)}


class NodeUsage:
    """Per-node CPU (percent of one core since the previous sample) and resident memory."""

    def __init__(self, graph: Graph):
        import psutil

        self.procs = {n: psutil.Process(p.pid) for n, p in graph.procs.items()}
        self.last = {n: (time.monotonic(), sum(p.cpu_times()[:2])) for n, p in self.procs.items()}

    def sample(self) -> Dict[str, dict]:
        import psutil

        out = {}
        for n, p in self.procs.items():
            try:
                t, cpu = time.monotonic(), sum(p.cpu_times()[:2])
                t0, c0 = self.last[n]
                self.last[n] = (t, cpu)
                out[n] = {"rss_mb": round(p.memory_info().rss / 2 ** 20, 1),
                          "cpu_percent": round((cpu - c0) / max(t - t0, 1e-6) * 100, 1)}
            except psutil.NoSuchProcess:
                out[n] = {"rss_mb": None, "cpu_percent": None}
        return out


def _plot(path: Path, samples: List[dict], requests: List[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    t0 = samples[0]["t"] if samples else 0.0
    for node in samples[0]["nodes"] if samples else []:
        pts = [(s["t"] - t0, s["nodes"][node]["rss_mb"]) for s in samples if s["nodes"][node]["rss_mb"] is not None]
        if pts:
            a.plot(*zip(*pts), label=node)
    a.set_ylabel("resident memory (MB)")
    a.legend(fontsize=7, loc="upper left")
    ok = [(r["t"] - t0, r["latency_s"] * 1000) for r in requests if r["answered"]]
    if ok:
        b.plot(*zip(*ok), ".", label="detect_grasps")
    b.set_ylabel("latency (ms)")
    b.set_xlabel("time (s)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


class _Planner:
    """A process holding ``clients`` detect_grasps clients and a scene-reset client."""

    def __init__(self, clients: int):
        import rclpy
        from rclpy.executors import MultiThreadedExecutor

        from affordance_grasp.srv import DetectGrasps, SampleScene

        self.node = rclpy.create_node("soak_task_planner")
        self.detect = [self.node.create_client(DetectGrasps, "detect_grasps") for _ in range(clients)]
        self.reset = self.node.create_client(SampleScene, "sim/sample_scene")
        self.Request = DetectGrasps.Request
        self.executor = MultiThreadedExecutor(num_threads=4)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def wait_ready(self, graph: Graph, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        for c in [self.reset] + self.detect:
            while not c.wait_for_service(timeout_sec=1.0):
                if graph.exited():
                    raise AffordanceGraspError(f"{', '.join(graph.exited())} exited during start-up; see {graph.log_dir}")
                if time.monotonic() > deadline:
                    raise AffordanceGraspError(f"the graph did not come up within {timeout:.0f} s; see {graph.log_dir}")

    def ask(self, clients, query: str) -> List[dict]:
        """One request per client, all sent at once; each answer's time is taken as it lands."""
        sent, done = time.perf_counter(), []
        lock = threading.Lock()
        futures = []
        for i, c in enumerate(clients):
            def landed(_, i=i):
                with lock:
                    done.append((i, time.perf_counter()))

            f = c.call_async(self.Request(query=query, top_k=1))
            f.add_done_callback(landed)
            futures.append(f)
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while time.monotonic() < deadline and not all(f.done() for f in futures):
            time.sleep(0.01)
        # The executor runs done-callbacks after the future completes: let them land.
        settle = time.monotonic() + 2.0
        while time.monotonic() < settle and len(done) < sum(f.done() for f in futures):
            time.sleep(0.01)
        rows = []
        for i, f in enumerate(futures):
            landed = [t for j, t in done if j == i]
            resp = f.result() if f.done() else None
            rows.append({"t": time.time(), "answered": resp is not None, "answers": len(landed),
                         "latency_s": (landed[0] - sent) if landed else None,
                         "success": bool(resp.success) if resp is not None else False,
                         "message": resp.message if resp is not None else "no answer"})
            if not f.done():
                f.cancel()
        return rows

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def _refusal(message: str) -> str:
    return message.split(":")[0][:60]


def soak(out: Path, minutes: float = 30.0, period: float = 5.0, clients: int = 10,
         config: Optional[Path] = None, seed: int = 0) -> dict:
    if minutes < 0 or period <= 0 or clients < 1:
        raise AffordanceGraspError("soak needs minutes >= 0, period > 0 and at least one client")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ROS_LOG_DIR", str(out / "ros_logs"))
    config = Path(config or resource("config", "sim.yaml"))
    import rclpy

    graph = Graph(config, log_dir=out / "logs").start()
    print(f"soak: started {', '.join(graph.procs)} (logs in {out / 'logs'})", flush=True)
    rclpy.init()
    planner = None
    load, requests, samples = [], [], []
    try:
        planner = _Planner(clients)
        planner.wait_ready(graph)
        from affordance_grasp.srv import SampleScene

        from affordance_grasp.ros.common import call_service

        r = call_service(planner.node, planner.reset, SampleScene.Request(seed=seed), 60)
        if not r.success:
            raise AffordanceGraspError(f"scene reset failed: {r.message}")
        query = category_queries(r.categories[0])[0].text
        time.sleep(1.0)                       # frames of the new scene
        planner.ask(planner.detect[:1], query)  # warm-up: the first request loads lazily built parts
        usage = NodeUsage(graph)
        load = planner.ask(planner.detect, query)
        n_periods = int(minutes * 60 / period)
        t_next = time.monotonic()
        for _ in tqdm(range(n_periods), desc="soak", unit="request"):
            t_next += period
            samples.append({"t": time.time(), "nodes": usage.sample()})
            requests += planner.ask(planner.detect[:1], query)
            if graph.exited():
                break
            time.sleep(max(0.0, t_next - time.monotonic()))
        samples.append({"t": time.time(), "nodes": usage.sample()})
    finally:
        if planner is not None:
            planner.close()
        rclpy.try_shutdown()
        exited_early = graph.exited()
        codes = graph.stop()
    summary = _summarise(load, requests, samples, query, exited_early, codes, minutes, period)
    (out / "soak.json").write_text(json.dumps({**summary, "load_requests": load, "requests": requests,
                                               "samples": samples}, indent=2))
    _plot(out / "soak.png", samples, requests)
    print(soak_table(summary))
    return summary


def _summarise(load, requests, samples, query, exited, codes, minutes, period) -> dict:
    def answered(rows):
        return [r for r in rows if r["answered"]]

    def errors(rows):
        return [r for r in rows if not r["answered"] or r["message"].startswith("internal error")]

    nodes = {}
    if samples:
        for n in samples[0]["nodes"]:
            rss = [s["nodes"][n]["rss_mb"] for s in samples if s["nodes"][n]["rss_mb"] is not None]
            cpu = [s["nodes"][n]["cpu_percent"] for s in samples[1:] if s["nodes"][n]["cpu_percent"] is not None]
            nodes[n] = {"rss_start_mb": rss[0] if rss else None, "rss_end_mb": rss[-1] if rss else None,
                        "rss_growth_mb": round(rss[-1] - rss[0], 1) if rss else None,
                        "cpu_percent_mean": round(float(np.mean(cpu)), 1) if cpu else None}
    return {
        "query": query, "minutes": minutes, "period_s": period, "machine": machine_description(),
        "load": {"clients": len(load), "answered": len(answered(load)),
                 "answered_twice": sum(r["answers"] > 1 for r in load),
                 "lost": len(load) - len(answered(load)),
                 "served": sum(r["success"] for r in load),
                 "refused": dict(Counter(_refusal(r["message"]) for r in answered(load) if not r["success"])),
                 "latency_ms": stats_ms([r["latency_s"] for r in answered(load)])},
        "soak": {"requests": len(requests), "answered": len(answered(requests)), "errors": len(errors(requests)),
                 "served": sum(r["success"] for r in requests),
                 "refused": dict(Counter(_refusal(r["message"]) for r in answered(requests) if not r["success"])),
                 "latency_ms": stats_ms([r["latency_s"] for r in answered(requests)])},
        "nodes": nodes, "nodes_exited_early": exited, "exit_codes": codes,
    }


def soak_table(s: dict) -> str:
    ld, sk = s["load"], s["soak"]
    lines = [f"load: {ld['clients']} clients at once: {ld['answered']} answered ({ld['served']} served, refused "
             f"{ld['refused'] or 'none'}), {ld['lost']} lost, {ld['answered_twice']} answered twice; latency median "
             f"{ld['latency_ms']['median']} ms, p95 {ld['latency_ms']['p95']} ms",
             f"soak: {sk['requests']} requests over {s['minutes']} min: {sk['errors']} errors, {sk['served']} served; "
             f"latency median {sk['latency_ms']['median']} ms, p95 {sk['latency_ms']['p95']} ms",
             "| node | RSS start MB | RSS end MB | growth MB | mean CPU % of one core |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {u['rss_start_mb']} | {u['rss_end_mb']} | {u['rss_growth_mb']} | {u['cpu_percent_mean']} |"
              for n, u in s["nodes"].items()]
    if s["nodes_exited_early"]:
        lines.append(f"nodes that exited during the run: {s['nodes_exited_early']}")
    return "\n".join(lines)
