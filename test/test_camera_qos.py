"""The camera subscriptions of config/realsense_panda.yaml against the QoS realsense-ros publishes
with (checked statically: no camera here), and the subscription queue depth as a parameter.

realsense-ros (ros2-development ee94dc92) publishes colour, depth and aligned depth with the
sensor's image QoS, IMAGE_QOS = "SYSTEM_DEFAULT" (realsense2_camera/include/constants.h line 80;
profile_manager.cpp line 298 registers it as each stream's default; rs_node_setup.cpp lines 226,
250 and 274 publish with it), and camera_info with DEFAULT_QOS = "DEFAULT" (constants.h line 81,
profile_manager.cpp line 299). ros_utils.cpp lines 116-119 map them to
rmw_qos_profile_system_default and rmw_qos_profile_default. SYSTEM_DEFAULT leaves each policy to
the DDS: rmw_fastrtps (9.2.0, rmw_fastrtps_shared_cpp/src/qos.cpp lines 58-98) leaves a
SYSTEM_DEFAULT history, durability or reliability at the DataWriter's default, and Fast DDS's
DataWriterQos constructor sets reliability RELIABLE and durability TRANSIENT_LOCAL
(eProsima/Fast-DDS 2bad9bcc, src/cpp/fastdds/publisher/qos/DataWriterQos.cpp lines 29-33; the
policy's own default, include/fastdds/dds/core/policy/QosPolicies.hpp line 287, is VOLATILE), with
history KEEP_LAST depth 1 (QosPolicies.hpp lines 1679-1683). So under Fast DDS, the default RMW,
the images come reliable, transient-local, keep-last 1, as `affordance-grasp camera-rate` reads
them off the graph. A volatile reader matches a transient-local writer (it just takes no history).
A best-effort reader matches them too, but loses whole large frames when one of their many
fragments is dropped; a reliable one gets them.
"""
import os

import pytest
import yaml
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAMERA_NODES = ("affordance_node", "grasp_planner_node")


def _config(node):
    return yaml.safe_load((ROOT / "config" / "realsense_panda.yaml").read_text())[node]["ros__parameters"]


def _publishers():
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    images = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)   # SYSTEM_DEFAULT as Fast DDS offers it
    info = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)        # rmw_qos_profile_default
    return {"images": images, "camera_info": info}


@pytest.mark.parametrize("node", CAMERA_NODES)
def test_the_realsense_config_subscribes_as_realsense_ros_publishes(node):
    pytest.importorskip("rclpy")
    from rclpy.qos import DurabilityPolicy, QoSCompatibility, ReliabilityPolicy, qos_check_compatible

    from affordance_grasp.ros.common import camera_qos
    params = _config(node)
    sub = camera_qos(params["image_reliability"] == "reliable", params["image_queue_depth"])
    assert sub.durability == DurabilityPolicy.VOLATILE
    for what, pub in _publishers().items():
        compatible, why = qos_check_compatible(pub, sub)
        assert compatible is not QoSCompatibility.ERROR, f"{node} {what}: {why}"
        assert sub.reliability == pub.reliability == ReliabilityPolicy.RELIABLE, \
            f"{node} subscribes to {what} {sub.reliability.name}; realsense-ros publishes them reliable"
    # the measured depth (docs/real_robot.md): 1 and 2 lose pairs, 10 gets no more but older ones
    assert sub.depth == params["image_queue_depth"] == 5


@pytest.mark.parametrize("depth", [0, -1, True, 2.0])
def test_camera_qos_refuses_a_queue_it_cannot_keep(depth):
    pytest.importorskip("rclpy")
    from affordance_grasp.errors import ConfigError
    from affordance_grasp.ros.common import camera_qos

    with pytest.raises(ConfigError, match="queue depth"):
        camera_qos(True, depth)


@pytest.fixture
def ros_context():
    rclpy = pytest.importorskip("rclpy")
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    try:
        yield ctx
    finally:
        rclpy.try_shutdown(context=ctx)


def _declared(ctx, name, value):
    """The camera parameters as a node declares them, with ``name`` set as a params file would."""
    import rclpy
    from rclpy.parameter import Parameter

    from affordance_grasp.ros.camera_input import CAMERA_PARAMS
    from affordance_grasp.ros.common import declare

    node = rclpy.create_node("planner", context=ctx, parameter_overrides=[Parameter(name, value=value)])
    try:
        return declare(node, CAMERA_PARAMS)
    finally:
        node.destroy_node()


def test_the_queue_depth_parameter_reaches_the_image_subscriptions(ros_context):
    import rclpy
    from rclpy.qos import HistoryPolicy, ReliabilityPolicy

    from affordance_grasp.ros.camera_input import CameraInput

    params = _declared(ros_context, "image_queue_depth", 7)
    assert params["image_queue_depth"] == 7
    params.update(camera_pose=[0.5, 0.0, 0.6, 0.0, 1.0, 0.0, 0.0], image_reliability="reliable")
    owner = rclpy.create_node("planner", context=ros_context)
    camera = CameraInput(owner, params)
    try:
        topics = set(camera.buffer.topics)
        subs = [s for s in camera.stream.subscriptions if s.topic_name in topics]
        assert len(subs) == 3
        for s in subs:
            q = s.qos_profile
            assert (q.depth, q.history, q.reliability) == (7, HistoryPolicy.KEEP_LAST, ReliabilityPolicy.RELIABLE), \
                s.topic_name
    finally:
        camera.close()
        owner.destroy_node()


@pytest.mark.parametrize("value, why", [(0, r"Expected int in \[1, 100\]"), (101, r"Expected int in \[1, 100\]"),
                                        (5.0, "Expected int"), ("5", "Expected int")])
def test_a_queue_depth_out_of_range_or_of_another_type_is_refused_at_start_up(ros_context, value, why):
    from affordance_grasp.errors import ConfigError

    with pytest.raises(ConfigError, match=f"'image_queue_depth'.*{why}"):
        _declared(ros_context, "image_queue_depth", value)
