"""RViz messages: gripper-shaped grasp markers coloured by score, and the scene cloud coloured
by affordance (PointCloud2 built from a numpy record array; sensor_msgs_py is not installable)."""
from __future__ import annotations

from typing import List, Optional

import cv2
import numpy as np

from ..grasping.gripper import GripperGeometry
from ..types import AffordanceMap, Grasp
from ..geometry import pixel_indices, project_base_points


def _gripper_lines(g: Grasp, geo: GripperGeometry) -> np.ndarray:
    """Segments (N, 2, 3) of a two-finger gripper in the base frame: palm bar, two fingers, stem."""
    half = min(g.width / 2 + 0.005, geo.max_opening / 2)
    finger = -geo.finger_z_min + geo.finger_z_max  # pad top down to the fingertip
    local = np.array([
        [[0, -half, -finger], [0, half, -finger]],      # palm
        [[0, -half, -finger], [0, -half, geo.finger_z_max]],  # finger 1
        [[0, half, -finger], [0, half, geo.finger_z_max]],    # finger 2
        [[0, 0, -finger], [0, 0, -finger - 0.04]],      # stem towards the wrist
    ])
    R, t = g.pose[:3, :3], g.pose[:3, 3]
    return local @ R.T + t


def grasp_markers(grasps: List[Grasp], frame_id: str, stamp, chosen: Optional[Grasp] = None,
                  geo: Optional[GripperGeometry] = None, ns: str = "grasps"):
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker, MarkerArray

    geo = geo or GripperGeometry.from_yaml()
    arr = MarkerArray()
    clear = Marker()
    clear.action = Marker.DELETEALL
    arr.markers.append(clear)
    if not grasps:
        return arr
    scores = np.array([g.score for g in grasps])
    lo, hi = float(scores.min()), float(scores.max())
    cmap = cv2.applyColorMap(np.linspace(0, 255, 256).astype(np.uint8).reshape(-1, 1), cv2.COLORMAP_VIRIDIS)[:, 0, ::-1]
    for i, g in enumerate(grasps):
        is_chosen = chosen is not None and g is chosen
        m = Marker()
        m.header.frame_id, m.header.stamp = frame_id, stamp
        m.ns, m.id, m.type, m.action = ns, i, Marker.LINE_LIST, Marker.ADD
        m.pose.orientation.w = 1.0
        m.scale.x = 0.004 if is_chosen else 0.0015
        if is_chosen:
            m.color = ColorRGBA(r=1.0, g=0.0, b=1.0, a=1.0)
        else:
            c = cmap[int(255 * (g.score - lo) / (hi - lo)) if hi > lo else 255] / 255.0
            m.color = ColorRGBA(r=float(c[0]), g=float(c[1]), b=float(c[2]), a=0.8)
        for seg in _gripper_lines(g, geo):
            m.points += [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in seg]
        arr.markers.append(m)
    return arr


def affordance_cloud(points: np.ndarray, amap: Optional[AffordanceMap], frame, frame_id: str, stamp):
    """PointCloud2 (x, y, z, rgb) in the base frame; colour = the heatmap under each point's pixel
    (jet), grey where there is no heat."""
    from sensor_msgs.msg import PointCloud2, PointField

    pts = np.asarray(points, np.float32).reshape(-1, 3)
    if amap is not None and len(pts):
        uv, _ = project_base_points(pts.astype(float), frame.T_base_camera, frame.intrinsics)
        inside, ui, vi = pixel_indices(uv, *amap.heatmap.shape)
        heat = amap.heatmap / max(float(amap.heatmap.max()), 1e-12)
        v = np.where(inside, heat[vi, ui], 0.0)
        rgb = cv2.applyColorMap((255 * v).astype(np.uint8).reshape(-1, 1), cv2.COLORMAP_JET)[:, 0, ::-1].astype(np.uint32)
        rgb[v < 0.05] = 140
    else:
        rgb = np.full((len(pts), 3), 140, np.uint32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    rec = np.zeros(len(pts), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4")])
    rec["x"], rec["y"], rec["z"], rec["rgb"] = pts[:, 0], pts[:, 1], pts[:, 2], packed
    msg = PointCloud2()
    msg.header.frame_id, msg.header.stamp = frame_id, stamp
    msg.height, msg.width = 1, len(pts)
    msg.fields = [PointField(name=n, offset=o, datatype=PointField.FLOAT32, count=1) for n, o in (("x", 0), ("y", 4), ("z", 8))]
    msg.fields.append(PointField(name="rgb", offset=12, datatype=PointField.UINT32, count=1))
    msg.is_bigendian, msg.point_step, msg.row_step, msg.is_dense = False, 16, 16 * len(pts), True
    msg.data = rec.tobytes()
    return msg
