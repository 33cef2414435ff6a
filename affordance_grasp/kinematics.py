"""Forward kinematics of the Franka Panda, for an eye-in-hand camera's pose without tf2.

Franka's published Denavit-Hartenberg parameters (Craig's convention: each row applies
rot_x(alpha), trans_x(a), rot_z(theta), trans_z(d)); the last row is the flange (panda_link8).
A camera on the wrist is then base <- flange (this) <- camera (the hand-eye calibration).
"""
from __future__ import annotations

import numpy as np

from .errors import InvalidInputError

# (a, d, alpha) per joint, then the flange; from Franka's documentation ("Robot and interface
# specifications", Denavit-Hartenberg parameters).
PANDA_DH = ((0.0, 0.333, 0.0), (0.0, 0.0, -np.pi / 2), (0.0, 0.316, np.pi / 2), (0.0825, 0.0, np.pi / 2),
            (-0.0825, 0.384, -np.pi / 2), (0.0, 0.0, np.pi / 2), (0.088, 0.0, np.pi / 2))
PANDA_FLANGE = (0.0, 0.107, 0.0)
PANDA_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))


def _craig(a: float, d: float, alpha: float, theta: float) -> np.ndarray:
    ca, sa, ct, st = np.cos(alpha), np.sin(alpha), np.cos(theta), np.sin(theta)
    return np.array([[ct, -st, 0.0, a],
                     [st * ca, ct * ca, -sa, -d * sa],
                     [st * sa, ct * sa, ca, d * ca],
                     [0.0, 0.0, 0.0, 1.0]])


def panda_flange_pose(q) -> np.ndarray:
    """base (panda_link0) <- flange (panda_link8) for the 7 joint angles ``q`` (rad)."""
    q = np.asarray(q, float).reshape(-1)
    if q.shape != (7,) or not np.all(np.isfinite(q)):
        raise InvalidInputError(f"the Panda needs 7 finite joint angles, got {q.tolist()}")
    T = np.eye(4)
    for (a, d, alpha), theta in zip(PANDA_DH, q):
        T = T @ _craig(a, d, alpha, theta)
    return T @ _craig(*PANDA_FLANGE, 0.0)


class JointHistory:
    """Recent joint states, to know where a wrist camera was when a frame was taken (frames and
    joint states carry their own stamps)."""

    def __init__(self, horizon: float = 5.0):
        self.horizon = horizon
        self.t: list = []
        self.q: list = []

    def add(self, t: float, q) -> None:
        if self.t and t < self.t[-1]:
            self.t, self.q = [], []   # time went backwards (a bag restarted): start over
        self.t.append(float(t))
        self.q.append(np.asarray(q, float))
        while self.t and self.t[-1] - self.t[0] > self.horizon:
            self.t.pop(0)
            self.q.pop(0)

    def at(self, t: float, max_gap: float = 0.1) -> np.ndarray:
        """Joint angles at ``t``, interpolated between the samples around it; InvalidInputError
        when ``t`` lies outside the history by more than ``max_gap`` seconds."""
        if not self.t:
            raise InvalidInputError("no joint_states received yet: the wrist camera's pose is unknown")
        if t < self.t[0] - max_gap or t > self.t[-1] + max_gap:
            raise InvalidInputError(f"no joint_states near the frame's stamp {t:.3f} (have {self.t[0]:.3f} .. "
                                    f"{self.t[-1]:.3f}): the wrist camera's pose is unknown")
        k = int(np.searchsorted(self.t, t))
        if k == 0 or k == len(self.t):
            return self.q[min(k, len(self.t) - 1)].copy()
        t0, t1 = self.t[k - 1], self.t[k]
        w = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
        return (1 - w) * self.q[k - 1] + w * self.q[k]


def wrist_camera_pose(q, T_flange_camera: np.ndarray) -> np.ndarray:
    """base <- camera optical frame for a camera on the flange (the hand-eye calibration)."""
    return panda_flange_pose(q) @ np.asarray(T_flange_camera, float)
