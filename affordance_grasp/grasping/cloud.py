"""RGB-D frame -> scene point cloud in the base frame (open3d): workspace crop, voxel grid,
normals towards the camera, table plane removal (RANSAC), object clusters (DBSCAN)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np
import open3d as o3d

from ..errors import EmptyCloudError, InvalidInputError
from ..geometry import camera_to_base, deproject_depth, pixel_indices, project_base_points
from ..timing import StageTimes
from ..types import RGBDFrame


@dataclass
class CloudConfig:
    workspace_min: Tuple[float, float, float] = (0.15, -0.45, -0.02)  # base frame, m
    workspace_max: Tuple[float, float, float] = (0.90, 0.45, 0.40)
    stride: int = 2             # deproject every n-th pixel: 640x480 at ~1 m is far denser than the voxel
    voxel: float = 0.004
    normal_radius: float = 0.012
    plane_distance: float = 0.006
    cluster_eps: float = 0.012
    cluster_min_points: int = 12
    # A cluster this small lying this close to another is a piece of it that occlusion cut off
    # (a mug handle behind its body, a spatula blade beyond a noisy gap): merged into it.
    fragment_points: int = 120
    fragment_distance: float = 0.035
    # Clusters this close are one object whatever their size: DBSCAN splits an object at a thin,
    # sparsely sampled joint (a mug's handle where it meets the body, 4 mm apart), and two objects
    # whose points are this close cannot be told apart by geometry anyway.
    touch_distance: float = 0.006
    seed: int = 0

    def validate(self) -> "CloudConfig":
        if not np.all(np.asarray(self.workspace_max) > np.asarray(self.workspace_min)):
            raise InvalidInputError("cloud workspace_max must exceed workspace_min on every axis")
        for name in ("voxel", "normal_radius", "plane_distance", "cluster_eps", "fragment_distance", "touch_distance"):
            if not getattr(self, name) > 0:
                raise InvalidInputError(f"cloud.{name} must be > 0")
        return self


def join_touching(cloud: o3d.geometry.PointCloud, labels: np.ndarray, max_distance: float) -> np.ndarray:
    """Relabel clusters whose nearest points are within ``max_distance`` as one (transitively)."""
    labels = labels.copy()
    ids = [int(i) for i in np.unique(labels[labels >= 0])]
    parts = {i: cloud.select_by_index(np.nonzero(labels == i)[0].tolist()) for i in ids}
    root = {i: i for i in ids}

    def find(i):
        while root[i] != i:
            i = root[i]
        return i

    for k, a in enumerate(ids):
        for b in ids[k + 1:]:
            if find(a) != find(b) and float(np.min(parts[a].compute_point_cloud_distance(parts[b]))) <= max_distance:
                root[find(b)] = find(a)
    for i in ids:
        labels[labels == i] = find(i)
    return labels


def merge_fragments(cloud: o3d.geometry.PointCloud, labels: np.ndarray, max_points: int,
                    max_distance: float) -> np.ndarray:
    """Relabel every cluster of fewer than ``max_points`` points as the nearest larger cluster
    when that one lies within ``max_distance``. Smallest fragments go first."""
    labels = labels.copy()
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    size = dict(zip(ids.tolist(), counts.tolist()))
    for frag in sorted(size, key=size.get):
        if size[frag] >= max_points:
            break
        piece = cloud.select_by_index(np.nonzero(labels == frag)[0].tolist())
        best, best_d = None, max_distance
        for other in size:
            if other == frag or size[other] <= size[frag]:
                continue
            d = float(np.min(piece.compute_point_cloud_distance(
                cloud.select_by_index(np.nonzero(labels == other)[0].tolist()))))
            if d <= best_d:
                best, best_d = other, d
        if best is not None:
            labels[labels == frag] = best
            size[best] += size.pop(frag)
    return labels


@dataclass
class SceneCloud:
    """Voxelised scene. Every array is indexed by point; ``pixels`` are [v, u] of a source pixel."""

    points: np.ndarray        # (N, 3) base frame
    normals: np.ndarray       # (N, 3) unit, facing the camera
    pixels: np.ndarray        # (N, 2) int
    is_table: np.ndarray      # (N,) bool
    cluster: np.ndarray       # (N,) int, -1 for table / noise
    target: np.ndarray        # (N,) bool: where grasp contacts may go
    camera_position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    table_height: float = 0.0
    frame: Optional[RGBDFrame] = None  # the source frame, for free-space tests
    times: StageTimes = field(default_factory=StageTimes)  # how long each building stage took
    body: Optional[np.ndarray] = None  # (N,) bool: the whole object the target belongs to, when the
                                       # target is one part of it (its weight acts at the body's centroid)
    grip: Optional[np.ndarray] = None  # (N,) bool: the part the fingers are to take, when known (the
                                       # requested part's heat): the mass model weighs it apart
    mass_range: Optional[Tuple[float, float]] = None  # the target's typical mass (kg), when its kind is known
    elsewhere: Optional[np.ndarray] = None  # (N,) bool: points of the target clearly off the part asked for
                                            # (its heat near zero): a pad reaching them touches another part

    def observed_free(self, points: np.ndarray, tol: float = 0.004) -> np.ndarray:
        """True where a point lies in front of the measured surface along its camera ray, i.e.
        the camera saw through it. Points behind a surface are unknown, not free. Pixels without
        depth count as free (no evidence either way); without a frame everything is free."""
        if self.frame is None:
            return np.ones(len(points), bool)
        uv, z = project_base_points(points, self.frame.T_base_camera, self.frame.intrinsics)
        inside, ui, vi = pixel_indices(uv, *self.frame.depth.shape)
        measured = self.frame.depth[vi, ui]
        return ~inside | ~np.isfinite(measured) | (z < measured + tol)

    def body_mask(self) -> np.ndarray:
        """(N,) bool: the points of the target's whole object (the target's object points when no
        body is given)."""
        if self.body is None:
            return self.target & self.objects
        body = np.asarray(self.body, bool)
        if body.shape != self.target.shape:
            raise InvalidInputError(f"SceneCloud.body has shape {body.shape}, the cloud {self.target.shape}")
        return (body | self.target) & self.objects

    def other_part_mask(self) -> np.ndarray:
        """(N,) bool: the points of the target's object that belong to another part than the one
        asked for: the body outside the target when the target is one part of a known body, else
        the points the request's heat marks as elsewhere (none when neither is known)."""
        if self.body is not None:
            return self.body_mask() & ~self.target
        if self.elsewhere is not None:
            elsewhere = np.asarray(self.elsewhere, bool)
            if elsewhere.shape != self.target.shape:
                raise InvalidInputError(f"SceneCloud.elsewhere has shape {elsewhere.shape}, the cloud "
                                        f"{self.target.shape}")
            return elsewhere & self.target & self.objects
        return np.zeros(len(self.target), bool)

    def grip_mask(self) -> Optional[np.ndarray]:
        """(N,) bool: the part the fingers are to take within the body (None when unknown). When
        the target is one part of a body, the target is that part."""
        body = self.body_mask()
        if self.grip is not None:
            grip = np.asarray(self.grip, bool)
            if grip.shape != self.target.shape:
                raise InvalidInputError(f"SceneCloud.grip has shape {grip.shape}, the cloud {self.target.shape}")
            return grip & body
        if self.body is not None:
            return self.target & body
        return None

    @property
    def objects(self) -> np.ndarray:
        return ~self.is_table

    def __len__(self) -> int:
        return len(self.points)


def refine_plane(points: np.ndarray, plane: np.ndarray, distance: float, iterations: int = 3):
    """(unit normal, offset, inlier mask) of the least-squares plane through the points within
    ``distance`` of ``plane`` (a, b, c, d), refitted on its own inliers ``iterations`` times.
    Open3D's RANSAC runs its iterations on several threads and returns a slightly different plane
    from run to run (the same frame gave table heights 1e-7 m apart and one object point more or
    less, so candidates differed between runs of one benchmark); the refit lands on the same
    inliers, and so the same plane, from any of them."""
    plane = np.asarray(plane, float)
    scale = np.linalg.norm(plane[:3])
    n, d = plane[:3] / scale, plane[3] / scale
    near = np.abs(points @ n + d) < distance
    for _ in range(iterations):
        if near.sum() < 3:
            break
        c = points[near].mean(0)
        normal = np.linalg.svd(points[near] - c, full_matrices=False)[2][2]
        n = normal if normal @ n >= 0 else -normal
        d = -float(n @ c)
        now = np.abs(points @ n + d) < distance
        if np.array_equal(now, near):
            break
        near = now
    return n, d, near


def build_scene_cloud(frame: RGBDFrame, cfg: Optional[CloudConfig] = None,
                      target_mask: Optional[np.ndarray] = None,
                      target_box: Optional[np.ndarray] = None) -> SceneCloud:
    """``target_mask`` (H, W bool) or ``target_box`` [x0 y0 x1 y1] restrict where grasps may be;
    the whole scene is kept for collision checks."""
    cfg = (cfg or CloudConfig()).validate()
    if not isinstance(frame, RGBDFrame):
        raise InvalidInputError(f"expected an RGBDFrame, got {type(frame).__name__}")
    times = StageTimes()
    with times.stage("crop"):
        pts_cam, vu = deproject_depth(frame.depth, frame.intrinsics, stride=cfg.stride)
        if len(pts_cam) == 0:
            raise EmptyCloudError("the depth image has no valid pixels")
        pts = camera_to_base(pts_cam, frame.T_base_camera)
        lo, hi = np.asarray(cfg.workspace_min), np.asarray(cfg.workspace_max)
        keep = np.all((pts >= lo) & (pts <= hi), axis=1)
        if keep.sum() < 10:
            raise EmptyCloudError(f"only {int(keep.sum())} points inside the workspace {cfg.workspace_min} .. "
                                  f"{cfg.workspace_max} (base frame); check the camera extrinsics and the workspace")
        pts, vu = pts[keep], vu[keep]

    with times.stage("voxel"):
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
        down = pcd.voxel_down_sample(cfg.voxel)
        # Each voxel centroid's pixel: project it back (cheaper than tracing voxel membership).
        uv, _ = project_base_points(np.asarray(down.points), frame.T_base_camera, frame.intrinsics)
        _, ui, vi = pixel_indices(uv, frame.intrinsics.height, frame.intrinsics.width)
        vu = np.stack([vi, ui], axis=1)
        cam_pos = frame.T_base_camera[:3, 3]
        points = np.asarray(down.points)

    # Table first: RANSAC needs no normals, and most points are table, so normals are then
    # estimated on the objects only (the table's normal is the plane's).
    o3d.utility.random.seed(cfg.seed)
    is_table = np.zeros(len(points), bool)
    table_height = float(points[:, 2].min())
    up = np.array([0.0, 0.0, 1.0])
    if len(points) >= 50:
        with times.stage("plane"):
            plane, _ = down.segment_plane(cfg.plane_distance, 3, 300)
            n, d, inliers = refine_plane(points, np.asarray(plane), cfg.plane_distance)
        if abs(n[2]) > 0.9:  # only a horizontal plane is the table
            sign = 1.0 if n[2] > 0 else -1.0
            up = n * sign
            height = (points @ n + d) * sign
            is_table = height < cfg.plane_distance
            table_height = float(np.median(points[inliers, 2]))
    normals = np.tile(up, (len(points), 1))
    cluster = np.full(len(points), -1, int)
    obj_idx = np.nonzero(~is_table)[0]
    if len(obj_idx):
        objs = down.select_by_index(obj_idx.tolist())
        with times.stage("normals"):
            objs.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=cfg.normal_radius, max_nn=30))
            objs.orient_normals_towards_camera_location(cam_pos)
            normals[obj_idx] = np.asarray(objs.normals)
        with times.stage("cluster"):
            labels = np.asarray(objs.cluster_dbscan(cfg.cluster_eps, cfg.cluster_min_points))
        with times.stage("join clusters"):
            labels = join_touching(objs, labels, cfg.touch_distance)
            cluster[obj_idx] = merge_fragments(objs, labels, cfg.fragment_points, cfg.fragment_distance)
    target = ~is_table
    if target_mask is not None:
        m = np.asarray(target_mask, bool)
        if m.shape != frame.depth.shape:
            raise InvalidInputError(f"target mask shape {m.shape} does not match the frame {frame.depth.shape}")
        target &= m[vu[:, 0], vu[:, 1]]
    if target_box is not None:
        x0, y0, x1, y1 = np.asarray(target_box, float).reshape(4)
        target &= (vu[:, 1] >= x0) & (vu[:, 1] <= x1) & (vu[:, 0] >= y0) & (vu[:, 0] <= y1)
    return SceneCloud(points, normals, vu, is_table, cluster, target, cam_pos, table_height, frame, times)
