"""Per-stage wall times of one run of a stage chain (cloud, generation, detection), so that
``bench --profile`` can say where the time goes without a profiler attached."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Dict, Iterator, Optional


class StageTimes:
    """Seconds spent in each named stage; a stage entered twice adds up."""

    def __init__(self) -> None:
        self.seconds: Dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def merge(self, other: Optional["StageTimes"], prefix: str = "") -> "StageTimes":
        """Add ``other``'s stages here, each name prefixed (``cloud.voxel``)."""
        if other is not None:
            for k, v in other.seconds.items():
                self.seconds[prefix + k] = self.seconds.get(prefix + k, 0.0) + v
        return self
