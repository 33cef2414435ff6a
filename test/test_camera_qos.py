"""The camera subscriptions of config/realsense_panda.yaml against the QoS realsense-ros publishes
with (checked statically: no camera here).

realsense-ros (ros2-development ee94dc92) publishes colour, depth and aligned depth with the
sensor's image QoS, IMAGE_QOS = "SYSTEM_DEFAULT" (realsense2_camera/include/constants.h line 80;
profile_manager.cpp line 298 registers it as each stream's default; rs_node_setup.cpp lines 226,
250 and 274 publish with it), and camera_info with DEFAULT_QOS = "DEFAULT" (constants.h line 81,
profile_manager.cpp line 299). ros_utils.cpp lines 116-119 map them to
rmw_qos_profile_system_default and rmw_qos_profile_default. SYSTEM_DEFAULT leaves the policy to
the DDS, whose DataWriters are reliable by default (DDS 1.4, RELIABILITY QoS: RELIABLE for
writers), and Fast DDS (the default RMW) and Cyclone DDS keep that default: the images come
reliable, volatile. A best-effort reader matches them too, but loses whole 640x480 frames when one
of their many fragments is dropped; a reliable one with a shallow queue gets them.
"""
import pytest
import yaml
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAMERA_NODES = ("affordance_node", "grasp_planner_node")


def _publishers():
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    images = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)      # SYSTEM_DEFAULT as the DDS resolves it
    info = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)        # rmw_qos_profile_default
    return {"images": images, "camera_info": info}


@pytest.mark.parametrize("node", CAMERA_NODES)
def test_the_realsense_config_subscribes_as_realsense_ros_publishes(node):
    from rclpy.qos import QoSCompatibility, ReliabilityPolicy, qos_check_compatible

    from affordance_grasp.ros.common import camera_qos
    params = yaml.safe_load((ROOT / "config" / "realsense_panda.yaml").read_text())[node]["ros__parameters"]
    sub = camera_qos(params["image_reliability"] == "reliable")
    for what, pub in _publishers().items():
        compatible, why = qos_check_compatible(pub, sub)
        assert compatible is not QoSCompatibility.ERROR, f"{node} {what}: {why}"
        assert sub.reliability == pub.reliability == ReliabilityPolicy.RELIABLE, \
            f"{node} subscribes to {what} {sub.reliability.name}; realsense-ros publishes them reliable"
    assert 1 <= sub.depth <= 5       # shallow: the planner wants the newest frame, not a backlog
