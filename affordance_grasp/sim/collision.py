"""Collision shapes for meshes: convex decomposition with CoACD, cached on disk.

MuJoCo collides a mesh through its convex hull, so a hollow mug or a handle loop must enter the
twin as several convex pieces. CoACD takes seconds per mesh, so each result is stored under a
hash of the mesh and the decomposition settings: first in the package's shipped cache
(``models/collision``), then in the user's cache (``$AG_CACHE_DIR`` or
``~/.cache/affordance_grasp/collision``), where new results are written.
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np
import trimesh

from ..errors import ConfigError
from ..resources import resource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecompositionConfig:
    """CoACD settings. A thin wall needs a low concavity threshold to stay hollow; the MCTS budget
    is kept small (the defaults take ~12 s on a mug, these ~8 s with the same topology). No cap on
    the number of pieces: merged down to 12, hulls bridged concave corners and stood up to 26 mm
    out of the mesh (a kettle's waist); uncapped, at most 5.2 mm (``bulge``)."""

    threshold: float = 0.05             # CoACD's default concavity
    max_convex_hull: int = -1           # no merging down to a count
    max_ch_vertex: int = 48
    preprocess_resolution: int = 30
    mcts_iterations: int = 40
    mcts_max_depth: int = 2
    mcts_nodes: int = 8
    seed: int = 0
    convex_ratio: float = 0.97      # volume / hull volume above this: the mesh is its own hull
    max_faces: int = 20000          # larger meshes (scans) are decimated before decomposition


DEFAULT = DecompositionConfig()
USED_KEYS: set = set()   # cache entries this process looked up (to export the shipped cache)


def shipped_cache_dir() -> Path:
    return resource("models", "collision")


def user_cache_dir() -> Path:
    env = os.environ.get("AG_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "affordance_grasp"
    return base / "collision"


def mesh_key(mesh: trimesh.Trimesh, cfg: DecompositionConfig = DEFAULT) -> str:
    """Hash of the geometry (rounded to 1 um, so float noise does not miss the cache) and settings."""
    h = hashlib.sha1()
    h.update(np.round(np.asarray(mesh.vertices, np.float64), 6).astype(np.float32).tobytes())
    h.update(np.asarray(mesh.faces, np.int64).tobytes())
    h.update(json.dumps(asdict(cfg), sort_keys=True).encode())
    return h.hexdigest()[:20]


def _save(path: Path, pieces: List[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = np.array([len(p) for p in pieces], np.int32)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    os.close(fd)
    np.savez_compressed(tmp, vertices=np.vstack(pieces).astype(np.float32), counts=counts)
    os.replace(tmp, path)


def _load(path: Path) -> Optional[List[np.ndarray]]:
    try:
        with np.load(path) as z:
            v, counts = z["vertices"].astype(np.float64), z["counts"]
    except (OSError, KeyError, ValueError):
        return None  # a damaged cache entry is recomputed
    return np.split(v, np.cumsum(counts)[:-1])


def is_convex_enough(mesh: trimesh.Trimesh, ratio: float) -> bool:
    try:
        hull_volume = mesh.convex_hull.volume
    except Exception:  # noqa: BLE001 - qhull fails on degenerate (flat) input
        return False
    return hull_volume > 0 and mesh.is_volume and mesh.volume / hull_volume >= ratio


def convex_pieces(mesh: trimesh.Trimesh, cfg: DecompositionConfig = DEFAULT) -> List[np.ndarray]:
    """Vertex arrays of convex pieces whose union approximates ``mesh`` (MuJoCo takes their hulls)."""
    if len(mesh.faces) == 0:
        raise ConfigError("cannot decompose a mesh with no faces")
    if is_convex_enough(mesh, cfg.convex_ratio):
        return [np.asarray(mesh.convex_hull.vertices, np.float64)]
    key = mesh_key(mesh, cfg)
    USED_KEYS.add(key)
    for folder in (shipped_cache_dir(), user_cache_dir()):
        f = folder / f"{key}.npz"
        if f.is_file():
            pieces = _load(f)
            if pieces:
                return pieces
    pieces = decompose(mesh, cfg)
    try:
        _save(user_cache_dir() / f"{key}.npz", pieces)
    except OSError:
        pass  # a read-only home only costs the next run the same seconds
    return pieces


def _run_coacd(vertices: np.ndarray, faces: np.ndarray, params: dict, conn) -> None:
    import coacd

    coacd.set_log_level("error")
    parts = coacd.run_coacd(coacd.Mesh(vertices, faces), **params)
    conn.send([np.asarray(v, np.float64) for v, _ in parts])
    conn.close()


COACD_TIMEOUT = 300.0   # seconds one decomposition may take in its child before it is given up


def _coacd_in_child(vertices: np.ndarray, faces: np.ndarray, params: dict,
                    timeout: float = COACD_TIMEOUT) -> Optional[List[np.ndarray]]:
    """CoACD in a child process: on some meshes it fails an assertion and aborts its process, which
    must not take the caller down. None when the child died or ran past ``timeout``.

    The child is spawned, not forked: a fork of a process whose other threads hold locks (torch's
    and open3d's pools, a ROS executor) copies those locks held, and the forked CoACD then waited
    on one forever (a whole CI run stalled in test_external_objects after the torch tests)."""
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_run_coacd, args=(vertices, faces, params, send), daemon=True)
    proc.start()
    send.close()
    result = None
    try:
        if recv.poll(timeout):
            result = recv.recv()
        else:
            log.warning("CoACD ran past %.0f s; stopped", timeout)
            proc.kill()
    except EOFError:
        pass
    proc.join()
    return result if proc.exitcode == 0 else None


def export_cache(keys, folder: Path) -> int:
    """Copy the cache entries ``keys`` (from wherever they are) into ``folder``; returns how many."""
    import shutil
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for key in sorted(keys):
        for src in (shipped_cache_dir() / f"{key}.npz", user_cache_dir() / f"{key}.npz"):
            if src.is_file():
                if src.resolve() != (folder / src.name).resolve():
                    shutil.copy2(src, folder / src.name)
                n += 1
                break
    return n


def decompose(mesh: trimesh.Trimesh, cfg: DecompositionConfig = DEFAULT) -> List[np.ndarray]:
    """Convex pieces from CoACD; if it crashes, once more with its manifold pre-processing forced on
    (it repairs self-intersections), then the convex hull with a warning."""
    m = mesh
    if len(m.faces) > cfg.max_faces:
        m = m.simplify_quadric_decimation(face_count=cfg.max_faces)
    params = {k: v for k, v in asdict(cfg).items() if k not in ("convex_ratio", "max_faces")}
    v, f = np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int32)
    for extra in ({}, {"preprocess_mode": "on"}):
        parts = _coacd_in_child(v, f, {**params, **extra})
        if parts is not None:
            pieces = [p for p in parts if len(p) >= 4]
            if pieces:
                return pieces
    log.warning("CoACD failed on a mesh of %d faces; it collides as its convex hull", len(m.faces))
    return [np.asarray(mesh.convex_hull.vertices, np.float64)]


def pieces_volume(pieces: List[np.ndarray]) -> float:
    total = 0.0
    for p in pieces:
        try:
            total += trimesh.convex.convex_hull(p).volume
        except Exception:  # noqa: BLE001 - a flat piece has no volume
            pass
    return total


def bulge(mesh: trimesh.Trimesh, pieces: List[np.ndarray], samples: int = 300) -> Optional[float]:
    """How far (m) the convex pieces' surfaces stand out of a closed mesh: the largest, over the
    pieces, of the 99th percentile of their surface points' distance outside it. A piece that
    bridges a concave corner (a jar's shoulder under its lid, the waist of a kettle) is touched
    in the twin where the real object has air: a finger "touches the body" beside the handle.
    None for a mesh that is not closed (inside and outside are unknown)."""
    import open3d as o3d

    if not mesh.is_watertight or not pieces:
        return None
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))
    worst = 0.0
    for p in pieces:
        try:
            hull = trimesh.convex.convex_hull(p)
        except Exception:  # noqa: BLE001 - qhull fails on a flat piece, which stands out of nothing
            continue
        pts, _ = trimesh.sample.sample_surface(hull, samples, seed=0)
        d = scene.compute_signed_distance(o3d.core.Tensor(pts.astype(np.float32))).numpy()
        worst = max(worst, float(np.quantile(np.clip(d, 0.0, None), 0.99)))
    return worst
