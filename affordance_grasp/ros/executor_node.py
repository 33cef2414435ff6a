"""executor_node: ``execute_grasp`` as a service (ExecuteGrasp) and as a cancellable action
(ExecuteGrasp, with feedback), over a chosen backend.

- ``backend: sim`` forwards to the twin's ``sim/execute_grasp`` (the physics lives in sim_node),
  and a cancelled action goal to ``sim/cancel_motion``;
- ``backend: moveit`` runs the MoveIt 2 backend (moveit_py, from a ROS 2 install).

Every grasp is validated before anything moves: a malformed pose, a width beyond the gripper,
or a frame other than the base frame is refused with ``failure_reason: invalid input``.
"""
from __future__ import annotations

import threading
import time

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node

from affordance_grasp.action import ExecuteGrasp as ExecuteGraspAction
from affordance_grasp.srv import ExecuteGrasp
from std_srvs.srv import Trigger

from ..errors import AffordanceGraspError, InvalidInputError
from ..execution.base import ExecutionConfig, check_grasp
from ..types import FailureReason
from .common import Param, call_service, declare, guarded, run, stop_requested, wait_unless_stopped
from .conversions import grasp_from_msg, outcome_to_execute_response, scene_from_msgs

PARAMS = [
    Param("backend", "sim", "execution backend", choices=("sim", "moveit")),
    Param("sim_service", "sim/execute_grasp", "the twin's execute service (backend sim)"),
    Param("sim_cancel_service", "sim/cancel_motion", "the twin's cancel service (backend sim): a cancelled goal "
          "stops the motion, opens, backs out and goes home"),
    Param("moveit_settings", "", "MoveIt backend settings YAML (backend moveit); empty: config/moveit.yaml"),
    Param("gripper_interface", "gripper_command", "gripper driver interface (backend moveit): control_msgs "
          "GripperCommand, or franka_ros2's franka_msgs Grasp/Move", choices=("gripper_command", "franka")),
    Param("gripper_action", "/panda_gripper/gripper_action", "GripperCommand action (gripper_interface "
          "gripper_command); franka_gripper's node is named after the arm: /fr3_gripper/gripper_action on an FR3"),
    Param("gripper_position_per_finger", True, "GripperCommand position is one finger's travel (half the opening), "
          "as franka_gripper reads it"),
    Param("gripper_result_per_finger", False, "GripperCommand's result position is one finger's travel; false: the "
          "whole opening, as franka_gripper (franka_ros2 v0.1.13) reports it"),
    Param("franka_gripper_namespace", "/panda_gripper", "namespace of franka_gripper's grasp and move actions "
          "(franka_gripper's node: /fr3_gripper on an FR3)"),
    Param("gripper_timeout", 10.0, "seconds to wait for a gripper action", (0.5, 120.0)),
    Param("wrench_topic", "", "geometry_msgs/WrenchStamped of the external wrench at the hand in the base frame "
          "(backend moveit), read after the slow first lift: an object the wrist does not feel carried is a caught "
          "slip. franka_ros2: /franka_robot_state_broadcaster/external_wrench_in_base_frame. Empty: not read, the "
          "gripper width alone judges the probe. The check also needs the target's expected weight "
          "(MoveItExecutor.set_expected_load), which the ExecuteGrasp request does not carry yet: through this "
          "service it stands aside"),
    Param("base_frame", "base_link", "grasps must be expressed in this frame (the robot's base link)"),
    Param("max_opening", 0.08, "gripper stroke (m); wider grasps are refused", (0.01, 0.3)),
    Param("max_reach", 1.0, "grasps farther than this from the base origin (m) are refused before planning",
          (0.2, 3.0)),
    Param("timeout", 60.0, "seconds to wait for the backend", (1.0, 600.0)),
]


class ExecutorNode(Node):
    def __init__(self):
        super().__init__("executor_node")
        self.p = declare(self, PARAMS)
        self.config = ExecutionConfig(max_opening=self.p["max_opening"],
                                      max_reach=self.p["max_reach"]).validate()
        self.motion_lock = threading.Lock()  # never two motions at once
        self.backend = None
        if self.p["backend"] == "moveit":
            self.backend = self._moveit_backend()
        else:
            self.sim = self.create_client(ExecuteGrasp, self.p["sim_service"], callback_group=ReentrantCallbackGroup())
            self.sim_cancel = self.create_client(Trigger, self.p["sim_cancel_service"],
                                                 callback_group=ReentrantCallbackGroup())
        self.create_service(ExecuteGrasp, "execute_grasp", guarded(self, self._execute), callback_group=MutuallyExclusiveCallbackGroup())
        # For callers of the service (grasp_server_node's cancelled goals); action goals cancel as usual.
        self.create_service(Trigger, "cancel_motion", guarded(self, self._cancel_motion),
                            callback_group=ReentrantCallbackGroup())
        self.create_service(Trigger, "release_object", guarded(self, self._release),
                            callback_group=MutuallyExclusiveCallbackGroup())
        self.action = ActionServer(self, ExecuteGraspAction, "execute_grasp", self._action_execute,
                                   goal_callback=self._action_goal, cancel_callback=self._action_cancel,
                                   callback_group=ReentrantCallbackGroup())
        self.get_logger().info(f"ready: execute_grasp with the {self.p['backend']} backend")

    def _moveit_backend(self):
        """MoveItPy runs MoveItCpp inside this process. Its MoveIt config (robot description, SRDF,
        kinematics, pipelines, controllers) is what this node's --params-file arguments give it
        (launch/realsense_panda.launch.py passes the one MoveItConfigsBuilder makes), handed over as
        ``config_dict``: read by MoveItPy itself, it would be found only under ``/**``."""
        import sys

        from ..execution.moveit import (MoveItExecutor, MoveItSettings, check_base_frames, moveit_config_from_params,
                                        moveit_api)
        from .gripper_clients import build_gripper

        moveit_api()  # BackendUnavailableError without moveit_py
        settings = MoveItSettings.load(self.p["moveit_settings"] or None)
        if settings.base_frame != self.p["base_frame"]:
            raise InvalidInputError(f"executor_node: base_frame {self.p['base_frame']!r} differs from the MoveIt "
                                    f"settings' base_frame {settings.base_frame!r}; set both to the robot's base link")
        params_files = [sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--params-file"]
        # the planner's and the camera pose's base frames, from the same params files
        check_base_frames(params_files, self.get_name(), self.get_namespace())
        config = moveit_config_from_params(params_files, self.get_name(), self.get_namespace())
        # the finger joints are the MoveIt settings' (arm_id's): the model check covers them too
        gripper = build_gripper(self, self.p["gripper_interface"], self.p["gripper_action"], list(settings.finger_joints),
                                self.p["gripper_position_per_finger"], self.p["gripper_timeout"],
                                self.p["franka_gripper_namespace"], self.p["gripper_result_per_finger"])
        load = None
        if self.p["wrench_topic"]:
            from .wrist_load import WristLoad
            load = WristLoad(self, self.p["wrench_topic"], settings.base_frame, callback_group=ReentrantCallbackGroup())
        return MoveItExecutor.from_moveit_config(config, gripper, node_name="affordance_grasp_moveit",
                                                 settings=settings, config=self.config, load_reader=load)

    def _release(self, req, resp):
        """Let go of what the last grasp holds: open, and (MoveIt) detach it from the hand and take
        it out of the planning scene, so that it haunts no later plan."""
        if self.backend is None:
            resp.success = False
            resp.message = "the sim backend holds nothing between grasps: the twin opens at the next grasp"
            return resp
        if not self.motion_lock.acquire(blocking=False):
            resp.success, resp.message = False, "busy: a grasp is executing"
            return resp
        try:
            self.backend.release()
        finally:
            self.motion_lock.release()
        resp.success, resp.message = True, "released"
        return resp

    def _refuse(self, resp, why: str):
        resp.success, resp.failure_reason, resp.message = False, FailureReason.INVALID_INPUT.value, f"rejected: {why}"
        self.get_logger().warn(resp.message)
        return resp

    def _execute(self, req, resp):
        try:
            grasp = grasp_from_msg(req.grasp)
            scene = scene_from_msgs(req.scene_boxes, req.table_height) if req.has_scene else None
            check_grasp(grasp, self.config, self.p["base_frame"])
        except AffordanceGraspError as e:
            return self._refuse(resp, str(e))
        if not self.motion_lock.acquire(blocking=False):
            return self._refuse(resp, "busy: a grasp is already executing")
        if self.backend is not None:
            try:
                self.backend.set_scene(scene)
                if req.check_only:
                    ok = self.backend.check_reachable(grasp)
                    resp.success, resp.message = ok, "reachable" if ok else "unreachable"
                    resp.failure_reason = "" if ok else FailureReason.UNREACHABLE.value
                    return resp
                return outcome_to_execute_response(self.backend.execute(grasp), resp)
            finally:
                self.motion_lock.release()
        return self._execute_in_sim(req, resp)

    def _execute_in_sim(self, req, resp):
        """Forward to the twin. The lock is released when the twin answers, not when we stop
        waiting: after a timeout the arm may still be moving, and a new request must be refused
        as busy until it has stopped."""
        if not self.sim.wait_for_service(timeout_sec=5.0):
            self.motion_lock.release()
            resp.success, resp.message = False, f"the sim backend {self.p['sim_service']} is not available"
            resp.failure_reason = FailureReason.INVALID_INPUT.value
            return resp
        future = self.sim.call_async(req)
        done = threading.Event()
        future.add_done_callback(lambda _: (done.set(), self.motion_lock.release()))
        if not wait_unless_stopped(done, self.p["timeout"]):
            resp.success, resp.message = False, (
                "executor_node is shutting down; the twin was asked to stop the motion" if stop_requested() else
                f"the sim backend did not answer within {self.p['timeout']} s; the motion lock is held until it does")
            resp.failure_reason = FailureReason.EXECUTION_FAILED.value
            return resp
        result = future.result()
        if result is None:
            resp.success, resp.message = False, "the sim backend's call failed"
            resp.failure_reason = FailureReason.EXECUTION_FAILED.value
            return resp
        return result


    # ------------------------------------------------------------------ action
    def on_stop(self) -> None:
        """A stop request stops the motion under way (the arm must not go on moving for a node
        that is gone); the running request then ends and is answered before the node closes."""
        if not self.motion_lock.locked():
            return
        if self.backend is not None:
            self.backend.cancel()
        elif self.sim_cancel.service_is_ready():
            self.sim_cancel.call_async(Trigger.Request())   # not awaited: the node is stopping
        self.get_logger().info("stop requested during a motion: asked the backend to stop it")

    def close(self) -> None:
        self.action.destroy()

    def _action_goal(self, goal):
        if self.motion_lock.locked():
            self.get_logger().warn("execute_grasp goal rejected: a grasp is already executing")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _stop_motion(self) -> str:
        """Ask the backend to stop the running motion; the running execute() then opens, backs
        out and reports 'cancelled' (a motion that ended meanwhile reports its own outcome).
        Raises AffordanceGraspError when the backend cannot be asked."""
        if self.backend is not None:
            self.backend.cancel()
            return "cancelling: the motion stops, the gripper opens and the arm backs out"
        answer = call_service(self, self.sim_cancel, Trigger.Request(), 5.0)
        return answer.message

    def _cancel_motion(self, req, resp):
        if not self.motion_lock.locked():
            resp.success, resp.message = False, "no motion is running"
            return resp
        try:
            resp.success, resp.message = True, self._stop_motion()
        except AffordanceGraspError as e:
            resp.success, resp.message = False, f"cannot cancel: {e}"
        self.get_logger().info(f"cancel_motion: {resp.message}")
        return resp

    def _action_cancel(self, handle):
        try:
            self.get_logger().info(f"execute_grasp goal cancelled: {self._stop_motion()}")
        except AffordanceGraspError as e:
            self.get_logger().warn(f"execute_grasp cancel refused: {e}")
            return CancelResponse.REJECT
        return CancelResponse.ACCEPT

    def _action_execute(self, handle):
        goal = handle.request
        req = ExecuteGrasp.Request(grasp=goal.grasp, check_only=False, has_scene=goal.has_scene,
                                   scene_boxes=goal.scene_boxes, table_height=goal.table_height)
        t0 = time.perf_counter()
        done = threading.Event()
        answer = {}

        def work():
            answer["resp"] = self._execute(req, ExecuteGrasp.Response())
            done.set()

        threading.Thread(target=work, daemon=True).start()
        handle.publish_feedback(ExecuteGraspAction.Feedback(stage="executing", elapsed=0.0))
        while not done.wait(0.5):
            handle.publish_feedback(ExecuteGraspAction.Feedback(stage="executing", elapsed=time.perf_counter() - t0))
        resp = answer["resp"]
        result = ExecuteGraspAction.Result()
        for field in ("success", "message", "failure_reason", "lifted_height", "parts_touched", "timing_stages",
                      "timing_seconds"):
            setattr(result, field, getattr(resp, field))
        if resp.failure_reason == FailureReason.CANCELLED.value:
            handle.canceled()
        elif resp.success:
            handle.succeed()
        else:
            handle.abort()
        return result


def main(args=None) -> int:
    return run(ExecutorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
