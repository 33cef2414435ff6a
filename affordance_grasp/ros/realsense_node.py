"""realsense_node: a RealSense D4xx (or a RealSense .bag) on realsense-ros topic names and frame
ids, so it and ``realsense2_camera`` (with align_depth.enable:=true) are interchangeable.

Publishes ``camera/color/image_raw`` (rgb8), ``camera/aligned_depth_to_color/image_raw`` (16UC1,
millimetres, as realsense-ros) and ``camera/color/camera_info`` (with the distortion model and
coefficients). If the device disappears the node logs it and reconnects with backoff; it stays up.
"""
from __future__ import annotations

import threading

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from ..sources.realsense import RealSenseConfig, RealSenseSource
from .common import CAMERA_FRAME, COLOR_TOPIC, DEPTH_TOPIC, INFO_TOPIC, Param, declare, image_qos, run
from .conversions import intrinsics_to_camera_info
from .image_conversions import depth_to_16uc1, numpy_to_image

PARAMS = [
    Param("serial_no", "", "device serial number; empty: the first device"),
    Param("width", 640, "colour and depth width (px)", (160, 1920)),
    Param("height", 480, "colour and depth height (px)", (120, 1080)),
    Param("fps", 30, "frame rate", (1, 90)),
    Param("bag_file", "", "play this RealSense .bag instead of a live device"),
    Param("decimation", 1, "depth decimation filter magnitude (1: off)", (1, 8)),
    Param("spatial_filter", False, "spatial edge-preserving filter on depth"),
    Param("temporal_filter", False, "temporal filter on depth"),
    Param("hole_filling_filter", False, "hole-filling filter on depth"),
    Param("camera_frame", CAMERA_FRAME, "frame_id of the published images (realsense-ros name)"),
    Param("depth_scale_out", 0.001, "metres per unit of the published 16UC1 depth", (1e-5, 0.01)),
]


class RealSenseNode(Node):
    def __init__(self):
        super().__init__("realsense_node")
        self.p = declare(self, PARAMS)
        cfg = RealSenseConfig(serial=self.p["serial_no"], width=self.p["width"], height=self.p["height"],
                              fps=self.p["fps"], bag_file=self.p["bag_file"], decimation=self.p["decimation"],
                              spatial=self.p["spatial_filter"], temporal=self.p["temporal_filter"],
                              hole_filling=self.p["hole_filling_filter"])
        self.source = RealSenseSource(cfg, logger=self.get_logger().warn)
        self.source.start()  # no device: a clear BackendUnavailableError, and the node exits with it
        qos = image_qos()
        self.pub_color = self.create_publisher(Image, COLOR_TOPIC, qos)
        self.pub_depth = self.create_publisher(Image, DEPTH_TOPIC, qos)
        self.pub_info = self.create_publisher(CameraInfo, INFO_TOPIC, qos)
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        self.get_logger().info(f"streaming RealSense {self.source.serial} (depth scale {self.source.depth_scale})")

    def _loop(self) -> None:
        while self.running:
            frame = self.source.read_or_reconnect()
            if frame is None:
                continue
            stamp = self.get_clock().now().to_msg()
            color = numpy_to_image(frame.rgb, "rgb8")
            depth = numpy_to_image(depth_to_16uc1(frame.depth, self.p["depth_scale_out"]), "16UC1")
            for m in (color, depth):
                m.header.stamp, m.header.frame_id = stamp, self.p["camera_frame"]
            info = intrinsics_to_camera_info(frame.intrinsics, self.p["camera_frame"], stamp,
                                             distortion_model=self.source.converter.distortion_model)
            self.pub_color.publish(color)
            self.pub_depth.publish(depth)
            self.pub_info.publish(info)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=3.0)
        self.source.stop()


def main(args=None) -> int:
    return run(RealSenseNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
