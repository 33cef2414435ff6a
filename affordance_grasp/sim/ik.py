"""Inverse kinematics for the Panda TCP with mink (differential IK solved as a QP, daqp)."""
from __future__ import annotations

from typing import Optional

import mink
import mujoco
import numpy as np
import transforms3d

from .robot import ARM_JOINTS, HOME_Q, TCP_SITE
from .world import WorldConfig, build_world_spec


class PandaIK:
    """Solves TCP poses on a robot-only copy of the world model, so object free joints
    never enter the optimisation."""

    def __init__(self, cfg: Optional[WorldConfig] = None, pos_tol: float = 1e-3, rot_tol: float = 1e-2,
                 max_iters: int = 150, restarts: int = 4):
        self.model = build_world_spec([], cfg or WorldConfig()).compile()
        self.configuration = mink.Configuration(self.model)
        # A gain below 1 takes partial steps: full Gauss-Newton steps from a far orientation
        # throw the arm into its joint limits, where the QP then stalls.
        self.frame_task = mink.FrameTask(TCP_SITE, "site", position_cost=1.0, orientation_cost=1.0,
                                         lm_damping=1e-3, gain=0.5)
        self.posture_task = mink.PostureTask(self.model, cost=1e-3)
        self.limits = [mink.ConfigurationLimit(self.model)]
        self.qadr = np.array([self.model.jnt_qposadr[self.model.joint(j).id] for j in ARM_JOINTS])
        self.pos_tol, self.rot_tol, self.max_iters = pos_tol, rot_tol, max_iters
        self.restarts = restarts
        self._lo, self._hi = self.model.jnt_range[[self.model.joint(j).id for j in ARM_JOINTS]].T
        self._rng_perturb = np.random.default_rng(0).uniform(-1.0, 1.0, (max(restarts - 1, 0), 7))
        q = self.model.qpos0.copy()
        q[self.qadr] = HOME_Q
        self._q_template = q
        self.posture_task.set_target(q)

    def solve(self, T_target: np.ndarray, q_seed: np.ndarray):
        """Arm joints reaching ``T_target`` (4x4, TCP in base), or ``None`` if not within tolerance.
        Starts from ``q_seed``; if that stalls, restarts from home turned towards the target
        (keeps consecutive waypoints on one branch when the seed works)."""
        q = self._solve_from(T_target, q_seed)
        if q is not None:
            return q
        q = self._solve_homotopy(T_target, q_seed)
        if q is not None:
            return q
        turned = HOME_Q.copy()
        turned[0] = np.clip(np.arctan2(T_target[1, 3], T_target[0, 3]), -2.8, 2.8)
        for k in range(self.restarts):
            seed = turned.copy()
            if k > 0:  # deterministic perturbations of the turned home pose
                seed = np.clip(seed + self._rng_perturb[k - 1], self._lo + 0.05, self._hi - 0.05)
            q = self._solve_from(T_target, seed)
            if q is not None:
                return q
        return None

    def _solve_homotopy(self, T_target: np.ndarray, q_seed: np.ndarray, steps: int = 6):
        """Walk the target from the seed's own TCP pose to ``T_target`` (linear position,
        geodesic rotation), re-seeding each step: a local solver then follows large turns."""
        T0 = self.fk(q_seed)
        axis, angle = transforms3d.axangles.mat2axangle(T0[:3, :3].T @ T_target[:3, :3], unit_thresh=1e-4)
        q = q_seed
        for s in np.linspace(0, 1, steps + 1)[1:]:
            T = np.eye(4)
            T[:3, :3] = T0[:3, :3] @ transforms3d.axangles.axangle2mat(axis, s * angle)
            T[:3, 3] = (1 - s) * T0[:3, 3] + s * T_target[:3, 3]
            q = self._solve_from(T, q)
            if q is None:
                return None
        return q

    def _solve_from(self, T_target: np.ndarray, q_seed: np.ndarray):
        q = self._q_template.copy()
        q[self.qadr] = q_seed
        self.configuration.update(q)
        self.frame_task.set_target(mink.SE3.from_matrix(np.asarray(T_target)))
        dt = 0.1
        for _ in range(self.max_iters):
            err = self.frame_task.compute_error(self.configuration)
            if np.linalg.norm(err[:3]) < self.pos_tol and np.linalg.norm(err[3:]) < self.rot_tol:
                return self.configuration.q[self.qadr].copy()
            vel = mink.solve_ik(self.configuration, [self.frame_task, self.posture_task], dt, "daqp",
                                damping=1e-4, limits=self.limits)
            self.configuration.integrate_inplace(vel, dt)
        err = self.frame_task.compute_error(self.configuration)
        if np.linalg.norm(err[:3]) < self.pos_tol and np.linalg.norm(err[3:]) < self.rot_tol:
            return self.configuration.q[self.qadr].copy()
        return None

    def fk(self, q_arm: np.ndarray) -> np.ndarray:
        data = mujoco.MjData(self.model)
        data.qpos[:] = self._q_template
        data.qpos[self.qadr] = q_arm
        mujoco.mj_kinematics(self.model, data)
        sid = self.model.site(TCP_SITE).id
        T = np.eye(4)
        T[:3, :3] = data.site_xmat[sid].reshape(3, 3)
        T[:3, 3] = data.site_xpos[sid]
        return T
