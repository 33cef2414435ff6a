"""Execute the best reachable candidate, falling back to the next one when a try fails in a way
that leaves the object where it was (unreachable, approach collision, empty grasp, a slip caught
in the slow first lift and set back down). A candidate predicted to slip is never tried: when the
grasps that may hold are all out of reach, nothing moves and the outcome says so."""
from __future__ import annotations

import time
from typing import Callable, List, Optional, Tuple

import numpy as np

from ..errors import InvalidInputError
from .base import Executor
from ..types import FailureReason, Grasp, GraspOutcome

RETRYABLE = (FailureReason.UNREACHABLE, FailureReason.APPROACH_COLLISION, FailureReason.EMPTY_GRASP,
             FailureReason.SLIP_CAUGHT)
# After these the object may lie elsewhere: the ranked candidates are stale, so the caller has to
# perceive again (a new frame, new candidates) before trying once more.
OBJECT_MOVED = (FailureReason.SLIPPED,)


def would_not_hold(min_hold: float) -> str:
    """Why a WOULD_NOT_HOLD outcome moved nothing, in the words every caller reports."""
    return (f"every candidate that may hold (hold_probability >= {min_hold}) is out of reach, the others are "
            f"predicted to slip; nothing moved")


# A slip that is not about the load (a part sliding out of a pinch, a pad on an edge): grasps
# predicted sure to hold slip this often. Hold calibration, `sim-check --trials 150 --seed 0`:
# of 118 grasps predicted 0.9-1.0 (mean 0.994), 97.5 % held.
OTHER_SLIP = 0.025


def hold_after_slip(holds: np.ndarray, slipped: float, other: float = OTHER_SLIP) -> np.ndarray:
    """The candidates' holding probabilities once a grasp predicted to hold with ``slipped`` has
    slipped, either because the load is beyond it or, with probability ``other``, for a reason
    that is not the load.

    A grasp holds for the draws of mass, centre of mass and friction whose load it resists, and
    the load orders them much the same way for every grasp on one object: what turns out of a grasp
    that holds a 1 kg pan turns out of one that holds 1.2 kg. So a grasp that held in a share q of
    the draws holds with both only in min(p, q), and after the slip in
    (q - (1 - other) min(p, q)) / (1 - (1 - other) p). With other = 0 that is (q - p) / (1 - p)
    for a stronger grasp and none for one no stronger; a slip from a grasp predicted sure to hold
    (p = 1) is then not about the load, and leaves every other grasp as it was."""
    holds = np.asarray(holds, float)
    kept = 1.0 - other
    slip = 1.0 - kept * slipped
    if slip <= 0.0:
        return holds
    return np.clip((holds - kept * np.minimum(holds, slipped)) / slip, 0.0, 1.0)


def execute_with_fallback(executor: Executor, ranked: List[Grasp], max_attempts: int = 3,
                          max_checked: int = 60, should_stop: Optional[Callable[[], bool]] = None,
                          min_affordance_ratio: float = 0.0, min_hold: float = 0.0) -> GraspOutcome:
    """``max_attempts`` caps executed tries; ``max_checked`` caps reachability checks (cheap,
    no motion) spent finding them. ``should_stop`` (e.g. a cancelled action goal) is asked before
    every check and attempt; nothing new starts once it says yes. Candidates whose affordance
    score is below ``min_affordance_ratio`` times the best one's are not tried: when every grasp on
    the requested part is out of reach, failing says so, where grasping another part would not.
    Candidates predicted to hold less often than ``min_hold`` (``Grasp.hold``) are not tried either:
    a kettle taken where its weight turns it out of the pads is dropped, which is worse than not
    lifting it; when nothing else is left the outcome is WOULD_NOT_HOLD, with no motion. A slip
    caught in the slow first lift says the load is beyond that grasp: the rest are judged again
    (``hold_after_slip``), and those no stronger are not tried."""
    if max_attempts < 1:
        raise InvalidInputError(f"max_attempts must be >= 1, got {max_attempts}")
    if not 0.0 <= min_affordance_ratio <= 1.0:
        raise InvalidInputError(f"min_affordance_ratio must be in [0, 1], got {min_affordance_ratio}")
    if not 0.0 <= min_hold <= 1.0:
        raise InvalidInputError(f"min_hold must be in [0, 1], got {min_hold}")
    t0 = time.perf_counter()
    floor = min_affordance_ratio * max((g.affordance_score for g in ranked), default=0.0)
    attempts, checked, weak, last = 0, 0, 0, None
    holds = np.array([g.hold for g in ranked], float)
    for i, g in enumerate(ranked):
        if attempts >= max_attempts or checked >= max_checked or (should_stop is not None and should_stop()):
            break
        if g.affordance_score < floor:
            continue
        if holds[i] < min_hold:
            weak += 1
            continue
        checked += 1
        if not executor.check_reachable(g):
            continue
        attempts += 1
        last = executor.execute(g)
        if last.success or last.failure_reason not in RETRYABLE:
            break
        if last.failure_reason is FailureReason.SLIP_CAUGHT:
            holds = hold_after_slip(holds, holds[i])
    if last is None:
        reason = (FailureReason.NO_CANDIDATES if not ranked else FailureReason.WOULD_NOT_HOLD if weak
                  else FailureReason.UNREACHABLE)
        last = GraspOutcome(False, failure_reason=reason)
    last.attempts, last.checked = attempts, checked
    last.timings = {**last.timings, "execution_total": time.perf_counter() - t0}
    return last


def execute_with_redetection(detect: Callable[[bool], List[Grasp]], executor: Executor, max_attempts: int = 3,
                             max_checked: int = 60, should_stop: Optional[Callable[[], bool]] = None,
                             redetect: bool = True, min_affordance_ratio: float = 0.0,
                             min_hold: float = 0.0) -> Tuple[GraspOutcome, int]:
    """Closed loop over ``execute_with_fallback``: ``detect(after_motion)`` ranks candidates (on a
    frame captured after the last motion when ``after_motion``). When a try leaves the object moved
    (OBJECT_MOVED) and attempts remain, rank again and go on. Returns the last outcome, with the
    attempts of every round summed, and how many detections ran. Errors of ``detect`` propagate."""
    attempts, detections, checked = 0, 0, 0
    while True:
        ranked = detect(detections > 0)
        detections += 1
        outcome = execute_with_fallback(executor, ranked, max_attempts - attempts, max_checked, should_stop,
                                        min_affordance_ratio, min_hold)
        attempts += outcome.attempts
        checked += outcome.checked
        if (outcome.success or outcome.failure_reason not in OBJECT_MOVED or attempts >= max_attempts
                or not redetect or (should_stop is not None and should_stop())):
            outcome.attempts, outcome.checked = attempts, checked
            return outcome, detections
