"""The executor interface shared by the MoveIt backend (real robot) and the sim backend."""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import InvalidInputError
from ..types import Grasp, GraspOutcome


@dataclass
class ExecutionConfig:
    pregrasp_offset: float = 0.10   # m back along the approach axis
    lift_height: float = 0.15       # m straight up after closing
    probe_height: float = 0.03      # m of it lifted slowly first, watching for a slip: a slipping object
    probe_time: float = 1.0         # s   is set back down there and the next candidate tried (0: no probe)
    slip_width: float = 0.010       # m the fingers may close further during the probe before it counts as a slip
                                    # (a robot's only evidence; an object turning in the pads narrows by 4-11 mm
                                    # in the twin and still comes along)
    success_height: float = 0.10    # the object must rise at least this much...
    hold_time: float = 1.0          # ...and still be held after this many seconds
    max_opening: float = 0.08       # gripper stroke (m)
    grip_force: float = 70.0        # N per finger
    close_speed: float = 0.05       # m/s of the fingers closing until they meet the object
                                    # (franka_gripper's grasp action takes a speed too; 0.1 is its example)
    approach_steps: int = 8         # IK waypoints on the straight-line approach
    transit_clearance: float = 0.12 # the arm arrives this much further back, then moves in
    max_reach: float = 1.0          # m from the base origin: farther grasps are refused before IK
                                    # (a Panda reaches 0.855 m to the flange, ~0.96 m to the TCP)

    def validate(self) -> "ExecutionConfig":
        for name in ("pregrasp_offset", "lift_height", "success_height", "max_opening", "grip_force", "close_speed"):
            if not getattr(self, name) > 0:
                raise InvalidInputError(f"execution.{name} must be > 0, got {getattr(self, name)}")
        if self.success_height > self.lift_height:
            raise InvalidInputError("execution.success_height cannot exceed lift_height")
        if not self.max_reach > 0:
            raise InvalidInputError(f"execution.max_reach must be > 0, got {self.max_reach}")
        if not (0 <= self.probe_height < self.lift_height and self.probe_time > 0 and self.slip_width > 0):
            raise InvalidInputError("execution.probe_height must be in [0, lift_height), probe_time and slip_width > 0")
        if self.hold_time < 0 or self.approach_steps < 2:
            raise InvalidInputError("execution.hold_time must be >= 0 and approach_steps >= 2")
        return self


def check_grasp(grasp: Grasp, config: ExecutionConfig, base_frame: Optional[str] = None) -> Grasp:
    """What every backend and the executor node refuse before anything moves (the Grasp type
    itself already refuses non-finite poses and negative widths). With ``base_frame``, a grasp
    in any other frame is refused: nothing here transforms poses."""
    if not isinstance(grasp, Grasp):
        raise InvalidInputError(f"expected a Grasp, got {type(grasp).__name__}")
    if base_frame is not None and grasp.frame_id != base_frame:
        raise InvalidInputError(f"grasp is in frame {grasp.frame_id!r}, expected {base_frame!r}")
    if grasp.width > config.max_opening + 1e-6:
        raise InvalidInputError(f"grasp width {grasp.width:.3f} m exceeds the gripper's "
                                f"{config.max_opening:.3f} m opening")
    dist = float(np.linalg.norm(grasp.position))
    if dist > config.max_reach:
        raise InvalidInputError(f"grasp at {dist:.2f} m from the base is beyond the arm's reach "
                                f"({config.max_reach:.2f} m, execution.max_reach)")
    return grasp


class Executor(abc.ABC):
    """Carries out a grasp: pre-grasp, straight approach, close, lift, hold, retreat on failure."""

    config: ExecutionConfig

    @abc.abstractmethod
    def check_reachable(self, grasp: Grasp) -> bool:
        """True if the pre-grasp, the approach line and the grasp pose have IK solutions."""

    @abc.abstractmethod
    def execute(self, grasp: Grasp) -> GraspOutcome:
        """Run the grasp and report what happened. Never raises for a grasp that fails;
        raises :class:`InvalidInputError` for input that must not move the robot."""

    @abc.abstractmethod
    def command_gripper(self, width: float, force: float | None = None) -> None:
        """Open to ``width`` metres (0 closes) with at most ``force`` newtons per finger."""

    def release(self) -> None:
        """Let go of what the last successful grasp holds (open the gripper). Backends that keep
        the held object in a planning scene also take it out of the hand there."""
        self.command_gripper(self.config.max_opening)

    def set_scene(self, scene) -> None:
        """What perception saw around the grasp (a SceneModel: table and object boxes), for
        backends that plan against it. The twin knows its own scene and ignores this."""

    def set_expected_load(self, newtons: Optional[float]) -> None:
        """What the target would weigh carried whole (N), the low end of what the caller knows,
        or None. Backends that feel the load at the wrist check it after the slow first lift
        (MoveIt, with a wrench reader); the twin knows its own masses and ignores this."""

    def cancel(self) -> None:
        """Stop a running execute() where the backend can; it then reports 'cancelled'."""

    def validate_grasp(self, grasp: Grasp) -> Grasp:
        return check_grasp(grasp, self.config)
