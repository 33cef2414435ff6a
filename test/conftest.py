import os
import random

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("ROS_LOG_DIR", "/tmp/affordance_grasp_test_ros_logs")
# Integration tests talk over DDS: a private domain per session keeps parallel runs (and anything
# else on the network) apart. No transport variables: the nodes must work with default peers.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(100, 200)))

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ik():
    from affordance_grasp.execution.ik import PandaIK
    return PandaIK()


@pytest.fixture
def block_world():
    """One 6x6x4 cm block at a known spot, settled, with a camera."""
    from affordance_grasp.sim.objects import GeomSpec, ObjectSpec, PartSpec
    from affordance_grasp.sim.world import PlacedObject, SimWorld
    from affordance_grasp.sim.camera import SimCamera
    spec = ObjectSpec("block", [
        PartSpec("bottom", ("support",), [GeomSpec("box", (0.03, 0.03, 0.01), (0, 0, 0.01))], (0.8, 0.2, 0.2, 1)),
        PartSpec("top", ("grasp",), [GeomSpec("box", (0.03, 0.03, 0.01), (0, 0, 0.03))], (0.2, 0.2, 0.8, 1)),
    ])
    world = SimWorld([PlacedObject("block_0", spec, (0.5, 0.05, 0.0005), 0.0)])
    world.settle(0.5)
    cam = SimCamera(world)
    yield world, cam
    cam.close()


# Modules whose tests start ROS 2 processes (graphs over DDS, colcon builds, the launch system).
ROS_MODULES = {"test_ros_integration", "test_bag_replay", "test_node_faults", "test_colcon_install", "test_soak"}
# ... and single tests that do, in modules that otherwise do not.
ROS_TESTS = {"test_graph_usage_reports_each_running_node_cpu_and_memory",
             "test_the_detect_grasps_service_answers_through_the_reasoning_backend",
             "test_camera_input_takes_frames_on_the_owners_namespaced_and_remapped_topics"}


def pytest_collection_modifyitems(config, items):
    """``ros`` on every test that starts ROS 2 processes (``make test-fast`` leaves them out, with
    ``slow``; ``make test`` runs everything)."""
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in ROS_MODULES or item.originalname in ROS_TESTS:
            item.add_marker(pytest.mark.ros)
