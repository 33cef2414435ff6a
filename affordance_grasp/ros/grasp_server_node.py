"""grasp_server_node: ``grasp_object`` as a service (GraspObject) and as an action (GraspObject,
with stage feedback and cancel: a motion under way is stopped through executor_node's
``cancel_motion``), orchestrating detect_grasps -> execute_grasp with fallback to
the next candidate.

Concurrency: one request at a time. A request (service call or action goal) that arrives while
another runs is refused at once with a "busy" message; it is not queued, so a task planner never
has a stale command executed later. Two motions never run at once.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from affordance_grasp.action import GraspObject as GraspObjectAction
from affordance_grasp.srv import DetectGrasps, ExecuteGrasp, GraspObject
from std_srvs.srv import Trigger

from ..errors import AffordanceGraspError, InvalidInputError
from ..execution.base import ExecutionConfig, Executor
from ..execution.fallback import execute_with_redetection, would_not_hold
from ..types import FailureReason, Grasp, GraspOutcome
from .common import Param, call_service, declare, guarded, run
from .conversions import grasp_from_msg, outcome_from_execute_response, timings_to_fields

MAX_ATTEMPTS = 20   # executed tries one request may ask for

PARAMS = [
    Param("max_attempts", 3, "executed tries per request when the request says 0", (1, MAX_ATTEMPTS)),
    Param("max_checked", 60, "reachability checks (no motion) spent finding those tries", (1, 500)),
    Param("top_k", 60, "candidates requested from the planner", (1, 500)),
    Param("detect_timeout", 30.0, "seconds to wait for detect_grasps", (1.0, 300.0)),
    Param("execute_timeout", 120.0, "seconds to wait for one execute_grasp", (1.0, 600.0)),
    Param("min_affordance_ratio", 0.75, "candidates whose affordance score is below this share of the best one "
          "are not tried: when no grasp on the requested part is reachable, fail rather than grasp another part",
          (0.0, 1.0)),
    Param("min_hold", 0.1, "candidates predicted to hold the object's weight less often than this are not tried "
          "(hold_probability): when the ones that may hold are out of reach, fail with nothing moved rather than "
          "drop it", (0.0, 1.0)),
    Param("redetect_after_slip", True, "after a grasp slipped (the object may have moved), detect again on a "
          "frame captured after the motion and spend the remaining attempts on the new candidates"),
    Param("fresh_frame", True, "the first detection of a request uses only a frame captured after the request "
          "arrived (a scene that changed just before the call is never planned on an older frame; costs up to one "
          "camera period); false: the newest frame the planner holds"),
]


def _empty_result() -> dict:
    return {"success": False, "message": "", "grasp": None, "lifted": False, "parts": [], "attempts": 0,
            "timings": {}, "chosen_object": "", "choice_reason": ""}


class RemoteExecutor(Executor):
    """The executor_node seen through its service, so the core fallback loop drives it."""

    def __init__(self, node, client, timeout: float, msgs: dict):
        self.node, self.client, self.timeout, self.msgs = node, client, timeout, msgs  # id(Grasp) -> its message
        self.config = ExecutionConfig()
        self.scene = None   # the last detection's (scene boxes, table height), passed on to the executor

    def _call(self, grasp: Grasp, check_only: bool):
        req = ExecuteGrasp.Request(grasp=self.msgs[id(grasp)], check_only=check_only)
        if self.scene is not None:
            req.has_scene, (req.scene_boxes, req.table_height) = True, self.scene
        return call_service(self.node, self.client, req, self.timeout)

    def check_reachable(self, grasp: Grasp) -> bool:
        return bool(self._call(grasp, True).success)

    def execute(self, grasp: Grasp) -> GraspOutcome:
        return outcome_from_execute_response(self._call(grasp, False), grasp)

    def command_gripper(self, width: float, force: Optional[float] = None) -> None:
        raise InvalidInputError("the gripper is commanded by executor_node, not through grasp_server_node")


class GraspServerNode(Node):
    def __init__(self):
        super().__init__("grasp_server_node")
        self.p = declare(self, PARAMS)
        group = ReentrantCallbackGroup()  # lets a second request in, to be refused as busy
        self.detect = self.create_client(DetectGrasps, "detect_grasps", callback_group=group)
        self.execute = self.create_client(ExecuteGrasp, "execute_grasp", callback_group=group)
        self.cancel_motion = self.create_client(Trigger, "cancel_motion", callback_group=group)
        self.busy = threading.Lock()
        self.create_service(GraspObject, "grasp_object", guarded(self, self._service), callback_group=group)
        self.action = ActionServer(self, GraspObjectAction, "grasp_object", self._action_execute,
                                   goal_callback=self._action_goal, cancel_callback=self._action_cancel,
                                   callback_group=group)
        self.get_logger().info("ready: grasp_object (service and action)")

    def close(self) -> None:
        self.action.destroy()

    # ------------------------------------------------------------------ the job
    def run_job(self, query: str, execute: bool, max_attempts: int, pick_any: bool = False,
                feedback: Callable[[str, int], None] = lambda s, a: None,
                cancelled: Callable[[], bool] = lambda: False) -> dict:
        t0 = time.perf_counter()
        timings = {}
        result = _empty_result()
        result["timings"] = timings
        if max_attempts > MAX_ATTEMPTS:
            result["message"] = (f"max_attempts is {max_attempts}; at most {MAX_ATTEMPTS} tries per request "
                                 f"(0: the node's max_attempts parameter)")
            return result
        for name, client, node in (("detect_grasps", self.detect, "grasp_planner_node"),
                                   ("execute_grasp", self.execute, "executor_node")):
            if (client is self.detect or execute) and not client.wait_for_service(timeout_sec=5.0):
                result["message"] = f"{name} is not available (is {node} running?)"
                return result
        remote = RemoteExecutor(self, self.execute, self.p["execute_timeout"], {})
        rounds = []  # the planner's message of each detection
        spent = {"detect": 0.0}

        def detect(after_motion: bool):
            feedback("capturing", result["attempts"])
            req = DetectGrasps.Request(query=query, top_k=self.p["top_k"], pick_any=pick_any)
            if after_motion or self.p["fresh_frame"]:
                # Only a frame from now on shows the scene as it is: the executor has retreated, or
                # the world changed just before the call (the planner's newest frame may lag the
                # camera by a frame or two, and showed the scene before).
                req.not_before = self.get_clock().now().to_msg()
            if after_motion:
                self.get_logger().info(f"grasp_object {query!r}: the object may have moved; detecting again")
            feedback("predicting", result["attempts"])
            t_det = time.perf_counter()
            again = f" (detection {len(rounds) + 1}, after a try moved the object)" if rounds else ""
            try:
                det = call_service(self, self.detect, req, self.p["detect_timeout"])
            except AffordanceGraspError as e:
                raise AffordanceGraspError(f"{e}{again}") from None
            finally:
                spent["detect"] += time.perf_counter() - t_det
            timings.update({f"detect_{k}": v for k, v in zip(det.timing_stages, det.timing_seconds)})
            if not det.success:
                raise AffordanceGraspError(f"detection failed: {det.message}{again}")
            feedback("selecting", result["attempts"])
            grasps = [grasp_from_msg(m) for m in det.grasps]
            remote.msgs.update({id(g): m for g, m in zip(grasps, det.grasps)})
            remote.scene = (list(det.scene_boxes), float(det.table_height))
            rounds.append(det.message)
            result["grasp"] = det.grasps[0]
            result["chosen_object"], result["choice_reason"] = det.chosen_object, det.choice_reason
            if execute and not cancelled():
                feedback("executing", result["attempts"] + 1)
            return grasps

        if not execute:
            try:
                detect(False)
            except AffordanceGraspError as e:
                result["message"] = str(e)
                return result
            result.update(success=True, message=f"planned only: {rounds[0]}")
            timings["total"] = time.perf_counter() - t0
            return result
        t1 = time.perf_counter()
        try:
            outcome, detections = execute_with_redetection(
                detect, remote, max_attempts or self.p["max_attempts"], self.p["max_checked"], cancelled,
                self.p["redetect_after_slip"], self.p["min_affordance_ratio"], self.p["min_hold"])
        except AffordanceGraspError as e:
            result["message"] = str(e)
            return result
        timings["execution"] = time.perf_counter() - t1 - spent["detect"]
        timings["total"] = time.perf_counter() - t0
        if outcome.grasp is not None:
            result["grasp"] = remote.msgs[id(outcome.grasp)]
        result.update(success=outcome.success, lifted=outcome.success, parts=list(outcome.parts_touched),
                      attempts=outcome.attempts)
        if outcome.attempts == 0 and cancelled():
            result["message"] = "cancelled before execution; nothing moved"
            return result
        again = f", {detections} detections" if detections > 1 else ""
        result["message"] = ("grasped and lifted" if outcome.success else
                             "cancelled" if cancelled() else f"failed: {outcome.failure_reason.value or 'no attempt'}") + \
            f" after {outcome.attempts} attempt(s){again}"
        if outcome.failure_reason == FailureReason.WOULD_NOT_HOLD and not cancelled():
            result["message"] += ": " + would_not_hold(self.p["min_hold"])
        elif outcome.attempts == 0 and outcome.checked and not cancelled():
            result["message"] += (f": none of the {outcome.checked} checked candidates has a collision-free "
                                  f"approach and an IK solution")
        return result

    def _fill(self, res, r: dict):
        res.success, res.message, res.lifted = bool(r["success"]), r["message"], bool(r["lifted"])
        if r["grasp"] is not None:
            res.executed_grasp = r["grasp"]
        res.parts_touched, res.attempts = r["parts"], int(r["attempts"])
        res.chosen_object, res.choice_reason = r["chosen_object"], r["choice_reason"]
        res.timing_stages, res.timing_seconds = timings_to_fields(r["timings"])
        return res

    def _busy_message(self) -> str:
        return "busy: another grasp_object request is running; requests are refused, not queued - retry when it ends"

    # ------------------------------------------------------------------ service
    def _service(self, req, resp):
        if not self.busy.acquire(blocking=False):
            resp.success, resp.message = False, self._busy_message()
            self.get_logger().warn(f"grasp_object {req.query!r}: refused, busy")
            return resp
        try:
            self.get_logger().info(f"grasp_object {req.query!r} (execute={req.execute})")
            r = self.run_job(req.query, req.execute, req.max_attempts, req.pick_any)
        except AffordanceGraspError as e:
            r = {**_empty_result(), "message": str(e)}
        finally:
            self.busy.release()
        self.get_logger().info(f"grasp_object {req.query!r}: {r['message']}")
        return self._fill(resp, r)

    # ------------------------------------------------------------------ action
    def _action_goal(self, goal):
        if self.busy.locked():
            self.get_logger().warn(f"grasp_object goal {goal.query!r}: rejected, busy")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _action_cancel(self, _handle):
        """Accepted at once. No new stage starts, and a motion under way is stopped through
        executor_node's cancel_motion (not awaited: the running try then reports 'cancelled')."""
        if self.busy.locked() and self.cancel_motion.service_is_ready():
            self.cancel_motion.call_async(Trigger.Request())
        return CancelResponse.ACCEPT

    def _action_execute(self, handle):
        goal = handle.request
        result = GraspObjectAction.Result()
        if not self.busy.acquire(blocking=False):
            handle.abort()
            result.message = self._busy_message()
            return result
        t0 = time.perf_counter()
        try:
            def feedback(stage, attempt):
                handle.publish_feedback(GraspObjectAction.Feedback(stage=stage, attempt=attempt,
                                                                   elapsed=time.perf_counter() - t0))

            r = self.run_job(goal.query, goal.execute, goal.max_attempts, goal.pick_any, feedback,
                             lambda: handle.is_cancel_requested)
        except AffordanceGraspError as e:
            r = {**_empty_result(), "message": str(e)}
        finally:
            self.busy.release()
        if handle.is_cancel_requested:
            handle.canceled()
        elif r["success"]:
            handle.succeed()
        else:
            handle.abort()
        return self._fill(result, r)


def main(args=None) -> int:
    return run(GraspServerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
