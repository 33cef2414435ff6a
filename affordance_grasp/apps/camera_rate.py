"""``affordance-grasp camera-rate``: the paired colour + depth rate the planner sees from a camera
stream, for each camera QoS setting (reliability, queue depth).

Two processes, as on a robot: a publisher child process stands in for realsense-ros, with its
topic names and QoS (colour rgb8 and aligned depth 16UC1 with SYSTEM_DEFAULT, which Fast DDS
resolves to its DataWriter defaults: reliable, transient-local, keep-last 1; camera_info with
DEFAULT: reliable, volatile, keep-last 10), at ``--width`` x ``--height`` and ``--fps``. The three
messages of a frame share one stamp, its capture time: the start plus i periods.
This process is the planner side: the planner's own ``CameraInput`` (its side node and
single-threaded executor, its ``FrameBuffer``, and ``camera_qos``) under an owner node spun by a
multi-threaded executor, as ``grasp_planner_node`` runs. Each setting is the planner's
``image_reliability`` and ``image_queue_depth`` parameters, and the buffer notes when each message
arrived; pairing is the planner's ``FrameBuffer.latest``.

Nothing sets DDS transport variables: Fast DDS's defaults, as the nodes run. Topics live under a
namespace of their own, so no other graph on the domain sees the stream or feeds it.

Per setting it reports: frames published; pairs delivered (colour and depth of one stamp both in
the buffer) per second, as the median of 1 s windows and overall; pairs the planner's reader saw
(``FrameBuffer.latest``, polled every ``POLL_S``); the age of the newest pair when read (median,
p95); the longest gap between delivered pairs; the delivery latency; the CPU use of both
processes and the machine's load average before and after. Writes ``camera_rate.json`` and
``camera_rate.md`` under ``--out``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import AffordanceGraspError, InvalidInputError

POLL_S = 0.005          # the reader asks the buffer for the newest pair this often
TRANSPORT_VARIABLES = ("FASTDDS_BUILTIN_TRANSPORTS", "FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
STALE_S = 0.5           # config/realsense_panda.yaml max_frame_age: the planner refuses an older pair
MATCH_TIMEOUT = 30.0    # s for discovery between the two processes
CAMERA_POSE = [0.5, 0.0, 0.6, 0.0, 1.0, 0.0, 0.0]   # any valid static pose: the frame is never used for geometry


@dataclass(frozen=True)
class Setting:
    reliable: bool
    depth: int

    @property
    def name(self) -> str:
        return f"{'reliable' if self.reliable else 'best_effort'} depth {self.depth}"

    @staticmethod
    def parse(text: str) -> "Setting":
        """'reliable:1', 'best_effort:5'."""
        try:
            kind, depth = text.strip().split(":")
            if kind not in ("reliable", "best_effort") or int(depth) < 1:
                raise ValueError
        except ValueError:
            raise InvalidInputError(f"setting {text!r}: write reliable:N or best_effort:N (N >= 1)") from None
        return Setting(kind == "reliable", int(depth))


DEFAULT_SETTINGS = ("reliable:1", "reliable:2", "reliable:5", "best_effort:1", "best_effort:5")


# --------------------------------------------------------------------------- publisher (child process)
def _test_images(width: int, height: int):
    """A colour gradient and a tilted plane 0.5-1.2 m away, as sensor_msgs/Image."""
    from ..ros.image_conversions import numpy_to_image

    u = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    v = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.stack([np.broadcast_to(u, (height, width)), np.broadcast_to(v, (height, width)),
                    np.full((height, width), 128, np.float32)], axis=-1).astype(np.uint8)
    depth_mm = (500 + 700 * np.broadcast_to(v / 255, (height, width))).astype(np.uint16)
    return numpy_to_image(rgb, "rgb8"), numpy_to_image(depth_mm, "16UC1")


# realsense-ros's <stream>_qos values (ros_utils.cpp qos_string_to_qos) this bench can publish with
CAMERA_QOS = ("SYSTEM_DEFAULT", "DEFAULT", "SENSOR_DATA")


def publish(namespace: str, width: int, height: int, fps: float, frames: int, frame_id: str,
            camera_qos: str = "SYSTEM_DEFAULT") -> dict:
    """Publish ``frames`` frames at ``fps`` once a subscriber is on each topic; the numbers as a dict.
    ``camera_qos`` is the images' profile, as realsense-ros's ``color_qos``/``depth_qos`` name it
    (SYSTEM_DEFAULT, its default); camera_info is always DEFAULT, its ``*_info_qos`` default."""
    import rclpy
    from rclpy.qos import QoSPresetProfiles
    from rclpy.time import Time
    from sensor_msgs.msg import CameraInfo, Image

    from ..ros.common import COLOR_TOPIC, DEPTH_TOPIC, INFO_TOPIC
    from ..ros.conversions import intrinsics_to_camera_info
    from ..types import CameraIntrinsics

    rclpy.init()
    node = rclpy.create_node("camera_rate_publisher", namespace=namespace)
    try:
        color, depth = _test_images(width, height)
        K = CameraIntrinsics(fx=0.9 * width, fy=0.9 * width, cx=width / 2, cy=height / 2, width=width, height=height)
        info = intrinsics_to_camera_info(K, frame_id)
        for m in (color, depth):
            m.header.frame_id = frame_id
        images = QoSPresetProfiles[camera_qos].value          # realsense-ros IMAGE_QOS: SYSTEM_DEFAULT
        pubs = [node.create_publisher(Image, COLOR_TOPIC, images),
                node.create_publisher(Image, DEPTH_TOPIC, images),
                node.create_publisher(CameraInfo, INFO_TOPIC, QoSPresetProfiles.DEFAULT.value)]
        deadline = time.monotonic() + MATCH_TIMEOUT
        while any(p.get_subscription_count() < 1 for p in pubs):
            if time.monotonic() > deadline:
                raise InvalidInputError(f"no subscriber matched {namespace}'s camera topics in {MATCH_TIMEOUT:.0f} s")
            time.sleep(0.01)
        period = 1.0 / fps
        # A camera stamps each frame with its capture time, one period apart, however late the
        # driver publishes it; so do the stamps here (the ROS clock at the start, plus i periods).
        cpu0, t0, ns0 = time.process_time(), time.monotonic(), node.get_clock().now().nanoseconds
        published, skipped, first, last, publish_s = 0, 0, None, None, []
        for i in range(frames):
            due = t0 + i * period
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif -wait > period:   # a camera does not catch up: a frame whose time has passed is gone
                skipped += 1
                continue
            stamp = Time(nanoseconds=ns0 + int(round(i * period * 1e9))).to_msg()
            s = time.perf_counter()
            for p, m in zip(pubs, (color, depth, info)):
                m.header.stamp = stamp
                p.publish(m)
            publish_s.append(time.perf_counter() - s)
            t = stamp.sec + stamp.nanosec * 1e-9
            first = t if first is None else first
            last = t
            published += 1
        wall = time.monotonic() - t0
        cpu = time.process_time() - cpu0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return {"published": published, "skipped": skipped, "first_stamp": first, "last_stamp": last,
            "wall_s": round(wall, 3), "cpu_percent": round(100 * cpu / max(wall, 1e-6), 1),
            "publish_call_ms": _ms(publish_s)}


# --------------------------------------------------------------------------- planner side (this process)
def _ms(xs: Sequence[float]) -> dict:
    if not len(xs):
        return {"median": None, "p95": None, "max": None}
    a = np.asarray(xs, float) * 1000
    return {"median": round(float(np.median(a)), 1), "p95": round(float(np.percentile(a, 95)), 1),
            "max": round(float(a.max()), 1)}


@contextlib.contextmanager
def _planner_camera(arrivals: Dict[str, list]):
    """The planner's CameraInput, with a buffer that notes (arrival time, stamp) of every colour and
    depth message before storing it as the planner's does."""
    from ..ros import camera_input
    from ..ros.conversions import stamp_to_sec

    class NotingBuffer(camera_input.FrameBuffer):
        def add_color(self, msg) -> None:
            arrivals["color"].append((time.time(), stamp_to_sec(msg.header.stamp)))
            super().add_color(msg)

        def add_depth(self, msg) -> None:
            arrivals["depth"].append((time.time(), stamp_to_sec(msg.header.stamp)))
            super().add_depth(msg)

    saved = camera_input.FrameBuffer
    camera_input.FrameBuffer = NotingBuffer
    try:
        yield camera_input.CameraInput
    finally:
        camera_input.FrameBuffer = saved


def _offered_qos(node, topic: str) -> Optional[dict]:
    infos = node.get_publishers_info_by_topic(topic)
    if not infos:
        return None
    q = infos[0].qos_profile
    return {"reliability": q.reliability.name.lower(), "durability": q.durability.name.lower(),
            "history": q.history.name.lower(), "depth": q.depth}


def measure(setting: Setting, seconds: float, width: int = 1280, height: int = 720, fps: float = 30.0,
            progress: bool = True, namespace: Optional[str] = None, log_dir: Optional[Path] = None,
            publisher_qos: str = "SYSTEM_DEFAULT") -> dict:
    """One setting: start the publisher process, read pairs as the planner does, summarise."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor
    from tqdm import tqdm

    from ..ros.camera_input import CAMERA_PARAMS
    from ..ros.conversions import stamp_to_sec
    from ..ros.frame_buffer import NoFrameYet

    namespace = namespace or f"/camera_rate_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    frames = max(1, int(round(seconds * fps)))
    arrivals: Dict[str, list] = {"color": [], "depth": []}
    reads: List[tuple] = []          # (read time, colour stamp, depth stamp)
    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    child = None
    try:
        owner = rclpy.create_node("camera_rate_planner", namespace=namespace, context=ctx)
        spin = MultiThreadedExecutor(num_threads=4, context=ctx)   # as common.run spins a planner
        spin.add_node(owner)
        spinner = threading.Thread(target=spin.spin, daemon=True)
        spinner.start()
        params = {p.name: p.default for p in CAMERA_PARAMS}
        params.update(camera_pose=CAMERA_POSE, image_reliability="reliable" if setting.reliable else "best_effort",
                      image_queue_depth=setting.depth,
                      max_frame_age=0.0)   # every read is measured; how many were too old is counted
        with _planner_camera(arrivals) as CameraInput:
            camera = CameraInput(owner, params)
        color_topic = camera.buffer.topics[0]
        cmd = [sys.executable, "-m", __name__, "publish", "--namespace", namespace, "--width", str(width),
               "--height", str(height), "--fps", str(fps), "--frames", str(frames), "--camera-qos", publisher_qos]
        env = dict(os.environ)
        if log_dir is not None:
            env.setdefault("ROS_LOG_DIR", str(log_dir))
        load_before = os.getloadavg()
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        out_box: Dict[str, str] = {}
        reader = threading.Thread(target=lambda: out_box.update(zip(("out", "err"), child.communicate())),
                                  daemon=True)
        reader.start()
        offered = None
        cpu0, wall0 = time.process_time(), time.monotonic()
        bar = tqdm(total=frames, desc=setting.name, unit="frame", disable=not progress, leave=False)
        shown = 0
        while reader.is_alive():
            now = time.time()
            try:
                c, d, _ = camera.buffer.latest(now, camera.max_age, camera.slop)
                reads.append((now, stamp_to_sec(c.header.stamp), stamp_to_sec(d.header.stamp)))
            except AffordanceGraspError:   # no frame yet, unsynchronised or stalled: the planner would refuse
                pass
            if offered is None:
                offered = _offered_qos(owner, color_topic)
            n = len(arrivals["color"])
            if n - shown >= 10:
                bar.update(min(n, frames) - min(shown, frames))
                shown = n
            time.sleep(POLL_S)
        bar.close()
        reader.join()
        sub_cpu = time.process_time() - cpu0
        sub_wall = time.monotonic() - wall0
        load_after = os.getloadavg()
        with contextlib.suppress(NoFrameYet, AffordanceGraspError):
            camera.frame()          # the planner's whole conversion once: a usable RGBDFrame
        camera.close()
        spin.shutdown()
        owner.destroy_node()
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait(10)
        rclpy.try_shutdown(context=ctx)
    if child.returncode != 0:
        raise AffordanceGraspError(f"the publisher process failed ({child.returncode}): "
                                   f"{out_box.get('err', '').strip()[-2000:]}")
    pub = json.loads(out_box["out"].strip().splitlines()[-1])
    return summarise(setting, pub, arrivals, reads, fps, dict(
        load_before=[round(x, 2) for x in load_before], load_after=[round(x, 2) for x in load_after],
        subscriber_cpu_percent=round(100 * sub_cpu / max(sub_wall, 1e-6), 1), offered_image_qos=offered))


def summarise(setting: Setting, pub: dict, arrivals: Dict[str, list], reads: List[tuple], fps: float,
              extra: dict) -> dict:
    """The numbers of one run, from the publisher's report, the arrival log and the reads."""
    first, last = pub["first_stamp"], pub["last_stamp"]
    span = (last - first + 1.0 / fps) if first is not None else 0.0
    colour = {s: t for t, s in arrivals["color"]}
    depth = {s: t for t, s in arrivals["depth"]}
    # a pair is delivered when the later of its two halves arrives
    delivered = sorted((max(colour[s], depth[s]), s) for s in colour.keys() & depth.keys())
    when = np.array([t for t, _ in delivered])
    latency = [t - s for t, s in delivered]
    windows = []          # pairs delivered in each whole second from the first delivery on
    if len(when) and span >= 1.0:
        windows = np.histogram(when, bins=when[0] + np.arange(int(span) + 1))[0].tolist()
    gaps = np.diff(when) if len(when) > 1 else np.array([])
    # the reads while the stream ran: from the first pair on, up to the last frame's time
    start = delivered[0][0] if delivered else float("inf")
    live = [(t, c, d) for t, c, d in reads if start <= t <= last + 1.0 / fps]
    ages = [t - c for t, c, _ in live]
    seen = sorted({c for _, c, _ in reads})
    return {
        "setting": setting.name, "reliability": "reliable" if setting.reliable else "best_effort",
        "depth": setting.depth,
        "published": pub["published"], "skipped_by_publisher": pub["skipped"],
        "colour_received": len(colour), "depth_received": len(depth),
        "pairs_delivered": len(delivered), "pairs_seen_by_reader": len(seen),
        "mismatched_pairs_read": sum(1 for _, c, d in reads if c != d),
        "reads": len(live), "stale_reads": sum(1 for a in ages if a > STALE_S),
        "span_s": round(span, 3),
        "pairs_per_s": {"median_1s": float(np.median(windows)) if windows else None,
                        "overall": round(len(delivered) / span, 2) if span > 0 else None,
                        "windows": windows},
        "newest_pair_age_ms": _ms(ages),
        "delivery_latency_ms": _ms(latency),
        "gap_ms": {"max": round(float(gaps.max()) * 1000, 1) if len(gaps) else None,
                   "median": round(float(np.median(gaps)) * 1000, 1) if len(gaps) else None},
        "publisher_cpu_percent": pub["cpu_percent"], "publish_call_ms": pub["publish_call_ms"],
        **extra,
    }


def _cell(*xs) -> str:
    return " / ".join("–" if x is None else f"{x:g}" if isinstance(x, float) else str(x) for x in xs)


def table(rows: Sequence[dict]) -> str:
    head = ("| subscription | published | pairs delivered | pairs/s (median of 1 s; overall) | newest pair age "
            "median / p95 ms | max gap ms | latency median / p95 ms | load 1 min before → after | CPU % planner / "
            "camera |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        age, lat, rate = r["newest_pair_age_ms"], r["delivery_latency_ms"], r["pairs_per_s"]
        lines.append(f"| {r['setting']} | {r['published']} | {r['pairs_delivered']} | "
                     f"{_cell(rate['median_1s'])}; {_cell(rate['overall'])} | "
                     f"{_cell(age['median'], age['p95'])} | {_cell(r['gap_ms']['max'])} | "
                     f"{_cell(lat['median'], lat['p95'])} | {r['load_before'][0]} → {r['load_after'][0]} | "
                     f"{_cell(r['subscriber_cpu_percent'], r['publisher_cpu_percent'])} |")
    return "\n".join(lines)


def camera_rate(settings: Sequence[str] = DEFAULT_SETTINGS, seconds: float = 10.0, out: Optional[Path] = None,
                width: int = 1280, height: int = 720, fps: float = 30.0, progress: bool = True,
                publisher_qos: str = "SYSTEM_DEFAULT") -> dict:
    """Every setting in turn; writes camera_rate.json and camera_rate.md under ``out`` when given."""
    from .report import machine_description

    if seconds <= 0 or fps <= 0 or width <= 0 or height <= 0:
        raise InvalidInputError("--seconds, --fps, --width and --height must be positive")
    if publisher_qos not in CAMERA_QOS:
        raise InvalidInputError(f"camera QoS {publisher_qos!r}: choose one of {', '.join(CAMERA_QOS)}")
    parsed = [Setting.parse(s) for s in settings]
    rows = [measure(s, seconds, width, height, fps, progress, log_dir=(Path(out) / "ros_log") if out else None,
                    publisher_qos=publisher_qos) for s in parsed]
    summary = {"stream": {"width": width, "height": height, "fps": fps, "seconds": seconds,
                          "colour": "rgb8", "depth": "16UC1",
                          "publisher_qos": f"images {publisher_qos}, camera_info DEFAULT (realsense-ros "
                                           f"default: images SYSTEM_DEFAULT)"},
               "machine": machine_description(),
               "rmw": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp (default)"),
               "transport_env": {k: os.environ[k] for k in TRANSPORT_VARIABLES if k in os.environ},
               "poll_s": POLL_S, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "settings": rows, "table": table(rows)}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "camera_rate.json").write_text(json.dumps(summary, indent=1))
        (out / "camera_rate.md").write_text(
            f"Paired colour + depth at the planner, {width}x{height} at {fps:g} Hz, camera images published "
            f"{publisher_qos}, {seconds:g} s a setting, "
            f"{summary['machine']}, {summary['date']}\n\n{summary['table']}\n")
    return summary


def _publisher_main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="camera_rate publish")
    p.add_argument("command", choices=("publish",))
    p.add_argument("--namespace", required=True)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--frame-id", default="camera_color_optical_frame")
    p.add_argument("--camera-qos", choices=CAMERA_QOS, default="SYSTEM_DEFAULT")
    a = p.parse_args(argv)
    print(json.dumps(publish(a.namespace, a.width, a.height, a.fps, a.frames, a.frame_id, a.camera_qos)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_publisher_main())
