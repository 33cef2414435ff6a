"""Camera geometry shared by every stage: deprojection, projection, frame changes.

Pinhole model in the optical frame (z forward, x right, y down). Distortion is ignored here:
frames are expected to be rectified (RealSense colour streams and the sim camera are).
"""
from __future__ import annotations

import numpy as np
import transforms3d

from .errors import InvalidInputError
from .types import CameraIntrinsics, check_transform


def deproject_pixels(uv: np.ndarray, depth: np.ndarray, K: CameraIntrinsics) -> np.ndarray:
    """Pixels (N, 2) [u, v] with depths (N,) in metres -> points (N, 3) in the optical frame."""
    uv = np.asarray(uv, np.float64).reshape(-1, 2)
    z = np.asarray(depth, np.float64).reshape(-1)
    if z.shape[0] != uv.shape[0]:
        raise InvalidInputError(f"got {uv.shape[0]} pixels but {z.shape[0]} depths")
    x = (uv[:, 0] - K.cx) / K.fx * z
    y = (uv[:, 1] - K.cy) / K.fy * z
    return np.stack([x, y, z], axis=1)


def deproject_depth(depth: np.ndarray, K: CameraIntrinsics, stride: int = 1):
    """Depth image -> (points (N, 3) optical frame, pixel indices (N, 2) [v, u]) of valid pixels."""
    depth = np.asarray(depth)
    if depth.shape != (K.height, K.width):
        raise InvalidInputError(f"depth shape {depth.shape} does not match intrinsics {(K.height, K.width)}")
    vs, us = np.mgrid[0:K.height:stride, 0:K.width:stride]
    z = depth[vs, us]
    valid = np.isfinite(z) & (z > 0)
    vu = np.stack([vs[valid], us[valid]], axis=1)
    pts = deproject_pixels(vu[:, ::-1], z[valid], K)
    return pts, vu


def project_points(points: np.ndarray, K: CameraIntrinsics):
    """Optical-frame points (N, 3) -> (pixels (N, 2) [u, v] float, depth (N,)). Points at or
    behind the camera get NaN pixels."""
    p = np.asarray(points, np.float64).reshape(-1, 3)
    z = p[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(z > 1e-9, K.fx * p[:, 0] / z + K.cx, np.nan)
        v = np.where(z > 1e-9, K.fy * p[:, 1] / z + K.cy, np.nan)
    return np.stack([u, v], axis=1), z


def pixel_indices(uv: np.ndarray, height: int, width: int):
    """Float pixels (..., 2) -> (inside mask, column index, row index); indices are clipped into
    the image so they can always be used, the mask says which ones are real."""
    uv = np.asarray(uv, np.float64)
    u, v = uv[..., 0], uv[..., 1]
    inside = np.isfinite(u) & np.isfinite(v) & (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)
    ui = np.clip(np.nan_to_num(np.round(u)), 0, width - 1).astype(int)
    vi = np.clip(np.nan_to_num(np.round(v)), 0, height - 1).astype(int)
    return inside, ui, vi


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 rigid transform to points (N, 3)."""
    p = np.asarray(points, np.float64).reshape(-1, 3)
    return p @ T[:3, :3].T + T[:3, 3]


def invert_transform(T: np.ndarray) -> np.ndarray:
    T = check_transform("T", T)
    Ti = np.eye(4)
    Ti[:3, :3] = T[:3, :3].T
    Ti[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return Ti


def camera_to_base(points_cam: np.ndarray, T_base_camera: np.ndarray) -> np.ndarray:
    return transform_points(T_base_camera, points_cam)


def base_to_camera(points_base: np.ndarray, T_base_camera: np.ndarray) -> np.ndarray:
    return transform_points(invert_transform(T_base_camera), points_base)


def project_base_points(points_base: np.ndarray, T_base_camera: np.ndarray, K: CameraIntrinsics):
    """Base-frame points -> (pixels [u, v], optical depth)."""
    return project_points(base_to_camera(points_base, T_base_camera), K)


def make_transform(R=None, t=None) -> np.ndarray:
    T = np.eye(4)
    if R is not None:
        T[:3, :3] = R
    if t is not None:
        T[:3, 3] = t
    return T


def pose_from_quat(position, quat_wxyz) -> np.ndarray:
    return make_transform(transforms3d.quaternions.quat2mat(quat_wxyz), position)


def quat_from_pose(T: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a pose's rotation."""
    return transforms3d.quaternions.mat2quat(np.asarray(T)[:3, :3])


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Pose of an optical frame at ``eye`` whose z axis points at ``target`` (y down in the image)."""
    eye, target, up = (np.asarray(a, np.float64) for a in (eye, target, up))
    z = target - eye
    n = np.linalg.norm(z)
    if n < 1e-9:
        raise InvalidInputError("look_at: eye and target coincide")
    z /= n
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-6:
        raise InvalidInputError("look_at: viewing direction is parallel to 'up'")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return make_transform(np.stack([x, y, z], axis=1), eye)


def rotation_angle_between(Ra: np.ndarray, Rb: np.ndarray) -> float:
    """Geodesic angle (rad) between two rotation matrices."""
    _, angle = transforms3d.axangles.mat2axangle(np.asarray(Ra).T @ np.asarray(Rb), unit_thresh=1e-5)
    return abs(float(angle))
