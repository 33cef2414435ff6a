"""What every node shares: typed, range-checked parameter declaration, QoS profiles, and a main
that turns start-up errors into a clear message and SIGINT/SIGTERM into a clean exit."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from ..errors import AffordanceGraspError, ConfigError
from ..types import FailureReason

# realsense-ros topic names (relative, so a namespace or a remap moves them all).
COLOR_TOPIC = "camera/color/image_raw"
DEPTH_TOPIC = "camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "camera/color/camera_info"
CAMERA_FRAME = "camera_color_optical_frame"


@dataclass
class Param:
    name: str
    default: Any
    description: str
    range: Optional[Tuple[float, float]] = None   # inclusive numeric range
    choices: Optional[Sequence[str]] = None


def declare(node, params: Sequence[Param]) -> Dict[str, Any]:
    """Declare each parameter with its description and range; return the values. A value from a
    params file that is out of range or of the wrong type raises ConfigError naming it.

    Every parameter is read once at start-up, so each is declared read-only: ``ros2 param set``
    is refused with a reason instead of being accepted and silently ignored."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    values = {}
    for p in params:
        desc = ParameterDescriptor(description=p.description + (f" (one of: {', '.join(p.choices)})" if p.choices else ""),
                                   read_only=True)
        if p.range is not None:
            if isinstance(p.default, bool) or not isinstance(p.default, (int, float)):
                raise ConfigError(f"parameter {p.name}: a range needs a numeric default")
            if isinstance(p.default, int):
                desc.integer_range = [IntegerRange(from_value=int(p.range[0]), to_value=int(p.range[1]), step=0)]
            else:
                desc.floating_point_range = [FloatingPointRange(from_value=float(p.range[0]),
                                                                to_value=float(p.range[1]), step=0.0)]
        default = p.default
        if isinstance(default, list) and not default:  # an empty list has no type to infer
            from rclpy.parameter import Parameter
            default = Parameter.Type.STRING_ARRAY
        try:
            value = node.declare_parameter(p.name, default, desc).value
            if value is None and isinstance(p.default, list):
                value = []
        except (InvalidParameterValueException, InvalidParameterTypeException) as e:
            raise ConfigError(f"{node.get_name()}: parameter {p.name!r}: {e}. "
                              f"Expected {type(p.default).__name__}"
                              + (f" in [{p.range[0]}, {p.range[1]}]" if p.range else "")) from None
        if p.choices is not None and value not in p.choices:
            raise ConfigError(f"{node.get_name()}: parameter {p.name!r} is {value!r}; choose one of {list(p.choices)}")
        values[p.name] = value
    return values


def image_qos(depth: int = 5):
    """For publishing images: reliable, keep-last. A reliable publisher serves reliable and
    best-effort subscribers alike."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


def camera_qos(reliable: bool = False, depth: int = 5):
    """For subscribing to images and camera_info: keep-last ``depth`` (the camera nodes'
    ``image_queue_depth``), volatile. Best effort matches every publisher, and loses a large frame
    whenever one of its fragments is dropped; reliable matches only reliable publishers and then
    loses nothing. realsense-ros publishes its images with SYSTEM_DEFAULT, which Fast DDS offers as
    its DataWriter default (reliable, transient-local, keep-last 1; a volatile reader matches it),
    and camera_info reliable (DEFAULT): see config/realsense_panda.yaml and test/test_camera_qos.py.
    A depth below 1 is refused: keep-last 0 would mean the middleware's default, not no queue."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ConfigError(f"camera subscription queue depth must be an integer of at least 1, not {depth!r}")
    return QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)


def latched_qos():
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


_STOP = threading.Event()    # a stop request (SIGINT/SIGTERM) reached this process
_SPINNING = threading.Event()


def stop_requested() -> bool:
    """True once this node's process was asked to stop. Callbacks that wait (a service call, a
    fresh frame, a motion) give up when it is set, so the executor's threads end while the ROS
    context is still valid and their answers still go out."""
    return _STOP.is_set()


def wait_unless_stopped(event: threading.Event, timeout: float) -> bool:
    """``event.wait(timeout)`` that also returns (False) soon after a stop request."""
    deadline = time.monotonic() + timeout
    while not event.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
        if stop_requested() or time.monotonic() >= deadline:
            return event.is_set()
    return True


def _stop_once() -> None:
    """The first SIGINT/SIGTERM asks the node to stop: before it spins (while a model loads) it
    ends start-up at once; once it spins, ``run`` stops in order. A second one while it shuts down
    ends the process quietly. A terminal's Ctrl-C under ros2 launch gives exactly that pair: the
    terminal signals launch and its children, then launch signals the children again.

    rclpy's own handlers are not installed (``SignalHandlerOptions.NO``): they shut the context
    down from a signal thread while the executor's threads may be inside rcl calls on it, and a
    node stopped that way mid-request crashed with SIGSEGV in two fresh-clone CI runs."""
    from .entry import STOP_SIGNALS, exit_quietly

    def on_stop(signum, frame):
        for s in STOP_SIGNALS:
            signal.signal(s, exit_quietly)
        _STOP.set()
        if not _SPINNING.is_set():
            raise KeyboardInterrupt

    for s in STOP_SIGNALS:
        signal.signal(s, on_stop)


def guarded(node, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A service handler that answers a failure instead of taking the node down. Handlers turn
    the package's own errors into failed responses; anything else they did not foresee (a model
    that throws, a bug) would otherwise escape into the executor, which re-raises it and ends the
    process, and every later request would find no server. The answer is a fresh response, so
    nothing half-filled (grasps, a map) goes out with it. (Action servers need no guard: rclpy
    aborts a goal whose execute callback raises.)"""
    import traceback

    def serve(req, resp):
        try:
            return handler(req, resp)
        except Exception as e:   # the node must keep serving
            out = type(resp)()
            out.success = False
            if stop_requested() or not node.context.ok():
                # A stop request ended the handler's wait: the client is told why, not
                # "internal error".
                out.message = f"{node.get_name()} is shutting down; the request was not completed"
            else:
                node.get_logger().error(f"{handler.__name__} failed unexpectedly: {traceback.format_exc()}")
                out.message = f"internal error in {node.get_name()}: {type(e).__name__}: {e} (the node keeps serving)"
            if hasattr(out, "failure_reason"):
                out.failure_reason = (FailureReason.INVALID_INPUT if isinstance(e, AffordanceGraspError)
                                      else FailureReason.EXECUTION_FAILED).value
            return out

    return serve


class SideNode:
    """A small private node beside ``owner``, spun by its own single-threaded executor on its own
    thread. For what must keep flowing while the owner's executor is busy or costly: a camera
    stream (rclpy's MultiThreadedExecutor wakes all its threads for every message: 68-90 % of a
    core for a 640x480 stream on this machine, 2 % single-threaded), or a cancel request while
    sim_node's only thread runs a motion. It ignores the command line, so it never takes the
    owner's name (``__node:=``); give it names the owner resolved (``owner.resolve_topic_name``)."""

    def __init__(self, owner, suffix: str):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.owner = owner
        self.node = rclpy.create_node(f"{owner.get_name()}_{suffix}", namespace=owner.get_namespace(),
                                      context=owner.context, use_global_arguments=False,
                                      start_parameter_services=False)
        self.executor = SingleThreadedExecutor(context=owner.context)
        self.executor.add_node(self.node)
        self.thread = None

    def start(self) -> "SideNode":
        self.thread = threading.Thread(target=self._spin, name=self.node.get_name(), daemon=True)
        self.thread.start()
        return self

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:   # the context shut down under the spin: that is the node stopping
            if self.owner.context.ok():
                raise

    def close(self, timeout: float = 5.0) -> None:
        # rclpy's SingleThreadedExecutor.shutdown does not wait for a callback that is running on
        # another thread, and destroying a node under a running callback or wait set crashes the
        # process (SIGSEGV at shutdown). So the spin thread is joined first; if it is still inside a
        # callback after ``timeout``, the node is left for the process exit to reclaim.
        self.executor.shutdown(timeout_sec=timeout)
        if self.thread is not None:
            self.thread.join(timeout)
            if self.thread.is_alive():
                return
        self.node.destroy_node()


class ServiceCallError(AffordanceGraspError):
    """A service call that got no answer: the server is absent, timed out, or left mid-call."""


def call_service(node, client, request, timeout: float):
    """Send ``request`` on ``node``'s ``client`` and wait for the answer, or raise
    ServiceCallError saying why none came.

    rclpy's ``Client.call`` waits out its whole timeout when the server dies mid-call, since a
    dead node never answers (and this rclpy raises TimeoutError there; it does not return None).
    Here the servers of the service are counted while waiting: when one leaves the graph, the
    call fails at once. A server that comes back (a restart) never received the request, so
    waiting on would only hang; the caller decides whether to send it again. An orderly stop
    leaves the graph at once; a killed process when DDS drops it (Fast DDS: a 20 s lease).
    Task planners can use this function for their own calls."""
    name = client.service_name
    if not client.wait_for_service(timeout_sec=min(timeout, 5.0)):
        raise ServiceCallError(f"{name} is not available: is the node that serves it running?")
    future = client.call_async(request)
    landed = threading.Event()
    future.add_done_callback(lambda _: landed.set())
    deadline = time.monotonic() + timeout
    most = node.count_services(name)
    while not (future.done() or landed.wait(0.1)):
        if stop_requested():
            client.remove_pending_request(future)
            raise ServiceCallError(f"{node.get_name()} is shutting down; the call to {name} was abandoned")
        if time.monotonic() >= deadline:
            client.remove_pending_request(future)
            raise ServiceCallError(f"{name} did not answer within {timeout:g} s")
        servers = node.count_services(name)
        most = max(most, servers)
        if servers < most:
            client.remove_pending_request(future)
            raise ServiceCallError(f"{name} went away during the call (its node stopped or crashed); "
                                   f"the request was not answered")
    if future.exception() is not None:
        raise ServiceCallError(f"{name} failed: {future.exception()}")
    return future.result()


def run(node_factory: Callable[[], Any], args=None, threads: int = 4, stop_timeout: float = 10.0) -> int:
    """Spin a node until SIGINT/SIGTERM. Start-up errors (bad parameters, missing checkpoint)
    print one clear line and exit with status 2 instead of a traceback. The node sets no DDS
    transport variables of its own: it must reach task planners, RViz and camera drivers started
    the usual way.

    A stop request stops in order, with the ROS context valid until the end: no new callback
    starts; the node's ``on_stop()`` (if any) stops what moves; the running callbacks end (their
    waits see ``stop_requested()``) and are joined; then ``close()``, the node's handles and the
    context go, in that order. Callbacks still running after ``stop_timeout`` seconds end the
    process with status 1 and a message saying so, rather than a hang."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    _stop_once()
    rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    node = executor = None
    try:
        executor = SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)
        node = node_factory()
        executor.add_node(node)
        _SPINNING.set()
        # Python runs a signal handler only between bytecodes of the main thread, so the main
        # thread must come back from rcl's wait now and then to see a stop request.
        while not _STOP.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except AffordanceGraspError as e:
        print(f"[FATAL] {e}", file=sys.stderr, flush=True)
        return 2
    finally:
        _SPINNING.clear()
        _STOP.set()   # whatever ended the spin, the callbacks' waits give up now
        if node is not None and executor is not None:
            on_stop = getattr(node, "on_stop", None)
            if on_stop is not None:
                on_stop()
            if not _join_callbacks(executor, stop_timeout):
                print(f"[ERROR] {node.get_name()}: callbacks still running {stop_timeout:g} s after the stop "
                      f"request; exiting without an orderly shutdown", file=sys.stderr, flush=True)
                os._exit(1)
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
        # Interpreter finalization resets Python-level handlers to the default action, so a
        # stop request landing then would kill the process by signal; ignored, it exits 0.
        from .entry import STOP_SIGNALS
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
    return 0


def _join_callbacks(executor, timeout: float) -> bool:
    """rclpy's ``Executor.shutdown`` does not wait out its timeout for running callbacks (Kilted:
    the wait is skipped once the shutdown flag is set) and MultiThreadedExecutor then joins its
    worker threads with no limit; so the join runs on a helper thread that is waited for at most
    ``timeout`` seconds."""
    joiner = threading.Thread(target=executor.shutdown, name="executor-shutdown", daemon=True)
    joiner.start()
    joiner.join(timeout)
    return not joiner.is_alive()


# Topics and services each node uses (relative names), for the README and the launch-file check.
CAMERA_IN = [COLOR_TOPIC, DEPTH_TOPIC, INFO_TOPIC]
NODE_TOPICS = {
    "sim_node": CAMERA_IN + ["joint_states", "sim/sample_scene", "sim/execute_grasp", "sim/cancel_motion"],
    "realsense_node": CAMERA_IN,
    "affordance_node": CAMERA_IN + ["affordance_map", "~/overlay", "~/predict"],
    "grasp_planner_node": CAMERA_IN + ["detect_grasps", "affordance_map", "~/markers", "~/scene_cloud", "~/overlay"],
    "executor_node": ["execute_grasp", "cancel_motion", "sim/execute_grasp", "sim/cancel_motion"],
    "grasp_server_node": ["grasp_object", "detect_grasps", "execute_grasp", "cancel_motion"],
}
