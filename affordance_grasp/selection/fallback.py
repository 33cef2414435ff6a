"""Execute the best reachable candidate, falling back to the next one when a try fails in a way
that leaves the object where it was (unreachable, approach collision, empty grasp)."""
from __future__ import annotations

import time
from typing import Callable, List, Optional

from ..errors import InvalidInputError
from ..execution.base import Executor
from ..types import FailureReason, Grasp, GraspOutcome

RETRYABLE = (FailureReason.UNREACHABLE, FailureReason.APPROACH_COLLISION, FailureReason.EMPTY_GRASP)


def execute_with_fallback(executor: Executor, ranked: List[Grasp], max_attempts: int = 3,
                          max_checked: int = 60, should_stop: Optional[Callable[[], bool]] = None) -> GraspOutcome:
    """``max_attempts`` caps executed tries; ``max_checked`` caps reachability checks (cheap,
    no motion) spent finding them. ``should_stop`` (e.g. a cancelled action goal) is asked before
    every check and attempt; nothing new starts once it says yes."""
    if max_attempts < 1:
        raise InvalidInputError(f"max_attempts must be >= 1, got {max_attempts}")
    t0 = time.perf_counter()
    attempts, checked, last = 0, 0, None
    for g in ranked:
        if attempts >= max_attempts or checked >= max_checked or (should_stop is not None and should_stop()):
            break
        checked += 1
        if not executor.check_reachable(g):
            continue
        attempts += 1
        last = executor.execute(g)
        if last.success or last.failure_reason not in RETRYABLE:
            break
    if last is None:
        reason = FailureReason.NO_CANDIDATES if not ranked else FailureReason.UNREACHABLE
        last = GraspOutcome(False, failure_reason=reason)
    last.attempts = attempts
    last.timings = {**last.timings, "execution_total": time.perf_counter() - t0}
    return last
