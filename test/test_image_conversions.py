import numpy as np
import pytest
from sensor_msgs.msg import Image

from affordance_grasp.errors import InvalidInputError
from affordance_grasp.ros.image_conversions import (depth_from_image, depth_to_16uc1, image_to_numpy,
                                                    numpy_to_image, rgb_from_image)

rng = np.random.default_rng(0)


@pytest.mark.parametrize("enc, arr", [
    ("rgb8", rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)),
    ("bgr8", rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)),
    ("mono8", rng.integers(0, 255, (5, 7), dtype=np.uint8)),
    ("16UC1", rng.integers(0, 65535, (5, 7), dtype=np.uint16)),
    ("z16", rng.integers(0, 65535, (5, 7), dtype=np.uint16)),
    ("32FC1", rng.random((5, 7)).astype(np.float32)),
])
def test_round_trip_every_encoding(enc, arr):
    msg = numpy_to_image(arr, enc)
    assert (msg.height, msg.width, msg.encoding) == (5, 7, enc)
    back = image_to_numpy(msg)
    assert back.dtype == arr.dtype and np.array_equal(back, arr)


def test_colour_channel_order_and_mono():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 200  # red
    assert np.array_equal(rgb_from_image(numpy_to_image(rgb[..., ::-1].copy(), "bgr8")), rgb)
    assert rgb_from_image(numpy_to_image(np.full((2, 2), 9, np.uint8), "mono8")).shape == (2, 2, 3)


def test_depth_scales_and_invalid_pixels():
    raw = np.array([[0, 1000], [1500, 65535]], np.uint16)
    d = depth_from_image(numpy_to_image(raw, "z16"))
    assert np.isnan(d[0, 0]) and d[0, 1] == pytest.approx(1.0) and d[1, 0] == pytest.approx(1.5)
    d2 = depth_from_image(numpy_to_image(raw, "16UC1"), depth_scale=0.0001)  # a D405-style scale
    assert d2[0, 1] == pytest.approx(0.1)
    f = np.array([[np.nan, 0.0], [-1.0, 2.5]], np.float32)
    df = depth_from_image(numpy_to_image(f, "32FC1"))
    assert np.isnan(df[:, 0]).all() and np.isnan(df[1, 0]) and df[1, 1] == 2.5
    m = np.array([[np.nan, 0.0005, 1.2344, 70.0]])
    assert depth_to_16uc1(m).tolist() == [[0, 0, 1234, 0]]  # 0.5 mm rounds to 0 = invalid, 70 m overflows
    with pytest.raises(InvalidInputError, match="not a depth encoding"):
        depth_from_image(numpy_to_image(np.zeros((2, 2), np.uint8), "mono8"))


def test_padded_rows_and_big_endian():
    msg = Image(height=2, width=3, encoding="16UC1", is_bigendian=1, step=8)
    vals = np.array([[1, 2, 3], [256, 512, 1024]], ">u2")
    rows = [vals[i].tobytes() + b"\xff\xff" for i in range(2)]  # 2 bytes of padding per row
    msg.data = b"".join(rows)
    assert image_to_numpy(msg).tolist() == vals.astype(np.uint16).tolist()


def test_bad_messages_raise_typed_errors():
    with pytest.raises(InvalidInputError, match="unsupported"):
        image_to_numpy(Image(height=1, width=1, encoding="yuv422", step=2, data=b"\x00\x00"))
    with pytest.raises(InvalidInputError, match="truncated"):
        image_to_numpy(Image(height=2, width=2, encoding="mono8", step=2, data=b"\x00\x00\x00"))
    with pytest.raises(InvalidInputError, match="step"):
        image_to_numpy(Image(height=1, width=4, encoding="rgb8", step=3, data=b"\x00" * 12))
    with pytest.raises(InvalidInputError, match="zero"):
        image_to_numpy(Image(height=0, width=4, encoding="mono8", step=4))
    with pytest.raises(InvalidInputError, match="uint8"):
        numpy_to_image(np.zeros((2, 2, 3), np.float32), "rgb8")


def test_frame_buffer_not_before():
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, Image

    from affordance_grasp.ros.frame_buffer import FrameBuffer, FrameNotNewEnough, NoFrameYet

    buf = FrameBuffer(("c", "d", "i"))
    with pytest.raises(NoFrameYet, match="nothing received on c, d"):   # a caller may wait for it
        buf.latest(now=10.2, max_age=1.0, slop=0.01, not_before=10.05)
    for t in (10.0, 10.1):
        for add in (buf.add_color, buf.add_depth):
            m = Image()
            m.header.stamp = Time(sec=int(t), nanosec=int(round((t % 1) * 1e9)))
            add(m)
    buf.set_info(CameraInfo())
    c, _, _ = buf.latest(now=10.2, max_age=1.0, slop=0.01, not_before=10.05)
    assert c.header.stamp.nanosec == 100000000
    with pytest.raises(FrameNotNewEnough, match="0.40 s older"):
        buf.latest(now=10.2, max_age=1.0, slop=0.01, not_before=10.5)
    with pytest.raises(InvalidInputError, match="stale"):   # fresh enough for not_before, but too old
        buf.latest(now=20.0, max_age=1.0, slop=0.01, not_before=10.0)
