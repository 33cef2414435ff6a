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


def rendered_scenes(seeds: List[int]):
    """Each seed's scene of 1-4 objects of the taught and held-out kinds with randomised looks,
    rendered with depth noise as the camera node renders it: (seed, frame, cloud, cluster boxes,
    ground-truth masks). Scenes that cannot be placed or show no object cluster are skipped."""
    from ..affordance.datasets import SEEN_CATEGORIES, UNSEEN_CATEGORIES
    from ..grasping.cloud import build_scene_cloud
    from ..grasping.segmentation import cluster_boxes
    from ..sim.camera import DepthNoise, SimCamera
    from ..sim.ground_truth import object_masks
    from ..sim.objects import CATEGORIES
    from ..sim.scene import SceneConfig, sample_scene

    pool = sorted(c for c in CATEGORIES if c in set(SEEN_CATEGORIES) | set(UNSEEN_CATEGORIES))
    for s in seeds:
        try:
            world = sample_scene(s, SceneConfig(n_objects=(1, 4), categories=pool)).build()
        except InvalidInputError:
            continue
        with SimCamera(world) as cam:
            frame = cam.render(DepthNoise(), np.random.default_rng(s))
            masks = object_masks(world, cam.render_geom_ids())
        cloud = build_scene_cloud(frame)
        boxes = cluster_boxes(cloud)
        if boxes:
            yield s, frame, cloud, boxes, masks


def owner(pixels: np.ndarray, masks, min_purity: float):
    """The ground-truth object whose mask covers most of a cluster's ``pixels`` ([v, u] rows), or
    None when it covers less than ``min_purity`` of them."""
    share = [m.object_mask[pixels[:, 0], pixels[:, 1]].mean() for m in masks]
    best = int(np.argmax(share))
    return masks[best] if share[best] >= min_purity else None
