"""One way for tests to wait: poll a condition until it holds, fail with what was awaited."""
import time


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
