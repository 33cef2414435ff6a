"""The bad-input matrix: every way a message, a request or a grasp can be wrong, one row each.

Each row builds the input the way a driver, a task planner or a bag would send it and asserts a
typed error (``AffordanceGraspError``) whose message names the problem. These are the checks the
nodes run before anything else (the nodes turn the error into a failed response; the ROS tests
show that for a sample of rows with joint_states watched). Files a user gives us (object YAMLs,
checkpoints, predictor and gripper configs) have their own rows in test_external_objects.py and
test_affordance_model.py.
"""
import ast
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import Image

from affordance_grasp.affordance.query import QueryParser
from affordance_grasp.errors import AffordanceGraspError
from affordance_grasp.execution.base import ExecutionConfig, check_grasp
from affordance_grasp.ros.conversions import (camera_info_to_intrinsics, frame_from_msgs, grasp_from_msg, grasp_to_msg,
                                              intrinsics_to_camera_info)
from affordance_grasp.ros.image_conversions import numpy_to_image
from affordance_grasp.types import CameraIntrinsics, Grasp

K = CameraIntrinsics(600.0, 600.0, 319.5, 239.5, 640, 480)
T = np.eye(4)
T[:3, :3] = np.diag([1.0, -1.0, -1.0])
T[:3, 3] = [0.4, 0.0, 0.8]
PACKAGE = Path(__file__).resolve().parents[1] / "affordance_grasp"


def image(arr: np.ndarray, encoding: str, rows=None) -> Image:
    """An Image message as a driver would fill it, without our own conversion's checks."""
    m = Image()
    m.height, m.width = arr.shape[:2]
    m.encoding, m.step = encoding, arr.strides[0] if arr.size else 0
    m.data = arr.tobytes()[: None if rows is None else rows * m.step]
    return m


def info(**fields):
    m = intrinsics_to_camera_info(K, "camera_color_optical_frame")
    for k, v in fields.items():
        setattr(m, k, v)
    return m


RGB = image(np.zeros((480, 640, 3), np.uint8), "rgb8")
DEPTH = image(np.full((480, 640), 800, np.uint16), "16UC1")


def msgs(color=RGB, depth=DEPTH, cam=None):
    """(colour, depth, camera_info) as a camera driver would publish them."""
    return color, depth, cam if cam is not None else info()


# case -> ((colour, depth, camera_info) messages, what the error must say). The ROS tests publish
# the same messages to a running planner (test_ros_integration.py).
IMAGE_ROWS = {
    "colour as rgba8": (msgs(color=image(np.zeros((480, 640, 4), np.uint8), "rgba8")), "unsupported image encoding"),
    "depth as 16SC1": (msgs(depth=image(np.zeros((480, 640), np.int16), "16SC1")), "unsupported image encoding"),
    "colour image as depth": (msgs(depth=RGB), "not a depth encoding"),
    "depth as 32FC1, all inf": (msgs(depth=image(np.full((480, 640), np.inf, np.float32), "32FC1")), "no valid pixel"),
    "depth all NaN": (msgs(depth=image(np.full((480, 640), np.nan, np.float32), "32FC1")), "no valid pixel"),
    "depth all zero": (msgs(depth=image(np.zeros((480, 640), np.uint16), "16UC1")), "no valid pixel"),
    "depth all beyond range": (msgs(depth=image(np.full((480, 640), 60000, np.uint16), "16UC1")), "nothing nearer"),
    "depth in metres as 16UC1": (msgs(depth=image(np.ones((480, 640), np.uint16), "16UC1")), "wrong unit"),
    "colour half the camera_info size": (msgs(color=image(np.zeros((240, 320, 3), np.uint8), "rgb8")), "sizes differ"),
    "depth not aligned to colour": (msgs(depth=image(np.full((720, 1280), 800, np.uint16), "16UC1")), "sizes differ"),
    "zero-sized image": (msgs(color=image(np.zeros((0, 640, 3), np.uint8), "rgb8")), "zero width or height"),
    "data shorter than height x step": (msgs(color=image(np.zeros((480, 640, 3), np.uint8), "rgb8", rows=100)),
                                        "bytes"),
    "camera_info with zero focal length": (msgs(cam=info(k=[0.0, 0, 319.5, 0, 0.0, 239.5, 0, 0, 1])),
                                           "not calibrated"),
    "camera_info with negative focal length": (msgs(cam=info(k=[-600.0, 0, 319.5, 0, 600, 239.5, 0, 0, 1])),
                                               "not calibrated"),
    "camera_info with NaN principal point": (msgs(cam=info(k=[600.0, 0, float("nan"), 0, 600, 239.5, 0, 0, 1])),
                                             "finite"),
    "camera_info of a fisheye lens": (msgs(cam=info(distortion_model="equidistant", d=[0.1, 0.01, 0.0, 0.0])),
                                      "not handled"),
    "camera_info of zero size": (msgs(cam=info(width=0, height=0)), "not calibrated"),
}

PARSER = QueryParser()
QUERY_ROWS = {
    "empty query": ("", "empty query"),
    "blank query": ("   \t ", "empty query"),
    "10 kB query": ("grasp the mug " * 800, "at most 300"),
    # Not NUL: ROS 2 strings end at a NUL byte, so the nodes would never see what follows it.
    "control characters": ("grasp the mug\x1b[2J by\x07 its handle", "control or invisible"),
    "undecodable bytes (surrogate escapes)": (b"grasp the \xff\xfe mug".decode("utf-8", "surrogateescape"),
                                              "control or invisible"),
    "no action, shell-like": ("mug; rm -rf / && echo done", "no action"),
    "emoji only": ("\U0001f944\U0001f944", "no action|empty|understand"),
    "nothing understood": ("colourless green ideas sleep furiously", "understand"),
}


def grasp_msg(position=(0.5, 0.0, 0.1), quat=(0.0, 1.0, 0.0, 0.0), width=0.04, frame_id="base_link", hold=0.8):
    m = grasp_to_msg(Grasp(np.eye(4), 0.02), frame_id)
    m.hold_probability = hold
    p, o = m.pose.pose.position, m.pose.pose.orientation
    p.x, p.y, p.z = position
    o.w, o.x, o.y, o.z = quat
    m.width = width
    return m


def through_executor_checks(msg):
    return check_grasp(grasp_from_msg(msg), ExecutionConfig().validate(), "base_link")


# case -> (the Grasp message, what the error must say); the ROS tests send the same to execute_grasp.
GRASP_ROWS = {
    "NaN position": (grasp_msg(position=(np.nan, 0.0, 0.1)), "NaN or inf"),
    "inf position": (grasp_msg(position=(0.5, np.inf, 0.1)), "NaN or inf"),
    "NaN orientation": (grasp_msg(quat=(np.nan, 0.0, 0.0, 1.0)), "unit quaternion"),
    "zero quaternion": (grasp_msg(quat=(0.0, 0.0, 0.0, 0.0)), "unit quaternion"),
    "non-unit quaternion": (grasp_msg(quat=(0.0, 2.0, 0.0, 0.0)), "unit quaternion"),
    "empty frame_id": (grasp_msg(frame_id=""), "no frame_id"),
    "width beyond the stroke": (grasp_msg(width=0.2), "exceeds"),
    "negative width": (grasp_msg(width=-0.01), "width"),
    "NaN width": (grasp_msg(width=float("nan")), "width"),
    "pose 5 m away": (grasp_msg(position=(5.0, 0.0, 0.1)), "beyond the arm's reach"),
    "pose in the camera frame": (grasp_msg(frame_id="camera_color_optical_frame"), "expected 'base_link'"),
    "hold probability above 1": (grasp_msg(hold=1.5), "hold_probability"),
}

# case -> ((colour stamp, depth stamp) in seconds from now, or "zero" for an unset clock, what the
# error must say), for frames that are good in every other way. The planners' max_frame_age is 1 s.
STAMP_ROWS = {
    "stamped 10 minutes ago": ((-600.0, -600.0), "stale"),
    "stamped 10 minutes in the future": ((600.0, 600.0), "in the future"),
    "colour and depth 1 s apart": ((0.0, -1.0), "not synchronised"),
    "stamp zero (camera clock never set)": (("zero", "zero"), "stale"),
}


def stamped(now_s: float, offset):
    """A builtin_interfaces Time ``offset`` seconds from ``now_s`` ("zero": the epoch)."""
    from builtin_interfaces.msg import Time

    t = 0.0 if offset == "zero" else now_s + offset
    return Time(sec=int(t), nanosec=int((t - int(t)) * 1e9))


@pytest.mark.parametrize("case", sorted(IMAGE_ROWS))
def test_bad_camera_messages_are_refused_by_name(case):
    (color, depth, cam), words = IMAGE_ROWS[case]
    with pytest.raises(AffordanceGraspError, match=words):
        frame_from_msgs(color, depth, cam, T)


@pytest.mark.parametrize("case", sorted(QUERY_ROWS))
def test_bad_queries_are_refused_by_name(case):
    text, words = QUERY_ROWS[case]
    with pytest.raises(AffordanceGraspError, match=words):
        PARSER.parse(text)


@pytest.mark.parametrize("case", sorted(GRASP_ROWS))
def test_bad_grasps_are_refused_before_any_motion(case):
    msg, words = GRASP_ROWS[case]
    with pytest.raises(AffordanceGraspError, match=words):
        through_executor_checks(msg)


@pytest.mark.parametrize("case", sorted(STAMP_ROWS))
def test_badly_stamped_frames_are_refused_by_name(case):
    from affordance_grasp.ros.frame_buffer import FrameBuffer

    (dc, dd), words = STAMP_ROWS[case]
    now = 1.8e9
    buf = FrameBuffer(("colour", "depth", "info"))
    color, depth, cam = (type(m)() for m in msgs())
    color.header.stamp, depth.header.stamp = stamped(now, dc), stamped(now, dd)
    buf.add_color(color), buf.add_depth(depth), buf.set_info(cam)
    with pytest.raises(AffordanceGraspError, match=words):
        buf.latest(now, max_age=1.0, slop=0.02)
    good = FrameBuffer(("colour", "depth", "info"))
    color.header.stamp = depth.header.stamp = stamped(now, -0.1)
    good.add_color(color), good.add_depth(depth), good.set_info(cam)
    assert good.latest(now, max_age=1.0, slop=0.02)[0] is color


def test_a_good_row_of_each_kind_passes():
    """The matrix refuses what is wrong, not everything: the same builders with good values pass."""
    f = frame_from_msgs(*msgs(), T)
    assert f.depth.shape == (480, 640) and np.nanmedian(f.depth) == pytest.approx(0.8)
    assert PARSER.parse("grasp the mug by its handle").object == "mug"
    g = through_executor_checks(grasp_msg())
    assert g.width == pytest.approx(0.04) and g.frame_id == "base_link"
    assert camera_info_to_intrinsics(info(distortion_model="plumb_bob", d=[0.01, -0.02, 0.0, 0.0, 0.0])).fx == 600.0


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            yield name, node


def test_files_are_read_safely_and_no_user_text_reaches_a_shell():
    """torch.load only with weights_only=True, YAML only through safe_load, no shell anywhere."""
    bad, seen = [], {"torch.load": 0, "yaml.safe_load": 0}
    for path in PACKAGE.rglob("*.py"):
        for name, call in _calls(path):
            kw = {k.arg: k.value for k in call.keywords}
            owner = getattr(getattr(call.func, "value", None), "id", "")
            if f"{owner}.{name}" in seen:
                seen[f"{owner}.{name}"] += 1
            if name == "load" and isinstance(call.func, ast.Attribute) and getattr(call.func.value, "id", "") == "torch":
                if not (isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                    bad.append(f"{path.name}:{call.lineno} torch.load without weights_only=True")
            if name in ("load", "load_all", "unsafe_load") and getattr(call.func, "value", None) is not None \
                    and getattr(call.func.value, "id", "") == "yaml":
                bad.append(f"{path.name}:{call.lineno} yaml.{name} (use yaml.safe_load)")
            if name == "system" and getattr(getattr(call.func, "value", None), "id", "") == "os":
                bad.append(f"{path.name}:{call.lineno} os.system")
            if isinstance(kw.get("shell"), ast.Constant) and kw["shell"].value is True and name in (
                    "run", "Popen", "call", "check_call", "check_output"):
                bad.append(f"{path.name}:{call.lineno} subprocess with shell=True")
    assert not bad, bad
    assert all(seen.values()), f"the scan found no call to check: {seen}"
