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
    """What guarded() needs of a node: its name, a logger (recorded here) and its context (whose
    ok() turns False once a stop request has shut it down)."""

    def __init__(self, running: bool = True):
        self.errors = []
        self.running = running
        self.context = self

    def ok(self):
        return self.running

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


def test_a_request_caught_by_a_stop_request_is_told_so_not_called_an_internal_error():
    """A handler whose wait a stop request ended (or whose calls fail because the context went)
    answers that the node is shutting down, and logs no traceback."""
    node = RecordingNode(running=False)

    def detect(req, resp):
        raise RuntimeError("RCLError: the context is not valid")

    resp = guarded(node, detect)(DetectGrasps.Request(query="grasp the mug"), DetectGrasps.Response())
    assert not resp.success and resp.message == "grasp_planner_node is shutting down; the request was not completed"
    assert node.errors == []


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


@pytest.fixture
def stop_request(monkeypatch):
    """This process's stop flag, fresh for the test (a signal handler sets it in a node)."""
    import threading

    from affordance_grasp.ros import common

    flag = threading.Event()
    monkeypatch.setattr(common, "_STOP", flag)
    return flag


def test_waits_give_up_soon_after_a_stop_request(stop_request):
    import threading
    import time

    from affordance_grasp.ros.common import wait_unless_stopped

    never = threading.Event()
    t = time.monotonic()
    assert not wait_unless_stopped(never, 0.3) and time.monotonic() - t >= 0.29   # a plain timeout
    threading.Timer(0.2, stop_request.set).start()
    t = time.monotonic()
    assert not wait_unless_stopped(never, 60.0)
    assert time.monotonic() - t < 5.0, "the wait ran on after the stop request"
    done = threading.Event()
    done.set()
    assert wait_unless_stopped(done, 60.0)


def test_a_service_call_under_way_is_abandoned_with_a_reason_on_a_stop_request(stop_request):
    """The server is up and never answers: without a stop request the caller would wait its whole
    timeout; with one it raises ServiceCallError naming the shutdown and withdraws the request."""
    import threading
    import time

    from rclpy.task import Future

    from affordance_grasp.ros.common import ServiceCallError, call_service

    class SilentClient:
        service_name = "/execute_grasp"
        withdrawn = []

        def wait_for_service(self, timeout_sec):
            return True

        def call_async(self, request):
            return Future()

        def remove_pending_request(self, future):
            self.withdrawn.append(future)

    class Node(RecordingNode):
        def count_services(self, name):
            return 1

    client = SilentClient()
    threading.Timer(0.3, stop_request.set).start()
    t = time.monotonic()
    with pytest.raises(ServiceCallError, match="grasp_planner_node is shutting down; the call to /execute_grasp"):
        call_service(Node(), client, object(), timeout=60.0)
    assert time.monotonic() - t < 5.0 and len(client.withdrawn) == 1
