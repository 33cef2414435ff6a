"""The shape recognizer: descriptors in metres that do not depend on where an object lies or
which way it points, a tiny model that learns them, its checkpoint, and fusion with the head."""
import numpy as np
import pytest

from affordance_grasp.affordance.recognizer import RecognizerConfig, ShapeRecognizer, fuse, load_recognizer
from affordance_grasp.affordance.shape import FEATURE_NAMES, N_FEATURES, shape_descriptor
from affordance_grasp.errors import ConfigError, InvalidInputError


def box_top(length, width, height, step=0.004):
    """The points a camera above sees of a box on the table: its top and one long side."""
    xs, ys = np.meshgrid(np.arange(0, length, step), np.arange(0, width, step))
    top = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, height)], 1)
    xs, zs = np.meshgrid(np.arange(0, length, step), np.arange(0, height, step))
    side = np.stack([xs.ravel(), np.zeros(xs.size), zs.ravel()], 1)
    return np.concatenate([top, side])


def hammer(handle=0.25, head_height=0.04, step=0.004):
    """A handle 1.5 cm tall along x and a head 4 cm tall across it at one end."""
    xs, ys = np.meshgrid(np.arange(0, handle, step), np.arange(-0.012, 0.012, step))
    h = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, 0.015)], 1)
    xs, ys = np.meshgrid(np.arange(handle, handle + 0.03, step), np.arange(-0.05, 0.05, step))
    head = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, head_height)], 1)
    return np.concatenate([h, head])


def place(points, yaw, offset):
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return points @ R.T + offset


def test_descriptor_measures_metres_and_ignores_pose_and_which_end_is_first():
    d = shape_descriptor(box_top(0.20, 0.06, 0.04), table_height=0.0)
    assert d.shape == (N_FEATURES,) == (len(FEATURE_NAMES),) and d.dtype == np.float32
    f = dict(zip(FEATURE_NAMES, d))
    assert f["length"] == pytest.approx(0.20, abs=0.01) and f["width"] == pytest.approx(0.06, abs=0.01)
    assert f["height"] == pytest.approx(0.04, abs=0.005)
    ham = hammer()
    a = shape_descriptor(ham, 0.0)
    b = shape_descriptor(place(ham, 2.3, [0.5, -0.1, 0.0]), 0.0)
    c = shape_descriptor(place(ham, np.pi + 0.4, [0.4, 0.2, 0.0]), 0.0)   # head the other way
    np.testing.assert_allclose(a, b, atol=0.03)
    np.testing.assert_allclose(a, c, atol=0.03)
    # the tallest end (the head) comes first in the height profile
    prof = [dict(zip(FEATURE_NAMES, a))[f"height profile {i}"] for i in range(6)]
    assert prof[0] == pytest.approx(1.0) and prof[-1] < 0.5
    # the table height is subtracted
    np.testing.assert_allclose(shape_descriptor(ham + [0, 0, 0.7], 0.7), a, atol=1e-5)


def test_descriptor_rejects_bad_input():
    with pytest.raises(InvalidInputError, match=r"\(N, 3\)"):
        shape_descriptor(np.zeros((10, 2)), 0.0)
    with pytest.raises(InvalidInputError, match="at least 5"):
        shape_descriptor(np.zeros((3, 3)), 0.0)


def test_a_tiny_recognizer_learns_sizes_and_its_checkpoint_loads_weights_only(tmp_path):
    import torch
    from affordance_grasp.apps.train_recognizer import _fit, _fit_temperature
    rng = np.random.default_rng(0)
    X, y = [], []
    for k in range(60):
        s = rng.uniform(0.9, 1.1)
        if k % 2:
            pts = hammer(0.25 * s)
        else:
            pts = box_top(0.10 * s, 0.08 * s, 0.09 * s)
        X.append(shape_descriptor(place(pts, rng.uniform(-3, 3), [0.5, 0, 0]), 0.0))
        y.append(k % 2)
    X, y = np.stack(X), np.array(y)
    model = ShapeRecognizer(["box", "hammer"], hidden=16)
    _fit(model, X[:40], y[:40], epochs=60, seed=0)
    t = _fit_temperature(model, X[40:], y[40:])
    assert t > 0
    p = model.probabilities(X[40:])
    assert np.mean(p.argmax(1) == y[40:]) >= 0.95
    model.shape_weight = 0.4
    model.save(tmp_path / "r.pt")
    blob = torch.load(tmp_path / "r.pt", weights_only=True)          # no pickled code
    assert blob["categories"] == ["box", "hammer"]
    back = ShapeRecognizer.load(tmp_path / "r.pt")
    np.testing.assert_allclose(back.probabilities(X[40:]), p, atol=1e-6)
    assert back.shape_weight == 0.4
    (tmp_path / "r.yaml").write_text(f"checkpoint: {tmp_path / 'r.pt'}\nshape_weight: 0.7\n")
    assert load_recognizer(tmp_path / "r.yaml").shape_weight == 0.7


def test_recognizer_config_errors_name_the_problem(tmp_path):
    (tmp_path / "none.yaml").write_text("checkpoint: ''\n")
    assert load_recognizer(tmp_path / "none.yaml") is None
    (tmp_path / "missing.yaml").write_text(f"checkpoint: {tmp_path / 'nope.pt'}\n")
    with pytest.raises(ConfigError, match="no recognizer checkpoint"):
        load_recognizer(tmp_path / "missing.yaml")
    (tmp_path / "typo.yaml").write_text("chekpoint: x.pt\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        load_recognizer(tmp_path / "typo.yaml")
    with pytest.raises(ConfigError, match="shape_weight"):
        RecognizerConfig(shape_weight=1.5).validate("here")


def test_fusion_is_a_product_of_experts():
    head = {"mug": 0.6, "cup": 0.4}
    shape = {"mug": 0.9, "cup": 0.1}
    assert fuse(head, shape, 0.0) == pytest.approx(head)
    assert fuse(head, shape, 1.0) == pytest.approx(shape)
    mid = fuse(head, shape, 0.5)
    assert sum(mid.values()) == pytest.approx(1.0) and mid["mug"] > 0.6
    with pytest.raises(InvalidInputError):
        fuse(head, shape, 1.5)
