"""RealSense D4xx source (pyrealsense2): colour + depth aligned to colour, depth in metres from
the device's depth scale, optional post-processing filters, device selection by serial, playback
of a RealSense ``.bag``, and reconnection when the device drops out.

``FrameConverter`` is the pure part (frameset -> RGBDFrame) so it can be driven by
``rs.software_device`` in tests; ``RealSenseSource`` owns the pipeline.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import BackendUnavailableError, ConfigError, InvalidInputError
from ..types import CameraIntrinsics, RGBDFrame

log = logging.getLogger(__name__)


def _rs():
    try:
        import pyrealsense2 as rs
    except ImportError as e:  # pragma: no cover - pyrealsense2 is in requirements.txt
        raise BackendUnavailableError(f"pyrealsense2 is not installed: {e}") from None
    return rs


@dataclass
class RealSenseConfig:
    serial: str = ""              # empty: the first device found
    width: int = 640
    height: int = 480
    fps: int = 30
    bag_file: str = ""            # play a RealSense .bag instead of a live device
    loop_bag: bool = True
    decimation: int = 1           # 1: off; 2-8 reduces depth resolution before alignment
    spatial: bool = False         # edge-preserving spatial smoothing
    temporal: bool = False        # temporal smoothing over frames
    hole_filling: bool = False    # fill invalid pixels from neighbours
    timeout_ms: int = 2000
    reconnect_initial: float = 0.5   # s; doubles per failed try
    reconnect_max: float = 8.0

    def validate(self) -> "RealSenseConfig":
        if self.width <= 0 or self.height <= 0 or self.fps <= 0:
            raise ConfigError(f"realsense width/height/fps must be positive, got {self.width}x{self.height}@{self.fps}")
        if not 1 <= self.decimation <= 8:
            raise ConfigError(f"realsense decimation must be in [1, 8], got {self.decimation}")
        if self.bag_file and not Path(self.bag_file).expanduser().is_file():
            raise ConfigError(f"RealSense bag file {self.bag_file} does not exist")
        return self


def intrinsics_from_rs(intr) -> CameraIntrinsics:
    coeffs = tuple(float(c) for c in list(intr.coeffs)[:5])
    return CameraIntrinsics(float(intr.fx), float(intr.fy), float(intr.ppx), float(intr.ppy), int(intr.width),
                            int(intr.height), distortion=coeffs)


def distortion_model(intr) -> str:
    """CameraInfo's distortion_model for a librealsense model (D4xx colour: Inverse Brown-Conrady,
    which ROS calls plumb_bob as realsense-ros does)."""
    rs = _rs()
    if intr.model in (rs.distortion.kannala_brandt4, rs.distortion.ftheta):
        return "equidistant"
    return "plumb_bob"


class FrameConverter:
    """An rs.frameset -> RGBDFrame: filters on depth, align depth to colour, metres, NaN holes."""

    def __init__(self, cfg: RealSenseConfig, T_base_camera: Optional[np.ndarray] = None, depth_scale: Optional[float] = None):
        rs = _rs()
        self.cfg = cfg
        self.T = np.eye(4) if T_base_camera is None else T_base_camera
        self.depth_scale = depth_scale  # None: read from each depth frame's units
        self.align = rs.align(rs.stream.color)
        self.filters = []
        if cfg.decimation > 1:
            dec = rs.decimation_filter()
            dec.set_option(rs.option.filter_magnitude, float(cfg.decimation))
            self.filters.append(dec)
        if cfg.spatial:
            self.filters.append(rs.spatial_filter())
        if cfg.temporal:
            self.filters.append(rs.temporal_filter())
        if cfg.hole_filling:
            self.filters.append(rs.hole_filling_filter())
        self.distortion_model = "plumb_bob"

    def __call__(self, frames) -> RGBDFrame:
        for f in self.filters:
            frames = f.process(frames).as_frameset()
        aligned = self.align.process(frames)
        color, depth = aligned.get_color_frame(), aligned.get_depth_frame()
        if not color or not depth:
            raise InvalidInputError("the frameset lacks a colour or a depth frame")
        scale = self.depth_scale if self.depth_scale is not None else float(depth.get_units())
        if not scale > 0:
            raise InvalidInputError(f"invalid depth scale {scale}")
        z16 = np.asanyarray(depth.get_data())
        metres = z16.astype(np.float32) * np.float32(scale)
        metres[z16 == 0] = np.nan
        rgb = np.asanyarray(color.get_data())
        fmt = color.profile.format()
        rs = _rs()
        if fmt == rs.format.bgr8:
            rgb = rgb[..., ::-1]
        elif fmt != rs.format.rgb8:
            raise InvalidInputError(f"colour format {fmt} is not supported; configure rgb8 or bgr8")
        intr = color.profile.as_video_stream_profile().get_intrinsics()
        self.distortion_model = distortion_model(intr)
        return RGBDFrame(np.ascontiguousarray(rgb), metres, intrinsics_from_rs(intr), self.T,
                         stamp=float(color.get_timestamp()) * 1e-3, frame_id="camera_color_optical_frame")


class DeviceLost(BackendUnavailableError):
    pass


class RealSenseSource:
    """Live device or .bag playback. ``read()`` returns RGBDFrames; after a device loss
    ``read_or_reconnect()`` retries with exponential backoff and never raises for it."""

    def __init__(self, cfg: Optional[RealSenseConfig] = None, T_base_camera: Optional[np.ndarray] = None,
                 logger: Callable[[str], None] = log.warning):
        self.cfg = (cfg or RealSenseConfig()).validate()
        self.T = T_base_camera
        self.log = logger
        self.pipeline = None
        self.converter: Optional[FrameConverter] = None
        self.depth_scale = None
        self.serial = None
        self._backoff = self.cfg.reconnect_initial

    def _select_device(self) -> str:
        rs = _rs()
        devices = rs.context().query_devices()
        serials = [d.get_info(rs.camera_info.serial_number) for d in devices]
        wanted = self.cfg.serial
        if not serials:
            raise BackendUnavailableError(
                f"no RealSense device found (looked for {'serial ' + wanted if wanted else 'any device'} over USB "
                f"via librealsense); plug in a D4xx, check `rs-enumerate-devices` and udev rules, or set bag_file "
                f"to play a recording")
        if wanted and wanted not in serials:
            raise BackendUnavailableError(f"no RealSense device with serial {wanted}; connected: {', '.join(serials)}")
        return wanted or serials[0]

    def start(self) -> "RealSenseSource":
        rs = _rs()
        config = rs.config()
        if self.cfg.bag_file:
            config.enable_device_from_file(str(Path(self.cfg.bag_file).expanduser()), repeat_playback=self.cfg.loop_bag)
            self.serial = f"bag:{self.cfg.bag_file}"
        else:
            self.serial = self._select_device()
            config.enable_device(self.serial)
            config.enable_stream(rs.stream.color, self.cfg.width, self.cfg.height, rs.format.rgb8, self.cfg.fps)
            config.enable_stream(rs.stream.depth, self.cfg.width, self.cfg.height, rs.format.z16, self.cfg.fps)
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(config)
        except RuntimeError as e:
            raise BackendUnavailableError(f"cannot start RealSense {self.serial} at {self.cfg.width}x{self.cfg.height}"
                                          f"@{self.cfg.fps}: {e}") from None
        self.pipeline = pipeline
        self.depth_scale = float(profile.get_device().first_depth_sensor().get_depth_scale())
        self.converter = FrameConverter(self.cfg, self.T, self.depth_scale)
        self._backoff = self.cfg.reconnect_initial
        return self

    def stop(self) -> None:
        if self.pipeline is not None:
            try:
                self.pipeline.stop()
            except RuntimeError:
                pass
            self.pipeline = None

    def read(self) -> RGBDFrame:
        if self.pipeline is None:
            raise DeviceLost("the RealSense pipeline is not running")
        try:
            frames = self.pipeline.wait_for_frames(self.cfg.timeout_ms)
        except RuntimeError as e:
            self.stop()
            raise DeviceLost(f"RealSense {self.serial} stopped delivering frames: {e}") from None
        return self.converter(frames)

    def read_or_reconnect(self) -> Optional[RGBDFrame]:
        """A frame, or None while the device is away (each call makes at most one reconnect try,
        spaced by the backoff)."""
        if self.pipeline is None:
            time.sleep(self._backoff)
            try:
                self.start()
                self.log(f"RealSense {self.serial} reconnected")
            except BackendUnavailableError as e:
                self._backoff = min(self._backoff * 2, self.cfg.reconnect_max)
                self.log(f"RealSense unavailable ({e}); next try in {self._backoff:.1f} s")
                return None
        try:
            return self.read()
        except DeviceLost as e:
            self.log(f"{e}; reconnecting")
            return None
