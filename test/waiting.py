"""One way for tests to wait: poll a condition until it holds, fail with what was awaited."""
import threading
import time
from contextlib import contextmanager


def wait_for(cond, timeout=20.0, what="condition", interval=0.05):
    """Call ``cond`` until it returns something truthy and return that; AssertionError naming
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@contextmanager
def spinning_node(name: str):
    """rclpy initialised and a node spun on a background thread, for a test's client calls and
    subscriptions; torn down in order on exit (executor, node, context)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    rclpy.init()
    node = rclpy.create_node(name)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    threading.Thread(target=ex.spin, daemon=True).start()
    try:
        yield node
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
