"""executor_node: the ``execute_grasp`` service (ExecuteGrasp) over a chosen backend.

- ``backend: sim`` forwards to the twin's ``sim/execute_grasp`` (the physics lives in sim_node);
- ``backend: moveit`` runs the MoveIt 2 backend (moveit_py, from a ROS 2 install).

Every grasp is validated before anything moves: a malformed pose, a width beyond the gripper,
or a frame other than the base frame is refused with ``failure_reason: invalid input``.
"""
from __future__ import annotations

import threading

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node

from affordance_grasp.srv import ExecuteGrasp

from ..errors import AffordanceGraspError, InvalidInputError
from ..execution.base import ExecutionConfig
from ..types import FailureReason
from .common import Param, declare, run
from .conversions import grasp_from_msg, outcome_to_execute_response

PARAMS = [
    Param("backend", "sim", "execution backend", choices=("sim", "moveit")),
    Param("sim_service", "sim/execute_grasp", "the twin's execute service (backend sim)"),
    Param("moveit_config", "", "MoveIt names YAML (backend moveit); empty: config/moveit.yaml"),
    Param("base_frame", "base_link", "grasps must be expressed in this frame"),
    Param("max_opening", 0.08, "gripper stroke (m); wider grasps are refused", (0.01, 0.3)),
    Param("timeout", 60.0, "seconds to wait for the backend", (1.0, 600.0)),
]


class ExecutorNode(Node):
    def __init__(self):
        super().__init__("executor_node")
        self.p = declare(self, PARAMS)
        self.config = ExecutionConfig(max_opening=self.p["max_opening"]).validate()
        self.motion_lock = threading.Lock()  # never two motions at once
        self.backend = None
        if self.p["backend"] == "moveit":
            from ..execution.moveit import MoveItExecutor, MoveItNames

            names = MoveItNames.from_yaml(self.p["moveit_config"]) if self.p["moveit_config"] else None
            self.backend = MoveItExecutor(self.config, names)  # BackendUnavailableError without moveit_py
        else:
            self.sim = self.create_client(ExecuteGrasp, self.p["sim_service"], callback_group=ReentrantCallbackGroup())
        self.create_service(ExecuteGrasp, "execute_grasp", self._execute, callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f"ready: execute_grasp with the {self.p['backend']} backend")

    def _refuse(self, resp, why: str):
        resp.success, resp.failure_reason, resp.message = False, FailureReason.INVALID_INPUT.value, f"rejected: {why}"
        self.get_logger().warn(resp.message)
        return resp

    def _execute(self, req, resp):
        try:
            grasp = grasp_from_msg(req.grasp)
            if grasp.frame_id not in (self.p["base_frame"], "base", ""):
                raise InvalidInputError(f"grasp is in frame {grasp.frame_id!r}, expected {self.p['base_frame']!r}")
            if grasp.width > self.config.max_opening + 1e-6:
                raise InvalidInputError(f"grasp width {grasp.width:.3f} m exceeds the gripper's "
                                        f"{self.config.max_opening:.3f} m opening")
        except AffordanceGraspError as e:
            return self._refuse(resp, str(e))
        if not self.motion_lock.acquire(blocking=False):
            return self._refuse(resp, "busy: a grasp is already executing")
        try:
            if self.backend is not None:
                if req.check_only:
                    ok = self.backend.check_reachable(grasp)
                    resp.success, resp.message = ok, "reachable" if ok else "unreachable"
                    resp.failure_reason = "" if ok else FailureReason.UNREACHABLE.value
                    return resp
                return outcome_to_execute_response(self.backend.execute(grasp), resp)
            if not self.sim.wait_for_service(timeout_sec=5.0):
                resp.success, resp.message = False, f"the sim backend {self.p['sim_service']} is not available"
                resp.failure_reason = FailureReason.INVALID_INPUT.value
                return resp
            result = self.sim.call(req, timeout_sec=self.p["timeout"])
            if result is None:
                resp.success, resp.message = False, f"the sim backend did not answer within {self.p['timeout']} s"
                return resp
            return result
        finally:
            self.motion_lock.release()


def main(args=None) -> int:
    return run(ExecutorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
