"""``affordance-grasp dataset``: render a training/evaluation split with the sim twin.

One rendered frame ("scene") yields one sample per (object instance, affordance) pair. Layout::

    DIR/manifest.json                    counts, categories, speed, how it was made
    DIR/scenes/000042/rgb.png            640x480 colour
    DIR/scenes/000042/depth.png          uint16 millimetres, 0 = no depth (noise model on)
    DIR/scenes/000042/masks/<instance>__<affordance>.png   and <instance>__object.png
    DIR/scenes/000042/meta.json          intrinsics, camera pose, objects, samples (written last)

A scene folder counts as done once its meta.json exists, so an interrupted run resumes where it
stopped. Camera pose, table colour, lighting and object colours are randomised per scene.
"""
from __future__ import annotations

import functools
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from ..affordance.datasets import SPLITS, split_categories
from ..errors import InvalidInputError
from ..sim.camera import DepthNoise, SimCamera
from ..sim.external import USER_OBJECTS, load_objects
from ..sim.ground_truth import object_masks
from ..sim.scene import SceneConfig, sample_scene
from ..sim.world import CameraConfig, WorldConfig
from .report import machine_description

MIN_PART_PIXELS = 40  # a sample needs this much of its affordance region in view


def scene_seed(seed: int, split: str, index: int) -> int:
    return int(np.random.SeedSequence([seed, SPLITS.index(split), index]).generate_state(1)[0])


CAMERAS = {
    # RealSense D435 colour stream at 640x480 (about 69 x 42 deg): f about 615 px, mounted 0.6-1.15 m
    # from the objects (eye-to-hand on a stand, or high on a wrist).
    "d435": {"f": (585.0, 640.0), "dist": (0.60, 1.15), "p": 0.7},
    # RealSense D405 at 640x480 (87 x 58 deg): f about 340-430 px, a close-range wrist camera 0.3-0.55 m
    # from the objects.
    "d405": {"f": (360.0, 430.0), "dist": (0.30, 0.55), "p": 0.3},
}


def random_camera(rng: np.random.Generator) -> CameraConfig:
    """A D435-like or D405-like camera (focal length and distance ranges above) somewhere around
    the front half of the table, looking at the object region: 28-72 degrees above the table,
    +-45 degrees of azimuth."""
    kind = "d435" if rng.random() < CAMERAS["d435"]["p"] else "d405"
    spec = CAMERAS[kind]
    target = np.array([0.52, 0.0, 0.02]) + np.r_[rng.uniform(-0.08, 0.08, 2), 0.0]
    dist, elev, azim = rng.uniform(*spec["dist"]), np.deg2rad(rng.uniform(28, 72)), np.deg2rad(rng.uniform(-45, 45))
    eye = target + dist * np.array([np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)])
    return CameraConfig(fy=float(rng.uniform(*spec["f"])), eye=tuple(float(x) for x in eye),
                        target=tuple(float(x) for x in target))


def render_scene(root: Path, split: str, index: int, seed: int, max_targets: int = 2,
                 objects: Sequence[str] = ()) -> Optional[dict]:
    """Render one scene into ``root/scenes/<index>``; returns its meta (None if nothing usable).
    It holds 1..``max_targets`` objects of the split's target categories (plus 0-2 distractors);
    ``objects`` are object files whose objects join the targets."""
    folder = root / "scenes" / f"{index:06d}"
    if (folder / "meta.json").exists():
        return json.loads((folder / "meta.json").read_text())
    if objects:
        _load_user_objects(tuple(objects))
    s = scene_seed(seed, split, index)
    rng = np.random.default_rng(s)
    targets, distractors = split_categories(split)
    targets = tuple(targets) + tuple(USER_OBJECTS)
    cats = [str(c) for c in rng.choice(targets, int(rng.integers(1, max_targets + 1)))]
    if distractors:
        cats += [str(c) for c in rng.choice(distractors, int(rng.integers(0, 3)))]
    rng.shuffle(cats)
    world_cfg = WorldConfig(camera=random_camera(rng))
    try:
        scene = sample_scene(s, SceneConfig(n_objects=(1, 4)), world_cfg, categories=cats)
    except InvalidInputError:
        return None
    world = scene.build()
    with SimCamera(world) as cam:
        frame = cam.render(DepthNoise(), rng)
        masks = object_masks(world, cam.render_geom_ids())
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "masks").mkdir(parents=True)
    cv2.imwrite(str(tmp / "rgb.png"), frame.rgb[..., ::-1])
    depth_mm = np.nan_to_num(frame.depth * 1000.0, nan=0.0).clip(0, 65535).astype(np.uint16)
    cv2.imwrite(str(tmp / "depth.png"), depth_mm)
    objects, samples = [], []
    for m in masks:
        if m.object_mask.sum() < MIN_PART_PIXELS:
            continue
        vs, us = np.nonzero(m.object_mask)
        box = [int(us.min()), int(vs.min()), int(us.max()), int(vs.max())]
        # Only the objects that belong to the split's targets become samples; the rest are clutter.
        is_target = m.category in targets
        obj_file = f"masks/{m.instance}__object.png"
        cv2.imwrite(str(tmp / obj_file), m.object_mask.astype(np.uint8) * 255)
        objects.append({"instance": m.instance, "category": m.category, "box": box, "mask": obj_file,
                        "part_pixels": m.part_pixels(), "target": is_target})
        if not is_target:
            continue
        spec = world.objects[m.instance].spec
        for aff, amask in sorted(m.affordances.items()):
            if amask.sum() < MIN_PART_PIXELS:
                continue
            f = f"masks/{m.instance}__{aff}.png"
            cv2.imwrite(str(tmp / f), amask.astype(np.uint8) * 255)
            samples.append({"instance": m.instance, "category": m.category, "affordance": aff,
                            "parts": spec.parts_for(aff), "mask": f, "object_mask": obj_file, "box": box})
    K = frame.intrinsics
    meta = {"index": index, "seed": s, "split": split,
            "intrinsics": {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy, "width": K.width, "height": K.height},
            "T_base_camera": np.round(frame.T_base_camera, 6).tolist(), "depth_scale": 0.001,
            "objects": objects, "samples": samples}
    (tmp / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return meta


@functools.lru_cache(maxsize=None)
def _load_user_objects(paths: tuple) -> None:
    """Once per process (the render workers are separate processes)."""
    load_objects(paths)


def _render_job(args):
    return render_scene(*args)


class RenderWorker:
    """A ``dataset --workers`` worker (a Ray actor): renders scenes into a scratch folder of its own
    and sends each scene's files back, for the driver to write (its --out may be on another machine)."""

    def __init__(self, split: str, seed: int, max_targets: int, objects: Tuple[str, ...]):
        from .parallel import worker_setup
        worker_setup()
        self.args = (split, seed, max_targets, objects)
        self.scratch = Path(tempfile.mkdtemp(prefix="ag-render-"))

    def render(self, index: int) -> Tuple[Optional[dict], Dict[str, bytes]]:
        """Scene ``index``: its meta (None if nothing usable) and its files by path in its folder."""
        from .parallel import take_files
        split, seed, max_targets, objects = self.args
        meta = render_scene(self.scratch, split, index, seed, max_targets, objects)
        folder = self.scratch / "scenes" / f"{index:06d}"
        files = take_files(folder) if meta is not None else {}
        shutil.rmtree(folder, ignore_errors=True)
        return meta, files

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def write_scene(out: Path, index: int, files: Dict[str, bytes]) -> None:
    """A worker's scene written as ``render_scene`` writes its own: into a .tmp folder, meta.json
    last, renamed when whole, so an interrupted run resumes at this scene."""
    from .parallel import put_files
    folder = out / "scenes" / f"{index:06d}"
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    put_files(tmp, {rel: data for rel, data in files.items() if rel != "meta.json"})
    put_files(tmp, {"meta.json": files["meta.json"]})
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def render_on_ray(out: Path, split: str, seed: int, max_targets: int, objects: Tuple[str, ...], todo: List[int],
                  workers: int, ray_address: Optional[str], bar) -> List[Optional[dict]]:
    """The metas of scenes ``todo`` rendered by ``workers`` RenderWorkers, each scene written under
    ``out`` as it arrives (in any order: the manifest sorts them)."""
    from .parallel import ray_cluster, run_on_workers
    metas: List[Optional[dict]] = []
    with ray_cluster(workers, ray_address) as ray:
        jobs = [(i,) for i in todo]
        for k, (meta, files) in run_on_workers(ray, RenderWorker, (split, seed, max_targets, objects), "render", jobs,
                                               workers):
            if meta is not None:
                write_scene(out, todo[k], files)
            metas.append(meta)
            bar.update()
    return metas


def write_manifest(root: Path, split: str, seed: int, metas: List[dict], elapsed: float, rendered: int,
                   max_targets: int = 2) -> dict:
    cats, affs, pairs = Counter(), Counter(), Counter()
    for meta in metas:
        for s in meta["samples"]:
            cats[s["category"]] += 1
            affs[s["affordance"]] += 1
            pairs[f"{s['category']}/{s['affordance']}"] += 1
    targets, distractors = split_categories(split)
    manifest = {"format": "affordance_grasp.dataset/1", "split": split, "seed": seed,
                "max_targets": max_targets, "n_scenes": len(metas), "n_samples": int(sum(cats.values())),
                "target_categories": list(targets), "distractor_categories": list(distractors),
                "per_category": dict(sorted(cats.items())), "per_affordance": dict(sorted(affs.items())),
                "per_category_affordance": dict(sorted(pairs.items())),
                "scenes": [f"scenes/{m['index']:06d}" for m in sorted(metas, key=lambda m: m["index"])],
                "rendered_this_run": rendered, "seconds_this_run": round(elapsed, 1),
                "scenes_per_minute": round(60 * rendered / elapsed, 1) if rendered and elapsed > 0 else None,
                "machine": machine_description()}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def render_dataset(out: Path, n: int, split: str, seed: int, workers: int = 1, max_targets: int = 2,
                   objects: Sequence[Path] = (), ray_address: Optional[str] = None) -> dict:
    """Render scenes 0..n-1 of ``split`` into ``out`` (those not already there). ``workers`` above 1
    renders them on Ray, on a local cluster or the one at ``ray_address``; the files are the same."""
    if split not in SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if n <= 0:
        raise InvalidInputError("--n must be positive")
    if max_targets < 1:
        raise InvalidInputError("--max-targets must be at least 1")
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.json"
    if manifest.exists():
        old = json.loads(manifest.read_text())
        # Manifests from before max_targets existed were rendered with 2.
        if (old.get("split"), old.get("seed"), old.get("max_targets", 2)) != (split, seed, max_targets):
            raise InvalidInputError(f"{out} holds split {old.get('split')!r} seed {old.get('seed')} max_targets "
                                    f"{old.get('max_targets', 2)}; use another --out to render split {split!r} "
                                    f"seed {seed} max_targets {max_targets}")
    todo = [i for i in range(n) if not (out / "scenes" / f"{i:06d}" / "meta.json").exists()]
    done = [json.loads((out / "scenes" / f"{i:06d}" / "meta.json").read_text()) for i in range(n) if i not in set(todo)]
    if len(todo) < n:
        print(f"resuming: {n - len(todo)} of {n} scenes already rendered")
    t0 = time.perf_counter()
    objects = tuple(str(Path(p).resolve()) for p in objects)   # a worker's working folder is not ours
    if objects:
        _load_user_objects(objects)  # every file checked before any worker starts
    jobs = [(out, split, i, seed, max_targets, objects) for i in todo]
    bar = tqdm(total=len(jobs), desc=f"render {split}", unit="scene")
    metas: List[dict] = []
    if jobs and (workers > 1 or ray_address):
        metas = render_on_ray(out, split, seed, max_targets, objects, todo, workers, ray_address, bar)
    else:
        for job in jobs:
            metas.append(_render_job(job))
            bar.update()
    bar.close()
    elapsed = time.perf_counter() - t0
    all_metas = done + [m for m in metas if m is not None]
    result = write_manifest(out, split, seed, all_metas, elapsed, len(jobs), max_targets)
    print(f"{split}: {result['n_scenes']} scenes, {result['n_samples']} samples"
          + (f", {result['scenes_per_minute']} scenes/min" if result["scenes_per_minute"] else ""))
    return result
