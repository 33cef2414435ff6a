"""Core types <-> ROS messages. Nodes call these and nothing else converts."""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..geometry import pose_from_quat, quat_from_pose
from ..types import AffordanceMap, CameraIntrinsics, Grasp, GraspOutcome, RGBDFrame
from .image_conversions import depth_from_image, numpy_to_image, rgb_from_image


def stamp_to_sec(stamp) -> float:
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


# --------------------------------------------------------------------------- camera
# Models whose small coefficients a pinhole back-projection can ignore (realsense-ros publishes
# plumb_bob; librealsense's own names for the same polynomial family are accepted too). A fisheye
# (equidistant) lens with real coefficients would put every point in the wrong place.
NEAR_PINHOLE_MODELS = ("", "plumb_bob", "rational_polynomial", "brown_conrady", "modified_brown_conrady",
                       "inverse_brown_conrady")
MAX_DEPTH_M = 10.0     # beyond any tabletop camera's range: a depth image with nothing nearer is wrong
MIN_MEDIAN_DEPTH_M = 0.05


def camera_info_to_intrinsics(msg) -> CameraIntrinsics:
    k = list(msg.k)
    if msg.width == 0 or msg.height == 0 or len(k) != 9 or k[0] <= 0 or k[4] <= 0:
        raise InvalidInputError(f"camera_info is not calibrated (width {msg.width}, height {msg.height}, "
                                f"fx {k[0] if k else None}); check the camera driver")
    model = str(msg.distortion_model).strip().lower()
    if model not in NEAR_PINHOLE_MODELS and any(abs(float(d)) > 1e-9 for d in msg.d):
        raise InvalidInputError(f"camera_info distortion model {msg.distortion_model!r} with coefficients "
                                f"{[round(float(d), 4) for d in msg.d]} is not handled: rectify the images first "
                                f"(image_proc) or publish a pinhole model ({', '.join(m for m in NEAR_PINHOLE_MODELS if m)})")
    return CameraIntrinsics(k[0], k[4], k[2], k[5], int(msg.width), int(msg.height),
                            distortion=tuple(float(d) for d in msg.d))


def intrinsics_to_camera_info(K: CameraIntrinsics, frame_id: str, stamp=None, msg=None,
                              distortion_model: str = "plumb_bob"):
    if msg is None:
        from sensor_msgs.msg import CameraInfo
        msg = CameraInfo()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.width, msg.height = int(K.width), int(K.height)
    msg.distortion_model = distortion_model
    d = list(K.distortion) if K.distortion else [0.0] * 5
    msg.d = [float(x) for x in d]
    msg.k = [K.fx, 0.0, K.cx, 0.0, K.fy, K.cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [K.fx, 0.0, K.cx, 0.0, 0.0, K.fy, K.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def frame_from_msgs(color, depth, info, T_base_camera: np.ndarray, depth_scale: float = 0.001) -> RGBDFrame:
    """A synchronised colour + aligned depth + camera_info triple -> RGBDFrame (validated)."""
    K = camera_info_to_intrinsics(info)
    rgb = rgb_from_image(color)
    d = depth_from_image(depth, depth_scale)
    if rgb.shape[:2] != d.shape or d.shape != (K.height, K.width):
        raise InvalidInputError(f"colour {rgb.shape[:2]}, depth {d.shape} and camera_info {(K.height, K.width)} "
                                f"sizes differ: is the depth aligned to colour?")
    check_depth_values(d, depth.encoding, depth_scale)
    return RGBDFrame(rgb, d, K, T_base_camera, stamp=stamp_to_sec(color.header.stamp),
                     frame_id=color.header.frame_id or "camera_color_optical_frame")


def check_depth_values(d: np.ndarray, encoding: str, depth_scale: float) -> None:
    """Refuse a depth image that cannot describe a table in front of a camera: nothing valid,
    nothing in range, or values so small they must be in the wrong unit."""
    valid = np.isfinite(d) & (d > 0)
    if not valid.any():
        raise InvalidInputError(f"depth image ({encoding}) has no valid pixel: all zero, NaN or inf")
    in_range = valid & (d < MAX_DEPTH_M)
    if not in_range.any():
        raise InvalidInputError(f"depth image ({encoding}) has nothing nearer than {MAX_DEPTH_M:.0f} m "
                                f"(nearest {float(d[valid].min()):.1f} m): check depth_scale ({depth_scale} m per unit)")
    median = float(np.median(d[in_range]))
    if median < MIN_MEDIAN_DEPTH_M:
        raise InvalidInputError(f"depth image ({encoding}) has a median depth of {median * 1000:.1f} mm: are "
                                f"the values in the wrong unit (metres in an integer image)? depth_scale is "
                                f"{depth_scale} m per unit")


def pose_param_to_matrix(values: Sequence[float], name: str = "camera_pose") -> np.ndarray:
    """[x y z qw qx qy qz] -> 4x4."""
    v = np.asarray(list(values), float)
    if v.shape != (7,) or not np.all(np.isfinite(v)) or abs(np.linalg.norm(v[3:]) - 1) > 1e-3:
        raise InvalidInputError(f"{name} must be [x, y, z, qw, qx, qy, qz] with a unit quaternion, got {list(values)}")
    return pose_from_quat(v[:3], v[3:])


# --------------------------------------------------------------------------- grasps
def grasp_to_msg(g: Grasp, frame_id: str, stamp=None):
    from geometry_msgs.msg import Point
    from affordance_grasp.msg import Grasp as GraspMsg

    m = GraspMsg()
    m.pose.header.frame_id = frame_id
    if stamp is not None:
        m.pose.header.stamp = stamp
    p, q = g.position, quat_from_pose(g.pose)
    m.pose.pose.position.x, m.pose.pose.position.y, m.pose.pose.position.z = (float(x) for x in p)
    o = m.pose.pose.orientation
    o.w, o.x, o.y, o.z = (float(x) for x in q)
    m.width, m.quality = float(g.width), float(g.quality)
    m.affordance_score, m.total_score = float(g.affordance_score), float(g.score)
    m.contacts = [Point(x=float(c[0]), y=float(c[1]), z=float(c[2])) for c in g.contacts]
    m.hold_probability = float(g.hold)
    return m


def grasp_from_msg(m) -> Grasp:
    """Validates everything: a NaN pose or a negative width raises InvalidInputError."""
    p, o = m.pose.pose.position, m.pose.pose.orientation
    q = np.array([o.w, o.x, o.y, o.z], float)
    n = np.linalg.norm(q)
    if not np.isfinite(n) or abs(n - 1.0) > 1e-3:
        raise InvalidInputError(f"grasp orientation is not a unit quaternion (norm {n:.4f})")
    T = pose_from_quat([p.x, p.y, p.z], q / n)
    contacts = np.array([[c.x, c.y, c.z] for c in m.contacts], float)
    if not m.pose.header.frame_id:
        raise InvalidInputError("grasp pose has no frame_id: say which frame it is in (the robot's base frame)")
    hold = float(m.hold_probability)
    if not 0.0 <= hold <= 1.0:
        raise InvalidInputError(f"grasp hold_probability must be in [0, 1], got {hold}")
    return Grasp(T, float(m.width), float(m.quality), float(m.affordance_score), float(m.total_score),
                 contacts, frame_id=m.pose.header.frame_id, hold=hold)


# --------------------------------------------------------------------------- affordance
def affordance_map_to_msg(amap: AffordanceMap, header):
    from affordance_grasp.msg import AffordanceMap as AffordanceMapMsg

    m = AffordanceMapMsg()
    m.header = header
    q = amap.query
    m.query, m.object, m.affordance, m.part = q.text, q.object, q.affordance, q.part
    m.heatmap = numpy_to_image(amap.heatmap.astype(np.float32), "32FC1")
    m.heatmap.header = header
    m.boxes = [float(x) for x in amap.boxes.reshape(-1)]
    m.points = [float(x) for x in amap.points.reshape(-1)]
    m.model_id = amap.model_id
    return m


def timings_to_fields(timings: dict):
    stages = list(timings)
    return stages, [float(timings[s]) for s in stages]


def generation_fields(counts: dict):
    """A GenerationReport's dict as the parallel name/count arrays of DetectGrasps."""
    names, values = [], []
    for k, v in counts.get("made", {}).items():
        names.append(f"made: {k}")
        values.append(int(v))
    for k, v in counts.get("removed", {}).items():
        names.append(f"removed: {k}")
        values.append(int(v))
    return names, values


def outcome_to_execute_response(o: GraspOutcome, resp, message: str = ""):
    resp.success = bool(o.success)
    resp.failure_reason = o.failure_reason.value
    resp.message = message or ("grasped and lifted" if o.success else f"grasp failed: {o.failure_reason.value}")
    resp.lifted_height = float(o.lifted_height)
    resp.parts_touched = list(o.parts_touched)
    resp.timing_stages, resp.timing_seconds = timings_to_fields(o.timings)
    return resp


def outcome_from_execute_response(resp, grasp: Optional[Grasp] = None) -> GraspOutcome:
    from ..types import FailureReason

    reason = FailureReason(resp.failure_reason) if resp.failure_reason else FailureReason.NONE
    return GraspOutcome(bool(resp.success) and reason is FailureReason.NONE, float(resp.lifted_height),
                        tuple(resp.parts_touched), reason, dict(zip(resp.timing_stages, resp.timing_seconds)),
                        grasp)


def scene_to_msgs(scene) -> list:
    """A SceneModel's boxes as SceneBox messages."""
    from affordance_grasp.msg import SceneBox as SceneBoxMsg
    out = []
    for b in scene.boxes:
        m = SceneBoxMsg(id=b.id, yaw=float(b.yaw), is_target=bool(b.is_target))
        m.center.x, m.center.y, m.center.z = (float(v) for v in b.center)
        m.size.x, m.size.y, m.size.z = (float(v) for v in b.size)
        out.append(m)
    return out


def scene_from_msgs(boxes, table_height: float):
    """SceneBox messages and the table height as a validated SceneModel."""
    from ..types import SceneBox, SceneModel
    return SceneModel(float(table_height), [SceneBox(m.id, [m.center.x, m.center.y, m.center.z],
                                                      [m.size.x, m.size.y, m.size.z], m.yaw, m.is_target)
                                             for m in boxes])
