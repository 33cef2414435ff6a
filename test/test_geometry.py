import numpy as np
import pytest
import transforms3d

from affordance_grasp.geometry import (base_to_camera, camera_to_base, deproject_depth, deproject_pixels,
                                       invert_transform, look_at, make_transform, project_base_points,
                                       project_points, rotation_angle_between)
from affordance_grasp.types import CameraIntrinsics

K = CameraIntrinsics(500.0, 400.0, 320.0, 240.0, 640, 480)


def test_deproject_pixel_hand_computed():
    # u=420 is 100 px right of cx: x = 100/500 * 2 m = 0.4; v=140 is 100 px up: y = -100/400 * 2 = -0.5
    p = deproject_pixels([[420, 140]], [2.0], K)
    assert np.allclose(p, [[0.4, -0.5, 2.0]])


def test_project_inverts_deproject_and_behind_camera_is_nan():
    uv, z = project_points([[0.4, -0.5, 2.0], [0, 0, -1.0]], K)
    assert np.allclose(uv[0], [420, 140]) and z[0] == 2.0
    assert np.all(np.isnan(uv[1]))


def test_deproject_depth_image_skips_invalid():
    d = np.full((480, 640), np.nan, np.float32)
    d[240, 320] = 1.5
    d[0, 0] = 0.0
    pts, vu = deproject_depth(d, K)
    assert pts.shape == (1, 3) and np.allclose(pts[0], [0, 0, 1.5]) and tuple(vu[0]) == (240, 320)


def test_camera_base_round_trip_hand_computed():
    # Camera 1 m above the origin looking straight down; image x right = base -y... check by hand:
    T = look_at([0, 0, 1.0], [0, 0, 0], up=(1, 0, 0))
    # optical z = (0,0,-1); x = z cross up = (0,0,-1)x(1,0,0) = (0,-1,0); y = z cross x = (-1,0,0)
    assert np.allclose(T[:3, :3], [[0, -1, 0], [-1, 0, 0], [0, 0, -1]])
    assert np.allclose(camera_to_base([[0.1, 0.2, 1.0]], T), [[-0.2, -0.1, 0.0]])
    assert np.allclose(base_to_camera([[-0.2, -0.1, 0.0]], T), [[0.1, 0.2, 1.0]])
    assert np.allclose(invert_transform(T) @ T, np.eye(4))
    uv, z = project_base_points([[0, 0, 0]], T, K)
    assert np.allclose(uv, [[320, 240]]) and np.isclose(z[0], 1.0)


def test_rotation_angle():
    R = transforms3d.euler.euler2mat(0, 0, 0.3)
    assert rotation_angle_between(np.eye(3), R) == pytest.approx(0.3)
    assert np.allclose(make_transform(R, [1, 2, 3])[:3, 3], [1, 2, 3])


def test_camera_mount_urdf_matches_the_twin_camera():
    """The shipped URDF and the sim's default camera must agree (RViz shows what the sim sees)."""
    import xml.etree.ElementTree as ET
    from pathlib import Path
    from affordance_grasp.sim.world import CameraConfig
    root = ET.parse(Path(__file__).resolve().parents[1] / "urdf" / "camera_mount.urdf").getroot()
    T = np.eye(4)
    for name in ("camera_joint", "camera_color_optical_joint"):
        o = root.find(f"joint[@name='{name}']/origin")
        xyz = [float(v) for v in o.get("xyz").split()]
        rpy = [float(v) for v in o.get("rpy").split()]
        T = T @ make_transform(transforms3d.euler.euler2mat(*rpy, "sxyz"), xyz)
    assert np.allclose(T, CameraConfig().T_base_camera(), atol=1e-4)
