"""The process entry of every node (console scripts, ``scripts/nodes/``, ``bringup``).

A node's module imports torch, open3d or MuJoCo, which takes seconds. A stop request (Ctrl-C,
SIGTERM from launch) that lands during those imports would otherwise end in a KeyboardInterrupt
traceback from deep inside a library and exit status 1; here it ends the process quietly with
status 0, since no node exists yet and there is nothing to clean up. ``common.run`` does the
same for a second stop request during shutdown (a terminal's Ctrl-C reaches launch and its
children, and launch then signals the children again).
"""
from __future__ import annotations

import faulthandler
import importlib
import os
import signal
import sys

NODES = ("sim_node", "affordance_node", "grasp_planner_node", "executor_node", "grasp_server_node",
         "realsense_node")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_quietly(signum, frame) -> None:
    os._exit(0)


def main_for(name: str) -> int:
    if name not in NODES:
        print(f"unknown node {name!r}; one of: {', '.join(NODES)}", file=sys.stderr)
        return 2
    # A crash in native code (DDS, torch, MuJoCo) then prints every thread's Python stack to the
    # node's log instead of a bare "exit -11".
    faulthandler.enable()
    for s in STOP_SIGNALS:
        signal.signal(s, exit_quietly)
    module = importlib.import_module(f"{__package__}.{name}")
    # Still quiet until common.run installs its ordered stop, before any node exists: handing
    # the default handler back here let a Ctrl-C in between end in a KeyboardInterrupt traceback.
    return module.main()


def sim_node() -> int:
    return main_for("sim_node")


def affordance_node() -> int:
    return main_for("affordance_node")


def grasp_planner_node() -> int:
    return main_for("grasp_planner_node")


def executor_node() -> int:
    return main_for("executor_node")


def grasp_server_node() -> int:
    return main_for("grasp_server_node")


def realsense_node() -> int:
    return main_for("realsense_node")


if __name__ == "__main__":
    # python -m affordance_grasp.ros.entry NODE [--ros-args ...]
    node = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    raise SystemExit(main_for(node))
