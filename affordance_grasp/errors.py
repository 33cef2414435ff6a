"""Typed errors. Every stage raises one of these for bad input; the ROS layer turns them
into a failed response carrying the message, and never into a motion."""
from __future__ import annotations


class AffordanceGraspError(Exception):
    """Base class for every error this package raises on purpose."""


class InvalidInputError(AffordanceGraspError, ValueError):
    """A value handed to a stage has the wrong shape, dtype, range or content."""


class ConfigError(AffordanceGraspError, ValueError):
    """A configuration file or parameter is missing or out of range."""


class QueryError(InvalidInputError):
    """A free-text query could not be understood."""


class EmptyCloudError(InvalidInputError):
    """No usable 3-D points remain (empty frame, or nothing inside the workspace)."""


class NoGraspFoundError(AffordanceGraspError):
    """The generator or the selection produced no admissible grasp. ``counts`` holds what each
    filter removed (a GenerationReport's dict), when known."""

    def __init__(self, message: str, counts: dict | None = None):
        super().__init__(message)
        self.counts = counts or {}


class CannotHoldError(NoGraspFoundError):
    """There are grasps on the part asked for, but none of them can hold the object as asked: each
    would also press another part, or none is likely to hold its weight. The request is refused
    with the numbers, and nothing moves."""


class PartNotReachedError(NoGraspFoundError):
    """The request names a part and no candidate lies on it (it faces away from the camera, hides
    under another part, or leaves the fingers no room): taking the object elsewhere would not do
    what was asked, so nothing moves."""


class CheckpointError(AffordanceGraspError):
    """A checkpoint file is missing, corrupt, or does not match the configuration."""


class PredictionError(AffordanceGraspError):
    """A predictor's output cannot be read (a malformed language-model answer): nothing moves."""


class BackendUnavailableError(AffordanceGraspError, RuntimeError):
    """An optional backend (moveit_py, a RealSense device) is not present on this machine."""


class ExecutionError(AffordanceGraspError, RuntimeError):
    """The executor could not carry out a command (not a grasp failure, which is an outcome)."""


class ClusterError(AffordanceGraspError, RuntimeError):
    """Parallel work could not run: the Ray cluster named with ``--ray-address`` cannot be reached
    or is too small for ``--workers``, or a worker process died."""
