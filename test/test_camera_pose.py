"""The camera-pose sources of the camera input (ros/camera_pose.py), without a running graph: a
forgotten or malformed calibration is refused at start-up, and an eye-in-hand pose is taken from the
joint states at the image's stamp, never from a stale or missing one."""
import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg", reason="needs the ROS 2 message wheels (make test installs them)")

from affordance_grasp.errors import ConfigError, InvalidInputError  # noqa: E402
from affordance_grasp.kinematics import PANDA_JOINTS, wrist_camera_pose  # noqa: E402
from affordance_grasp.ros.camera_pose import POSE_PARAMS, CameraPose  # noqa: E402


class _Node:
    """Just what CameraPose asks of a node: its name and a subscription."""

    def __init__(self):
        self.subscriptions = {}

    def get_name(self):
        return "camera_input"

    def create_subscription(self, msg_type, topic, callback, qos, callback_group=None):
        self.subscriptions[topic] = callback


def _params(**over):
    p = {x.name: x.default for x in POSE_PARAMS}
    p.update(over)
    return p


def test_static_pose_has_no_default_and_refuses_malformed_values():
    with pytest.raises(ConfigError, match="set camera_pose"):
        CameraPose(_Node(), _params())
    with pytest.raises(InvalidInputError, match="camera_pose must be"):
        CameraPose(_Node(), _params(camera_pose=[0.5, 0.0, 0.6, 2.0, 0.0, 0.0, 0.0]))   # not a unit quaternion
    with pytest.raises(InvalidInputError, match="camera_pose must be"):
        CameraPose(_Node(), _params(camera_pose=[0.5, 0.0, 0.6]))
    pose = CameraPose(_Node(), _params(camera_pose=[0.5, 0.0, 0.6, 0.0, 1.0, 0.0, 0.0]))
    T = pose.at(123.0, "camera_color_optical_frame")
    assert np.allclose(T[:3, 3], [0.5, 0.0, 0.6]) and np.allclose(T[:3, 2], [0.0, 0.0, -1.0])


def test_eye_in_hand_uses_the_joint_states_at_the_image_stamp():
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import JointState

    with pytest.raises(ConfigError, match="set hand_eye"):
        CameraPose(_Node(), _params(camera_pose_source="eye_in_hand"))
    node = _Node()
    hand_eye = [0.06, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]      # 6 cm off the flange axis, turned about z
    pose = CameraPose(node, _params(camera_pose_source="eye_in_hand", hand_eye=hand_eye, pose_timeout=0.05))
    with pytest.raises(InvalidInputError, match="no joint_states"):
        pose.at(10.0, "camera_color_optical_frame")
    callback = node.subscriptions["joint_states"]
    q_a = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
    q_b = q_a + 0.2
    for t, q in ((10.0, q_a), (10.1, q_b)):
        # Joint order in the message differs from the arm's, and a finger joint comes along.
        msg = JointState(name=list(reversed(PANDA_JOINTS)) + ["panda_finger_joint1"],
                         position=list(reversed(q.tolist())) + [0.04])
        msg.header.stamp = Time(sec=int(t), nanosec=int(round((t % 1) * 1e9)))
        callback(msg)
    X = pose.hand_eye
    assert np.allclose(pose.at(10.0, "cam"), wrist_camera_pose(q_a, X), atol=1e-9)
    assert np.allclose(pose.at(10.05, "cam"), wrist_camera_pose((q_a + q_b) / 2, X), atol=1e-6)
    with pytest.raises(InvalidInputError, match="no joint_states near"):
        pose.at(10.5, "cam")       # the arm's state at that stamp is unknown: no pose, no grasp


def test_camera_input_takes_frames_on_the_owners_namespaced_and_remapped_topics():
    """The stream node ignores the command line, so the owner's namespace and remappings must be
    carried over by name: a camera remapped to another topic must still reach the owner."""
    import os
    import threading

    from waiting import wait_for

    rclpy = pytest.importorskip("rclpy")
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo, Image

    from affordance_grasp.ros.camera_input import CAMERA_PARAMS, CameraInput
    from affordance_grasp.ros.common import image_qos
    from affordance_grasp.ros.conversions import intrinsics_to_camera_info
    from affordance_grasp.ros.image_conversions import depth_to_16uc1, numpy_to_image
    from affordance_grasp.types import CameraIntrinsics

    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    try:
        owner = rclpy.create_node("planner", namespace="/cell", context=ctx,
                                  cli_args=["--ros-args", "-r", "camera/color/image_raw:=/rig/rgb",
                                            "-r", "__node:=renamed"])
        params = {p.name: p.default for p in CAMERA_PARAMS}
        params.update(camera_pose=[0.5, 0.0, 0.6, 0.0, 1.0, 0.0, 0.0], max_frame_age=0.0)
        camera = CameraInput(owner, params)
        assert camera.buffer.topics[0] == "/rig/rgb" and camera.buffer.topics[1].startswith("/cell/camera/")
        assert camera.stream.get_name() == "renamed_camera_input"   # never the owner's own name twice
        pub = rclpy.create_node("cam", context=ctx)
        pubs = [pub.create_publisher(t, n, image_qos()) for t, n in
                ((Image, "/rig/rgb"), (Image, camera.buffer.topics[1]), (CameraInfo, camera.buffer.topics[2]))]
        K = CameraIntrinsics(fx=100.0, fy=100.0, cx=16.0, cy=12.0, width=32, height=24)
        stamp = pub.get_clock().now().to_msg()
        color = numpy_to_image(np.zeros((24, 32, 3), np.uint8), "rgb8")
        depth = numpy_to_image(depth_to_16uc1(np.full((24, 32), 0.8)), "16UC1")
        for m in (color, depth):
            m.header.stamp, m.header.frame_id = stamp, "camera_color_optical_frame"
        info = intrinsics_to_camera_info(K, "camera_color_optical_frame", stamp)
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(pub)
        threading.Thread(target=ex.spin, daemon=True).start()
        def received():
            for p, m in zip(pubs, (color, depth, info)):
                p.publish(m)
            try:
                return camera.frame()[0]
            except InvalidInputError:
                return None

        frame = wait_for(received, 20, "a frame on the remapped topics", interval=0.1)
        assert frame.depth.shape == (24, 32) and np.allclose(frame.depth, 0.8, atol=1e-3)
        camera.close()
        ex.shutdown()
    finally:
        rclpy.try_shutdown(context=ctx)


def test_eye_in_hand_reads_the_configured_arm_joints_and_refuses_a_wrong_list():
    """An FR3 names its joints fr3_joint1..7 (its kinematics are the Panda's): with arm_joints set
    they are read; a list that is not 7 distinct names is refused at start-up."""
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import JointState

    hand_eye = [0.06, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    fr3 = [f"fr3_joint{i}" for i in range(1, 8)]
    with pytest.raises(ConfigError, match="arm_joints must name"):
        CameraPose(_Node(), _params(camera_pose_source="eye_in_hand", hand_eye=hand_eye, arm_joints=fr3[:6]))
    q = np.array([0.1, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])

    def joint_states(names):
        msg = JointState(name=names, position=q.tolist())
        msg.header.stamp = Time(sec=10, nanosec=0)
        return msg

    panda_default = _Node()
    pose = CameraPose(panda_default, _params(camera_pose_source="eye_in_hand", hand_eye=hand_eye))
    panda_default.subscriptions["joint_states"](joint_states(fr3))
    with pytest.raises(InvalidInputError, match="no joint_states"):
        pose.at(10.0, "cam")                 # the Panda's names are not in an FR3's joint_states
    node = _Node()
    pose = CameraPose(node, _params(camera_pose_source="eye_in_hand", hand_eye=hand_eye, arm_joints=fr3))
    node.subscriptions["joint_states"](joint_states(fr3))
    assert np.allclose(pose.at(10.0, "cam"), wrist_camera_pose(q, pose.hand_eye), atol=1e-9)
