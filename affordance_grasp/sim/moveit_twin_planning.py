"""The planners of the moveit_py double (sim/moveit_twin.py): PlanningComponent with OMPL as a
collision-checked joint interpolation (via points, then a seeded RRT-Connect) and Pilz LIN as a
straight Cartesian line, both timed with moveit_resources' Panda limits. CONTRACT TEST DOUBLE:
not MoveIt's planners."""
from __future__ import annotations

import logging
import math
import time
import zlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Dict, Optional, Tuple

import numpy as np
import transforms3d

from .moveit_twin_robot import (ARM_JOINT_NAMES, FAILURE, FRAME_TRANSFORM_FAILURE, GOAL_IN_COLLISION,
                                INVALID_GOAL_CONSTRAINTS, INVALID_MOTION_PLAN, LINKS, MAX_ACCELERATION,
                                MAX_ROT_VEL, MAX_TRANS_ACC, MAX_TRANS_VEL, MAX_VELOCITY, NO_IK_SOLUTION,
                                PLANNING_FAILED, START_STATE_IN_COLLISION, SUCCESS, PoseStamped,
                                TwinRobotState, _Attached, pose_matrix)
from .robot import HOME_Q

_log = logging.getLogger(__name__)

class PlanRequestParameters:
    """moveit_py's PlanRequestParameters (defaults: the node's ``plan_request_params``; here OMPL)."""

    def __init__(self, moveit_py_instance=None, ns: str = ""):
        self.planner_id = "RRTConnectkConfigDefault"
        self.planning_pipeline = "ompl"
        self.planning_attempts = 1
        self.planning_time = 1.0
        self.max_velocity_scaling_factor = 1.0
        self.max_acceleration_scaling_factor = 1.0


@dataclass
class TwinTrajectory:
    """A RobotTrajectory: the group's joint positions at times from the start."""
    joint_model_group_name: str
    joint_names: Tuple[str, ...]
    times: np.ndarray
    positions: np.ndarray           # (n, 7)
    attached: Dict[str, _Attached] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def __len__(self) -> int:
        return len(self.times)


class MotionPlanResponse:
    """Falsy unless ``error_code.val`` is SUCCESS (moveit_py's ``__bool__``)."""

    def __init__(self, val: int, trajectory: Optional[TwinTrajectory] = None, planner_id: str = "",
                 planning_time: float = 0.0, start_state=None, message: str = ""):
        self.error_code = SimpleNamespace(val=val, message=message, source="twin double")
        self.trajectory, self.planner_id = trajectory, planner_id
        self.planning_time, self.start_state = planning_time, start_state

    def __bool__(self) -> bool:
        return self.error_code.val == SUCCESS


def _trapezoid_time(dist: float, v: float, a: float) -> float:
    if dist <= 0:
        return 0.0
    return dist / v + v / a if dist >= v * v / a else 2.0 * math.sqrt(dist / a)


def _trapezoid_s(t: np.ndarray, T: float, v: float, a: float, dist: float) -> np.ndarray:
    """The distance covered by ``t`` along a trapezoidal (or triangular) profile over ``dist``."""
    if dist <= 0 or T <= 0:
        return np.ones_like(t) * max(dist, 0.0)
    ta = min(v / a, T / 2)
    vpk = a * ta
    t = np.clip(t, 0, T)
    s = np.where(t < ta, 0.5 * a * t ** 2,
                 np.where(t > T - ta, dist - 0.5 * a * (T - t) ** 2, 0.5 * a * ta ** 2 + vpk * (t - ta)))
    return np.clip(s, 0, dist)


def _retime(path_s: np.ndarray, dist: float, v: float, a: float, dt: float = 0.02) -> Tuple[np.ndarray, np.ndarray]:
    """Times of samples along a path at the distances ``path_s`` (increasing, 0..dist): a
    trapezoidal profile, inverted on a fine time grid."""
    T = max(_trapezoid_time(dist, v, a), dt)
    grid = np.linspace(0, T, max(int(T / 0.002), 2))
    s = _trapezoid_s(grid, T, v, a, dist)
    times = np.interp(path_s, s, grid)
    times[0], times[-1] = 0.0, T
    return times, T


_SEED_STEPS = np.random.default_rng(7).uniform(-0.8, 0.8, (6, 7))   # fixed: plans are reproducible


class TwinPlanningComponent:
    """PlanningComponent for one group: start state, a pose goal for a link, and plan()."""

    def __init__(self, double: "TwinMoveItPy", group: str):
        self._double, self.planning_group_name = double, group
        self._start: Optional[TwinRobotState] = None
        self._goal: Optional[Tuple[PoseStamped, str]] = None

    def set_start_state_to_current_state(self) -> None:
        self._start = None       # the current state when planning

    def set_start_state(self, configuration_name=None, robot_state=None) -> bool:
        if configuration_name is not None and robot_state is not None:
            raise ValueError("Cannot specify both configuration name and robot state")
        if configuration_name is None and robot_state is None:
            raise ValueError("Must specify at least one argument")
        if configuration_name is not None:
            _log.error("the double has no named states")
            return False
        self._start = robot_state.__copy__()
        return True

    def set_goal_state(self, configuration_name=None, robot_state=None, pose_stamped_msg=None, pose_link=None,
                       motion_plan_constraints=None) -> bool:
        if (pose_stamped_msg is None) != (pose_link is None):
            raise ValueError("Must specify both message and corresponding link")
        if pose_stamped_msg is None:
            if configuration_name is None and robot_state is None and motion_plan_constraints is None:
                raise ValueError("Must specify at least one argument")
            raise NotImplementedError("the double takes pose goals only")
        if configuration_name is not None or robot_state is not None or motion_plan_constraints is not None:
            raise ValueError("Cannot specify both a pose goal and another goal")
        self._goal = (pose_stamped_msg, pose_link)      # constraints are built as given, checked in plan()
        return True

    # ---------------------------------------------------------------- plan
    def plan(self, single_plan_parameters=None, multi_plan_parameters=None, planning_scene=None,
             solution_selection_function=None, stopping_criterion_callback=None) -> MotionPlanResponse:
        if single_plan_parameters is not None and multi_plan_parameters is not None:
            raise ValueError("Cannot specify both single and multi plan parameters")
        if multi_plan_parameters is not None:
            raise NotImplementedError("the double plans with single plan parameters")
        p = single_plan_parameters or PlanRequestParameters(self._double)
        t0 = time.perf_counter()
        d = self._double
        scene = planning_scene or d.scene
        start = self._start.__copy__() if self._start is not None else scene.current_state
        start.update()

        def fail(code: int, why: str) -> MotionPlanResponse:
            _log.info("plan (%s/%s) failed: %s", p.planning_pipeline, p.planner_id, why)
            d.last_plan_failure = why
            return MotionPlanResponse(code, None, p.planner_id, time.perf_counter() - t0, start, why)

        if self._goal is None:
            return fail(INVALID_GOAL_CONSTRAINTS, "no goal set")
        msg, link = self._goal
        if link not in LINKS:
            return fail(INVALID_GOAL_CONSTRAINTS, f"Position constraint link model {link} not found in kinematic model")
        base = scene._frame(msg.header.frame_id, start)
        if base is None:
            return fail(FRAME_TRANSFORM_FAILURE, f"Unknown frame: '{msg.header.frame_id}'")
        T_goal = base @ pose_matrix(msg.pose)
        group = d.robot_model._groups[self.planning_group_name]
        if link not in group.ik_tips:
            return fail(NO_IK_SOLUTION, f"no IK for link {link!r} in group {self.planning_group_name!r}")
        hits = scene.collisions(start, self.planning_group_name)
        if hits:
            return fail(START_STATE_IN_COLLISION, f"start state in collision: {hits[0][0]} - {hits[0][1]}")
        vs = float(np.clip(p.max_velocity_scaling_factor, 1e-3, 1.0))
        as_ = float(np.clip(p.max_acceleration_scaling_factor, 1e-3, 1.0))
        if p.planning_pipeline == "ompl":
            return self._free_space(scene, start, T_goal, link, vs, as_, fail, p, t0)
        if p.planning_pipeline == "pilz_industrial_motion_planner":
            if p.planner_id == "LIN":
                return self._line(scene, start, T_goal, link, vs, as_, fail, p, t0)
            if p.planner_id == "PTP":
                return self._free_space(scene, start, T_goal, link, vs, as_, fail, p, t0, detours=False)
            return fail(FAILURE, f"the double's Pilz plans LIN and PTP only, not {p.planner_id!r}")
        return fail(FAILURE, f"No planning pipeline available for name '{p.planning_pipeline}'")

    def _state_at(self, start: TwinRobotState, q) -> TwinRobotState:
        s = start.__copy__()
        s.set_arm(q)
        s.update()
        return s

    def _segment_free(self, scene, start, q0, q1, step: float = 0.02) -> bool:
        n = max(int(np.ceil(np.max(np.abs(q1 - q0)) / step)), 1)
        for s in np.linspace(0, 1, n + 1)[1:]:
            if scene.collisions(self._state_at(start, q0 + s * (q1 - q0)), self.planning_group_name):
                return False
        return True

    def _free_space(self, scene, start, T_goal, link, vs, as_, fail, p, t0, detours: bool = True):
        d = self._double
        q0 = start.arm()
        # Goal states as OMPL samples them: IK solutions from several seeds, collision-free; the
        # one farthest from the joint limits (a goal at a limit leaves the straight lines that
        # follow no room), the first with a margin of 0.2 rad when there is one.
        turned = HOME_Q.copy()
        turned[0] = np.clip(np.arctan2(T_goal[1, 3], T_goal[0, 3]), -2.8, 2.8)
        seeds = [q0, turned] + [np.clip(turned + dq, d.kin.lo + 0.05, d.kin.hi - 0.05) for dq in _SEED_STEPS]
        seeds.append(np.zeros(7))      # last: as a fresh RobotState seeds the backend's reachability check
        q_goal, margin, found = None, -1.0, False
        for seed in seeds:
            q = d.kin.solve(T_goal, link, seed)
            if q is None:
                continue
            found = True
            if scene.collisions(self._state_at(start, q), self.planning_group_name):
                continue
            m = float(np.min(np.minimum(q - d.kin.lo, d.kin.hi - q)))
            if m > margin:
                q_goal, margin = q, m
            if margin >= 0.2:
                break
        if q_goal is None:
            return fail(GOAL_IN_COLLISION if found else PLANNING_FAILED, "no collision-free IK solution for the goal")
        candidates = [[q0, q_goal]]
        if detours:
            up = T_goal.copy()
            up[2, 3] += 0.2
            q_up = d.kin.solve(up, link, q_goal)
            for via in ([turned] + ([q_up] if q_up is not None else [])):
                candidates.append([q0, via, q_goal])
            if q_up is not None:
                candidates.append([q0, turned, q_up, q_goal])
        for path in candidates:
            if all(self._segment_free(scene, start, a, b) for a, b in zip(path[:-1], path[1:])):
                return self._timed(np.array(path), vs, as_, p, t0, start)
        if detours:
            path = self._connect(scene, start, q0, q_goal)
            if path is not None:
                return self._timed(np.array(path), vs, as_, p, t0, start)
        return fail(PLANNING_FAILED, "no collision-free joint path to the goal found")

    def _connect(self, scene, start, qa, qb, iters: int = 300, step: float = 0.2):
        """A bidirectional RRT (RRT-Connect's scheme) in joint space, seeded so that a plan is
        reproducible, then shortcut: the paths the straight interpolations miss."""
        d = self._double
        lo, hi = d.kin.lo, d.kin.hi
        rng = np.random.default_rng(zlib.crc32(np.round(np.r_[qa, qb], 4).tobytes()))
        trees = ([(qa, -1)], [(qb, -1)])

        def extend(tree, target):
            i = int(np.argmin([np.max(np.abs(q - target)) for q, _ in tree]))
            q = tree[i][0]
            delta = target - q
            far = np.max(np.abs(delta))
            q_new = target if far <= step else q + delta * (step / far)
            if not self._segment_free(scene, start, q, q_new):
                return None
            tree.append((q_new, i))
            return len(tree) - 1

        def branch(tree, i):
            out = []
            while i >= 0:
                out.append(tree[i][0])
                i = tree[i][1]
            return out

        a, b = 0, 1
        for _ in range(iters):
            i = extend(trees[a], rng.uniform(lo, hi))
            if i is not None:
                q_new = trees[a][i][0]
                j = extend(trees[b], q_new)
                while j is not None and np.max(np.abs(trees[b][j][0] - q_new)) > 1e-9:
                    j = extend(trees[b], q_new)
                if j is not None:
                    pa, pb = branch(trees[a], i), branch(trees[b], j)
                    path = (pa[::-1] + pb[1:]) if a == 0 else (pb[::-1] + pa[1:])
                    return self._shortcut(scene, start, path)
            a, b = b, a
        return None

    def _shortcut(self, scene, start, path):
        out, i = [path[0]], 0
        while i < len(path) - 1:
            j = len(path) - 1
            while j > i + 1 and not self._segment_free(scene, start, path[i], path[j]):
                j -= 1
            out.append(path[j])
            i = j
        return out

    def _timed(self, path: np.ndarray, vs: float, as_: float, p, t0, start) -> MotionPlanResponse:
        """A joint path timed so that no joint exceeds its scaled velocity and acceleration."""
        seg = np.abs(np.diff(path, axis=0))
        travel = seg.sum(0)
        # the slowest joint sets the time; all move along the path together
        T = max(_trapezoid_time(float(travel[j]), MAX_VELOCITY[j] * vs, MAX_ACCELERATION[j] * as_) for j in range(7))
        # a normalized arc length along the path (max-joint metric), on the same trapezoid shape
        cum = np.r_[0.0, np.cumsum(seg.max(1))]
        total = cum[-1]
        if total <= 1e-9:
            times = np.linspace(0, max(T, 0.05), len(path))
        else:
            j = int(np.argmax([_trapezoid_time(float(travel[k]), MAX_VELOCITY[k] * vs, MAX_ACCELERATION[k] * as_)
                               for k in range(7)]))
            v, a = MAX_VELOCITY[j] * vs, MAX_ACCELERATION[j] * as_
            scale = total / travel[j] if travel[j] > 0 else 1.0
            times, T = _retime(cum, total, v * scale, a * scale)
        traj = TwinTrajectory(self.planning_group_name, ARM_JOINT_NAMES, times, path.copy(), dict(start.attached))
        return MotionPlanResponse(SUCCESS, traj, p.planner_id, time.perf_counter() - t0, start)

    def _line(self, scene, start, T_goal, link, vs, as_, fail, p, t0, spacing: float = 0.005):
        """Pilz LIN: the link's origin on a straight line, its orientation slerped; IK at every
        sample from the last; the joint path must stay on one branch and out of collision."""
        d = self._double
        q0 = start.arm()
        T0 = d.kin.fk(q0, link, start.opening())
        dist = float(np.linalg.norm(T_goal[:3, 3] - T0[:3, 3]))
        R = T0[:3, :3].T @ T_goal[:3, :3]
        axis, angle = transforms3d.axangles.mat2axangle(R, unit_thresh=1e-3) if not np.allclose(R, np.eye(3)) \
            else (np.array([0, 0, 1.0]), 0.0)
        n = max(int(np.ceil(max(dist / spacing, abs(angle) / 0.02))), 2)
        qs, q = [q0], q0
        for s in np.linspace(0, 1, n + 1)[1:]:
            T = np.eye(4)
            T[:3, :3] = T0[:3, :3] @ transforms3d.axangles.axangle2mat(axis, s * angle)
            T[:3, 3] = (1 - s) * T0[:3, 3] + s * T_goal[:3, 3]
            q_next = d.kin.solve(T, link, q)
            if q_next is None:
                return fail(NO_IK_SOLUTION, f"no IK solution on the line at {s:.2f} of it")
            if np.max(np.abs(q_next - q)) > 0.25:
                return fail(PLANNING_FAILED, f"the joints jump {np.max(np.abs(q_next - q)):.2f} rad on the line "
                                             f"(a singularity or a branch change)")
            q = q_next
            qs.append(q)
        for k, (a, b) in enumerate(zip(qs[:-1], qs[1:])):
            if not self._segment_free(scene, start, a, b, step=0.02):
                hits = scene.collisions(self._state_at(start, b), self.planning_group_name)
                why = f"{hits[0][0]} - {hits[0][1]} ({hits[0][2] * 1000:.1f} mm)" if hits else "between samples"
                return fail(INVALID_MOTION_PLAN, f"the line collides at {(k + 1) / (len(qs) - 1):.2f} of it "
                                                 f"({dist * 1000:.0f} mm, {np.degrees(angle):.1f} deg): {why}")
        path = np.array(qs)
        s_path = np.linspace(0, 1, len(path))
        v_t, a_t = MAX_TRANS_VEL * vs, MAX_TRANS_ACC * as_
        T_trans = _trapezoid_time(dist, v_t, a_t)
        T_rot = _trapezoid_time(abs(angle), MAX_ROT_VEL * vs, MAX_ROT_VEL * as_ * MAX_TRANS_ACC / MAX_TRANS_VEL)
        if T_trans >= T_rot and dist > 1e-6:
            times, _ = _retime(s_path * dist, dist, v_t, a_t)
        else:
            times, _ = _retime(s_path * abs(angle), abs(angle), MAX_ROT_VEL * vs,
                               MAX_ROT_VEL * as_ * MAX_TRANS_ACC / MAX_TRANS_VEL) if angle else \
                (np.linspace(0, 0.05, len(path)), 0.05)
        traj = TwinTrajectory(self.planning_group_name, ARM_JOINT_NAMES, times, path, dict(start.attached))
        return MotionPlanResponse(SUCCESS, traj, p.planner_id, time.perf_counter() - t0, start)
