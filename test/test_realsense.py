"""Issue 6: the real pyrealsense2 code path driven by rs.software_device (synthetic frames).

What needs a physical D4xx (USB enumeration, firmware, live reconnect) cannot run here; those
paths are checked for their failure behaviour only (no device -> a clear error)."""
import numpy as np
import pytest

rs = pytest.importorskip("pyrealsense2")

from affordance_grasp.errors import BackendUnavailableError, ConfigError  # noqa: E402
from affordance_grasp.ros.conversions import camera_info_to_intrinsics, intrinsics_to_camera_info  # noqa: E402
from affordance_grasp.sources.realsense import FrameConverter, RealSenseConfig, RealSenseSource  # noqa: E402


def _intr(w, h, f, coeffs=(0, 0, 0, 0, 0)):
    i = rs.intrinsics()
    i.width, i.height, i.ppx, i.ppy, i.fx, i.fy = w, h, (w - 1) / 2, (h - 1) / 2, f, f
    i.model, i.coeffs = rs.distortion.brown_conrady, list(coeffs)
    return i


class SyntheticCamera:
    """A software device with a depth and a colour sensor, frames injected by hand."""

    def __init__(self, depth_wh=(64, 48), color_wh=(64, 48), depth_f=50.0, color_f=50.0, depth_units=0.001,
                 baseline=0.0, color_coeffs=(0, 0, 0, 0, 0)):
        self.dev = rs.software_device()
        self.ds, self.cs = self.dev.add_sensor("Depth"), self.dev.add_sensor("Color")
        (dw, dh), (cw, ch) = depth_wh, color_wh
        self.depth_wh, self.color_wh = depth_wh, color_wh
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = rs.stream.depth, 0, 0, dw, dh, 30, 2, rs.format.z16
        vs.intrinsics = _intr(dw, dh, depth_f)
        self.dp = self.ds.add_video_stream(vs)
        cv = rs.video_stream()
        cv.type, cv.index, cv.uid, cv.width, cv.height, cv.fps, cv.bpp, cv.fmt = rs.stream.color, 0, 1, cw, ch, 30, 3, rs.format.rgb8
        cv.intrinsics = _intr(cw, ch, color_f, color_coeffs)
        self.cp = self.cs.add_video_stream(cv)
        self.ds.add_read_only_option(rs.option.depth_units, depth_units)
        ext = rs.extrinsics()
        ext.rotation, ext.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [baseline, 0, 0]
        self.dp.register_extrinsics_to(self.cp, ext)
        self.dev.create_matcher(rs.matchers.default)
        self.sync = rs.syncer()
        self.ds.open(self.dp)
        self.cs.open(self.cp)
        self.ds.start(self.sync)
        self.cs.start(self.sync)
        self.n = 0

    def frames(self, depth_z16: np.ndarray, rgb: np.ndarray):
        """Inject one pair until the syncer hands back a frameset with both."""
        for _ in range(5):
            for sensor, prof, pix, bpp in ((self.ds, self.dp, depth_z16, 2), (self.cs, self.cp, rgb, 3)):
                f = rs.software_video_frame()
                f.pixels, f.bpp, f.stride = np.ascontiguousarray(pix), bpp, pix.shape[1] * bpp
                f.timestamp, f.domain, f.frame_number = self.n * 33.3, rs.timestamp_domain.hardware_clock, self.n
                f.profile = prof.as_video_stream_profile()
                sensor.on_video_frame(f)
            self.n += 1
            fs = self.sync.wait_for_frames(2000)
            if fs.size() == 2:
                return fs
        raise AssertionError("the syncer never paired depth and colour")

    def close(self):
        for s in (self.ds, self.cs):
            s.stop()
            s.close()


def test_known_plane_in_metres_with_the_device_depth_scale_and_invalid_pixels():
    cam = SyntheticCamera(depth_units=0.0001)  # 0.1 mm units: the scale must come from the device
    try:
        z = np.full((48, 64), 8000, np.uint16)  # 0.8 m plane
        z[10:14, 20:24] = 0                     # a hole
        rgb = np.zeros((48, 64, 3), np.uint8)
        rgb[..., 1] = 200
        frame = FrameConverter(RealSenseConfig())(cam.frames(z, rgb))
    finally:
        cam.close()
    valid = np.isfinite(frame.depth)
    np.testing.assert_allclose(frame.depth[valid], 0.8, atol=1e-4)
    # the hole stays invalid (NaN, not 0 m); alignment itself may leave a few seam pixels empty
    assert not valid[11:13, 21:23].any() and valid.mean() > 0.85
    assert frame.rgb.shape == (48, 64, 3) and frame.rgb[0, 0, 1] == 200
    assert frame.intrinsics.fx == pytest.approx(50.0) and frame.intrinsics.cx == pytest.approx(31.5)


def test_alignment_maps_depth_into_the_colour_image():
    # depth 64x48 at f=40, colour 96x72 at f=60, 5 cm apart: a fronto-parallel plane at 1 m
    cam = SyntheticCamera(depth_wh=(64, 48), color_wh=(96, 72), depth_f=40.0, color_f=60.0, baseline=0.05)
    try:
        z = np.full((48, 64), 1000, np.uint16)
        frame = FrameConverter(RealSenseConfig())(cam.frames(z, np.zeros((72, 96, 3), np.uint8)))
    finally:
        cam.close()
    assert frame.depth.shape == (72, 96)  # colour resolution
    np.testing.assert_allclose(np.nanmedian(frame.depth), 1.0, atol=2e-3)
    # the 5 cm baseline at 1 m shifts the plane by f * b / z = 3 colour pixels: one edge is uncovered
    cols = np.isfinite(frame.depth).any(axis=0)
    assert cols[40:56].all() and not cols.all()


def test_hole_filling_filter_is_applied():
    cam = SyntheticCamera()
    try:
        z = np.full((48, 64), 900, np.uint16)
        z[20:22, 30:32] = 0
        frame = FrameConverter(RealSenseConfig(hole_filling=True))(cam.frames(z, np.zeros((48, 64, 3), np.uint8)))
    finally:
        cam.close()
    assert np.isfinite(frame.depth[20:22, 30:32]).all()


def test_intrinsics_to_camera_info_and_back():
    cam = SyntheticCamera(color_coeffs=(0.1, -0.05, 0.001, 0.002, 0.01))
    try:
        conv = FrameConverter(RealSenseConfig())
        frame = conv(cam.frames(np.full((48, 64), 500, np.uint16), np.zeros((48, 64, 3), np.uint8)))
    finally:
        cam.close()
    info = intrinsics_to_camera_info(frame.intrinsics, "camera_color_optical_frame",
                                     distortion_model=conv.distortion_model)
    assert info.distortion_model == "plumb_bob"
    np.testing.assert_allclose(info.d, [0.1, -0.05, 0.001, 0.002, 0.01], atol=1e-6)
    assert list(info.k) == pytest.approx([50, 0, 31.5, 0, 50, 23.5, 0, 0, 1])
    back = camera_info_to_intrinsics(info)
    assert back == frame.intrinsics


def test_no_device_fails_clearly():
    # This machine has no RealSense: the live path must say what it looked for.
    with pytest.raises(BackendUnavailableError, match="no RealSense device"):
        RealSenseSource(RealSenseConfig(serial="123456789")).start()


def test_bad_config_and_missing_bag(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        RealSenseSource(RealSenseConfig(bag_file=str(tmp_path / "missing.bag")))
    with pytest.raises(ConfigError, match="decimation"):
        RealSenseConfig(decimation=9).validate()


def test_reconnect_backs_off_and_stays_up():
    logs = []
    src = RealSenseSource(RealSenseConfig(reconnect_initial=0.01, reconnect_max=0.04), logger=logs.append)
    assert src.read_or_reconnect() is None and src.read_or_reconnect() is None and src.read_or_reconnect() is None
    assert src._backoff == pytest.approx(0.04) and all("unavailable" in m for m in logs)
