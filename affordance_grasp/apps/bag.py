"""``affordance-grasp record`` / ``replay``: rosbag2 (mcap + metadata.yaml) without rosbag2_py.

Recording subscribes with ``raw=True`` and writes the CDR bytes as they arrived, so the bag holds
exactly what was on the wire and ``ros2 bag play`` reads it. Replay republishes with the original
inter-message timing (scaled by ``rate``). By default it re-stamps every header to the replay's
clock (the first at "now", the rest spaced as played, i.e. divided by ``rate``) so nodes that
reject stale or future frames take them, while messages that shared a stamp (a colour/depth
pair) still share one; ``restamp=False`` publishes the bytes untouched.
"""
from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

from ..errors import InvalidInputError
from ..ros.common import COLOR_TOPIC, DEPTH_TOPIC, INFO_TOPIC, image_qos

CAMERA_TOPICS = ("/" + COLOR_TOPIC, "/" + DEPTH_TOPIC, "/" + INFO_TOPIC)


def _msg_class(msgtype: str):
    """'sensor_msgs/msg/Image' -> the rclpy message class."""
    try:
        pkg, kind, name = msgtype.split("/")
        return getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ValueError, ImportError, AttributeError):
        raise InvalidInputError(f"message type {msgtype!r} is not importable here") from None


def _typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def record(out: Path, duration: float, topics: Sequence[str] = CAMERA_TOPICS, discovery_timeout: float = 10.0) -> dict:
    """Record ``topics`` for ``duration`` seconds from the running graph into an mcap rosbag2."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    out = Path(out)
    if out.exists():
        raise InvalidInputError(f"{out} exists; rosbag2 writes a new folder")
    if duration <= 0:
        raise InvalidInputError("--duration must be positive")
    own = not rclpy.ok()
    if own:
        rclpy.init()
    node = rclpy.create_node("affordance_grasp_recorder")
    try:
        deadline = time.monotonic() + discovery_timeout
        types: Dict[str, str] = {}
        while time.monotonic() < deadline and len(types) < len(topics):
            for name, tps in node.get_topic_names_and_types():
                if name in topics and tps:
                    types[name] = tps[0]
            time.sleep(0.1)
        missing = [t for t in topics if t not in types]
        if missing:
            raise InvalidInputError(f"no publisher for {', '.join(missing)} within {discovery_timeout:.0f} s; "
                                    f"is the camera (or sim_node) running on this ROS_DOMAIN_ID?")
        store = _typestore()
        writer = Writer(out, version=8, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        lock = threading.Lock()
        counts = {t: 0 for t in topics}
        conns = {t: writer.add_connection(t, types[t], typestore=store) for t in topics}
        recording = {"on": True}

        def on_msg(topic, raw):
            with lock:
                if recording["on"]:
                    writer.write(conns[topic], node.get_clock().now().nanoseconds, raw)
                    counts[topic] += 1

        for t in topics:
            node.create_subscription(_msg_class(types[t]), t, lambda raw, t=t: on_msg(t, raw), image_qos(10), raw=True)
        ex = SingleThreadedExecutor()
        ex.add_node(node)
        end = time.monotonic() + duration
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        with lock:
            recording["on"] = False
            writer.close()
        ex.shutdown()
    finally:
        node.destroy_node()
        if own:
            rclpy.try_shutdown()
    return {"bag": str(out), "duration_s": duration, "messages": counts, "types": types}


# replay holds every message in memory: about 2 minutes of 640x480 colour + depth at 30 Hz
MAX_BAG_BYTES = 8 << 30


def read_bag(path: Path):
    """Open a bag for replay; a missing, truncated or corrupt bag raises InvalidInputError."""
    from rosbags.rosbag2 import Reader

    path = Path(path)
    if not (path / "metadata.yaml").exists():
        raise InvalidInputError(f"{path} is not a rosbag2 folder (no metadata.yaml)")
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    if size > MAX_BAG_BYTES:
        raise InvalidInputError(f"bag {path} is {size / 2 ** 30:.1f} GiB; replay holds a bag in memory and takes "
                                f"at most {MAX_BAG_BYTES / 2 ** 30:.0f} GiB (cut it with `ros2 bag convert`)")
    try:
        reader = Reader(path)
        reader.open()
        messages = list(reader.messages())
        reader.close()
    except Exception as e:  # noqa: BLE001 - rosbags raises several types for damaged files
        raise InvalidInputError(f"cannot read bag {path}: it is truncated or corrupt ({type(e).__name__}: "
                                f"{str(e)[:200]})") from None
    if not messages:
        raise InvalidInputError(f"bag {path} holds no messages")
    return messages


def replay(bag: Path, rate: float = 1.0, loop: bool = False, restamp: bool = True,
           stop_event: Optional[threading.Event] = None, wait_subscribers: float = 5.0) -> dict:
    """Publish the bag's messages with their recorded timing. Returns counts."""
    if not rate > 0:
        raise InvalidInputError("--rate must be positive")
    messages = read_bag(bag)
    import rclpy
    from rclpy.serialization import deserialize_message, serialize_message

    own = not rclpy.ok()
    if own:
        rclpy.init()
    node = rclpy.create_node("affordance_grasp_replay")
    published = 0
    try:
        pubs, classes = {}, {}
        for conn, _, _ in messages:
            if conn.topic not in pubs:
                classes[conn.topic] = _msg_class(conn.msgtype)
                pubs[conn.topic] = node.create_publisher(classes[conn.topic], conn.topic, image_qos(10))
        deadline = time.monotonic() + wait_subscribers
        while time.monotonic() < deadline and any(p.get_subscription_count() == 0 for p in pubs.values()):
            time.sleep(0.05)
        t_bag0 = messages[0][1]
        while True:
            t_wall0 = time.monotonic()
            offset_ns = None
            for conn, t, raw in messages:
                if stop_event is not None and stop_event.is_set():
                    return {"published": published}
                delay = (t - t_bag0) * 1e-9 / rate - (time.monotonic() - t_wall0)
                if delay > 0:
                    time.sleep(delay)
                data = bytes(raw)
                if restamp:
                    msg = deserialize_message(data, classes[conn.topic])
                    if hasattr(msg, "header"):
                        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                        if offset_ns is None:
                            offset_ns = (node.get_clock().now().nanoseconds, stamp_ns)
                        # Stamp spacing follows the playback rate, so a stamp is never ahead of
                        # the clock (4x playback of a 2 s bag would otherwise stamp 1.5 s ahead);
                        # messages that shared a stamp still do.
                        new = offset_ns[0] + int((stamp_ns - offset_ns[1]) / rate)
                        msg.header.stamp.sec, msg.header.stamp.nanosec = new // 1_000_000_000, new % 1_000_000_000
                        data = serialize_message(msg)
                pubs[conn.topic].publish(data)
                published += 1
            if not loop:
                break
    finally:
        node.destroy_node()
        if own:
            rclpy.try_shutdown()
    return {"published": published}
