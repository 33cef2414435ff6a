"""Faults inside a node: whatever a service handler did not foresee becomes a failed answer and
the node keeps serving (issue 17, fault injection). The camera-stall and restart faults run
against the real graph in test_ros_integration.py."""
import re
from pathlib import Path

import numpy as np
import pytest

from affordance_grasp.errors import NoGraspFoundError
from affordance_grasp.ros.common import guarded
from affordance_grasp.srv import DetectGrasps, ExecuteGrasp

ROS_DIR = Path(__file__).resolve().parents[1] / "affordance_grasp" / "ros"


class RecordingNode:
    """What guarded() needs of a node: its name and a logger (recorded here)."""

    def __init__(self):
        self.errors = []

    def get_name(self):
        return "grasp_planner_node"

    def get_logger(self):
        return self

    def error(self, text):
        self.errors.append(text)


def test_an_unforeseen_exception_becomes_a_failed_answer_with_nothing_half_filled():
    node = RecordingNode()

    def detect(req, resp):
        resp.object_box = [1.0, 2.0, 3.0, 4.0]     # half-way through filling the answer
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    resp = guarded(node, detect)(DetectGrasps.Request(query="grasp the mug"), DetectGrasps.Response())
    assert not resp.success and len(resp.object_box) == 0 and len(resp.grasps) == 0
    assert "internal error in grasp_planner_node: RuntimeError: CUDA error" in resp.message
    assert "keeps serving" in resp.message
    assert len(node.errors) == 1 and "Traceback" in node.errors[0] and "detect" in node.errors[0]
    # The next request is served as usual.
    ok = guarded(node, lambda req, resp: setattr(resp, "success", True) or resp)(
        DetectGrasps.Request(query="grasp the mug"), DetectGrasps.Response())
    assert ok.success


@pytest.mark.parametrize("error, reason", [(ZeroDivisionError("float division by zero"), "execution failed"),
                                           (NoGraspFoundError("no candidate"), "invalid input")])
def test_an_executor_fault_names_a_failure_reason(error, reason):
    def execute(req, resp):
        raise error

    resp = guarded(RecordingNode(), execute)(ExecuteGrasp.Request(), ExecuteGrasp.Response())
    assert not resp.success and resp.failure_reason == reason and type(error).__name__ in resp.message


def test_every_service_of_every_node_is_guarded():
    found = 0
    for f in sorted(ROS_DIR.glob("*.py")):
        for call in re.findall(r"create_service\(([^\n]*)", f.read_text()):
            found += 1
            assert "guarded(self, " in call, f"{f.name}: {call}"
    assert found >= 6


def test_a_stalled_camera_is_named_as_such():
    from affordance_grasp.ros.frame_buffer import CameraStalledError, FrameBuffer
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, Image

    buf = FrameBuffer(("c", "d", "i"))
    for add in (buf.add_color, buf.add_depth):
        m = Image()
        m.header.stamp = Time(sec=100)
        add(m)
    buf.set_info(CameraInfo())
    assert buf.latest(100.5, 1.0, 0.02)[0] is not None
    with pytest.raises(CameraStalledError, match="camera stalled: the newest synchronised frame is 3.00 s old"):
        buf.latest(103.0, 1.0, 0.02)
    np.testing.assert_equal(len(buf.latest(103.0, 0.0, 0.02)), 3)   # max_frame_age 0: bags without /clock
