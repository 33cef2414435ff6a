"""The camera side of a consuming node: subscribe to colour, aligned depth and camera_info, and
hand out validated RGBDFrames. Shared by the planner and the affordance node.

The stream arrives on a SideNode (common.py) with its own single-threaded executor; the owning
node keeps its multi-threaded executor for what needs threads (a service that waits for a fresh
frame while frames keep arriving)."""
from __future__ import annotations

import time

from .camera_pose import POSE_PARAMS, CameraPose
from .common import COLOR_TOPIC, DEPTH_TOPIC, INFO_TOPIC, Param, SideNode, camera_qos, stop_requested
from .conversions import frame_from_msgs
from .frame_buffer import FrameBuffer, FrameNotNewEnough, NoFrameYet

CAMERA_PARAMS = POSE_PARAMS + [
    Param("image_reliability", "best_effort", "QoS of the image and camera_info subscriptions: best_effort takes "
          "frames from any publisher, reliable only from reliable ones (realsense-ros's SYSTEM_DEFAULT is reliable "
          "under Fast DDS, and a reliable reader loses no fragments of large frames)",
          choices=("best_effort", "reliable")),
    Param("image_queue_depth", 5, "keep-last depth of the image and camera_info subscriptions (messages per topic "
          "waiting for the stream's executor). At 1280x720 30 Hz from a camera keeping 10 frames, 5 delivered 283-299 "
          "of 300 pairs, 1 and 2 lost a third to two thirds, 10 no more pairs but older ones (docs/real_robot.md)",
          (1, 100)),
    Param("depth_scale", 0.001, "metres per unit of 16UC1/z16 depth", (1e-5, 0.01)),
    Param("max_frame_age", 1.0, "reject frames older than this many seconds; 0 disables (bags without /clock)",
          (0.0, 60.0)),
    Param("sync_slop", 0.02, "largest colour/depth stamp difference accepted as one frame (s)", (0.0, 0.5)),
    Param("fresh_frame_timeout", 3.0, "seconds a request with not_before waits for a frame that new (or a first one)",
          (0.0, 60.0)),
]


class CameraInput:
    def __init__(self, node, params: dict):
        from sensor_msgs.msg import CameraInfo, Image

        self.node = node
        self.depth_scale, self.max_age, self.slop = params["depth_scale"], params["max_frame_age"], params["sync_slop"]
        self.fresh_timeout = params["fresh_frame_timeout"]
        color, depth, info, joints = (node.resolve_topic_name(t) for t in (COLOR_TOPIC, DEPTH_TOPIC, INFO_TOPIC,
                                                                            "joint_states"))
        self.side = SideNode(node, "camera_input")
        self.stream = self.side.node
        self.pose = CameraPose(self.stream, params, joint_states_topic=joints, owner=node.get_name())
        self.buffer = FrameBuffer((color, depth, info))
        qos = camera_qos(params["image_reliability"] == "reliable", params["image_queue_depth"])
        self.stream.create_subscription(Image, color, self.buffer.add_color, qos)
        self.stream.create_subscription(Image, depth, self.buffer.add_depth, qos)
        self.stream.create_subscription(CameraInfo, info, self.buffer.set_info, qos)
        self.side.start()

    def close(self) -> None:
        self.side.close()

    def frame(self, not_before: float = 0.0):
        """The newest synchronised frame, or InvalidInputError saying why there is none. With
        ``not_before``, waits up to ``fresh_frame_timeout`` for a frame captured at or after it
        (frames keep arriving on the side node's thread meanwhile), and as long for a first frame
        (a request sent just after the camera was found: on a loaded machine its first frames
        reach the planner after the first joint_states reach the caller)."""
        wait = self.fresh_timeout if not_before > 0 else 0.0
        deadline = time.monotonic() + wait
        while True:
            now = self.node.get_clock().now().nanoseconds * 1e-9
            try:
                color, depth, info = self.buffer.latest(now, self.max_age, self.slop, not_before)
                break
            except (FrameNotNewEnough, NoFrameYet) as e:
                if time.monotonic() >= deadline or stop_requested():
                    raise FrameNotNewEnough(f"{e} after waiting {wait:.1f} s") from None
                time.sleep(0.02)
        stamp = color.header.stamp.sec + color.header.stamp.nanosec * 1e-9
        T = self.pose.at(stamp, color.header.frame_id or "camera_color_optical_frame")
        return frame_from_msgs(color, depth, info, T, self.depth_scale), color.header
