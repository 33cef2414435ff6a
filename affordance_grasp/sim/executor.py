"""Grasp execution in the MuJoCo twin: mink IK, a collision-checked straight approach, a
force-limited close, a slow first lift that watches for a slip, a 0.15 m lift and a hold, with
contacts telling which parts were touched."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

import mujoco
import numpy as np

from ..errors import InvalidInputError
from ..types import FailureReason, Grasp, GraspOutcome
from ..grasping.gripper import GripperGeometry
from .robot import HOME_Q
from .world import SimWorld
from ..execution.base import ExecutionConfig, Executor
from .ik import PandaIK

_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])  # 180 deg about the approach axis: same grasp for two fingers


@dataclass
class GraspPlan:
    pose: np.ndarray                 # the (possibly flipped) TCP pose that was solved
    transit: List[np.ndarray]        # joint waypoints, above the pre-grasp -> pre-grasp
    approach: List[np.ndarray]       # joint waypoints, pre-grasp -> grasp
    lift: List[np.ndarray]           # joint waypoints, grasp -> lifted

    @property
    def sweep(self) -> List[np.ndarray]:
        """Every waypoint the arm passes with open fingers before closing."""
        return self.transit + self.approach


class _Cancelled(Exception):
    """Raised inside a motion when cancel() was called; execute() then retreats."""


_MAX_JOINT_STEP = 0.6  # rad between consecutive waypoints; more means IK jumped branches


class SimExecutor(Executor):
    def __init__(self, world: SimWorld, config: Optional[ExecutionConfig] = None, ik: Optional[PandaIK] = None,
                 gripper: Optional[GripperGeometry] = None):
        self.world = world
        self.gripper = gripper or GripperGeometry.from_yaml()
        self.config = (config or ExecutionConfig()).validate()
        self.ik = ik or PandaIK(world.cfg)
        self._scratch = mujoco.MjData(world.model)
        self._cached: Optional[Tuple[tuple, Optional[GraspPlan]]] = None  # check_reachable -> execute
        self._cancel = threading.Event()
        self.command_gripper(self.config.max_opening)

    # ----------------------------------------------------------------- planning
    def _line(self, T0: np.ndarray, T1: np.ndarray, n: int, q_seed: np.ndarray) -> Optional[List[np.ndarray]]:
        qs, q = [], q_seed
        for s in np.linspace(0.0, 1.0, n):
            T = T0.copy()
            T[:3, 3] = (1 - s) * T0[:3, 3] + s * T1[:3, 3]
            q_next = self.ik.solve(T, q)
            if q_next is None or np.max(np.abs(q_next - q)) > _MAX_JOINT_STEP:
                return None
            q = q_next
            qs.append(q)
        return qs

    def plan(self, grasp: Grasp) -> Optional[GraspPlan]:
        """IK for the approach line and the lift, trying both finger assignments and keeping
        the one that turns the wrist least. ``None`` if neither is reachable."""
        cfg = self.config
        q_now = self.world.arm_qpos()
        best = None
        for pose in (grasp.pose, grasp.pose @ _FLIP):
            pre = pose.copy()
            pre[:3, 3] -= cfg.pregrasp_offset * pose[:3, 2]
            # Arrive from a point clear of the scene, then move in along a checked straight line:
            # further back along a steep approach, but mostly straight up from a side one (going
            # back along a level approach would bring the hand next to the robot's own base).
            above = pre.copy()
            back = -pose[:3, 2]
            lift_dir = back if back[2] >= 0.7 else 0.3 * back + np.array([0.0, 0.0, 1.0])
            above[:3, 3] += cfg.transit_clearance * lift_dir / np.linalg.norm(lift_dir)
            q_above = self.ik.solve(above, q_now)
            if q_above is None:
                continue
            transit = self._line(above, pre, 4, q_above)
            if transit is None:
                continue
            approach = self._line(pre, pose, cfg.approach_steps, transit[-1])
            if approach is None:
                continue
            up = pose.copy()
            up[2, 3] += cfg.lift_height
            lift = self._line(pose, up, max(cfg.approach_steps, 4), approach[-1])
            if lift is None:
                continue
            cost = float(np.abs(transit[0] - q_now).sum())
            if best is None or cost < best[0]:
                best = (cost, GraspPlan(pose, transit, approach, lift))
        return None if best is None else best[1]

    def _plan_cached(self, grasp: Grasp) -> Optional[GraspPlan]:
        # Keyed by what the plan depends on: the pose (to the micrometre), the width and the world's
        # time. An object id can be reused by another candidate once the first is freed.
        key = (np.round(grasp.pose, 6).tobytes(), round(grasp.width, 6), self.world.data.time)
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, self.plan(grasp))
        return self._cached[1]

    def check_reachable(self, grasp: Grasp) -> bool:
        """An IK plan exists and its approach is collision-free: both are kinematic checks, so a
        grasp that fails them is skipped without spending an attempt (as MoveIt's planner would)."""
        self.validate_grasp(grasp)
        plan = self._plan_cached(grasp)
        return plan is not None and self._approach_collision(plan, grasp.width) is None

    def _approach_collision(self, plan: GraspPlan, width: float) -> Optional[str]:
        """Kinematic sweep along the approach with the fingers pre-shaped; objects stay put.
        Fingers may graze the part they straddle (<= 3 mm) at the end; anything else may not."""
        w, d = self.world, self._scratch
        mujoco.mj_copyData(d, w.model, w.data)
        opening = min(self.config.max_opening, self.gripper.opening_for(width))
        d.qpos[w.finger_qpos_adr] = opening / 2
        fingers = set(w.finger_geoms.tolist())
        robot = set(w.robot_geoms.tolist())
        for q in plan.sweep:
            d.qpos[w.arm_qpos_adr] = q
            mujoco.mj_forward(w.model, d)
            for i in range(d.ncon):
                c = d.contact[i]
                g1, g2 = int(c.geom1), int(c.geom2)
                if (g1 in robot) == (g2 in robot):
                    continue
                mine, other = (g1, g2) if g1 in robot else (g2, g1)
                depth = -float(c.dist)
                graze = mine in fingers and other in w.geom_part and depth <= 0.003
                if depth > 0.001 and not graze:
                    return f"{w.model.geom(mine).name} hits {w.model.geom(other).name} ({depth * 1000:.1f} mm)"
        return None

    # ----------------------------------------------------------------- motion
    def command_gripper(self, width: float, force: Optional[float] = None) -> None:
        if not np.isfinite(width) or width < 0:
            raise InvalidInputError(f"gripper width must be >= 0 m, got {width}")
        if force is not None:
            if not (np.isfinite(force) and force > 0):
                raise InvalidInputError(f"gripper force must be > 0 N, got {force}")
            act = self.world.gripper_act
            self.world.model.actuator_forcerange[act] = [-2 * force, 2 * force]
        self.world.set_gripper(min(width, self.config.max_opening) if width > 0 else -1.0)

    def _move(self, waypoints: List[np.ndarray], duration: float, contacts: Optional[set] = None) -> None:
        """Track joint waypoints with the position servos (piecewise-linear, smoothed ends)."""
        w = self.world
        dt = w.model.opt.timestep
        n = max(int(duration / dt), 1)
        pts = np.asarray(waypoints)
        s_knots = np.linspace(0, 1, len(pts))
        for k in range(1, n + 1):
            s = k / n
            s = s * s * (3 - 2 * s)
            w.data.ctrl[w.arm_act] = [np.interp(s, s_knots, pts[:, j]) for j in range(pts.shape[1])]
            self._check_cancel()
            w.step()
            if contacts is not None and k % 10 == 0:
                contacts.update(w.finger_contacts())

    def _close(self, contacts: set, settle: float = 0.3) -> None:
        """Close at ``close_speed`` (a fast, force-limited slam shoots light objects out of the
        fingers), then squeeze with the full force."""
        w = self.world
        start = w.gripper_opening()
        steps = max(int(start / self.config.close_speed / w.model.opt.timestep), 1)
        for k in range(1, steps + 1, 10):
            w.set_gripper(start * (1 - k / steps))
            self._check_cancel()
            w.step(10)
            contacts.update(w.finger_contacts())
        self.command_gripper(0.0)
        self._wait(settle, contacts)

    def _wait(self, seconds: float, contacts: Optional[set] = None) -> None:
        w = self.world
        n = int(seconds / w.model.opt.timestep)
        for k in range(0, n, 10):
            self._check_cancel()
            w.step(10)
            if contacts is not None:
                contacts.update(w.finger_contacts())

    def execute(self, grasp: Grasp) -> GraspOutcome:
        self.validate_grasp(grasp)
        self._cancel.clear()   # a cancel meant for an earlier motion
        cfg, w = self.config, self.world
        timings = {}
        t0 = time.perf_counter()
        plan = self._plan_cached(grasp)
        timings["ik"] = time.perf_counter() - t0
        if plan is None:
            return GraspOutcome(False, failure_reason=FailureReason.UNREACHABLE, timings=timings, grasp=grasp)
        t0 = time.perf_counter()
        hit = self._approach_collision(plan, grasp.width)
        timings["collision_check"] = time.perf_counter() - t0
        if hit is not None:
            return GraspOutcome(False, failure_reason=FailureReason.APPROACH_COLLISION, timings=timings, grasp=grasp)

        t0 = time.perf_counter()
        com0 = {inst: w.object_com(inst) for inst in w.objects}
        self.command_gripper(min(cfg.max_opening, self.gripper.opening_for(grasp.width)), cfg.grip_force)
        touched: set = set()
        try:
            q_start = w.arm_qpos()
            travel = float(np.max(np.abs(plan.transit[0] - q_start)))
            self._move([q_start, plan.transit[0]], max(0.6, travel / 1.2))
            self._move(plan.transit, 0.5)
            self._move(plan.approach, 0.8)
            self._wait(0.3)
            self._close(touched)
            held_after_close = {inst for inst, _ in w.finger_contacts()}
            probe, rest = self._split_lift(plan.lift)
            if probe and held_after_close and self._probe_slips(probe, held_after_close, touched):
                # set it back down where it was, let go, back out: the object is still there to grasp again
                self._move(probe[::-1], cfg.probe_time, touched)
                self._retreat(plan)
                timings["motion"] = time.perf_counter() - t0
                return GraspOutcome(False, 0.0, tuple(f"{i}/{p}" for i, p in touched), FailureReason.SLIP_CAUGHT,
                                    timings=timings, grasp=grasp)
            self._move(rest, 1.0, touched)
            self._wait(cfg.hold_time, touched)
        except _Cancelled:
            self._cancel.clear()   # the retreat itself must be allowed to move
            self._retreat(plan)
            timings["motion"] = time.perf_counter() - t0
            return GraspOutcome(False, 0.0, tuple(f"{i}/{p}" for i, p in touched), FailureReason.CANCELLED,
                                timings=timings, grasp=grasp)
        timings["motion"] = time.perf_counter() - t0

        held_now = {inst for inst, _ in w.finger_contacts()}
        rise = {inst: float(w.object_com(inst)[2] - com0[inst][2]) for inst in w.objects}
        lifted_inst = max(rise, key=rise.get) if rise else None
        lifted = rise.get(lifted_inst, 0.0) if lifted_inst else 0.0
        parts = tuple(f"{i}/{p}" for i, p in touched)
        if lifted >= cfg.success_height and lifted_inst in held_now:
            return GraspOutcome(True, lifted, parts, timings=timings, grasp=grasp)
        reason = FailureReason.SLIPPED if held_after_close else FailureReason.EMPTY_GRASP
        self._retreat(plan)
        return GraspOutcome(False, max(lifted, 0.0), parts, reason, timings=timings, grasp=grasp)

    def _split_lift(self, lift: List[np.ndarray]) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """The lift's joint waypoints cut at ``probe_height``: (the slow first part, the rest). The
        waypoints are evenly spaced along the straight lift, so the cut is interpolated between two."""
        cfg = self.config
        if cfg.probe_height <= 0:
            return [], lift
        s = cfg.probe_height / cfg.lift_height * (len(lift) - 1)
        k = int(s)
        cut = lift[k] + (s - k) * (lift[min(k + 1, len(lift) - 1)] - lift[k])
        return lift[:k + 1] + [cut], [cut] + lift[k + 1:]

    def _probe_slips(self, probe: List[np.ndarray], held: set, touched: set) -> bool:
        """Lift slowly through the probe and say whether the object is slipping through the pads:
        the point of the object that was between them has fallen behind the hand by more than a
        third of the probe. The twin sees the object move; a robot reads the gripper's width (the
        MoveIt backend), which here would also flag objects that turn in the pads and come along.
        An object that swings about the grasp to hang level is not slipping: that point stays."""
        w, cfg = self.world, self.config
        tcp0 = w.tcp_pose()[:3, 3]
        grip_point = {}        # the TCP in each held object's frame: the point between the pads
        for inst in held:
            T = w.object_pose(inst)
            grip_point[inst] = T[:3, :3].T @ (tcp0 - T[:3, 3])
        self._move(probe, cfg.probe_time, touched)
        self._wait(0.2, touched)
        tcp = w.tcp_pose()[:3, 3]
        lag = 0.0
        for inst, p in grip_point.items():
            T = w.object_pose(inst)
            lag = max(lag, float(np.linalg.norm(T[:3, :3] @ p + T[:3, 3] - tcp)))
        return lag > cfg.probe_height / 3

    def cancel(self) -> None:
        """Stop the running execute() at its next physics step: it opens, backs out along the
        approach, goes home and reports 'cancelled'. Safe to call from another thread."""
        self._cancel.set()

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled()

    def _retreat(self, plan: GraspPlan) -> None:
        """Open, back out along the approach, and go home: out of the camera's view, so the next
        frame shows where the object lies now."""
        self.command_gripper(self.config.max_opening)
        self._wait(0.3)
        self._move([self.world.arm_qpos(), plan.approach[0], plan.transit[0]], 0.8)
        self.go_home()

    def go_home(self, q_home: Optional[np.ndarray] = None) -> None:
        self._move([self.world.arm_qpos(), HOME_Q if q_home is None else q_home], 1.0)
