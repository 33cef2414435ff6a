"""Resumable collection of rendered training data, in chunks of scenes (``chunk_*.npz``).

A training run on this 2-core machine must survive being stopped: each chunk of scenes is written
atomically as it finishes, and a run that is started again skips the chunks already there.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
from tqdm import tqdm

from ..errors import InvalidInputError


def collect_in_chunks(data: Path, scenes: int, seed: int, chunk: int,
                      describe: Callable[[List[int]], Dict[str, np.ndarray]], desc: str = "collect") -> Path:
    """Describe scenes ``seed .. seed + scenes`` into ``data/chunk_<start>.npz``, ``chunk`` seeds
    per file, with ``describe(seeds) -> arrays``; files already there are kept."""
    data = Path(data)
    data.mkdir(parents=True, exist_ok=True)
    for start in tqdm(list(range(seed, seed + scenes, chunk)), desc=desc, unit="chunk"):
        path = data / f"chunk_{start:07d}.npz"
        if path.exists():
            continue
        arrays = describe(list(range(start, min(start + chunk, seed + scenes))))
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.rename(path)
    return data


def load_chunks(data: Path, label: str, command: str) -> List[Dict[str, np.ndarray]]:
    """Every non-empty chunk in ``data`` (``label`` is the array whose length says empty)."""
    chunks = sorted(Path(data).glob("chunk_*.npz"))
    if not chunks:
        raise InvalidInputError(f"no collected chunks in {data}; run {command} with --scenes first")
    parts = [dict(np.load(c)) for c in chunks]
    return [p for p in parts if len(p[label])]
