"""``affordance-grasp bringup``: the graph of a launch file without the ROS CLI (``ros2 launch`` is
not installable from PyPI). One process per node named in the params file, each started with
that same file (``--ros-args --params-file``), so launch files and bringup share one truth.

SIGINT/SIGTERM stop every child (SIGTERM, then SIGKILL after a grace period); children also get
SIGTERM from the kernel if bringup itself dies (PR_SET_PDEATHSIG), so nothing is left orphaned.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml

from ..errors import ConfigError

# executable (console_scripts entry point, launch-file exec) -> module with main()
NODES: Dict[str, str] = {
    "sim_node": "affordance_grasp.ros.sim_node",
    "affordance_node": "affordance_grasp.ros.affordance_node",
    "grasp_planner_node": "affordance_grasp.ros.grasp_planner_node",
    "executor_node": "affordance_grasp.ros.executor_node",
    "grasp_server_node": "affordance_grasp.ros.grasp_server_node",
    "realsense_node": "affordance_grasp.ros.realsense_node",
}
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def nodes_in(params_file: Path) -> List[str]:
    """Node names (top-level keys with ros__parameters) in a ROS 2 params file, validated."""
    try:
        raw = yaml.safe_load(Path(params_file).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read params file {params_file}: {e}") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{params_file} is not a ROS 2 params file (node_name: ros__parameters: ...)")
    names = []
    for name, body in raw.items():
        if not isinstance(body, dict) or "ros__parameters" not in body:
            raise ConfigError(f"{params_file}: {name!r} has no ros__parameters block")
        if name not in NODES:
            raise ConfigError(f"{params_file}: unknown node {name!r}; known: {', '.join(NODES)}")
        names.append(name)
    return names


class Graph:
    """Child processes of one graph. ``start()``, then ``stop()`` (also on context exit)."""

    def __init__(self, params_file: Path, nodes: Optional[Sequence[str]] = None, log_dir: Optional[Path] = None,
                 env: Optional[dict] = None, extra_args: Optional[Dict[str, List[str]]] = None,
                 cwd: Optional[Path] = None):
        self.params_file = Path(params_file).resolve()
        self.nodes = list(nodes) if nodes else nodes_in(self.params_file)
        unknown = [n for n in self.nodes if n not in NODES]
        if unknown:
            raise ConfigError(f"unknown nodes {unknown}; known: {', '.join(NODES)}")
        self.log_dir = Path(log_dir) if log_dir else None
        self.env = {**os.environ, **(env or {})}
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.extra_args = extra_args or {}
        self.cwd = cwd
        self.procs: Dict[str, subprocess.Popen] = {}
        self._logs = []

    def command(self, node: str) -> List[str]:
        return [sys.executable, "-m", "affordance_grasp.ros.entry", node, "--ros-args", "--params-file", str(self.params_file),
                *self.extra_args.get(node, [])]

    def start(self) -> "Graph":
        for node in self.nodes:
            self.start_node(node)
        return self

    def start_node(self, node: str) -> None:
        """Start one node of the graph (again, after ``kill``: its log is appended to)."""
        out = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{node}.log", "a" if node in self.procs else "w")
            self._logs.append(out)
        self.procs[node] = subprocess.Popen(self.command(node), env=self.env, stdout=out, cwd=self.cwd,
                                            stderr=subprocess.STDOUT if out else None,
                                            preexec_fn=_die_with_parent)

    def kill(self, node: str, sig: int = signal.SIGKILL) -> int:
        """Stop one node with ``sig`` (SIGKILL: a crash, SIGTERM: an orderly stop) and reap it;
        returns its exit status. For fault injection."""
        p = self.procs[node]
        if p.poll() is None:
            p.send_signal(sig)
        return p.wait(timeout=30)

    def exited(self) -> Dict[str, int]:
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def pids(self) -> List[int]:
        return [p.pid for p in self.procs.values()]

    def usage(self, window: float = 5.0) -> Dict[str, dict]:
        """Each running node's CPU over the next ``window`` seconds (percent of one core, user +
        system, from the kernel's accounting) and resident memory at the end (MB)."""
        import psutil

        procs = {n: psutil.Process(p.pid) for n, p in self.procs.items() if p.poll() is None}
        before = {n: sum(pr.cpu_times()[:2]) for n, pr in procs.items()}
        t0 = time.monotonic()
        time.sleep(window)
        dt = time.monotonic() - t0
        out = {}
        for n, pr in procs.items():
            try:
                cpu = (sum(pr.cpu_times()[:2]) - before[n]) / dt * 100
                out[n] = {"cpu_percent": round(cpu, 1), "rss_mb": round(pr.memory_info().rss / 2 ** 20, 1)}
            except psutil.NoSuchProcess:
                out[n] = {"cpu_percent": None, "rss_mb": None}
        return out

    def stop(self, grace: float = 8.0) -> Dict[str, int]:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in self._logs:
            f.close()
        return {n: p.returncode for n, p in self.procs.items()}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def bringup(config: Path, nodes: Optional[Sequence[str]] = None) -> int:
    """Run the graph in the foreground until a signal or until a node dies."""
    graph = Graph(config, nodes)
    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    graph.start()
    print(f"bringup: started {', '.join(f'{n} (pid {p.pid})' for n, p in graph.procs.items())}; Ctrl-C stops all",
          flush=True)
    status = 0
    while stop["signal"] is None:
        dead = graph.exited()
        if dead:
            print(f"bringup: {', '.join(f'{n} exited with {c}' for n, c in dead.items())}; stopping the rest",
                  file=sys.stderr, flush=True)
            status = 1
            break
        time.sleep(0.2)
    codes = graph.stop()
    print(f"bringup: stopped ({', '.join(f'{n}={c}' for n, c in codes.items())})", flush=True)
    return status
